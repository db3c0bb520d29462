"""The hub's own tables, in the hub node's SQLite file (beside the node's own schema),
and every query the hub makes of that file.

Writes go through the node's ``Database`` (one writer, one lock, the same durability).
Reads go through ``Reader`` (``node.storage.readonly``): a read-only connection per
query, in a thread, so a console page never waits behind the intake pipeline and never
sees an uncommitted row. Nothing here is audit: the audit log stays the node's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from node.exchange.outbound import SendResult
from node.hub import liveness
from node.hub.checks import BeatMark, HeldCheckpoint, heartbeat_is_newer
from node.hub.correlate import Link, LinkedAlert, Mention, Sighting
from node.protocol.heartbeat import Heartbeat
from node.storage.database import Database, Tx, utc_now_text
from node.storage.readonly import Reader as Reader  # re-exported: `lali hub bulletin` reads with it
from node.storage.readonly import Row
from node.transport import ConsumerState
from schemas.alert import Alert

SCHEMA = [
    # Network-wide metadata from clear headers: one row per stream message.
    """CREATE TABLE IF NOT EXISTS hub_traffic (
        stream_seq INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL,            -- alert | receipt
        subject    TEXT NOT NULL,
        sender     TEXT,                     -- who published it
        peer       TEXT,                     -- receipts: the alert's sender
        topic      TEXT,
        tlp        TEXT,
        priority   TEXT,
        size       INTEGER NOT NULL,
        recipients INTEGER,                  -- alerts: how many wraps (not who)
        message_id TEXT,
        sent_at    TEXT,                     -- alerts: from the message id
        stored_at  TEXT,                     -- the broker's time
        seen_at    TEXT NOT NULL,
        status     TEXT NOT NULL             -- verified, or the reason it was not
    )""",
    "CREATE INDEX IF NOT EXISTS hub_traffic_mid ON hub_traffic(message_id)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_seen ON hub_traffic(seen_at)",
    # Liveness (heartbeats) and lag (consumer info), one row per member.
    """CREATE TABLE IF NOT EXISTS hub_members (
        member        TEXT PRIMARY KEY,
        last_seen     TEXT,                  -- our clock, when the last heartbeat came
        beat_at       TEXT,                  -- the member's clock in it
        started_at    TEXT,
        interval_s    REAL,
        audit_count   INTEGER,
        outbox_depth  INTEGER,
        stopping      INTEGER NOT NULL DEFAULT 0,
        beats         INTEGER NOT NULL DEFAULT 0,
        lag_pending   INTEGER,
        lag_ack_pending INTEGER,
        lag_redelivered INTEGER,
        lag_delivered_seq INTEGER,
        lag_at        TEXT
    )""",
    # The correlation index: entities per alert the hub could open.
    """CREATE TABLE IF NOT EXISTS hub_mentions (
        message_id TEXT NOT NULL,
        sender     TEXT NOT NULL,
        at         TEXT NOT NULL,
        kind       TEXT NOT NULL,
        key        TEXT NOT NULL,
        label      TEXT NOT NULL,
        dob        TEXT NOT NULL DEFAULT '',
        names      TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (message_id, kind, key, dob)
    )""",
    "CREATE INDEX IF NOT EXISTS hub_mentions_key ON hub_mentions(kind, key)",
    """CREATE TABLE IF NOT EXISTS hub_indexed (
        message_id TEXT PRIMARY KEY,
        indexed_at TEXT NOT NULL,
        mentions   INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS hub_links (
        id         TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        label      TEXT NOT NULL,
        strength   TEXT NOT NULL,
        rule       TEXT NOT NULL,
        alerts     TEXT NOT NULL,            -- JSON [{message_id, sender, at, label}]
        reasons    TEXT NOT NULL,            -- JSON [text]
        keys       TEXT NOT NULL,            -- JSON ["kind|key"]: the mentions it joins
        count      INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS hub_bulletins (
        message_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        title      TEXT NOT NULL,
        tlp        TEXT NOT NULL,
        priority   TEXT NOT NULL,
        recipients TEXT NOT NULL,
        alert      TEXT NOT NULL,            -- the bulletin as written (the hub's own)
        links      TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE TABLE IF NOT EXISTS hub_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]


async def create_tables(db: Database) -> None:
    """Create the hub's tables if they are missing (idempotent)."""
    async with db.transaction() as tx:
        for statement in SCHEMA:
            await tx.execute(statement)


@dataclass(frozen=True)
class TrafficRow:
    """One stream message's clear-header metadata, as the watcher verified it."""

    stream_seq: int
    kind: str
    subject: str
    sender: str | None
    peer: str | None
    topic: str | None
    tlp: str | None
    priority: str | None
    size: int
    recipients: int | None
    message_id: str | None
    sent_at: datetime | None
    stored_at: datetime | None
    status: str


async def insert_traffic(tx: Tx, row: TrafficRow, now: datetime) -> bool:
    """Keep ``row`` unless its stream sequence is already held; True if it was new."""
    changed = await tx.execute(
        "INSERT OR IGNORE INTO hub_traffic (stream_seq, kind, subject, sender, peer, topic,"
        " tlp, priority, size, recipients, message_id, sent_at, stored_at, seen_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.stream_seq,
            row.kind,
            row.subject,
            row.sender,
            row.peer,
            row.topic,
            row.tlp,
            row.priority,
            row.size,
            row.recipients,
            row.message_id,
            None if row.sent_at is None else utc_now_text(row.sent_at),
            None if row.stored_at is None else utc_now_text(row.stored_at),
            utc_now_text(now),
            row.status,
        ),
    )
    return changed > 0


def _as_stored(t: datetime) -> datetime:
    """``t`` at the precision the tables keep (milliseconds), for comparisons."""
    return datetime.fromisoformat(utc_now_text(t))


async def record_heartbeat(db: Database, beat: Heartbeat, now: datetime) -> bool:
    """Keep a verified heartbeat; False (and nothing kept) if it is not newer than the
    one held (``checks.heartbeat_is_newer``)."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT started_at, beat_at FROM hub_members WHERE member = ?", (beat.member,)
        )
        held = (
            None
            if row is None or row[1] is None
            else BeatMark(datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1]))
        )
        if not heartbeat_is_newer(held, BeatMark(_as_stored(beat.started_at), _as_stored(beat.at))):
            return False
        await tx.execute(
            "INSERT INTO hub_members (member, last_seen, beat_at, started_at, interval_s,"
            " audit_count, outbox_depth, stopping, beats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
            " ON CONFLICT(member) DO UPDATE SET last_seen = excluded.last_seen,"
            " beat_at = excluded.beat_at, started_at = excluded.started_at,"
            " interval_s = excluded.interval_s, audit_count = excluded.audit_count,"
            " outbox_depth = excluded.outbox_depth, stopping = excluded.stopping,"
            " beats = hub_members.beats + 1",
            (
                beat.member,
                utc_now_text(now),
                utc_now_text(beat.at),
                utc_now_text(beat.started_at),
                beat.interval.total_seconds(),
                beat.audit_count,
                beat.outbox_depth,
                int(beat.stopping),
            ),
        )
    return True


async def record_lag(db: Database, lags: dict[str, ConsumerState | None], now: datetime) -> None:
    """Keep each member's consumer state (None: the consumer does not exist)."""
    async with db.transaction() as tx:
        for member, state in lags.items():
            values = (
                (None, None, None, None)
                if state is None
                else (
                    state.pending,
                    state.ack_pending,
                    state.redelivered,
                    state.delivered_seq,
                )
            )
            await tx.execute(
                "INSERT INTO hub_members (member, lag_pending, lag_ack_pending,"
                " lag_redelivered, lag_delivered_seq, lag_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(member) DO UPDATE SET lag_pending = excluded.lag_pending,"
                " lag_ack_pending = excluded.lag_ack_pending,"
                " lag_redelivered = excluded.lag_redelivered,"
                " lag_delivered_seq = excluded.lag_delivered_seq, lag_at = excluded.lag_at",
                (member, *values, utc_now_text(now)),
            )


async def store_mentions(
    db: Database,
    message_id: str,
    sender: str,
    at: datetime,
    found: Sequence[Mention],
    now: datetime,
) -> None:
    """Keep the entities found in one alert and mark the alert indexed."""
    async with db.transaction() as tx:
        for m in found:
            await tx.execute(
                "INSERT OR IGNORE INTO hub_mentions (message_id, sender, at, kind, key, label,"
                " dob, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    sender,
                    utc_now_text(at),
                    m.kind,
                    m.key,
                    m.label,
                    m.dob,
                    json.dumps(list(m.names)),
                ),
            )
        await tx.execute(
            "INSERT OR IGNORE INTO hub_indexed (message_id, indexed_at, mentions) VALUES (?, ?, ?)",
            (message_id, utc_now_text(now), len(found)),
        )


def link_alerts_json(alerts: Sequence[LinkedAlert]) -> str:
    """A link's alerts as stored in ``hub_links.alerts``."""
    return json.dumps(
        [
            {
                "message_id": a.message_id,
                "sender": a.sender,
                "at": utc_now_text(a.at),
                "label": a.label,
            }
            for a in alerts
        ]
    )


async def save_links(db: Database, links: Sequence[Link], now: datetime) -> list[Link]:
    """Store the current links; return those that are new or gained alerts."""
    existing = {str(r[0]): int(r[1]) for r in await db.fetchall("SELECT id, count FROM hub_links")}
    changed = [link for link in links if existing.get(link.id) != len(link.alerts)]
    current = {link.id for link in links}
    async with db.transaction() as tx:
        for link in changed:
            await tx.execute(
                "INSERT INTO hub_links (id, kind, label, strength, rule, alerts, reasons, keys,"
                " count, first_seen, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET label = excluded.label,"
                " strength = excluded.strength, rule = excluded.rule, alerts = excluded.alerts,"
                " reasons = excluded.reasons, keys = excluded.keys, count = excluded.count,"
                " updated_at = excluded.updated_at",
                (
                    link.id,
                    link.kind,
                    link.label,
                    link.strength,
                    link.rule,
                    link_alerts_json(link.alerts),
                    json.dumps(list(link.reasons)),
                    json.dumps(list(link.keys)),
                    len(link.alerts),
                    utc_now_text(now),
                    utc_now_text(now),
                ),
            )
        for gone in set(existing) - current:  # e.g. a person cluster that re-formed
            await tx.execute("DELETE FROM hub_links WHERE id = ?", (gone,))
    return changed


async def set_state(db: Database, key: str, value: object) -> None:
    """Keep ``value`` (as JSON) under ``key`` in ``hub_state``."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO hub_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


async def prune_traffic(db: Database, keep: timedelta, now: datetime) -> int:
    """Forget traffic metadata seen more than ``keep`` ago; how many rows went."""
    async with db.transaction() as tx:
        return await tx.execute(
            "DELETE FROM hub_traffic WHERE seen_at < ?", (utc_now_text(now - keep),)
        )


async def record_bulletin(
    db: Database, result: SendResult, alert: Alert, links: Sequence[str]
) -> None:
    """Keep a sent bulletin as written, for the console."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO hub_bulletins (message_id, created_at, title, tlp, priority,"
            " recipients, alert, links) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.message_id,
                utc_now_text(),
                alert.title,
                alert.tlp.value,
                alert.priority.value,
                ",".join(result.recipients),
                alert.model_dump_json(exclude_none=True),
                json.dumps(list(links)),
            ),
        )


# --- reads: members, heartbeats, checkpoints -------------------------------------------


async def members(reader: Reader) -> dict[str, Row]:
    """Every ``hub_members`` row (heartbeat and lag), by member code."""
    return {str(r["member"]): r for r in await reader.all("SELECT * FROM hub_members")}


def beat_of(row: Row | None) -> liveness.Beat | None:
    """The last heartbeat in a ``hub_members`` row, for ``liveness.status``."""
    if row is None or not row["last_seen"]:
        return None
    return liveness.Beat(
        datetime.fromisoformat(row["last_seen"]),
        timedelta(seconds=float(row["interval_s"] or 30)),
        bool(row["stopping"]),
    )


async def heartbeat_counts(reader: Reader) -> dict[str, int | None]:
    """The audit count each member's latest heartbeat reported."""
    rows = await reader.all("SELECT member, audit_count FROM hub_members")
    return {str(r[0]): r[1] for r in rows}


@dataclass(frozen=True)
class CheckpointSummary:
    """The highest count and the latest signing time among a member's checkpoints."""

    count: int
    at: datetime


async def checkpoint_summaries(reader: Reader) -> dict[str, CheckpointSummary]:
    """Per member: the most entries any checkpoint held covers, and the latest one's time."""
    rows = await reader.all("SELECT member, MAX(count), MAX(at) FROM checkpoints GROUP BY member")
    return {str(r[0]): CheckpointSummary(int(r[1]), datetime.fromisoformat(r[2])) for r in rows}


async def checkpoints_held(reader: Reader) -> dict[str, list[HeldCheckpoint]]:
    """Every checkpoint held, per member, in signing order."""
    held: dict[str, list[HeldCheckpoint]] = {}
    for r in await reader.all("SELECT member, count, head, at FROM checkpoints ORDER BY at"):
        held.setdefault(str(r["member"]), []).append(
            HeldCheckpoint(int(r["count"]), bytes(r["head"]), datetime.fromisoformat(r["at"]))
        )
    return held


async def checkpoint_mark(reader: Reader) -> tuple[int, int]:
    """How many checkpoints are held and the newest one's rowid: a change means news."""
    row = await reader.one("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM checkpoints")
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def checkpoint_conflicts(reader: Reader) -> Counter[str]:
    """Per member: checkpoints refused for a head that conflicts with one held."""
    rows = await reader.all(
        "SELECT peer FROM audit WHERE kind = 'rejected' AND reason = 'checkpoint_conflict'"
    )
    return Counter(str(r[0]) for r in rows)


async def state(reader: Reader, key: str) -> Any:
    """The JSON value kept under ``key`` in ``hub_state``; None if there is none."""
    row = await reader.one("SELECT value FROM hub_state WHERE key = ?", (key,))
    return json.loads(row[0]) if row else None


# --- reads: traffic ----------------------------------------------------------------------

TRAFFIC_FILTERS = ("sender", "topic", "tlp", "priority", "kind", "status")


@dataclass(frozen=True)
class TrafficTotals:
    """Everything the watcher has recorded: messages, bytes, failed verification."""

    messages: int
    size: int
    rejected: int


async def traffic(reader: Reader, filters: Mapping[str, str], limit: int) -> list[Row]:
    """The newest ``limit`` traffic rows matching ``filters`` (column → value; ``status``
    is ``verified`` or anything else), each with how many receipts its alert has and
    whether the hub's inbox holds it (``ours``)."""
    where, params = [], []
    for key, value in filters.items():
        if key not in TRAFFIC_FILTERS:
            raise ValueError(f"no traffic filter {key!r}")
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
        # Only fixed column names from TRAFFIC_FILTERS are joined in; values are parameters.
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY t.stream_seq DESC LIMIT ?"
    )
    return await reader.all(sql, (*params, limit))


async def traffic_totals(reader: Reader) -> TrafficTotals:
    """Totals over every traffic row held."""
    row = await reader.one(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), SUM(status != 'verified') FROM hub_traffic"
    )
    if row is None:
        return TrafficTotals(0, 0, 0)
    return TrafficTotals(row[0], row[1], row[2] or 0)


async def alert_traffic(reader: Reader, message_id: str) -> Row | None:
    """An alert's size and number of recipients, as its clear header showed them."""
    return await reader.one(
        "SELECT size, recipients FROM hub_traffic WHERE message_id = ? AND kind = 'alert'",
        (message_id,),
    )


# --- reads: the hub's inbox and the correlation index ------------------------------------


async def inbox_alerts(reader: Reader, limit: int) -> list[Row]:
    """The newest alerts addressed to the hub (``alert`` is the alert's JSON)."""
    return await reader.all(
        "SELECT message_id, received_at, sender, topic, tlp, priority, alert FROM inbox"
        " ORDER BY received_at DESC LIMIT ?",
        (limit,),
    )


async def inbox_alert(reader: Reader, message_id: str) -> Row | None:
    """One alert addressed to the hub; None if the inbox does not hold it."""
    return await reader.one(
        "SELECT message_id, received_at, sender, topic, tlp, priority, alert FROM inbox"
        " WHERE message_id = ?",
        (message_id,),
    )


async def unindexed(reader: Reader, limit: int) -> list[Row]:
    """Up to ``limit`` inbox alerts not indexed yet, oldest first:
    ``(message_id, sender, alert)``."""
    return await reader.all(
        "SELECT i.message_id, i.sender, i.alert FROM inbox i"
        " LEFT JOIN hub_indexed x ON x.message_id = i.message_id"
        " WHERE x.message_id IS NULL ORDER BY i.received_at LIMIT ?",
        (limit,),
    )


async def mentions_in(reader: Reader, message_id: str) -> list[Row]:
    """The entities indexed for one alert: ``(kind, label)``, sorted."""
    return await reader.all(
        "SELECT kind, label FROM hub_mentions WHERE message_id = ? ORDER BY kind, label",
        (message_id,),
    )


async def sightings(reader: Reader) -> list[Sighting]:
    """Every indexed mention, as the input of ``correlate.find_links``."""
    rows = await reader.all(
        "SELECT message_id, sender, at, kind, key, label, dob, names FROM hub_mentions"
    )
    out = []
    for message_id, sender, at, kind, key, label, dob, names in rows:
        mention = Mention(kind, key, label, dob=dob, names=tuple(json.loads(names)))
        out.append(Sighting(message_id, sender, datetime.fromisoformat(at), mention))
    return out


async def links(reader: Reader) -> list[Row]:
    """Every link, most recently updated first (``alerts`` and ``reasons`` are JSON)."""
    return await reader.all(
        "SELECT id, kind, label, strength, rule, alerts, reasons, count, first_seen, updated_at"
        " FROM hub_links ORDER BY updated_at DESC, id"
    )


async def recent_links(reader: Reader, limit: int) -> list[Row]:
    """The ``limit`` most recently updated links, without their alerts."""
    return await reader.all(
        "SELECT id, kind, label, strength, count FROM hub_links ORDER BY updated_at DESC LIMIT ?",
        (limit,),
    )


async def links_by_alert(reader: Reader) -> dict[str, list[dict[str, str]]]:
    """For each alert in a link: those links (id, kind, label, strength)."""
    out: dict[str, list[dict[str, str]]] = {}
    for r in await reader.all("SELECT id, kind, label, strength, alerts FROM hub_links"):
        for a in json.loads(r["alerts"]):
            out.setdefault(a["message_id"], []).append(
                {"id": r["id"], "kind": r["kind"], "label": r["label"], "strength": r["strength"]}
            )
    return out


# --- reads: bulletins ----------------------------------------------------------------------


async def citable(reader: Reader, message_id: str) -> Row | None:
    """An inbox alert a bulletin may cite: ``(sender, tlp, topic, alert)``."""
    return await reader.one(
        "SELECT sender, tlp, topic, alert FROM inbox WHERE message_id = ?", (message_id,)
    )


async def link_contents(reader: Reader, link_id: str) -> tuple[list[str], list[str]] | None:
    """A link's alerts (message ids) and the entities it joins ("kind|key")."""
    row = await reader.one("SELECT alerts, keys FROM hub_links WHERE id = ?", (link_id,))
    if row is None:
        return None
    alerts = [str(a["message_id"]) for a in json.loads(str(row[0]))]
    return alerts, [str(k) for k in json.loads(str(row[1]))]


async def bulletins(reader: Reader, limit: int) -> list[Row]:
    """The ``limit`` newest bulletins sent from the hub."""
    return await reader.all(
        "SELECT message_id, created_at, title, tlp, priority, recipients FROM hub_bulletins"
        " ORDER BY created_at DESC LIMIT ?",
        (limit,),
    )
