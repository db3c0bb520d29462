"""The hub's own tables, in the hub node's SQLite file (not in node/storage/database.py's schema).

Writes go through the node's ``Database`` (one writer, one lock, the same durability);
the console reads through its own read-only connections in a thread (``Reader``), so a
page never waits behind the intake pipeline and never sees an uncommitted row.
Nothing here is audit: the audit log stays the node's.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from node.hub.correlate import Link, LinkedAlert, Mention, Sighting
from node.protocol.heartbeat import Heartbeat
from node.storage.database import Database, Tx, utc_now_text
from node.transport import ConsumerState
from schemas.errors import StorageError

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
    async with db.transaction() as tx:
        for statement in SCHEMA:
            await tx.execute(statement)


@dataclass(frozen=True)
class TrafficRow:
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


async def record_heartbeat(db: Database, beat: Heartbeat, now: datetime) -> bool:
    """Keep a verified heartbeat; False (and nothing kept) if it is not newer than the
    last one from the same run of the member: a replayed heartbeat, e.g. by a
    compromised broker, must not keep a dead member "online"."""
    async with db.transaction() as tx:
        changed = await tx.execute(
            "INSERT INTO hub_members (member, last_seen, beat_at, started_at, interval_s,"
            " audit_count, outbox_depth, stopping, beats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
            " ON CONFLICT(member) DO UPDATE SET last_seen = excluded.last_seen,"
            " beat_at = excluded.beat_at, started_at = excluded.started_at,"
            " interval_s = excluded.interval_s, audit_count = excluded.audit_count,"
            " outbox_depth = excluded.outbox_depth, stopping = excluded.stopping,"
            " beats = hub_members.beats + 1"
            " WHERE hub_members.beat_at IS NULL OR excluded.started_at > hub_members.started_at"
            " OR (excluded.started_at = hub_members.started_at"
            " AND excluded.beat_at > hub_members.beat_at)",
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
    return changed > 0


async def record_lag(db: Database, lags: dict[str, ConsumerState | None], now: datetime) -> None:
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
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO hub_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


async def prune_traffic(db: Database, keep: timedelta, now: datetime) -> int:
    async with db.transaction() as tx:
        return await tx.execute(
            "DELETE FROM hub_traffic WHERE seen_at < ?", (utc_now_text(now - keep),)
        )


def sightings_from_rows(rows: Sequence[sqlite3.Row | tuple[Any, ...]]) -> list[Sighting]:
    """``SELECT message_id, sender, at, kind, key, label, dob, names FROM hub_mentions``."""
    out = []
    for message_id, sender, at, kind, key, label, dob, names in rows:
        mention = Mention(kind, key, label, dob=dob, names=tuple(json.loads(names)))
        out.append(Sighting(message_id, sender, datetime.fromisoformat(at), mention))
    return out


class Reader:
    """Read-only queries for the console, each on its own connection in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as conn:
                conn.row_factory = sqlite3.Row
                return list(conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StorageError(
                f"reading the hub's tables failed: {exc}", path=str(self.path)
            ) from exc

    async def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self._query, sql, params)

    async def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None
