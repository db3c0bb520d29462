"""Delivery receipts at both ends, and the per-recipient delivery status.

Recipient: ``receipt_row`` is the signed receipt's outbox row, written in the same
transaction that commits the alert. Sender: ``ReceiptIntake.process`` verifies a
receipt, checks it answers an alert we sent to that recipient, and records it once
(de-duplicated and audited). ``delivery_status`` answers ``lali status``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from keys import Identity
from node.exchange.inbound.decisions import Recorded
from node.exchange.trust import Trust
from node.protocol.receipt import Receipt, make_receipt, verify_receipt
from node.protocol.subjects import parse_receipt_subject, receipt_subject
from node.protocol.wire import Header
from node.storage.database import Database, Tx, utc_now_text
from node.storage.readonly import read_only
from schemas.errors import DirectoryError, SenderMismatch, StorageError, UntrustedMessage

log = structlog.get_logger("lali.receipts")

_PRIORITY_ORDER = {"flash": 0, "urgent": 1, "routine": 2}


RECEIPT_OUTBOX_SQL = (
    "INSERT OR IGNORE INTO outbox (message_id, kind, subject, envelope, priority,"
    " recipients, created_at) VALUES (?, 'receipt', ?, ?, ?, ?, ?)"
)


def receipt_row(header: Header, me: Identity, now: datetime) -> tuple[Any, ...]:
    """The outbox row of our signed receipt for ``header`` (RECEIPT_OUTBOX_SQL). The
    receipt is signed once, here, and its bytes stored: every retry publishes those
    bytes, so under the same ``Nats-Msg-Id`` (hashed from them); the row's key is
    local."""
    return (
        f"rcpt-{header.message_id}-{me.code}",
        receipt_subject(header.sender, me.code),
        make_receipt(header.message_id, header.sender, me, now),
        _PRIORITY_ORDER[header.priority.value],
        header.sender,
        utc_now_text(now),
    )


@dataclass(frozen=True)
class ReceiptDecision:
    outcome: Recorded
    message_id: str | None = None
    recipient: str | None = None
    reason: str | None = None


class ReceiptIntake:
    def __init__(
        self, me: Identity, trust: Trust, db: Database, clock: Callable[[], datetime]
    ) -> None:
        self.me = me
        self.trust = trust
        self.db = db
        self.clock = clock

    async def process(self, subject: str, data: bytes) -> ReceiptDecision:
        return (await self.process_many([(subject, data)]))[0]

    async def process_many(self, items: Sequence[tuple[str, bytes]]) -> list[ReceiptDecision]:
        """Verify each receipt, then record them all (and audit the refusals), in order,
        in one transaction. Nothing may be settled with the broker before this returns."""
        now = self.clock()
        try:
            directory = await self.trust.current(now)
        except DirectoryError as exc:
            return [ReceiptDecision(Recorded.RETRY, reason=exc.reason) for _ in items]
        staged: list[Receipt | UntrustedMessage] = []
        for subject, data in items:
            try:
                sender, recipient = parse_receipt_subject(subject)
                receipt = verify_receipt(data, directory, now)
                if (receipt.sender, receipt.recipient) != (sender, recipient) or (
                    sender != self.me.code
                ):
                    raise SenderMismatch("receipt subject, signer and addressee disagree")
                staged.append(receipt)
            except UntrustedMessage as exc:
                staged.append(exc)
        try:
            async with self.db.transaction() as tx:
                decisions = await self._record_all(tx, items, staged, now)
        except StorageError as exc:
            return [ReceiptDecision(Recorded.RETRY, reason=exc.reason) for _ in items]
        recorded = 0
        for (subject, _), s, decision in zip(items, staged, decisions, strict=True):
            if decision.outcome is Recorded.RECORDED:
                recorded += 1
                log.debug(
                    "receipt_recorded", message_id=decision.message_id, recipient=decision.recipient
                )
            elif decision.outcome is Recorded.REJECTED:
                error = s.message if isinstance(s, UntrustedMessage) else "not our alert"
                log.warning(
                    "receipt_rejected", reason=decision.reason, error=error, subject=subject
                )
        if recorded == 1:
            only = next(d for d in decisions if d.outcome is Recorded.RECORDED)
            log.info("receipt_recorded", message_id=only.message_id, recipient=only.recipient)
        elif recorded:
            log.info("receipts_recorded", count=recorded)  # each at debug level
        return decisions

    async def _record_all(
        self,
        tx: Tx,
        items: Sequence[tuple[str, bytes]],
        staged: list[Receipt | UntrustedMessage],
        now: datetime,
    ) -> list[ReceiptDecision]:
        """Record the verified receipts that answer an alert we sent to that member,
        once each, and audit every refusal, in order. Two look-ups for the whole run."""
        ids = sorted({s.message_id for s in staged if isinstance(s, Receipt)})
        sent: dict[str, list[str]] = {}
        seen: set[tuple[str, str]] = set()
        for n in range(0, len(ids), 500):
            chunk = tuple(ids[n : n + 500])
            marks = ", ".join("?" * len(chunk))  # placeholders only
            for row in await tx.fetchall(
                f"SELECT message_id, recipients FROM outbox WHERE message_id IN ({marks})"  # noqa: S608
                " AND kind = 'alert'",
                chunk,
            ):
                sent[str(row[0])] = str(row[1]).split(",")
            for row in await tx.fetchall(
                f"SELECT message_id, recipient FROM receipts WHERE message_id IN ({marks})",  # noqa: S608
                chunk,
            ):
                seen.add((str(row[0]), str(row[1])))
        await tx.load_head()
        decisions: list[ReceiptDecision] = []
        rows: list[tuple[Any, ...]] = []
        recorded_at = utc_now_text(now)  # the intake's clock, as for the audit entries
        for (subject, data), s in zip(items, staged, strict=True):
            if isinstance(s, Receipt):
                key = (s.message_id, s.recipient)
                if s.recipient not in sent.get(s.message_id, ()):
                    s = SenderMismatch("receipt for an alert we did not send to that member")
                elif key in seen:
                    decisions.append(ReceiptDecision(Recorded.DUPLICATE, *key))
                    continue
                else:
                    seen.add(key)
                    rows.append((*key, utc_now_text(s.received_at), recorded_at, data))
                    tx.append_audit(
                        "receipt", message_id=s.message_id, peer=s.recipient, envelope=data
                    )
                    decisions.append(ReceiptDecision(Recorded.RECORDED, *key))
                    continue
            self._append_refusal(tx, subject, data, s, now)
            decisions.append(ReceiptDecision(Recorded.REJECTED, reason=s.reason))
        await tx.executemany(
            "INSERT INTO receipts (message_id, recipient, received_at, recorded_at, receipt)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        return decisions

    def _append_refusal(
        self, tx: Tx, subject: str, data: bytes, exc: UntrustedMessage, now: datetime
    ) -> None:
        detail = {"error": exc.message, "subject": subject, "size": len(data)}
        detail["sha256"] = hashlib.sha256(data).hexdigest()
        tx.append_audit(
            "rejected",
            at=now,
            reason=exc.reason,
            detail=json.dumps(detail, sort_keys=True),
            envelope=data[:4096],
        )


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    state: str  # queued, published, delivered, overdue
    at: str | None


def delivery_status(
    db_path: Path, message_id: str, now: datetime, overdue_after: timedelta
) -> list[RecipientStatus] | None:
    """Per-recipient state of one alert we sent; None if we never sent it."""
    with read_only(db_path) as snap:
        row = snap.one(
            "SELECT recipients, state, published_at, created_at FROM outbox"
            " WHERE message_id = ? AND kind = 'alert'",
            (message_id,),
        )
        if row is None:
            return None
        receipts = {
            r[0]: r[1]
            for r in snap.all(
                "SELECT recipient, received_at FROM receipts WHERE message_id = ?",
                (message_id,),
            )
        }
    recipients, state, published_at, created_at = row
    out = []
    for code in str(recipients).split(","):
        if code in receipts:
            out.append(RecipientStatus(code, "delivered", receipts[code]))
        elif state != "published":
            out.append(RecipientStatus(code, str(state), created_at))
        elif now - datetime.fromisoformat(published_at) > overdue_after:
            out.append(RecipientStatus(code, "overdue", published_at))
        else:
            out.append(RecipientStatus(code, "published", published_at))
    return out
