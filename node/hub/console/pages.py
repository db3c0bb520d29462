"""What each console page shows, gathered from the hub's tables (read-only).

Alert content appears only on the alerts and correlations pages, and only from the
hub's inbox: alerts addressed to the hub. Everything else is metadata from clear
headers, heartbeats, consumer state, receipts and checkpoints.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from keys import Directory
from node.exchange.outbound import SendResult
from node.hub import liveness
from node.hub.bulletin import Draft, status
from node.hub.events import EventBus
from node.hub.settings import HubSettings
from node.hub.store import Reader
from node.protocol.wire import message_time
from schemas.alert import Alert, Priority, Tlp, Topic, parse_alert
from schemas.errors import LaliError

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22"]  # fmt: skip
TRAFFIC_LIMIT = 200


class HubPort(Protocol):
    """What the console needs from the running hub (a fake in the tests)."""

    code: str
    settings: HubSettings
    reader: Reader
    bus: EventBus
    problems: dict[str, str]

    def now(self) -> datetime: ...

    def directory(self) -> Directory: ...

    async def send_bulletin(self, draft: Draft) -> SendResult: ...

    async def verify_audit(self) -> dict[str, Any]: ...


def ago(t: datetime | str | None, now: datetime) -> str:
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
    if t is None:
        return ""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def colours(directory: Directory) -> dict[str, str]:
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(sorted(directory.codes()))}


# --- network ---------------------------------------------------------------------------


async def network(port: HubPort) -> dict[str, Any]:
    now = port.now()
    rows = {str(r["member"]): r for r in await port.reader.all("SELECT * FROM hub_members")}
    checkpoints = {
        str(r[0]): r
        for r in await port.reader.all(
            "SELECT member, MAX(count), MAX(at) FROM checkpoints GROUP BY member"
        )
    }
    thresholds = liveness.Thresholds(
        port.settings.late_after_beats, port.settings.offline_after_beats
    )
    members = []
    for m in port.directory().members:
        r = rows.get(m.code)
        beat = None
        if r is not None and r["last_seen"] is not None:
            beat = liveness.Beat(
                datetime.fromisoformat(r["last_seen"]),
                timedelta(seconds=float(r["interval_s"] or 30)),
                bool(r["stopping"]),
            )
        skew = None
        if r is not None and r["beat_at"] and r["last_seen"]:
            delta = datetime.fromisoformat(r["beat_at"]) - datetime.fromisoformat(r["last_seen"])
            skew = round(delta.total_seconds(), 1)
        ck = checkpoints.get(m.code)
        members.append(
            {
                "code": m.code,
                "name": m.name,
                "role": m.role.value,
                "status": liveness.status(beat, now, thresholds),
                "last_seen": ago(r["last_seen"] if r else None, now),
                "last_seen_at": when(r["last_seen"]) if r and r["last_seen"] else "",
                "started": ago(r["started_at"], now) if r and r["started_at"] else "",
                "interval": r["interval_s"] if r else None,
                "beats": r["beats"] if r else 0,
                "skew_s": skew,
                "audit_count": r["audit_count"] if r else None,
                "outbox": r["outbox_depth"] if r else None,
                "lag": r["lag_pending"] if r else None,
                "ack_pending": r["lag_ack_pending"] if r else None,
                "redelivered": r["lag_redelivered"] if r else None,
                "lag_at": ago(r["lag_at"], now) if r and r["lag_at"] else "",
                "checkpoint": ck[1] if ck else None,
                "checkpoint_at": ago(ck[2], now) if ck else "",
                "key_expires": when(min(k.not_after for k in m.keys)) if m.keys else "",
            }
        )
    summary = Counter(m["status"] for m in members)
    return {
        "members": members,
        "problems": sorted(port.problems.items()),
        "summary": [(s, summary.get(s, 0)) for s in liveness.STATUSES],
        "directory_version": port.directory().version,
        "directory_expires": when(port.directory().expires_at),
    }


# --- traffic ---------------------------------------------------------------------------

FILTERS = ("sender", "topic", "tlp", "priority", "kind", "status")


def traffic_filters(query: Mapping[str, str], directory: Directory) -> dict[str, str]:
    """Only values from the known sets survive: they become SQL parameters anyway."""
    allowed = {
        "sender": set(directory.codes()),
        "topic": {t.value for t in Topic},
        "tlp": {t.value for t in Tlp},
        "priority": {p.value for p in Priority},
        "kind": {"alert", "receipt"},
        "status": {"verified", "rejected"},
    }
    return {k: query[k] for k in FILTERS if query.get(k) in allowed[k]}


async def traffic(port: HubPort, filters: Mapping[str, str]) -> dict[str, Any]:
    where, params = [], []
    for key, value in filters.items():
        if key == "status":
            where.append(
                "t.status = 'verified'" if value == "verified" else "t.status != 'verified'"
            )
        else:
            where.append(f"t.{key} = ?")
            params.append(value)
    sql = (
        "SELECT t.*, (SELECT COUNT(*) FROM hub_traffic r WHERE r.kind = 'receipt'"  # noqa: S608
        " AND r.message_id = t.message_id AND t.kind = 'alert') AS receipts,"
        " EXISTS(SELECT 1 FROM inbox i WHERE i.message_id = t.message_id) AS ours"
        " FROM hub_traffic t"
        # Only fixed column names from FILTERS are joined in; values are parameters.
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY t.stream_seq DESC LIMIT ?"
    )
    rows = await port.reader.all(sql, (*params, TRAFFIC_LIMIT))
    totals = await port.reader.one(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), SUM(status != 'verified') FROM hub_traffic"
    )
    now = port.now()
    return {
        "rows": [
            {
                **{k: r[k] for k in r.keys()},  # noqa: SIM118 (sqlite3.Row)
                "when": ago(r["stored_at"] or r["seen_at"], now),
                "at": when(r["stored_at"] or r["seen_at"]),
            }
            for r in rows
        ],
        "filters": filters,
        "options": {
            "sender": sorted(port.directory().codes()),
            "topic": [t.value for t in Topic],
            "tlp": [t.value for t in Tlp],
            "priority": [p.value for p in Priority],
            "kind": ["alert", "receipt"],
            "status": ["verified", "rejected"],
        },
        "total": totals[0] if totals else 0,
        "bytes": totals[1] if totals else 0,
        "rejected": (totals[2] or 0) if totals else 0,
        "colours": colours(port.directory()),
    }


# --- alerts addressed to the hub ---------------------------------------------------------


async def _links_by_alert(port: HubPort) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for r in await port.reader.all("SELECT id, kind, label, strength, alerts FROM hub_links"):
        for a in json.loads(r["alerts"]):
            out.setdefault(a["message_id"], []).append(
                {"id": r["id"], "kind": r["kind"], "label": r["label"], "strength": r["strength"]}
            )
    return out


async def alerts(port: HubPort) -> dict[str, Any]:
    rows = await port.reader.all(
        "SELECT message_id, received_at, sender, topic, tlp, priority, alert FROM inbox"
        " ORDER BY received_at DESC LIMIT 200"
    )
    links = await _links_by_alert(port)
    now = port.now()
    items = []
    for r in rows:
        try:
            title = parse_alert(r["alert"]).title
        except LaliError:
            title = "(unreadable)"
        items.append(
            {
                "message_id": r["message_id"],
                "when": ago(r["received_at"], now),
                "sender": r["sender"],
                "topic": r["topic"],
                "tlp": r["tlp"],
                "priority": r["priority"],
                "title": title,
                "links": len(links.get(r["message_id"], [])),
            }
        )
    return {"alerts": items, "colours": colours(port.directory())}


def _fields(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested model dump as (path, text) rows, for a plain table."""
    rows: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            rows += _fields(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        if not value:
            return rows
        for i, v in enumerate(value):
            rows += _fields(v, f"{prefix}[{i}]")
    elif value is not None:
        rows.append((prefix, str(value)))
    return rows


async def alert(port: HubPort, message_id: str) -> dict[str, Any] | None:
    r = await port.reader.one(
        "SELECT message_id, received_at, sender, topic, tlp, priority, alert FROM inbox"
        " WHERE message_id = ?",
        (message_id,),
    )
    if r is None:
        return None
    parsed: Alert = parse_alert(r["alert"])
    payload = parsed.payload.model_dump(mode="json", exclude_none=True)
    payload.pop("topic", None)
    mentions = await port.reader.all(
        "SELECT kind, label FROM hub_mentions WHERE message_id = ? ORDER BY kind, label",
        (message_id,),
    )
    meta = await port.reader.one(
        "SELECT size, recipients FROM hub_traffic WHERE message_id = ? AND kind = 'alert'",
        (message_id,),
    )
    return {
        "message_id": r["message_id"],
        "sender": r["sender"],
        "topic": r["topic"],
        "tlp": r["tlp"],
        "priority": r["priority"],
        "sent": when(message_time(r["message_id"])),
        "received": when(r["received_at"]),
        "alert": parsed,
        "fields": _fields(payload),
        "mentions": [(m["kind"], m["label"]) for m in mentions],
        "links": (await _links_by_alert(port)).get(message_id, []),
        "size": meta["size"] if meta else None,
        "recipients": meta["recipients"] if meta else None,
    }


# --- correlations ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    width: int = 960
    left: int = 250
    right: int = 30
    row: int = 30
    top: int = 40


def _timeline(links: Sequence[dict[str, Any]], palette: Mapping[str, str]) -> dict[str, Any]:
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
    for n, link in enumerate(links):
        y = box.top + n * box.row
        dots: list[dict[str, Any]] = []
        for a in link["alerts"]:
            at = x(datetime.fromisoformat(a["at"]))
            if dots and at - dots[-1]["x"] < 10:
                at = dots[-1]["x"] + 10  # alerts minutes apart: side by side, not hidden
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


def _graph(links: Sequence[dict[str, Any]], palette: Mapping[str, str]) -> dict[str, Any]:
    """Members on a circle; an edge where their alerts share a link (width: how many)."""
    members = sorted({a["sender"] for link in links for a in link["alerts"]})
    size, r = 360, 130
    pos = {
        code: (
            round(size / 2 + r * math.cos(2 * math.pi * i / max(1, len(members)) - math.pi / 2), 1),
            round(size / 2 + r * math.sin(2 * math.pi * i / max(1, len(members)) - math.pi / 2), 1),
        )
        for i, code in enumerate(members)
    }
    weight: Counter[tuple[str, str]] = Counter()
    for link in links:
        senders = sorted({a["sender"] for a in link["alerts"]})
        for i, a in enumerate(senders):
            for b in senders[i + 1 :]:
                weight[(a, b)] += 1
    edges = [
        {"x1": pos[a][0], "y1": pos[a][1], "x2": pos[b][0], "y2": pos[b][1],
         "w": min(12, 1 + 2 * n), "title": f"{a}–{b}: {n} shared link{'s' if n > 1 else ''}"}
        for (a, b), n in weight.items()
    ]  # fmt: skip
    nodes = [
        {"code": code, "x": x, "y": y, "colour": palette.get(code, "#333")}
        for code, (x, y) in pos.items()
    ]
    return {"size": size, "nodes": nodes, "edges": edges}


async def correlations(port: HubPort, show_weak: bool) -> dict[str, Any]:
    rows = await port.reader.all(
        "SELECT id, kind, label, strength, rule, alerts, reasons, count, first_seen, updated_at"
        " FROM hub_links ORDER BY updated_at DESC, id"
    )
    now = port.now()
    links = []
    for r in rows:
        if r["strength"] == "weak" and not show_weak:
            continue
        link_alerts = json.loads(r["alerts"])
        links.append(
            {
                "id": r["id"],
                "kind": r["kind"],
                "label": r["label"],
                "strength": r["strength"],
                "rule": r["rule"],
                "alerts": link_alerts,
                "reasons": json.loads(r["reasons"]),
                "senders": sorted({a["sender"] for a in link_alerts}),
                "first_seen": ago(r["first_seen"], now),
                "updated": ago(r["updated_at"], now),
            }
        )
    palette = colours(port.directory())
    weak = sum(1 for r in rows if r["strength"] == "weak")
    return {
        "links": links,
        "weak_hidden": 0 if show_weak else weak,
        "show_weak": show_weak,
        "timeline": _timeline(links[:40], palette),
        "graph": _graph(links, palette),
        "colours": palette,
    }


# --- bulletins ---------------------------------------------------------------------------


async def bulletins(port: HubPort) -> dict[str, Any]:
    now = port.now()
    sent = await port.reader.all(
        "SELECT message_id, created_at, title, tlp, priority, recipients FROM hub_bulletins"
        " ORDER BY created_at DESC LIMIT 20"
    )
    overdue = timedelta(minutes=port.settings.receipt_overdue_min)
    items = []
    for b in sent:
        try:
            states = await asyncio.to_thread(status, port.reader, b["message_id"], now, overdue)
        except LaliError:
            states = []
        items.append(
            {
                "message_id": b["message_id"],
                "when": ago(b["created_at"], now),
                "title": b["title"],
                "tlp": b["tlp"],
                "priority": b["priority"],
                "recipients": [
                    {"code": s.recipient, "state": s.state, "at": when(s.at) if s.at else ""}
                    for s in states
                ],
                "delivered": sum(1 for s in states if s.state == "delivered"),
            }
        )
    inbox = await alerts(port)
    links = await port.reader.all(
        "SELECT id, kind, label, strength, count FROM hub_links ORDER BY updated_at DESC LIMIT 50"
    )
    return {
        "sent": items,
        "recipients": [c for c in sorted(port.directory().codes()) if c != port.code],
        "alerts": inbox["alerts"][:50],
        "links": [dict(r) for r in links],
        "tlps": [t.value for t in Tlp],
        "priorities": [p.value for p in Priority],
    }


# --- audit -------------------------------------------------------------------------------


async def audit(port: HubPort) -> dict[str, Any]:
    now = port.now()
    rows = await port.reader.all("SELECT member, count, head, at FROM checkpoints ORDER BY at")
    by_member: dict[str, list[Any]] = {}
    for r in rows:
        by_member.setdefault(r["member"], []).append(r)
    conflicts = Counter(
        str(r[0])
        for r in await port.reader.all(
            "SELECT peer FROM audit WHERE kind = 'rejected' AND reason = 'checkpoint_conflict'"
        )
    )
    beats = {
        str(r[0]): r[1]
        for r in await port.reader.all("SELECT member, audit_count FROM hub_members")
    }
    members = []
    for m in port.directory().members:
        held = by_member.get(m.code, [])
        latest = max(held, key=lambda r: r["count"]) if held else None
        # Heads only grow: a later checkpoint with fewer entries means a restored or
        # cut log (THREATS 19, 20); so does a heartbeat that reports fewer entries.
        went_back = any(b["count"] < a["count"] for a, b in itertools.pairwise(held))
        beat_count = beats.get(m.code)
        shorter = latest is not None and beat_count is not None and beat_count < latest["count"]
        problems = []
        if conflicts.get(m.code):
            problems.append(
                f"{conflicts[m.code]} conflicting checkpoint(s): two heads for one count"
            )
        if went_back:
            problems.append("a later checkpoint has fewer entries than an earlier one")
        if shorter and latest is not None:
            problems.append(
                f"its heartbeat reports {beat_count} entries,"
                f" fewer than checkpoint {latest['count']}"
            )
        members.append(
            {
                "code": m.code,
                "name": m.name,
                "held": len(held),
                "count": latest["count"] if latest else None,
                "head": bytes(latest["head"]).hex()[:16] if latest else "",
                "at": ago(latest["at"], now) if latest else "",
                "at_full": when(latest["at"]) if latest else "",
                "beat_count": beat_count,
                "problems": problems,
                "state": "alarm" if problems else ("ok" if latest else "none"),
            }
        )
    state = await port.reader.one("SELECT value FROM hub_state WHERE key = 'audit_verify'")
    own = json.loads(state[0]) if state else None
    if own and own.get("at"):
        own["ago"] = ago(own["at"], now)
    return {"members": members, "own": own}
