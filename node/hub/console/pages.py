"""What each console page shows, gathered from the hub's tables (read-only).

Alert content appears only on the alerts and correlations pages, and only from the
hub's inbox: alerts addressed to the hub. Everything else is metadata from clear
headers, heartbeats, consumer state, receipts and checkpoints. Every list is a page of
a keyset query (``store.Window``): what the query string asks for is read by
``search.py``, the queries are in ``node/hub/store.py``, the judgements on checkpoints
in ``node/hub/checks.py``, an alert's layout in ``alertview.py``, the charts' geometry
in ``charts.py``.
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
from node.hub.console import alertview, charts, search
from node.hub.console.display import ago, colours, iso, when
from node.hub.events import EventBus
from node.hub.settings import HubSettings
from node.protocol.wire import message_time
from node.storage.readonly import Reader
from schemas.alert import Alert, Priority, Tlp, parse_alert
from schemas.errors import LaliError


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
    codes = port.directory().codes()
    checkpoints = await store.checkpoint_summaries(port.reader, codes)
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
                "last_seen_at": iso(r["last_seen"]) if r and r["last_seen"] else "",
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

TRAFFIC_FILTERS = ("kind", "sender", "topic", "tlp", "priority", "status")


async def traffic(port: HubPort, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the traffic metadata matching the query (alerts with their receipts
    counted in, unless receipts are asked for), and totals."""
    q, view = search.traffic_request(query, port.directory(), port.now())
    page = await store.traffic_page(port.reader, q, view.window)
    totals = await store.traffic_totals(port.reader)
    return {
        "rows": [{**dict(r), "at": r["stored_at"] or r["seen_at"]} for r in page.rows],
        "query": q,
        "view": view,
        "pager": view.pager(page),
        "options": search.options(port.directory(), TRAFFIC_FILTERS, store.TRAFFIC_KINDS),
        "exports": {"CSV": view.href("/traffic/export.csv")},
        "total": totals.messages,
        "bytes": totals.size,
        "rejected": totals.rejected,
        "colours": colours(port.directory()),
    }


# --- alerts addressed to the hub ---------------------------------------------------------

ALERT_FILTERS = ("sender", "topic", "tlp", "priority")
ENTITY_ORDER = {"document": 0, "vessel": 1, "person": 2, "phone": 3, "port": 4}
ENTITIES_LISTED = 4


def _title(alert_json: str) -> str:
    """An inbox alert's title (the inbox holds validated alerts: no model needed)."""
    try:
        return str(json.loads(alert_json).get("title", "(untitled)"))
    except ValueError:
        return "(unreadable)"


async def alerts(port: HubPort, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the alerts in the hub's inbox matching the query, each with its title,
    the entities it names and how many links it is in."""
    q, view = search.alerts_request(query, port.directory(), port.now())
    page = await store.alerts_page(port.reader, q, view.window)
    ids = [str(r["message_id"]) for r in page.rows]
    links = await store.link_counts(port.reader, ids)
    found = await store.mentions_in(port.reader, ids)
    items = []
    for r in page.rows:
        mid = str(r["message_id"])
        named = sorted(found.get(mid, []), key=lambda m: ENTITY_ORDER.get(m["kind"], 9))
        items.append(
            {
                "message_id": mid,
                "received_at": r["received_at"],
                "sent_at": message_time(mid),
                "sender": r["sender"],
                "topic": r["topic"],
                "tlp": r["tlp"],
                "priority": r["priority"],
                "title": _title(r["alert"]),
                "entities": [(m["kind"], m["label"]) for m in named[:ENTITIES_LISTED]],
                "more_entities": max(0, len(named) - ENTITIES_LISTED),
                "links": links.get(mid, 0),
            }
        )
    link = await store.link_exists(port.reader, q.link) if q.link else None
    return {
        "alerts": items,
        "query": q,
        "view": view,
        "pager": view.pager(page),
        "link": dict(link) if link else None,
        "options": search.options(port.directory(), ALERT_FILTERS),
        "exports": {
            "CSV": view.href("/alerts/export.csv"),
            "STIX 2.1": view.href("/alerts/export.stix.json"),
        },
        "total": await store.inbox_count(port.reader),
        "colours": colours(port.directory()),
    }


async def alert(port: HubPort, message_id: str) -> dict[str, Any] | None:
    """One alert of the hub's inbox in full, laid out for reading, with its entities
    and links; None if the inbox does not hold it (it was not addressed to the hub)."""
    r = await store.inbox_alert(port.reader, message_id)
    if r is None:
        return None
    parsed: Alert = parse_alert(r["alert"])
    mentions = (await store.mentions_in(port.reader, [message_id])).get(message_id, [])
    meta = await store.alert_traffic(port.reader, message_id)
    return {
        "message_id": r["message_id"],
        "sender": r["sender"],
        "topic": r["topic"],
        "tlp": r["tlp"],
        "priority": r["priority"],
        "sent": message_time(r["message_id"]),
        "received": r["received_at"],
        "alert": parsed,
        "layout": alertview.layout(parsed),
        "mentions": [(m["kind"], m["label"]) for m in mentions],
        "links": [dict(link) for link in await store.links_of(port.reader, message_id)],
        "size": meta["size"] if meta else None,
        "recipients": meta["recipients"] if meta else None,
        "delivered": meta["delivered"] if meta else None,
        "colours": colours(port.directory()),
    }


# --- correlations ------------------------------------------------------------------------

LINK_FILTERS = ("kind", "strength", "rule", "sender")
ALERTS_PER_LINK = 12
TIMELINE_ROWS = 40
GRAPH_LINKS = 1000  # the member graph: the latest changed links that match


async def correlations(port: HubPort, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the links matching the query (weak ones only if asked), each with its
    latest alerts; the timeline of that page and the member graph of every match."""
    q, view = search.links_request(query, port.directory(), port.now())
    page = await store.links_page(port.reader, q, view.window)
    ids = [str(r["id"]) for r in page.rows]
    latest = await store.link_alerts(port.reader, ids, ALERTS_PER_LINK)
    senders = await store.link_senders(port.reader, ids)
    links = []
    for r in page.rows:
        link_alerts = [
            {"message_id": a["message_id"], "sender": a["sender"], "at": a["at"],
             "label": a["label"]}
            for a in reversed(latest[str(r["id"])])
        ]  # fmt: skip
        links.append(
            {
                "id": r["id"],
                "kind": r["kind"],
                "label": r["label"],
                "strength": r["strength"],
                "rule": r["rule"],
                "count": r["count"],
                "alerts": link_alerts,
                "more": max(0, int(r["count"]) - len(link_alerts)),
                "reasons": json.loads(r["reasons"]),
                "senders": senders.get(str(r["id"]), []),
                "first_seen": r["first_seen"],
                "updated": r["updated_at"],
            }
        )
    palette = colours(port.directory())
    weak = "weak" not in q.strengths
    return {
        "links": links,
        "query": q,
        "view": view,
        "pager": view.pager(page),
        "weak_hidden": await store.link_count(port.reader, "weak") if weak else 0,
        "show_weak": not weak,
        "total": await store.link_count(port.reader),
        "timeline": charts.timeline(links[:TIMELINE_ROWS], palette),
        "graph": charts.graph(await store.link_graph(port.reader, q, GRAPH_LINKS), palette),
        "graph_links": GRAPH_LINKS,
        "options": search.options(port.directory(), LINK_FILTERS, search.LINK_KINDS),
        "exports": {"CSV": view.href("/correlations/export.csv")},
        "colours": palette,
    }


# --- bulletins ---------------------------------------------------------------------------

BULLETIN_FILTERS = ("tlp", "priority", "recipient")
CITABLE = 50


async def bulletins(port: HubPort, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the bulletins sent (delivery per recipient) matching the query, and
    what a new one may cite: the latest alerts and links, and any one asked for by
    ``ref`` or ``link`` (the "cite in a bulletin" links of the alert and link views)."""
    now = port.now()
    q, view = search.bulletins_request(query, port.directory(), now)
    page = await store.bulletins_page(port.reader, q, view.window)
    overdue = timedelta(minutes=port.settings.receipt_overdue_min)
    items = []
    for b in page.rows:
        try:
            states = await asyncio.to_thread(status, port.reader, b["message_id"], now, overdue)
        except LaliError:
            states = []
        items.append(
            {
                "message_id": b["message_id"],
                "created_at": b["created_at"],
                "title": b["title"],
                "tlp": b["tlp"],
                "priority": b["priority"],
                "recipients": [{"code": s.recipient, "state": s.state, "at": s.at} for s in states],
                "delivered": sum(1 for s in states if s.state == "delivered"),
            }
        )
    recent = await store.alerts_page(port.reader, store.AlertQuery(), store.Window(CITABLE))
    citable = [
        {"message_id": r["message_id"], "sender": r["sender"], "tlp": r["tlp"],
         "title": _title(r["alert"]), "chosen": False}
        for r in recent.rows
    ]  # fmt: skip
    ref = query.get("ref", "")
    if ref and ref not in {a["message_id"] for a in citable}:
        row = await store.inbox_alert(port.reader, ref)
        if row is not None:
            citable.insert(0, {"message_id": row["message_id"], "sender": row["sender"],
                               "tlp": row["tlp"], "title": _title(row["alert"]),
                               "chosen": True})  # fmt: skip
    for a in citable:
        a["chosen"] = a["chosen"] or a["message_id"] == ref
    links = [{**dict(r), "chosen": False} for r in await store.recent_links(port.reader, CITABLE)]
    wanted = query.get("link", "")
    if wanted and wanted not in {link["id"] for link in links}:
        row = await store.link_exists(port.reader, wanted)
        if row is not None:
            links.insert(0, {**dict(row), "chosen": True})
    for link in links:
        link["chosen"] = link["chosen"] or link["id"] == wanted
    return {
        "sent": items,
        "query": q,
        "view": view,
        "pager": view.pager(page),
        "options": search.options(port.directory(), BULLETIN_FILTERS),
        "exports": {"CSV": view.href("/bulletins/export.csv")},
        "recipients": [c for c in sorted(port.directory().codes()) if c != port.code],
        "alerts": citable,
        "links": links,
        "tlps": [t.value for t in Tlp],
        "priorities": [p.value for p in Priority],
    }


# --- audit -------------------------------------------------------------------------------


async def audit(port: HubPort) -> dict[str, Any]:
    """The hub's own chain check, and per member the checkpoints held and their verdict."""
    now = port.now()
    digests = await store.checkpoint_digests(port.reader, port.directory().codes())
    conflicts = await store.checkpoint_conflicts(port.reader)
    beats = await store.heartbeat_counts(port.reader)
    members = []
    for m in port.directory().members:
        beat_count = beats.get(m.code)
        digest = digests[m.code]
        verdict = judge_checkpoints(digest.evidence, conflicts[m.code], beat_count)
        latest = verdict.latest
        members.append(
            {
                "code": m.code,
                "name": m.name,
                "held": digest.held,
                "count": latest.count if latest else None,
                "head": latest.head.hex()[:16] if latest else "",
                "at": latest.at if latest else None,
                "ago": ago(latest.at, now) if latest else "",
                "beat_count": beat_count,
                "problems": [f.text() for f in verdict.findings],
                "state": verdict.state.value,
            }
        )
    own = await store.state(port.reader, "audit_verify")
    if own and own.get("at"):
        own["ago"] = ago(own["at"], now)
    return {"members": members, "own": own}
