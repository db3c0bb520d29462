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
from node.exchange.inbound.decisions import REJECT_KEEP, Decision, Delivered, Outcome, Rejection
from node.exchange.inbound.decisions import rejected as rejected_decision
from node.exchange.receipts import RECEIPT_OUTBOX_SQL, receipt_row
from node.handlers.jobs import Router
from node.protocol.envelope import Opened
from node.protocol.wire import Header
from node.storage.database import Database, Tx, utc_now_text
from schemas.alert import alert_to_json
from schemas.errors import LaliError, Replay

log = structlog.get_logger("lali.inbound")


async def commit_group(
    db: Database,
    me: Identity,
    router: Router | None,
    staged: list[tuple[int, Opened | Rejection]],
    items: Sequence[Delivered],
    now: datetime,
) -> tuple[dict[int, Decision], list[str]]:
    """Commit a batch's outcomes in one transaction, in order: for each opened alert
    an audit ``received`` entry, its inbox row, the signed receipt in the outbox and
    its handler jobs, unless it was received before (then a duplicate, or a replay if
    the bytes differ); for each rejection its audit entry. Returns the decisions by
    position and the handler instances that got work."""
    rejected: dict[int, LaliError] = {}
    accepted: dict[int, Opened] = {}
    duplicates: dict[int, Opened] = {}
    queued: list[str] = []
    ids = [s.header.message_id for _, s in staged if isinstance(s, Opened)]
    async with db.transaction() as tx:
        # Received before? One look for the whole batch; kind IN (...) lets SQLite
        # use the partial index audit_once.
        before: dict[str, bytes] = {}
        for n in range(0, len(ids), 500):
            chunk = ids[n : n + 500]
            marks = ", ".join("?" * len(chunk))  # placeholders only
            rows = await tx.fetchall(
                "SELECT message_id, envelope FROM audit WHERE kind IN ('sent', 'received')"  # noqa: S608
                f" AND kind = 'received' AND message_id IN ({marks})",
                tuple(chunk),
            )
            before.update((str(r[0]), bytes(r[1])) for r in rows)
        # The entries are chained here in the batch's order and inserted together,
        # then the inbox rows and receipts: a few statements for the whole batch.
        await tx.load_head()
        inbox: list[tuple[Any, ...]] = []
        receipts: list[tuple[Any, ...]] = []
        for i, s in staged:
            item = items[i]
            if isinstance(s, Rejection):
                _append_rejection(tx, item.subject, item.data, s.error, s.at)
                rejected[i] = s.error
                continue
            h = s.header
            seen = before.get(h.message_id)
            if seen is None:
                entry = tx.append_audit(
                    "received",
                    at=now,
                    message_id=h.message_id,
                    peer=h.sender,
                    topic=h.topic.value,
                    detail=json.dumps(
                        {"tlp": h.tlp.value, "priority": h.priority.value, "size": len(s.raw)}
                    ),
                    envelope=s.raw,
                )
                inbox.append(_inbox_row(s, entry.entry.seq, now))
                # The receipt leaves through the outbox, so it survives a link cut too.
                receipts.append(receipt_row(h, me, now))
                accepted[i] = s
                before[h.message_id] = s.raw  # the same id twice in one batch
            elif seen == s.raw:
                duplicates[i] = s
            else:
                # The same id on different bytes: a replay with altered content, or
                # a sender reusing ids. Not processed; the first stays authoritative.
                error = Replay("message id already received with different content")
                _append_rejection(tx, item.subject, item.data, error, now)
                rejected[i] = error
        await tx.executemany(_INSERT_INBOX, inbox)
        await tx.executemany(RECEIPT_OUTBOX_SQL, receipts)
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
        elif i in duplicates:
            h = duplicates[i].header
            decisions[i] = Decision(Outcome.DUPLICATE, h.message_id, h.sender)
        else:
            h = accepted[i].header
            decisions[i] = Decision(Outcome.ACCEPTED, h.message_id, h.sender)
    _log_received([s.header for s in accepted.values()])
    return decisions, queued


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
    tx: Tx, subject: str, data: bytes, exc: LaliError, now: datetime | None
) -> None:
    keep = len(data) <= REJECT_KEEP
    detail = {
        "error": exc.message,
        "subject": subject,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    tx.append_audit(
        "rejected",
        at=now,
        reason=exc.reason,
        detail=json.dumps(detail, sort_keys=True),
        envelope=data if keep else None,
    )


_INSERT_INBOX = (
    "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
    " audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _inbox_row(opened: Opened, audit_seq: int, now: datetime) -> tuple[Any, ...]:
    h = opened.header
    return (
        h.message_id,
        utc_now_text(now),
        h.sender,
        h.topic.value,
        h.tlp.value,
        h.priority.value,
        alert_to_json(opened.alert).decode("utf-8"),
        audit_seq,
    )
