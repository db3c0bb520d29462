"""Exports of what the console shows: CSV of every list, STIX 2.1 of alerts.

Only what the analyst may see on the console leaves it, with the list's filters:
traffic as the clear-header metadata it is; alerts, their entities and their content
only from the hub's inbox (alerts addressed to the hub: the store's alert queries read
no other table, so an alert the hub cannot open cannot be exported); links and
bulletins as the hub holds them. Exports stream, a page of rows per query, so a year
costs memory for one page.

Every CSV cell a spreadsheet would read as a formula (one that begins with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading ``'``
(OWASP, "CSV injection"); numbers are written as numbers.

The STIX bundle joins ``stix_bundle.to_stix_bundle`` of each alert (the mapping the
``stix`` handler uses, TLP markings included), every shared object (markings, member
identities, ports) once.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from node.handlers.base import Item
from node.handlers.builtin.stix_bundle import to_stix_bundle
from node.hub import store
from node.hub.console.display import iso
from node.protocol.wire import message_time
from node.storage.readonly import Reader, Row
from schemas.alert import Priority, Tlp, Topic, parse_alert
from schemas.errors import LaliError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STIX_MAX = 2000  # alerts in one STIX export: ~10 ms of CPU each
CHUNK = 500
LINK_CHUNK = 100
LINK_ALERTS = 10_000  # message ids listed per link


def cell(value: object) -> str | int | float:
    """One CSV cell: numbers as they are, text defused against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_line(values: Iterable[object]) -> bytes:
    """One CSV record (RFC 4180 quoting, CRLF), every cell through ``cell``."""
    out = io.StringIO()
    csv.writer(out).writerow([cell(v) for v in values])
    return out.getvalue().encode("utf-8")


async def _csv(header: Sequence[str], records: AsyncIterator[list[object]]) -> AsyncIterator[bytes]:
    yield csv_line(header)
    async for record in records:
        yield csv_line(record)


# --- traffic ---------------------------------------------------------------------------

TRAFFIC_COLUMNS = (
    "stream_seq", "stored_at", "kind", "sender", "peer", "topic", "tlp", "priority", "size",
    "recipients", "receipts", "message_id", "status",
)  # fmt: skip


async def _traffic_records(reader: Reader, q: store.TrafficQuery) -> AsyncIterator[list[object]]:
    async for r in store.traffic_rows(reader, q):
        yield [
            r["stream_seq"], iso(r["stored_at"] or r["seen_at"]), r["kind"], r["sender"],
            r["peer"], r["topic"], r["tlp"], r["priority"], r["size"], r["recipients"],
            r["delivered"], r["message_id"], r["status"],
        ]  # fmt: skip


def traffic_csv(reader: Reader, q: store.TrafficQuery) -> AsyncIterator[bytes]:
    """The traffic rows matching ``q`` (metadata only), newest first."""
    return _csv(TRAFFIC_COLUMNS, _traffic_records(reader, q))


# --- alerts ----------------------------------------------------------------------------

ALERT_COLUMNS = (
    "message_id", "sent_at", "received_at", "sender", "topic", "tlp", "priority", "title",
    "summary", "documents", "vessels", "persons", "phones", "ports",
)  # fmt: skip


async def _chunks(rows: AsyncIterator[Row], size: int) -> AsyncIterator[list[Row]]:
    """``rows`` in lists of ``size`` (one look-up of their mentions or links each)."""
    chunk: list[Row] = []
    async for r in rows:
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _alert_records(reader: Reader, q: store.AlertQuery) -> AsyncIterator[list[object]]:
    async for chunk in _chunks(store.alert_rows(reader, q, CHUNK), CHUNK):
        found = await store.mentions_in(reader, [str(r["message_id"]) for r in chunk])
        for r in chunk:
            data = json.loads(r["alert"])
            by_kind: dict[str, list[str]] = {}
            for m in found.get(str(r["message_id"]), []):
                by_kind.setdefault(str(m["kind"]), []).append(str(m["label"]))
            yield [
                r["message_id"], iso(message_time(r["message_id"])), iso(r["received_at"]),
                r["sender"], r["topic"], r["tlp"], r["priority"], data.get("title", ""),
                data.get("summary", ""),
                *("; ".join(by_kind.get(k, [])) for k in store.SEARCH_KINDS),
                "; ".join(by_kind.get("port", [])),
            ]  # fmt: skip


def alerts_csv(reader: Reader, q: store.AlertQuery) -> AsyncIterator[bytes]:
    """The inbox alerts matching ``q``: header, title, summary and the entities named."""
    return _csv(ALERT_COLUMNS, _alert_records(reader, q))


def _item(r: Row) -> Item:
    alert = parse_alert(str(r["alert"]))
    return Item(
        kind="alert",
        message_id=str(r["message_id"]),
        sender=str(r["sender"]),
        topic=Topic(str(r["topic"])),
        tlp=Tlp(str(r["tlp"])),
        priority=Priority(str(r["priority"])),
        received_at=datetime.fromisoformat(str(r["received_at"])),
        alert=alert,
    )


def _stix_objects(rows: Sequence[Row], receiver: str) -> list[dict[str, Any]]:
    """The STIX objects of ``rows`` (in a thread: about 10 ms of CPU per alert)."""
    objects: list[dict[str, Any]] = []
    for r in rows:
        try:
            objects += to_stix_bundle(_item(r), receiver)["objects"]
        except LaliError:  # the inbox holds validated alerts; be safe anyway
            continue
    return objects


async def alerts_stix(
    reader: Reader, q: store.AlertQuery, receiver: str, limit: int = STIX_MAX
) -> AsyncIterator[bytes]:
    """One STIX 2.1 bundle of the (at most ``limit``) latest inbox alerts matching ``q``,
    written as it is built; each shared object once."""
    yield (b'{"type": "bundle", "id": "bundle--' + str(uuid.uuid4()).encode() + b'", "objects": [')
    seen: set[str] = set()
    count = 0
    async for chunk in _chunks(store.alert_rows(reader, q, CHUNK), CHUNK):
        chunk = chunk[: limit - count]
        count += len(chunk)
        for obj in await asyncio.to_thread(_stix_objects, chunk, receiver):
            if obj["id"] in seen:
                continue
            prefix = b",\n" if seen else b"\n"
            seen.add(obj["id"])
            yield prefix + json.dumps(obj, sort_keys=True).encode()
        if count >= limit:
            break
    yield b"\n]}\n"


# --- links and bulletins ---------------------------------------------------------------

LINK_COLUMNS = (
    "link_id", "kind", "strength", "rule", "label", "alerts", "members", "first_seen",
    "updated_at", "reasons", "message_ids",
)  # fmt: skip


async def _link_records(reader: Reader, q: store.LinkQuery) -> AsyncIterator[list[object]]:
    async for chunk in _chunks(store.link_rows(reader, q, LINK_CHUNK), LINK_CHUNK):
        ids = [str(r["id"]) for r in chunk]
        latest = await store.link_alerts(reader, ids, LINK_ALERTS)
        for r in chunk:
            yield _link_record(r, latest[str(r["id"])])


def _link_record(r: Row, alerts: list[Row]) -> list[object]:
    return [
        r["id"], r["kind"], r["strength"], r["rule"], r["label"], r["count"],
        " ".join(sorted({str(a["sender"]) for a in alerts})), iso(r["first_seen"]),
        iso(r["updated_at"]), " | ".join(json.loads(r["reasons"])),
        " ".join(str(a["message_id"]) for a in alerts),
    ]  # fmt: skip


def links_csv(reader: Reader, q: store.LinkQuery) -> AsyncIterator[bytes]:
    """The links matching ``q``, with their alerts' message ids (the latest
    ``LINK_ALERTS`` of each)."""
    return _csv(LINK_COLUMNS, _link_records(reader, q))


BULLETIN_COLUMNS = (
    "message_id", "sent_at", "title", "tlp", "priority", "recipients", "links", "cited_alerts",
)  # fmt: skip


async def _bulletin_records(reader: Reader, q: store.BulletinQuery) -> AsyncIterator[list[object]]:
    async for r in store.bulletin_rows(reader, q):
        cited = json.loads(r["alert"]).get("payload", {}).get("referenced_alerts", [])
        yield [
            r["message_id"], iso(r["created_at"]), r["title"], r["tlp"], r["priority"],
            r["recipients"].replace(",", " "), " ".join(json.loads(r["links"])), " ".join(cited),
        ]  # fmt: skip


def bulletins_csv(reader: Reader, q: store.BulletinQuery) -> AsyncIterator[bytes]:
    """The bulletins sent from the hub matching ``q``."""
    return _csv(BULLETIN_COLUMNS, _bulletin_records(reader, q))
