"""The inbound pipeline: decide what one delivered message means, and record it.

``process`` verifies and opens the envelope (pure core), then commits the outcome to
the database. It returns a ``Decision`` that the consumer loop turns into an ack, a
term or a nak: the broker hears back only after the commit.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog

from keys import Identity
from node.db import Database, utc_now_text
from node.envelope import Opened, decrypt_verified, verify
from node.handlers.jobs import Router
from node.receipts import queue_receipt
from node.subjects import parse_alert_subject
from node.trust import Trust
from schemas.alert import alert_to_json
from schemas.errors import (
    ClockSkew,
    DirectoryError,
    KeyNotValid,
    LaliError,
    NotAddressed,
    Replay,
    StorageError,
    UnknownKey,
    UntrustedMessage,
)


class InternalError(LaliError):
    """A bug of ours met this message; it is kept in the audit log for the operator."""

    reason = "internal_error"


log = structlog.get_logger("lali.inbound")


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # committed to audit and inbox: ack
    DUPLICATE = "duplicate"  # already committed earlier: ack
    NOT_ADDRESSED = "not_addressed"  # valid but not for us: ack, count
    OWN = "own"  # our own alert coming back: ack
    REJECTED = "rejected"  # untrusted: audited, then term
    DEFER = "defer"  # may be fine later (key not yet known, clock skew): nak with backoff
    RETRY = "retry"  # our side cannot commit (storage, stale directory): hold and retry


# Failures that a newer directory or a corrected clock can cure: deferred, not rejected,
# until the last allowed delivery.
TRANSIENT: tuple[type[UntrustedMessage], ...] = (UnknownKey, KeyNotValid, ClockSkew)
REJECT_KEEP = 64 * 1024  # raw bytes of a rejected message kept in the audit log


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message_id: str | None = None
    sender: str | None = None
    reason: str | None = None


Listener = Callable[[Decision, Opened | None], None]


class Inbound:
    def __init__(
        self,
        identity: Identity,
        trust: Trust,
        db: Database,
        clock: Callable[[], datetime],
    ) -> None:
        self.identity = identity
        self.trust = trust
        self.db = db
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.listeners: list[Listener] = []
        # Handler work is queued in the same transaction as the alert (node/handlers).
        self.router: Router | None = None
        self.on_queued: Callable[[list[str]], None] | None = None

    async def process(
        self,
        subject: str,
        data: bytes,
        *,
        final: bool = True,
        received_at: datetime | None = None,
    ) -> Decision:
        """Decide on one delivery. ``final``: the broker will not deliver it again, so a
        transient failure must be rejected (and audited) rather than deferred."""
        try:
            decision, opened = await self._process(subject, data, final, received_at)
        except Exception as exc:
            # A bug of ours must not stop intake. Log where, not what: the message of an
            # arbitrary exception could carry content.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "inbound_internal_error",
                error_type=type(exc).__name__,
                where=f"{frame.filename}:{frame.lineno}",
            )
            decision, opened = (
                await self._reject(
                    subject, data, InternalError(f"internal error: {type(exc).__name__}"), None
                ),
                None,
            )
        self.counts[decision.outcome.value] += 1
        for listener in self.listeners:
            try:
                listener(decision, opened)
            except Exception as exc:  # observers must not affect delivery
                log.error("listener_failed", error_type=type(exc).__name__)
        return decision

    async def _process(
        self, subject: str, data: bytes, final: bool, received_at: datetime | None
    ) -> tuple[Decision, Opened | None]:
        now = self.clock()
        try:
            directory = await self.trust.current(now)
        except DirectoryError as exc:
            log.error("inbound_directory_unusable", reason=exc.reason, error=str(exc))
            return Decision(Outcome.RETRY, reason=exc.reason), None
        try:
            topic, sender = parse_alert_subject(subject)
            verified = verify(
                data,
                directory,
                now,
                subject_sender=sender,
                subject_topic=topic,
                received_at=received_at,
            )
            if verified.header.sender == self.identity.code:
                return Decision(Outcome.OWN, verified.header.message_id, sender), None
            opened = decrypt_verified(verified, self.identity, directory)
        except NotAddressed:
            h = verified.header
            return Decision(Outcome.NOT_ADDRESSED, h.message_id, h.sender), None
        except TRANSIENT as exc:
            if not final:
                log.warning("inbound_deferred", reason=exc.reason, error=exc.message)
                return Decision(Outcome.DEFER, reason=exc.reason), None
            return await self._reject(subject, data, exc, now), None
        except UntrustedMessage as exc:
            return await self._reject(subject, data, exc, now), None
        try:
            return await self._commit(subject, opened, now), opened
        except StorageError as exc:
            log.error("inbound_storage_failed", error=str(exc))
            return Decision(Outcome.RETRY, opened.header.message_id, reason=exc.reason), None

    async def _commit(self, subject: str, opened: Opened, now: datetime) -> Decision:
        h = opened.header
        async with self.db.transaction() as tx:
            seen = await tx.fetchone(
                "SELECT envelope FROM audit WHERE kind = 'received' AND message_id = ?",
                (h.message_id,),
            )
            if seen is not None and bytes(seen[0]) == opened.raw:
                return Decision(Outcome.DUPLICATE, h.message_id, h.sender)
        if seen is not None:
            # The same id on different bytes: a replay with altered content, or a sender
            # reusing ids. Either way it is not processed; the first stays authoritative.
            reused = Replay("message id already received with different content")
            return await self._reject(subject, opened.raw, reused, now)
        async with self.db.transaction() as tx:
            entry = await tx.audit(
                "received",
                at=now,
                message_id=h.message_id,
                peer=h.sender,
                topic=h.topic.value,
                detail=json.dumps(
                    {"tlp": h.tlp.value, "priority": h.priority.value, "size": len(opened.raw)}
                ),
                envelope=opened.raw,
            )
            await tx.execute(
                "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority,"
                " alert, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    h.message_id,
                    utc_now_text(now),
                    h.sender,
                    h.topic.value,
                    h.tlp.value,
                    h.priority.value,
                    alert_to_json(opened.alert).decode("utf-8"),
                    entry.entry.seq,
                ),
            )
            # The receipt leaves through the outbox, so it survives a link cut too.
            await queue_receipt(tx, h, self.identity, now)
            queued: list[str] = []
            if self.router is not None:
                queued = await self.router.enqueue(
                    tx,
                    kind="alert",
                    message_id=h.message_id,
                    sender=h.sender,
                    alert=opened.alert,
                    now=now,
                )
        if queued and self.on_queued is not None:
            self.on_queued(queued)
        log.info(
            "alert_received",
            message_id=h.message_id,
            sender=h.sender,
            topic=h.topic.value,
            priority=h.priority.value,
            tlp=h.tlp.value,
        )
        return Decision(Outcome.ACCEPTED, h.message_id, h.sender)

    async def _reject(
        self, subject: str, data: bytes, exc: LaliError, now: datetime | None
    ) -> Decision:
        """Audit the rejection with its reason and the raw bytes (up to REJECT_KEEP)."""
        keep = len(data) <= REJECT_KEEP
        detail = {
            "error": exc.message,
            "subject": subject,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        try:
            async with self.db.transaction() as tx:
                await tx.audit(
                    "rejected",
                    at=now,
                    reason=exc.reason,
                    detail=json.dumps(detail, sort_keys=True),
                    envelope=data if keep else None,
                )
        except StorageError as storage:
            log.error("reject_audit_failed", error=str(storage))
            return Decision(Outcome.RETRY, reason=storage.reason)
        log.warning("alert_rejected", reason=exc.reason, error=exc.message, subject=subject)
        return Decision(Outcome.REJECTED, reason=exc.reason)
