"""SVG geometry for the correlations page, computed on the server so the page needs no
script: the timeline (one row per link, one dot per alert on a shared time axis) and
the graph (members on a circle, an edge where their alerts share links)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from node.hub.console.display import when


@dataclass(frozen=True)
class _Box:
    width: int = 960
    left: int = 250
    right: int = 30
    row: int = 30
    top: int = 40


def timeline(links: Sequence[dict[str, Any]], palette: Mapping[str, str]) -> dict[str, Any]:
    """Links as rows, their alerts as dots on a shared time axis (SVG coordinates)."""
    box = _Box()
    times = [datetime.fromisoformat(a["at"]) for link in links for a in link["alerts"]]
    if not times:
        return {"rows": [], "ticks": [], "width": box.width, "height": 0}
    lo, hi = min(times), max(times)
    # At least an hour wide, centred on the alerts, with a margin either side.
    span = max((hi - lo).total_seconds(), 3600.0) * 1.1
    lo = lo + (hi - lo) / 2 - timedelta(seconds=span / 2)
    plot = box.width - box.left - box.right

    def x(t: datetime) -> float:
        return round(box.left + plot * (t - lo).total_seconds() / span, 1)

    rows = []
    end = box.width - box.right / 2
    for n, link in enumerate(links):
        y = box.top + n * box.row
        dots: list[dict[str, Any]] = []
        for a in link["alerts"]:
            at = x(datetime.fromisoformat(a["at"]))
            if dots and at - dots[-1]["x"] < 10:
                at = dots[-1]["x"] + 10  # alerts minutes apart: side by side, not hidden
            at = min(at, end)  # ...but inside the chart: the last ones may then overlap
            dots.append(
                {"x": at, "y": y, "colour": palette.get(a["sender"], "#333"),
                 "title": f"{a['sender']} {when(a['at'])}"}
            )  # fmt: skip
        xs = [d["x"] for d in dots]
        rows.append(
            {"y": y, "label": link["label"][:34], "kind": link["kind"], "dots": dots,
             "x1": min(xs), "x2": max(xs), "strength": link["strength"]}
        )  # fmt: skip
    ticks = [
        {
            "x": x(lo + timedelta(seconds=span * f)),
            "label": when(lo + timedelta(seconds=span * f))[:16],
        }
        for f in (0.05, 0.5, 0.95)
    ]
    height = box.top + len(links) * box.row + 20
    return {"rows": rows, "ticks": ticks, "width": box.width, "height": height, "left": box.left}


def graph(pairs: Sequence[tuple[str, str, int]], palette: Mapping[str, str]) -> dict[str, Any]:
    """Members on a circle; an edge where their alerts share links (``pairs``: two
    members and how many links they share; width: how many)."""
    members = sorted({code for a, b, _ in pairs for code in (a, b)})
    size, r = 360, 130
    pos = {
        code: (
            round(size / 2 + r * math.cos(2 * math.pi * i / max(1, len(members)) - math.pi / 2), 1),
            round(size / 2 + r * math.sin(2 * math.pi * i / max(1, len(members)) - math.pi / 2), 1),
        )
        for i, code in enumerate(members)
    }
    top = max((n for _, _, n in pairs), default=1)
    # Width and opacity by share of the busiest pair, so that among twenty members
    # sharing something the pairs that share most stand out.
    edges = [
        {"x1": pos[a][0], "y1": pos[a][1], "x2": pos[b][0], "y2": pos[b][1],
         "w": round(0.5 + 9.5 * n / top, 1), "opacity": round(0.12 + 0.78 * n / top, 2),
         "title": f"{a}–{b}: {n} shared link{'s' if n > 1 else ''}"}
        for a, b, n in sorted(pairs, key=lambda p: p[2])
    ]  # fmt: skip
    nodes = [
        {"code": code, "x": x, "y": y, "colour": palette.get(code, "#333")}
        for code, (x, y) in pos.items()
    ]
    return {"size": size, "nodes": nodes, "edges": edges}
