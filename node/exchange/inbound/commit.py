"""The receiving side's batch commit: what one fetched run of alerts writes, in one
transaction (one fsync), before any of it is settled with the broker."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from keys import Identity
from node.exchange.inbound.decisions import (
    REJECT_KEEP,
    Decision,
    Deferral,
    Delivered,
    Outcome,
    Rejection,
)
from node.exchange.inbound.decisions import rejected as rejected_decision
from node.exchange.receipts import RECEIPT_OUTBOX_SQL, receipt_row
from node.handlers.jobs import Router
from node.protocol.chain import StoredEntry, inbox_digest
from node.protocol.envelope import Opened
from node.protocol.wire import Header
from node.storage.database import Database, Tx, utc_now_text
from schemas.alert import alert_to_json
from schemas.errors import LaliError, Replay, UntrustedMessage

log = structlog.get_logger("lali.inbound")


async def commit_group(
    db: Database,
    me: Identity,
    router: Router | None,
    staged: list[tuple[int, Opened | Rejection | Deferral]],
    items: Sequence[Delivered],
    now: datetime,
) -> tuple[dict[int, Decision], list[str]]:
    """Commit a batch's outcomes in one transaction, in order: for each opened alert
    an audit ``received`` entry, its inbox row, the signed receipt in the outbox and
    its handler jobs, unless it was received before (then a duplicate, or a replay if
    the bytes differ); for each rejection its audit entry; for each deferral a
    ``deferred`` entry, at the first deferral of that stream message only.

    A duplicate that is another stream message than the one accepted (the same bytes
    published again, past the broker's de-duplication) gets a ``replayed`` entry, once
    per stream message; a redelivery of the accepted message itself is normal and
    leaves none. Returns the decisions by position and the handler instances that got
    work."""
    rejected: dict[int, LaliError] = {}
    deferred: dict[int, UntrustedMessage] = {}
    accepted: dict[int, Opened] = {}
    duplicates: dict[int, Opened] = {}
    queued: list[str] = []
    ids = [s.header.message_id for _, s in staged if isinstance(s, Opened)]
    async with db.transaction() as tx:
        before = await _received_before(tx, ids)
        # Stream messages of this batch already audited (a deferral redelivered, a
        # replay redelivered after its ack was lost): not audited again.
        noted = await _audited_before(
            tx,
            [
                items[i]
                for i, s in staged
                if isinstance(s, Deferral)
                or (isinstance(s, Opened) and s.header.message_id in before)
            ],
        )
        # The entries are chained here in the batch's order and inserted together,
        # then the inbox rows and receipts: a few statements for the whole batch.
        await tx.load_head()
        inbox: list[tuple[Any, ...]] = []
        receipts: list[tuple[Any, ...]] = []
        notes: list[tuple[int, str, str, int]] = []  # audited_deliveries rows
        for i, s in staged:
            item = items[i]
            seq = item.stream_seq
            if isinstance(s, Rejection):
                _append_rejection(tx, item, s.error, s.at)
                rejected[i] = s.error
                continue
            if isinstance(s, Deferral):
                deferred[i] = s.error
                key = _delivery_key(item)
                if key is None or key not in noted:
                    entry = _append_rejection(tx, item, s.error, now, kind="deferred")
                    if key is not None:
                        noted.add(key)
                        notes.append((*key, "deferred", entry.entry.seq))
                continue
            h = s.header
            seen = before.get(h.message_id)
            if seen is None:
                detail: dict[str, Any] = {
                    "tlp": h.tlp.value,
                    "priority": h.priority.value,
                    "size": len(s.raw),
                }
                if seq is not None:
                    detail["stream_seq"] = seq  # tells a later replay from a redelivery
                row = _inbox_content(s, now)
                detail["inbox"] = inbox_digest(*row)  # the chain covers the inbox row
                entry = tx.append_audit(
                    "received",
                    at=now,
                    message_id=h.message_id,
                    peer=h.sender,
                    topic=h.topic.value,
                    detail=json.dumps(detail),
                    envelope=s.raw,
                )
                inbox.append((*row, entry.entry.seq))
                # The receipt leaves through the outbox, so it survives a link cut too.
                receipts.append(receipt_row(h, me, now))
                accepted[i] = s
                before[h.message_id] = (s.raw, seq)  # the same id twice in one batch
            elif seen[0] == s.raw:
                duplicates[i] = s
                first, key = seen[1], _delivery_key(item)
                if key is not None and first is not None and seq != first and key not in noted:
                    entry = _append_replayed(tx, item, h, first, now)
                    noted.add(key)
                    notes.append((*key, "replayed", entry.entry.seq))
            else:
                # The same id on different bytes: a replay with altered content, or
                # a sender reusing ids. Not processed; the first stays authoritative.
                error = Replay("message id already received with different content")
                _append_rejection(tx, item, error, now)
                rejected[i] = error
        await tx.executemany(_INSERT_INBOX, inbox)
        await tx.executemany(RECEIPT_OUTBOX_SQL, receipts)
        await tx.executemany(_INSERT_NOTE, notes)
        if router is not None:
            for s in accepted.values():
                queued += await router.enqueue(
                    tx,
                    kind="alert",
                    message_id=s.header.message_id,
                    sender=s.header.sender,
                    alert=s.alert,
                    now=now,
                )
    decisions: dict[int, Decision] = {}
    for i, _ in staged:
        if i in rejected:
            decisions[i] = rejected_decision(items[i].subject, rejected[i])
        elif i in deferred:
            decisions[i] = Decision(Outcome.DEFER, reason=deferred[i].reason)
        elif i in duplicates:
            h = duplicates[i].header
            decisions[i] = Decision(Outcome.DUPLICATE, h.message_id, h.sender)
        else:
            h = accepted[i].header
            decisions[i] = Decision(Outcome.ACCEPTED, h.message_id, h.sender)
    _log_received([s.header for s in accepted.values()])
    return decisions, queued


_INSERT_NOTE = (
    "INSERT OR IGNORE INTO audited_deliveries (stream_seq, sha256, kind, audit_seq)"
    " VALUES (?, ?, ?, ?)"
)


def _delivery_key(item: Delivered) -> tuple[int, str] | None:
    """Which stream message ``item`` is: its sequence and the hash of its bytes (None
    when it did not come from the stream)."""
    if item.stream_seq is None:
        return None
    return item.stream_seq, hashlib.sha256(item.data).hexdigest()


async def _received_before(tx: Tx, ids: Sequence[str]) -> dict[str, tuple[bytes, int | None]]:
    """The ids among ``ids`` received before: their bytes and the stream message that
    brought them (None if not recorded). One look for the whole batch; kind IN (...)
    lets SQLite use the partial index audit_once."""
    before: dict[str, tuple[bytes, int | None]] = {}
    for n in range(0, len(ids), 500):
        chunk = ids[n : n + 500]
        marks = ", ".join("?" * len(chunk))  # placeholders only
        rows = await tx.fetchall(
            "SELECT message_id, envelope, detail FROM audit WHERE kind IN ('sent', 'received')"  # noqa: S608
            f" AND kind = 'received' AND message_id IN ({marks})",
            tuple(chunk),
        )
        before.update((str(r[0]), (bytes(r[1]), _stream_seq(r[2]))) for r in rows)
    return before


def _stream_seq(detail: object) -> int | None:
    """The stream sequence a ``received`` entry's detail records, if any (entries
    written before it was recorded have none)."""
    try:
        seq = json.loads(str(detail)).get("stream_seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None


async def _audited_before(tx: Tx, items: Sequence[Delivered]) -> set[tuple[int, str]]:
    """The stream messages among ``items`` audited before (see ``_delivery_key``)."""
    keys = {key for item in items if (key := _delivery_key(item)) is not None}
    seqs = sorted({seq for seq, _ in keys})
    found: set[tuple[int, str]] = set()
    for n in range(0, len(seqs), 500):
        chunk = seqs[n : n + 500]
        marks = ", ".join("?" * len(chunk))  # placeholders only
        rows = await tx.fetchall(
            "SELECT stream_seq, sha256 FROM audited_deliveries"  # noqa: S608
            f" WHERE stream_seq IN ({marks})",
            tuple(chunk),
        )
        found.update((int(r[0]), str(r[1])) for r in rows)
    return found & keys


LOG_EACH_UP_TO = 16  # a larger batch (a backlog draining) is logged as one summary line


def _log_received(headers: list[Header]) -> None:
    """One line per alert received, or for a burst one summary line (each alert at
    debug level): a backlog of thousands would otherwise cost more to log than to
    process. The inbox and the audit log hold every one."""
    each = log.info if len(headers) <= LOG_EACH_UP_TO else log.debug
    for h in headers:
        each(
            "alert_received",
            message_id=h.message_id,
            sender=h.sender,
            topic=h.topic.value,
            priority=h.priority.value,
            tlp=h.tlp.value,
        )
    if len(headers) > LOG_EACH_UP_TO:
        log.info(
            "alerts_received",
            count=len(headers),
            senders=dict(Counter(h.sender for h in headers)),
            priorities=dict(Counter(h.priority.value for h in headers)),
        )


def _append_rejection(
    tx: Tx,
    item: Delivered,
    exc: LaliError,
    now: datetime | None,
    *,
    kind: str = "rejected",
) -> StoredEntry:
    """A ``rejected`` (or ``deferred``) entry: the reason, the error, the subject, size,
    hash and stream message, and the raw bytes up to REJECT_KEEP."""
    data = item.data
    keep = len(data) <= REJECT_KEEP
    detail: dict[str, Any] = {
        "error": exc.message,
        "subject": item.subject,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if item.stream_seq is not None:
        detail["stream_seq"] = item.stream_seq
    return tx.append_audit(
        kind,
        at=now,
        reason=exc.reason,
        detail=json.dumps(detail, sort_keys=True),
        envelope=data if keep else None,
    )


def _append_replayed(
    tx: Tx, item: Delivered, header: Header, accepted_seq: int, now: datetime
) -> StoredEntry:
    """A ``replayed`` entry: the bytes of an alert we hold, in another stream message
    than the one we accepted. The bytes are in the ``received`` entry already."""
    log.warning(
        "alert_replayed",
        message_id=header.message_id,
        sender=header.sender,
        stream_seq=item.stream_seq,
        accepted_seq=accepted_seq,
    )
    detail = {
        "subject": item.subject,
        "size": len(item.data),
        "sha256": hashlib.sha256(item.data).hexdigest(),
        "stream_seq": item.stream_seq,
        "accepted_seq": accepted_seq,
    }
    return tx.append_audit(
        "replayed",
        at=now,
        message_id=header.message_id,
        peer=header.sender,
        topic=header.topic.value,
        reason="replay",
        detail=json.dumps(detail, sort_keys=True),
    )


_INSERT_INBOX = (
    "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
    " audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _inbox_content(opened: Opened, now: datetime) -> tuple[str, str, str, str, str, str, str]:
    """An inbox row's columns but ``audit_seq`` and ``state``, in table order."""
    h = opened.header
    return (
        h.message_id,
        utc_now_text(now),
        h.sender,
        h.topic.value,
        h.tlp.value,
        h.priority.value,
        alert_to_json(opened.alert).decode("utf-8"),
    )
