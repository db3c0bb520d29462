"""The inbound pipeline: decide what one delivered message means, and record it.

``process`` verifies and opens the envelope (pure core), then commits the outcome to
the database. It returns a ``Decision`` that the consumer loop turns into an ack, a
term or a nak: the broker hears back only after the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog

from keys import Identity
from node.db import Database, utc_now_text
from node.envelope import MAX_ENVELOPE, Opened, decrypt_verified, verify
from node.subjects import parse_alert_subject
from node.trust import Trust
from schemas.alert import alert_to_json
from schemas.errors import NotAddressed, StorageError, UntrustedMessage

log = structlog.get_logger("lali.inbound")


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # committed to audit and inbox: ack
    DUPLICATE = "duplicate"  # already committed earlier: ack
    NOT_ADDRESSED = "not_addressed"  # valid but not for us: ack, count
    OWN = "own"  # our own alert coming back: ack
    REJECTED = "rejected"  # untrusted: audited, then term
    RETRY = "retry"  # our side failed (storage): nak with a delay


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message_id: str | None = None
    sender: str | None = None
    reason: str | None = None

    @property
    def settles(self) -> str:
        return {
            Outcome.REJECTED: "term",
            Outcome.RETRY: "nak",
        }.get(self.outcome, "ack")


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

    async def process(self, subject: str, data: bytes) -> Decision:
        decision, opened = await self._process(subject, data)
        self.counts[decision.outcome.value] += 1
        for listener in self.listeners:
            listener(decision, opened)
        return decision

    async def _process(self, subject: str, data: bytes) -> tuple[Decision, Opened | None]:
        now = self.clock()
        directory = self.trust.directory
        try:
            topic, sender = parse_alert_subject(subject)
            verified = verify(data, directory, now, subject_sender=sender, subject_topic=topic)
            if verified.header.sender == self.identity.code:
                return Decision(Outcome.OWN, verified.header.message_id, sender), None
            opened = decrypt_verified(verified, self.identity, directory)
        except NotAddressed:
            h = verified.header
            return Decision(Outcome.NOT_ADDRESSED, h.message_id, h.sender), None
        except UntrustedMessage as exc:
            return await self._reject(subject, data, exc, now), None
        try:
            return await self._commit(opened, now), opened
        except StorageError as exc:
            log.error("inbound_storage_failed", error=str(exc))
            return Decision(Outcome.RETRY, opened.header.message_id, reason=exc.reason), None

    async def _commit(self, opened: Opened, now: datetime) -> Decision:
        h = opened.header
        async with self.db.transaction() as tx:
            seen = await tx.fetchone(
                "SELECT 1 FROM audit WHERE kind = 'received' AND message_id = ?",
                (h.message_id,),
            )
            if seen is not None:
                return Decision(Outcome.DUPLICATE, h.message_id, h.sender)
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
        self, subject: str, data: bytes, exc: UntrustedMessage, now: datetime
    ) -> Decision:
        """Audit the rejection with its reason and the raw bytes (when not oversized)."""
        keep = len(data) <= MAX_ENVELOPE
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
