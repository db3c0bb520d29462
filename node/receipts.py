"""Delivery receipts at both ends, and the per-recipient delivery status.

Recipient: ``queue_receipt`` adds a signed receipt to the outbox in the same
transaction that commits the alert. Sender: ``ReceiptIntake.process`` verifies a
receipt, checks it answers an alert we sent to that recipient, and records it once
(de-duplicated and audited). ``delivery_status`` answers ``lali status``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from keys import Identity
from node.db import Database, Tx, utc_now_text
from node.receipt import make_receipt, verify_receipt
from node.subjects import parse_receipt_subject, receipt_subject
from node.trust import Trust
from node.wire import Header
from schemas.errors import DirectoryError, SenderMismatch, StorageError, UntrustedMessage

log = structlog.get_logger("lali.receipts")

_PRIORITY_ORDER = {"flash": 0, "urgent": 1, "routine": 2}


async def queue_receipt(tx: Tx, header: Header, me: Identity, now: datetime) -> None:
    blob = make_receipt(header.message_id, header.sender, me, now)
    await tx.execute(
        "INSERT OR IGNORE INTO outbox (message_id, kind, subject, envelope, priority,"
        " recipients, created_at) VALUES (?, 'receipt', ?, ?, ?, ?, ?)",
        (
            f"rcpt-{header.message_id}-{me.code}",
            receipt_subject(header.sender, me.code),
            blob,
            _PRIORITY_ORDER[header.priority.value],
            header.sender,
            utc_now_text(now),
        ),
    )


@dataclass(frozen=True)
class ReceiptDecision:
    outcome: str  # "recorded", "duplicate", "rejected", "retry"
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
        now = self.clock()
        try:
            directory = await self.trust.current(now)
        except DirectoryError as exc:
            return ReceiptDecision("retry", reason=exc.reason)
        try:
            sender, recipient = parse_receipt_subject(subject)
            receipt = verify_receipt(data, directory, now)
            if (receipt.sender, receipt.recipient) != (sender, recipient) or sender != self.me.code:
                raise SenderMismatch("receipt subject, signer and addressee disagree")
            return await self._record(receipt.message_id, recipient, receipt.received_at, data)
        except UntrustedMessage as exc:
            return await self._reject(subject, data, exc.reason, exc.message, now)
        except StorageError as exc:
            return ReceiptDecision("retry", reason=exc.reason)

    async def _record(
        self, message_id: str, recipient: str, received_at: datetime, data: bytes
    ) -> ReceiptDecision:
        async with self.db.transaction() as tx:
            sent = await tx.fetchone(
                "SELECT recipients FROM outbox WHERE message_id = ? AND kind = 'alert'",
                (message_id,),
            )
            if sent is None or recipient not in str(sent[0]).split(","):
                raise SenderMismatch("receipt for an alert we did not send to that member")
            seen = await tx.fetchone(
                "SELECT 1 FROM receipts WHERE message_id = ? AND recipient = ?",
                (message_id, recipient),
            )
            if seen is not None:
                return ReceiptDecision("duplicate", message_id, recipient)
            await tx.execute(
                "INSERT INTO receipts (message_id, recipient, received_at, recorded_at,"
                " receipt) VALUES (?, ?, ?, ?, ?)",
                (message_id, recipient, utc_now_text(received_at), utc_now_text(), data),
            )
            await tx.audit("receipt", message_id=message_id, peer=recipient, envelope=data)
        log.info("receipt_recorded", message_id=message_id, recipient=recipient)
        return ReceiptDecision("recorded", message_id, recipient)

    async def _reject(
        self, subject: str, data: bytes, reason: str, error: str, now: datetime
    ) -> ReceiptDecision:
        detail = {"error": error, "subject": subject, "size": len(data)}
        detail["sha256"] = hashlib.sha256(data).hexdigest()
        try:
            async with self.db.transaction() as tx:
                await tx.audit(
                    "rejected",
                    at=now,
                    reason=reason,
                    detail=json.dumps(detail, sort_keys=True),
                    envelope=data[:4096],
                )
        except StorageError as exc:
            return ReceiptDecision("retry", reason=exc.reason)
        log.warning("receipt_rejected", reason=reason, error=error, subject=subject)
        return ReceiptDecision("rejected", reason=reason)


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    state: str  # queued, published, delivered, overdue
    at: str | None


def delivery_status(
    db_path: Path, message_id: str, now: datetime, overdue_after: timedelta
) -> list[RecipientStatus] | None:
    """Per-recipient state of one alert we sent; None if we never sent it."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT recipients, state, published_at, created_at FROM outbox"
            " WHERE message_id = ? AND kind = 'alert'",
            (message_id,),
        ).fetchone()
        if row is None:
            return None
        receipts = dict(
            conn.execute(
                "SELECT recipient, received_at FROM receipts WHERE message_id = ?",
                (message_id,),
            ).fetchall()
        )
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
