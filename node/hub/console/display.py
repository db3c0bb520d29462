"""How the console writes times and tells members apart: relative and absolute UTC
times, and one colour per member (the same on every page and chart)."""

from __future__ import annotations

from datetime import datetime

from keys import Directory

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22"]  # fmt: skip


def ago(t: datetime | str | None, now: datetime) -> str:
    """``t`` relative to ``now``: "12 s ago", "3 min ago", "never"."""
    if t is None:
        return "never"
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    s = (now - t).total_seconds()
    if s < 0:
        return "just now" if s > -5 else f"in {-s:.0f} s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"


def when(t: datetime | str | None) -> str:
    """``t`` as "YYYY-MM-DD HH:MM:SS UTC" ("" for None)."""
    if t is None:
        return ""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def colours(directory: Directory) -> dict[str, str]:
    """A colour for every member of the directory, by code (stable for a directory)."""
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(sorted(directory.codes()))}
