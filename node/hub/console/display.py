"""How the console writes times and tells members apart: absolute UTC times (with
the browser's local time added by ``static/console.js``), relative times, and one
colour per member (the same on every page and chart)."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

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


def _parse(t: datetime | str) -> datetime:
    return datetime.fromisoformat(t) if isinstance(t, str) else t


def iso(t: datetime | str | None) -> str:
    """``t`` as ISO 8601 UTC with milliseconds and a ``Z`` ("" for None)."""
    if t is None or t == "":
        return ""
    return _parse(t).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def time_tag(t: datetime | str | None, short: bool = False, inline: bool = False) -> Markup:
    """``t`` as ``<time datetime="…Z">2025-03-14 09:30:00 UTC</time>``: UTC in the
    page; ``console.js`` puts the browser's local time (and how long ago) in its
    title, and with ``inline`` also after it. ``short`` leaves out the seconds.
    Empty for None."""
    if t is None or t == "":
        return Markup("")
    at = _parse(t).astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M UTC" if short else "%Y-%m-%d %H:%M:%S UTC")
    extra = Markup(' data-local="inline"') if inline else Markup("")
    return Markup('<time datetime="{}"{}>{}</time>').format(escape(iso(at)), extra, escape(text))


def colours(directory: Directory) -> dict[str, str]:
    """A colour for every member of the directory, by code (stable for a directory)."""
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(sorted(directory.codes()))}
