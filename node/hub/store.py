"""The hub's own tables, in the hub node's SQLite file (beside the node's own schema),
and every query the hub makes of that file.

Writes go through the node's ``Database`` (one writer, one lock, the same durability).
Reads go through ``Reader`` (``node.storage.readonly``): a read-only connection per
query, in a thread, so a console page never waits behind the intake pipeline and never
sees an uncommitted row. Nothing here is audit: the audit log stays the node's.

The console's lists are keyset queries (``Window``, ``Page``): each is ordered by a
time and a unique key, filtered by typed queries (``TrafficQuery``, ``AlertQuery``,
``LinkQuery``, ``BulletinQuery``), and read from an index in that order, so a page
costs the same with a year of traffic as with a day. What makes that possible is kept
here too: search terms (``search_terms``, ``hub_terms``), a link's alerts and members
as rows, traffic totals and checkpoint summaries kept by triggers, and the indexes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Sequence
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
from schemas.alert import Alert, parse_alert
from schemas.entities import extract, normalise_name
from schemas.errors import LaliError

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
    # Search terms of the alerts in the inbox (``search_terms``): one row per entity
    # term, so a search is an index range read ("tupou" → every alert naming one).
    """CREATE TABLE IF NOT EXISTS hub_terms (
        kind       TEXT NOT NULL,            -- document | vessel | person | phone
        term       TEXT NOT NULL,            -- folded (``fold``/``compact``)
        message_id TEXT NOT NULL,
        PRIMARY KEY (kind, term, message_id)
    ) WITHOUT ROWID""",
    # A link's alerts as rows (``hub_links.alerts`` holds the same as JSON): which links
    # an alert is in, and a link's alerts a page at a time, without parsing every link.
    """CREATE TABLE IF NOT EXISTS hub_link_alerts (
        link_id    TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sender     TEXT NOT NULL,
        at         TEXT NOT NULL,
        label      TEXT NOT NULL,
        PRIMARY KEY (link_id, message_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS hub_link_alerts_mid ON hub_link_alerts(message_id)",
    "CREATE INDEX IF NOT EXISTS hub_link_alerts_at ON hub_link_alerts(link_id, at)",
    # Which members' alerts each link holds (the member graph, the member filter): a
    # port link may gather thousands of alerts, but only ever a few members.
    """CREATE TABLE IF NOT EXISTS hub_link_senders (
        link_id TEXT NOT NULL,
        sender  TEXT NOT NULL,
        alerts  INTEGER NOT NULL,
        PRIMARY KEY (link_id, sender)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS hub_link_senders_sender ON hub_link_senders(sender, link_id)",
    # Links written before these two tables existed: copied once from their JSON.
    """INSERT OR IGNORE INTO hub_link_alerts (link_id, message_id, sender, at, label)
        SELECT l.id, json_extract(a.value, '$.message_id'), json_extract(a.value, '$.sender'),
               json_extract(a.value, '$.at'), json_extract(a.value, '$.label')
        FROM hub_links l, json_each(l.alerts) a
        WHERE NOT EXISTS (SELECT 1 FROM hub_link_alerts)""",
    """INSERT OR IGNORE INTO hub_link_senders (link_id, sender, alerts)
        SELECT link_id, sender, COUNT(*) FROM hub_link_alerts
        WHERE NOT EXISTS (SELECT 1 FROM hub_link_senders) GROUP BY link_id, sender""",
    # Traffic totals kept by triggers: the traffic page shows them without a full scan.
    """CREATE TABLE IF NOT EXISTS hub_traffic_totals (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        messages INTEGER NOT NULL,
        size     INTEGER NOT NULL,
        rejected INTEGER NOT NULL
    )""",
    """INSERT OR IGNORE INTO hub_traffic_totals (id, messages, size, rejected)
        SELECT 1, COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(status != 'verified'), 0)
        FROM hub_traffic WHERE NOT EXISTS (SELECT 1 FROM hub_traffic_totals)""",
    """CREATE TRIGGER IF NOT EXISTS hub_traffic_counted AFTER INSERT ON hub_traffic BEGIN
        UPDATE hub_traffic_totals SET messages = messages + 1, size = size + NEW.size,
            rejected = rejected + (NEW.status != 'verified') WHERE id = 1;
    END""",
    """CREATE TRIGGER IF NOT EXISTS hub_traffic_uncounted AFTER DELETE ON hub_traffic BEGIN
        UPDATE hub_traffic_totals SET messages = messages - 1, size = size - OLD.size,
            rejected = rejected - (OLD.status != 'verified') WHERE id = 1;
    END""",
    # Indexes for the console's lists and searches. Every list is read newest first from
    # an index in its key order (keyset pagination: no sort, no OFFSET): each filter
    # column leads an index that goes on with the list's time, then its key (a traffic
    # row's rowid is its stream_seq, which every index on hub_traffic ends with), so a
    # filter, a time range and the page's position are one index range.
    "DROP INDEX IF EXISTS hub_traffic_mid",  # superseded by hub_traffic_msg
    "UPDATE hub_traffic SET stored_at = seen_at WHERE stored_at IS NULL",  # see insert_traffic
    "CREATE INDEX IF NOT EXISTS hub_traffic_msg ON hub_traffic(message_id, kind, status, sender)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_stored ON hub_traffic(stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_kind ON hub_traffic(kind, stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_sender ON hub_traffic(kind, sender, stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_topic ON hub_traffic(topic, stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_tlp ON hub_traffic(tlp, stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_priority ON hub_traffic(priority, stored_at)",
    "CREATE INDEX IF NOT EXISTS hub_traffic_failed ON hub_traffic(stored_at)"
    " WHERE status != 'verified'",
    # The node's inbox and checkpoints, as the hub reads them (the node never needs these).
    "CREATE INDEX IF NOT EXISTS hub_inbox_received ON inbox(received_at, message_id)",
    "CREATE INDEX IF NOT EXISTS hub_inbox_sender ON inbox(sender, received_at, message_id)",
    "CREATE INDEX IF NOT EXISTS hub_inbox_topic ON inbox(topic, received_at, message_id)",
    "CREATE INDEX IF NOT EXISTS hub_inbox_tlp ON inbox(tlp, received_at, message_id)",
    "CREATE INDEX IF NOT EXISTS hub_inbox_priority ON inbox(priority, received_at, message_id)",
    "CREATE INDEX IF NOT EXISTS hub_checkpoints_at ON checkpoints(member, at)",
    "CREATE INDEX IF NOT EXISTS hub_audit_rejected ON audit(reason) WHERE kind = 'rejected'",
    # What the audit page judges of each member's checkpoints, kept as they arrive (a
    # year brings hundreds of thousands): how many are held, and the first pair found
    # where one signed later has fewer entries than one signed before (``earlier`` and
    # ``later`` are their counts). The trigger's look-ups are index ranges that are
    # empty while counts only grow: its cost does not grow with the table.
    """CREATE TABLE IF NOT EXISTS hub_checkpoint_summary (
        member  TEXT PRIMARY KEY,
        held    INTEGER NOT NULL,
        earlier INTEGER,
        later   INTEGER
    )""",
    """INSERT OR IGNORE INTO hub_checkpoint_summary (member, held)
        SELECT member, COUNT(*) FROM checkpoints
        WHERE NOT EXISTS (SELECT 1 FROM hub_state WHERE key = 'checkpoints_summarised')
        GROUP BY member""",
    """UPDATE hub_checkpoint_summary SET (earlier, later) = (
        SELECT prev, count FROM (
            SELECT count, LAG(count) OVER (ORDER BY at) AS prev FROM checkpoints c
            WHERE c.member = hub_checkpoint_summary.member)
        WHERE count < prev LIMIT 1)
        WHERE NOT EXISTS (SELECT 1 FROM hub_state WHERE key = 'checkpoints_summarised')""",
    "INSERT OR IGNORE INTO hub_state (key, value) VALUES ('checkpoints_summarised', 'true')",
    """CREATE TRIGGER IF NOT EXISTS hub_checkpoint_summarised AFTER INSERT ON checkpoints BEGIN
        INSERT INTO hub_checkpoint_summary (member, held) VALUES (NEW.member, 1)
            ON CONFLICT(member) DO UPDATE SET held = held + 1;
        UPDATE hub_checkpoint_summary SET earlier = (
                SELECT c.count FROM checkpoints c WHERE c.member = NEW.member
                AND c.count > NEW.count AND +c.at < NEW.at LIMIT 1), later = NEW.count
            WHERE member = NEW.member AND earlier IS NULL AND EXISTS (
                SELECT 1 FROM checkpoints c WHERE c.member = NEW.member
                AND c.count > NEW.count AND +c.at < NEW.at);
        UPDATE hub_checkpoint_summary SET earlier = NEW.count, later = (
                SELECT c.count FROM checkpoints c WHERE c.member = NEW.member
                AND c.at > NEW.at AND +c.count < NEW.count LIMIT 1)
            WHERE member = NEW.member AND earlier IS NULL AND EXISTS (
                SELECT 1 FROM checkpoints c WHERE c.member = NEW.member
                AND c.at > NEW.at AND +c.count < NEW.count);
    END""",
    "CREATE INDEX IF NOT EXISTS hub_links_updated ON hub_links(updated_at, id)",
    "CREATE INDEX IF NOT EXISTS hub_links_kind ON hub_links(kind, updated_at, id)",
    "CREATE INDEX IF NOT EXISTS hub_bulletins_created ON hub_bulletins(created_at, message_id)",
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
            # The console lists traffic in broker time: without it (never seen from
            # JetStream, but typed so), the time the hub saw the message stands in.
            utc_now_text(row.stored_at or now),
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


# --- search terms ------------------------------------------------------------------------

SEARCH_KINDS = ("document", "vessel", "person", "phone")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
MIN_TERM = 2  # a shorter search text would match half the inbox
PHONE_TAIL = 7  # a phone number is also found by its last seven digits


def fold(text: str) -> str:
    """Lower-case ASCII letters and digits, anything else one space: ``"TN 482-7193"``
    → ``"tn 482 7193"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NOT_ALNUM.sub(" ", ascii_text.lower()).split())


def compact(text: str) -> str:
    """``fold`` without the spaces, for numbers: ``"TN 482-7193"`` → ``"tn4827193"``."""
    return fold(text).replace(" ", "")


def _name_terms(name: str) -> set[str]:
    """A name in its Latin form (``normalise_name``: any script, transliterated as the
    correlation does it), and each of its words: "tupou" and "sione tupou" both find it."""
    latin = normalise_name(name)
    return {latin, *(w for w in latin.split() if len(w) >= MIN_TERM)} - {""}


def search_terms(alert: Alert) -> set[tuple[str, str]]:
    """The (kind, term) pairs an alert can be found by: document numbers; vessels' IMO,
    MMSI, call sign and name; persons' names and aliases, given names first and family
    name first; phone numbers (all digits, and the last seven). Numbers are ``compact``,
    names ``normalise_name``d."""
    found = extract(alert)
    terms: set[tuple[str, str]] = set()
    for d in found.documents:
        terms.add(("document", compact(d.number)))
    for v in found.vessels:
        terms |= {("vessel", compact(i)) for i in (v.imo, v.mmsi, v.call_sign) if i}
        terms |= {("vessel", t) for t in _name_terms(v.name)}
    for p in found.persons:
        names = [f"{p.given_names} {p.family_name}", f"{p.family_name} {p.given_names}"]
        for name in (*names, *p.aliases):
            terms |= {("person", t) for t in _name_terms(name)}
    for phone in found.phones:
        digits = _NOT_DIGIT.sub("", phone)
        terms |= {("phone", digits), ("phone", digits[-PHONE_TAIL:])}
    return {(kind, term) for kind, term in terms if term}


@dataclass(frozen=True)
class Search:
    """An entity search: ``text`` as typed, in one kind of ``SEARCH_KINDS`` or (None)
    in all of them. Matches terms that begin with the folded text."""

    text: str
    kind: str | None = None

    def prefixes(self) -> list[tuple[str, str]]:
        """The (kind, term prefix) pairs to look up; empty if the text is too short."""
        kinds = SEARCH_KINDS if self.kind is None else (self.kind,)
        wanted: dict[tuple[str, str], None] = {}
        for kind in kinds:
            if kind == "phone":
                forms = [_NOT_DIGIT.sub("", self.text)]
            elif kind == "document":
                forms = [compact(self.text)]
            elif kind == "vessel":
                forms = [compact(self.text), normalise_name(self.text)]
            else:
                forms = [normalise_name(self.text)]
            for form in forms:
                if len(form) >= MIN_TERM:
                    wanted[(kind, form)] = None
        return list(wanted)


async def _store_terms(tx: Tx, message_id: str) -> None:
    """The search terms of one inbox alert, in ``tx`` (nothing if the inbox lacks it)."""
    row = await tx.fetchone("SELECT alert FROM inbox WHERE message_id = ?", (message_id,))
    if row is None:
        return
    try:
        terms = search_terms(parse_alert(str(row[0])))
    except LaliError:  # the inbox holds validated alerts; be safe anyway
        return
    await tx.executemany(
        "INSERT OR IGNORE INTO hub_terms (kind, term, message_id) VALUES (?, ?, ?)",
        [(kind, term, message_id) for kind, term in sorted(terms)],
    )


TERMS_DONE = "terms_backfilled"


async def backfill_terms(db: Database, reader: Reader, batch: int = 500) -> int:
    """Search terms for alerts indexed before the hub kept terms (alerts indexed since
    get theirs with their mentions); resumable, in message-id order. How many were done
    this call; 0 once every one has its terms (then ``TERMS_DONE`` is set)."""
    mark = await state(reader, TERMS_DONE)
    if mark is True:
        return 0
    last = mark if isinstance(mark, str) else ""
    rows = await reader.all(
        "SELECT i.message_id FROM inbox i JOIN hub_indexed x ON x.message_id = i.message_id"
        " WHERE i.message_id > ? ORDER BY i.message_id LIMIT ?",
        (last, batch),
    )
    async with db.transaction() as tx:
        for r in rows:
            await _store_terms(tx, str(r[0]))
        done: object = str(rows[-1][0]) if rows else True
        await tx.execute(
            "INSERT INTO hub_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (TERMS_DONE, json.dumps(done)),
        )
    return len(rows)


async def store_mentions(
    db: Database,
    message_id: str,
    sender: str,
    at: datetime,
    found: Sequence[Mention],
    now: datetime,
) -> None:
    """Keep the entities found in one alert and its search terms, and mark the alert
    indexed."""
    async with db.transaction() as tx:
        await _store_terms(tx, message_id)
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
            await _link_rows(tx, link)
        for gone in set(existing) - current:  # e.g. a person cluster that re-formed
            await tx.execute("DELETE FROM hub_links WHERE id = ?", (gone,))
            await tx.execute("DELETE FROM hub_link_alerts WHERE link_id = ?", (gone,))
            await tx.execute("DELETE FROM hub_link_senders WHERE link_id = ?", (gone,))
    return changed


async def _link_rows(tx: Tx, link: Link) -> None:
    """A link's alerts and members as rows (``hub_link_alerts``, ``hub_link_senders``).
    A link mostly gains alerts (a port's, thousands of them): the rows held stay, new
    ones are added, and only those no longer in it are deleted."""
    await tx.execute(
        "DELETE FROM hub_link_alerts WHERE link_id = ?"
        " AND message_id NOT IN (SELECT value FROM json_each(?))",
        (link.id, json.dumps([a.message_id for a in link.alerts])),
    )
    await tx.executemany(
        "INSERT INTO hub_link_alerts (link_id, message_id, sender, at, label)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (link_id, message_id) DO UPDATE SET"
        " label = excluded.label",
        [(link.id, a.message_id, a.sender, utc_now_text(a.at), a.label) for a in link.alerts],
    )
    await tx.execute("DELETE FROM hub_link_senders WHERE link_id = ?", (link.id,))
    per_sender = Counter(a.sender for a in link.alerts)
    await tx.executemany(
        "INSERT INTO hub_link_senders (link_id, sender, alerts) VALUES (?, ?, ?)",
        [(link.id, sender, n) for sender, n in sorted(per_sender.items())],
    )


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


def _members_cte(codes: Sequence[str]) -> str:
    """``WITH m(member) AS (VALUES (?), …)`` for ``codes`` (at least one)."""
    return "WITH m(member) AS (VALUES " + ", ".join("(?)" for _ in codes) + ")"


async def checkpoint_summaries(
    reader: Reader, codes: Sequence[str]
) -> dict[str, CheckpointSummary]:
    """Per member of ``codes``: the most entries any checkpoint held covers, and the
    latest one's time (two index look-ups each, however many checkpoints are held)."""
    if not codes:
        return {}
    summary = (
        " SELECT m.member,"
        " (SELECT count FROM checkpoints c WHERE c.member = m.member ORDER BY count DESC LIMIT 1),"
        " (SELECT at FROM checkpoints c WHERE c.member = m.member ORDER BY at DESC LIMIT 1)"
        " FROM m"
    )
    rows = await reader.all(_members_cte(codes) + summary, tuple(codes))
    return {
        str(r[0]): CheckpointSummary(int(r[1]), datetime.fromisoformat(r[2]))
        for r in rows
        if r[1] is not None
    }


@dataclass(frozen=True)
class CheckpointDigest:
    """What ``checks.judge_checkpoints`` needs of one member's checkpoints: how many
    are held, and the few that decide the verdict (``evidence``)."""

    held: int
    evidence: list[HeldCheckpoint]


async def checkpoint_digests(reader: Reader, codes: Sequence[str]) -> dict[str, CheckpointDigest]:
    """Per member of ``codes``, the checkpoints that decide its verdict, so that a
    year of them is not loaded to judge a page: the one with the most entries, and a
    pair where one signed later has fewer entries than one signed before (kept in
    ``hub_checkpoint_summary`` as checkpoints arrive).

    ``judge_checkpoints`` gives this evidence the verdict it gives every checkpoint
    held: two heads for one count cannot both be held (member and count are the key);
    with such a pair, the counts in signing order go back whatever else is added; and
    without one they never do."""
    if not codes:
        return {}
    evidence = (
        " SELECT m.member, s.held, c.count, c.head, c.at FROM m"
        " LEFT JOIN hub_checkpoint_summary s ON s.member = m.member"
        " JOIN checkpoints c ON c.member = m.member AND (c.count = s.earlier"
        "  OR c.count = s.later"
        "  OR c.count = (SELECT MAX(count) FROM checkpoints x WHERE x.member = m.member))"
    )
    rows = await reader.all(_members_cte(codes) + evidence, tuple(codes))
    held: dict[str, int] = {}
    found: dict[str, list[HeldCheckpoint]] = {}
    for r in rows:
        held[str(r[0])] = int(r[1] or 0)
        found.setdefault(str(r[0]), []).append(
            HeldCheckpoint(int(r[2]), bytes(r[3]), datetime.fromisoformat(r[4]))
        )
    return {code: CheckpointDigest(held.get(code, 0), found.get(code, [])) for code in codes}


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


# --- reads: lists, a page at a time ------------------------------------------------------

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Window:
    """Which page of a list (keyset pagination): the newest ``limit`` rows, or those
    just older than the key ``before``, or just newer than the key ``after``. A key is
    the values of the list's order columns in one row (see each list)."""

    limit: int = 50
    before: Key | None = None
    after: Key | None = None


@dataclass(frozen=True)
class Page:
    """One page of a list, newest first, and the keys to ask for its neighbours:
    ``older`` (as ``before``) when older rows exist, ``newer`` (as ``after``) unless
    this is the newest page."""

    rows: list[Row]
    older: Key | None = None
    newer: Key | None = None


@dataclass
class _List:
    """A list's SQL: the SELECT with its FROM, the order columns (newest first) and the
    names they have in a result row, and the filter conditions with their parameters."""

    select: str
    key: tuple[str, ...]
    names: tuple[str, ...]
    where: list[str]
    params: list[Any]

    def sql(self, extra: str | None, direction: str) -> str:
        where = [*self.where, *([extra] if extra else [])]
        order = ", ".join(f"{column} {direction}" for column in self.key)
        # Only fixed SQL from this module is joined in; every value is a parameter.
        return (
            self.select
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} LIMIT ?"
        )

    def beyond(self, op: str) -> str:
        """The condition "key ``op`` the given key", as one row-value comparison (an
        index range in SQLite)."""
        marks = ", ".join("?" for _ in self.key)
        return f"({', '.join(self.key)}) {op} ({marks})"

    def key_of(self, row: Row) -> Key:
        return tuple(row[name] for name in self.names)


async def _page(reader: Reader, spec: _List, window: Window) -> Page:
    """One page of ``spec``: ``limit + 1`` rows read from the key on, in index order,
    so a page costs the same at the end of a year as at its start."""
    n = window.limit
    if window.after is not None:
        # The rows just newer than the key: a walk back up meets each row once (the
        # newest of them may be fewer than a page; their "older" is the key's side).
        rows = await reader.all(
            spec.sql(spec.beyond(">"), "ASC"), (*spec.params, *window.after, n + 1)
        )
        newer_side = spec.key_of(rows[n - 1]) if len(rows) > n else None
        rows = rows[:n][::-1]
        older_side = spec.key_of(rows[-1]) if rows else window.after
        return Page(rows, older=older_side, newer=newer_side)
    if window.before is not None:
        rows = await reader.all(
            spec.sql(spec.beyond("<"), "DESC"), (*spec.params, *window.before, n + 1)
        )
        newer = spec.key_of(rows[0]) if rows else window.before
    else:
        rows = await reader.all(spec.sql(None, "DESC"), (*spec.params, n + 1))
        newer = None
    older = spec.key_of(rows[n - 1]) if len(rows) > n else None
    return Page(rows[:n], older=older, newer=newer)


async def _walk(reader: Reader, spec: _List, chunk: int) -> AsyncIterator[Row]:
    """Every row of ``spec``, newest first, a page of ``chunk`` per query (exports)."""
    window = Window(chunk)
    while True:
        page = await _page(reader, spec, window)
        for row in page.rows:
            yield row
        if page.older is None:
            return
        window = Window(chunk, before=page.older)


def _time_range(spec: _List, column: str, since: datetime | None, until: datetime | None) -> None:
    """``since <= column < until`` (times are stored as ``utc_now_text``, so text order
    is time order)."""
    if since is not None:
        spec.where.append(f"{column} >= ?")
        spec.params.append(utc_now_text(since))
    if until is not None:
        spec.where.append(f"{column} < ?")
        spec.params.append(utc_now_text(until))


def _id_prefix(spec: _List, column: str, prefix: str) -> None:
    """Message ids that begin with ``prefix`` (lower-case hex and hyphens), as a range."""
    spec.where.append(f"{column} >= ? AND {column} < ?")
    spec.params += [prefix, prefix + "~"]  # "~" sorts after every hex digit and "-"


def _like(text: str) -> str:
    """``%text%`` for LIKE … ESCAPE '\\', with the text's own wildcards escaped."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- reads: traffic ----------------------------------------------------------------------

TRAFFIC_KINDS = ("alert", "receipt", "all")
STATUSES = ("verified", "rejected")


@dataclass(frozen=True)
class TrafficQuery:
    """The traffic list's filters (None: any). ``kind`` ``alert`` lists alerts with
    their receipts counted in (``delivered``), ``receipt`` the receipts themselves."""

    kind: str = "alert"
    sender: str | None = None
    topic: str | None = None
    tlp: str | None = None
    priority: str | None = None
    status: str | None = None  # verified, or rejected (anything else)
    message_id: str | None = None  # the start of a message id
    since: datetime | None = None  # the broker's time (stored_at)
    until: datetime | None = None


_TRAFFIC_SELECT = (
    "SELECT t.stream_seq, t.kind, t.subject, t.sender, t.peer, t.topic, t.tlp, t.priority,"
    " t.size, t.recipients, t.message_id, t.sent_at, t.stored_at, t.seen_at, t.status,"
    " CASE WHEN t.kind = 'alert' AND t.status = 'verified' THEN"
    "  (SELECT COUNT(DISTINCT r.sender) FROM hub_traffic r WHERE r.message_id = t.message_id"
    "   AND r.kind = 'receipt' AND r.status = 'verified') END AS delivered,"
    " EXISTS(SELECT 1 FROM inbox i WHERE i.message_id = t.message_id) AS ours"
    " FROM hub_traffic t"
)


def _traffic(q: TrafficQuery) -> _List:
    if q.kind not in TRAFFIC_KINDS or (q.status is not None and q.status not in STATUSES):
        raise ValueError("no such traffic kind or status")
    spec = _List(
        _TRAFFIC_SELECT, ("t.stored_at", "t.stream_seq"), ("stored_at", "stream_seq"), [], []
    )
    # A message id is the narrowest filter there is: the other columns ("+": no index)
    # are then checked on the few rows it finds.
    plus = "+" if q.message_id else ""
    if q.kind != "all":
        spec.where.append(f"{plus}t.kind = ?")
        spec.params.append(q.kind)
    for column, value in (
        ("t.sender", q.sender),
        ("t.topic", q.topic),
        ("t.tlp", q.tlp),
        ("t.priority", q.priority),
    ):
        if value is not None:
            spec.where.append(f"{plus}{column} = ?")
            spec.params.append(value)
    if q.status == "verified":
        spec.where.append("t.status = 'verified'")
    elif q.status == "rejected":
        spec.where.append("t.status != 'verified'")
    if q.message_id:
        _id_prefix(spec, "t.message_id", q.message_id)
    _time_range(spec, "t.stored_at", q.since, q.until)
    return spec


async def traffic_page(reader: Reader, q: TrafficQuery, window: Window) -> Page:
    """A page of traffic rows matching ``q``, the latest stored first (key:
    ``(stored_at, stream_seq)``); alert rows carry ``delivered`` (receipts seen) and
    ``ours`` (in the hub's inbox)."""
    return await _page(reader, _traffic(q), window)


def traffic_rows(reader: Reader, q: TrafficQuery, chunk: int = 1000) -> AsyncIterator[Row]:
    """Every traffic row matching ``q``, newest first (exports)."""
    return _walk(reader, _traffic(q), chunk)


@dataclass(frozen=True)
class TrafficTotals:
    """Everything the watcher has recorded: messages, bytes, failed verification."""

    messages: int
    size: int
    rejected: int


async def traffic_totals(reader: Reader) -> TrafficTotals:
    """Totals over every traffic row held (kept by triggers, read in one row)."""
    row = await reader.one("SELECT messages, size, rejected FROM hub_traffic_totals WHERE id = 1")
    if row is None:
        return TrafficTotals(0, 0, 0)
    return TrafficTotals(row[0], row[1], row[2])


async def alert_traffic(reader: Reader, message_id: str) -> Row | None:
    """An alert's size, number of recipients and receipts seen, as the clear headers
    showed them."""
    return await reader.one(
        "SELECT t.size, t.recipients, (SELECT COUNT(DISTINCT r.sender) FROM hub_traffic r"
        " WHERE r.message_id = t.message_id AND r.kind = 'receipt' AND r.status = 'verified')"
        " AS delivered FROM hub_traffic t WHERE t.message_id = ? AND t.kind = 'alert'",
        (message_id,),
    )


# --- reads: the hub's inbox and the correlation index ------------------------------------


@dataclass(frozen=True)
class AlertQuery:
    """The alerts list's filters (None: any)."""

    search: Search | None = None
    message_id: str | None = None  # the start of a message id
    sender: str | None = None
    topic: str | None = None
    tlp: str | None = None
    priority: str | None = None
    link: str | None = None  # alerts in this link
    since: datetime | None = None  # when the hub received it
    until: datetime | None = None


_INBOX_SELECT = (
    "SELECT i.message_id, i.received_at, i.sender, i.topic, i.tlp, i.priority, i.alert FROM inbox i"
)


def _alerts(q: AlertQuery) -> _List:
    spec = _List(
        _INBOX_SELECT, ("i.received_at", "i.message_id"), ("received_at", "message_id"), [], []
    )
    for column, value in (
        ("i.sender", q.sender),
        ("i.topic", q.topic),
        ("i.tlp", q.tlp),
        ("i.priority", q.priority),
    ):
        if value is not None:
            spec.where.append(f"{column} = ?")
            spec.params.append(value)
    if q.message_id:
        _id_prefix(spec, "i.message_id", q.message_id)
    if q.search is not None:
        prefixes = q.search.prefixes()
        if not prefixes:
            spec.where.append("0")  # nothing to look for: nothing found
        else:
            spec.where.append(
                "i.message_id IN (SELECT message_id FROM hub_terms WHERE "  # noqa: S608
                + " OR ".join("(kind = ? AND term >= ? AND term < ?)" for _ in prefixes)
                + ")"
            )
            for kind, prefix in prefixes:
                spec.params += [kind, prefix, prefix + "{"]  # "{" sorts after "z"
    if q.link is not None:
        spec.where.append(
            "i.message_id IN (SELECT message_id FROM hub_link_alerts WHERE link_id = ?)"
        )
        spec.params.append(q.link)
    _time_range(spec, "i.received_at", q.since, q.until)
    return spec


async def alerts_page(reader: Reader, q: AlertQuery, window: Window) -> Page:
    """A page of the alerts addressed to the hub matching ``q``, the latest received
    first (key: ``(received_at, message_id)``; ``alert`` is the alert's JSON)."""
    return await _page(reader, _alerts(q), window)


def alert_rows(reader: Reader, q: AlertQuery, chunk: int = 500) -> AsyncIterator[Row]:
    """Every inbox alert matching ``q``, latest first (exports)."""
    return _walk(reader, _alerts(q), chunk)


async def inbox_count(reader: Reader) -> int:
    """How many alerts the hub's inbox holds."""
    row = await reader.one("SELECT COUNT(*) FROM inbox")
    return int(row[0]) if row else 0


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


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


async def mentions_in(reader: Reader, message_ids: Sequence[str]) -> dict[str, list[Row]]:
    """The entities indexed for each of ``message_ids``: ``(kind, label)`` rows, sorted."""
    if not message_ids:
        return {}
    out: dict[str, list[Row]] = {}
    for r in await reader.all(
        "SELECT message_id, kind, label FROM hub_mentions"  # noqa: S608 (only placeholders)
        f" WHERE message_id IN ({_marks(message_ids)}) ORDER BY message_id, kind, label",
        tuple(message_ids),
    ):
        out.setdefault(str(r["message_id"]), []).append(r)
    return out


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


async def link_counts(reader: Reader, message_ids: Sequence[str]) -> dict[str, int]:
    """How many links each of ``message_ids`` is in (those in none are left out)."""
    if not message_ids:
        return {}
    rows = await reader.all(
        "SELECT message_id, COUNT(*) FROM hub_link_alerts"  # noqa: S608 (only placeholders)
        f" WHERE message_id IN ({_marks(message_ids)}) GROUP BY message_id",
        tuple(message_ids),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def links_of(reader: Reader, message_id: str) -> list[Row]:
    """The links one alert is in: ``id, kind, label, strength, count``."""
    return await reader.all(
        "SELECT l.id, l.kind, l.label, l.strength, l.count FROM hub_link_alerts a"
        " JOIN hub_links l ON l.id = a.link_id WHERE a.message_id = ?"
        " ORDER BY l.updated_at DESC, l.id",
        (message_id,),
    )


# --- reads: links ------------------------------------------------------------------------

STRENGTHS = ("strong", "medium", "weak")
RULES = ("members", "recurrence")


@dataclass(frozen=True)
class LinkQuery:
    """The links list's filters (None: any)."""

    search: Search | None = None  # in the link's label and the entities it joins
    alert: str | None = None  # links holding this alert
    kind: str | None = None
    strengths: tuple[str, ...] = STRENGTHS
    rule: str | None = None
    sender: str | None = None  # links with an alert from this member
    since: datetime | None = None  # when the link last changed (updated_at)
    until: datetime | None = None


_LINK_SELECT = (
    "SELECT l.id, l.kind, l.label, l.strength, l.rule, l.reasons, l.count, l.first_seen,"
    " l.updated_at FROM hub_links l"
)


def _links(q: LinkQuery) -> _List:
    spec = _List(_LINK_SELECT, ("l.updated_at", "l.id"), ("updated_at", "id"), [], [])
    for column, value in (("l.kind", q.kind), ("l.rule", q.rule)):
        if value is not None:
            spec.where.append(f"{column} = ?")
            spec.params.append(value)
    if set(q.strengths) != set(STRENGTHS):
        spec.where.append(f"l.strength IN ({_marks(q.strengths) or 'NULL'})")
        spec.params += list(q.strengths)
    if q.alert is not None:
        spec.where.append("l.id IN (SELECT link_id FROM hub_link_alerts WHERE message_id = ?)")
        spec.params.append(q.alert)
    if q.sender is not None:
        spec.where.append("l.id IN (SELECT link_id FROM hub_link_senders WHERE sender = ?)")
        spec.params.append(q.sender)
    if q.search is not None:
        # The keys are folded ("person|sione tupou", "document|N1234567|TON") and LIKE
        # ignores ASCII case: each searched form, anywhere in the label or the keys.
        forms = list(dict.fromkeys(form for _, form in q.search.prefixes()))
        if not forms:
            spec.where.append("0")
        else:
            spec.where.append(
                "("
                + " OR ".join(
                    "l.label LIKE ? ESCAPE '\\' OR l.keys LIKE ? ESCAPE '\\'" for _ in forms
                )
                + ")"
            )
            for form in forms:
                spec.params += [_like(form), _like(form)]
    _time_range(spec, "l.updated_at", q.since, q.until)
    return spec


async def links_page(reader: Reader, q: LinkQuery, window: Window) -> Page:
    """A page of links matching ``q``, the latest changed first (key:
    ``(updated_at, id)``; ``reasons`` is JSON; a link's alerts: ``link_alerts``)."""
    return await _page(reader, _links(q), window)


def link_rows(reader: Reader, q: LinkQuery, chunk: int = 1000) -> AsyncIterator[Row]:
    """Every link matching ``q``, the latest changed first (exports)."""
    return _walk(reader, _links(q), chunk)


async def link_alerts(
    reader: Reader, link_ids: Sequence[str], per_link: int
) -> dict[str, list[Row]]:
    """The ``per_link`` latest alerts of each link: ``link_id, message_id, sender, at,
    label`` (one index range per link, however many alerts a port link gathers)."""
    if not link_ids:
        return {}
    one = (
        "SELECT * FROM (SELECT link_id, message_id, sender, at, label FROM hub_link_alerts"
        " WHERE link_id = ? ORDER BY at DESC, message_id DESC LIMIT ?)"
    )
    params: list[Any] = []
    for link_id in link_ids:
        params += [link_id, per_link]
    out: dict[str, list[Row]] = {link_id: [] for link_id in link_ids}
    for r in await reader.all(" UNION ALL ".join(one for _ in link_ids), tuple(params)):
        out[str(r["link_id"])].append(r)
    return out


async def link_senders(reader: Reader, link_ids: Sequence[str]) -> dict[str, list[str]]:
    """The members whose alerts each link holds, sorted."""
    if not link_ids:
        return {}
    out: dict[str, list[str]] = {link_id: [] for link_id in link_ids}
    for r in await reader.all(
        "SELECT link_id, sender FROM hub_link_senders"  # noqa: S608 (only placeholders)
        f" WHERE link_id IN ({_marks(link_ids)}) ORDER BY link_id, sender",
        tuple(link_ids),
    ):
        out[str(r[0])].append(str(r[1]))
    return out


async def link_graph(reader: Reader, q: LinkQuery, links: int) -> list[tuple[str, str, int]]:
    """For every two members, how many of the ``links`` latest changed links matching
    ``q`` hold alerts of both (bounded: a year holds tens of thousands of links)."""
    spec = _links(q)
    latest = spec.sql(None, "DESC").replace(_LINK_SELECT, "SELECT l.id FROM hub_links l", 1)
    rows = await reader.all(
        "WITH s AS (SELECT ls.link_id, ls.sender FROM hub_link_senders ls"  # noqa: S608
        f" WHERE ls.link_id IN ({latest}))"
        " SELECT a.sender, b.sender, COUNT(*) FROM s a JOIN s b"
        " ON a.link_id = b.link_id AND a.sender < b.sender GROUP BY a.sender, b.sender",
        (*spec.params, links),
    )
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


async def link_count(reader: Reader, strength: str | None = None) -> int:
    """How many links are held (of one strength)."""
    if strength is None:
        row = await reader.one("SELECT COUNT(*) FROM hub_links")
    else:
        row = await reader.one("SELECT COUNT(*) FROM hub_links WHERE strength = ?", (strength,))
    return int(row[0]) if row else 0


async def link_exists(reader: Reader, link_id: str) -> Row | None:
    """A link's ``id, kind, label, strength, count``; None if there is no such link."""
    return await reader.one(
        "SELECT id, kind, label, strength, count FROM hub_links WHERE id = ?", (link_id,)
    )


async def recent_links(reader: Reader, limit: int) -> list[Row]:
    """The ``limit`` most recently updated links, without their alerts."""
    return await reader.all(
        "SELECT id, kind, label, strength, count FROM hub_links"
        " ORDER BY updated_at DESC, id DESC LIMIT ?",
        (limit,),
    )


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


@dataclass(frozen=True)
class BulletinQuery:
    """The bulletins list's filters (None: any)."""

    text: str | None = None  # in the title
    message_id: str | None = None  # the start of a message id
    tlp: str | None = None
    priority: str | None = None
    recipient: str | None = None
    since: datetime | None = None  # when it was sent
    until: datetime | None = None


_BULLETIN_SELECT = (
    "SELECT b.message_id, b.created_at, b.title, b.tlp, b.priority, b.recipients, b.links,"
    " b.alert FROM hub_bulletins b"
)


def _bulletins(q: BulletinQuery) -> _List:
    spec = _List(
        _BULLETIN_SELECT, ("b.created_at", "b.message_id"), ("created_at", "message_id"), [], []
    )
    for column, value in (("b.tlp", q.tlp), ("b.priority", q.priority)):
        if value is not None:
            spec.where.append(f"{column} = ?")
            spec.params.append(value)
    if q.recipient is not None:
        spec.where.append("(',' || b.recipients || ',') LIKE ?")
        spec.params.append(f"%,{q.recipient},%")
    if q.text:
        spec.where.append("b.title LIKE ? ESCAPE '\\'")
        spec.params.append(_like(q.text))
    if q.message_id:
        _id_prefix(spec, "b.message_id", q.message_id)
    _time_range(spec, "b.created_at", q.since, q.until)
    return spec


async def bulletins_page(reader: Reader, q: BulletinQuery, window: Window) -> Page:
    """A page of the bulletins sent from the hub matching ``q``, newest first (key:
    ``(created_at, message_id)``)."""
    return await _page(reader, _bulletins(q), window)


def bulletin_rows(reader: Reader, q: BulletinQuery, chunk: int = 500) -> AsyncIterator[Row]:
    """Every bulletin matching ``q``, newest first (exports)."""
    return _walk(reader, _bulletins(q), chunk)
