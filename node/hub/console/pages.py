"""What each console page shows, gathered from the hub's tables (read-only).

Alert content appears only on the alerts and correlations pages, and only from the
hub's inbox: alerts addressed to the hub. Everything else is metadata from clear
headers, heartbeats, consumer state, receipts and checkpoints. The queries are in
``node/hub/store.py``, the judgements on checkpoints in ``node/hub/checks.py``, the
charts' geometry in ``charts.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from keys import Directory
from node.exchange.outbound import SendResult
from node.hub import liveness, store
from node.hub.bulletin import Draft, status
from node.hub.checks import judge_checkpoints
from node.hub.console import charts
from node.hub.console.display import ago, colours, when
from node.hub.events import EventBus
from node.hub.settings import HubSettings
from node.protocol.wire import message_time
from node.storage.readonly import Reader
from schemas.alert import Alert, Priority, Tlp, Topic, parse_alert
from schemas.errors import LaliError

TRAFFIC_LIMIT = 200
INBOX_LIMIT = 200


class HubPort(Protocol):
    """What the console needs from the running hub (a fake in the tests)."""

    code: str
    settings: HubSettings
    reader: Reader
    bus: EventBus
    problems: dict[str, str]

    def now(self) -> datetime:
        """The hub's clock."""
        ...

    def directory(self) -> Directory:
        """The directory the hub's node trusts now."""
        ...

    async def send_bulletin(self, draft: Draft) -> SendResult:
        """Compose, check and send a bulletin."""
        ...

    async def verify_audit(self) -> dict[str, Any]:
        """Verify the hub's own audit chain and keep the result."""
        ...


# --- network ---------------------------------------------------------------------------


async def network(port: HubPort) -> dict[str, Any]:
    """Every member's liveness, clock skew, lag, outbox, audit count and checkpoint."""
    now = port.now()
    rows = await store.members(port.reader)
    checkpoints = await store.checkpoint_summaries(port.reader)
    thresholds = liveness.Thresholds(
        port.settings.late_after_beats, port.settings.offline_after_beats
    )
    members = []
    for m in port.directory().members:
        r = rows.get(m.code)
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
                "status": liveness.status(store.beat_of(r), now, thresholds),
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
                "checkpoint": ck.count if ck else None,
                "checkpoint_at": ago(ck.at, now) if ck else "",
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

FILTERS = store.TRAFFIC_FILTERS


def traffic_filters(query: Mapping[str, str], directory: Directory) -> dict[str, str]:
    """The traffic filters in a query string: only values from the known sets survive."""
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
    """The newest traffic metadata matching ``filters``, and totals."""
    rows = await store.traffic(port.reader, filters, TRAFFIC_LIMIT)
    totals = await store.traffic_totals(port.reader)
    now = port.now()
    return {
        "rows": [
            {
                **{k: r[k] for k in r.keys()},  # noqa: SIM118 (a database row)
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
        "total": totals.messages,
        "bytes": totals.size,
        "rejected": totals.rejected,
        "colours": colours(port.directory()),
    }


# --- alerts addressed to the hub ---------------------------------------------------------


async def alerts(port: HubPort) -> dict[str, Any]:
    """The newest alerts in the hub's inbox, each with its title and number of links."""
    rows = await store.inbox_alerts(port.reader, INBOX_LIMIT)
    links = await store.links_by_alert(port.reader)
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
    """One alert of the hub's inbox in full, with its entities and links; None if the
    inbox does not hold it (it was not addressed to the hub)."""
    r = await store.inbox_alert(port.reader, message_id)
    if r is None:
        return None
    parsed: Alert = parse_alert(r["alert"])
    payload = parsed.payload.model_dump(mode="json", exclude_none=True)
    payload.pop("topic", None)
    mentions = await store.mentions_in(port.reader, message_id)
    meta = await store.alert_traffic(port.reader, message_id)
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
        "links": (await store.links_by_alert(port.reader)).get(message_id, []),
        "size": meta["size"] if meta else None,
        "recipients": meta["recipients"] if meta else None,
    }


# --- correlations ------------------------------------------------------------------------


async def correlations(port: HubPort, show_weak: bool) -> dict[str, Any]:
    """The links (weak ones only if asked), with the timeline and the member graph."""
    rows = await store.links(port.reader)
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
        "timeline": charts.timeline(links[:40], palette),
        "graph": charts.graph(links, palette),
        "colours": palette,
    }


# --- bulletins ---------------------------------------------------------------------------


async def bulletins(port: HubPort) -> dict[str, Any]:
    """Bulletins sent (delivery per recipient) and what a new one may cite."""
    now = port.now()
    sent = await store.bulletins(port.reader, 20)
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
    links = await store.recent_links(port.reader, 50)
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
    """The hub's own chain check, and per member the checkpoints held and their verdict."""
    now = port.now()
    held = await store.checkpoints_held(port.reader)
    conflicts = await store.checkpoint_conflicts(port.reader)
    beats = await store.heartbeat_counts(port.reader)
    members = []
    for m in port.directory().members:
        beat_count = beats.get(m.code)
        verdict = judge_checkpoints(held.get(m.code, []), conflicts[m.code], beat_count)
        latest = verdict.latest
        members.append(
            {
                "code": m.code,
                "name": m.name,
                "held": len(held.get(m.code, [])),
                "count": latest.count if latest else None,
                "head": latest.head.hex()[:16] if latest else "",
                "at": ago(latest.at, now) if latest else "",
                "at_full": when(latest.at) if latest else "",
                "beat_count": beat_count,
                "problems": [f.text() for f in verdict.findings],
                "state": verdict.state.value,
            }
        )
    own = await store.state(port.reader, "audit_verify")
    if own and own.get("at"):
        own["ago"] = ago(own["at"], now)
    return {"members": members, "own": own}
