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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog

from keys import Directory, Identity
from node.db import Database, Tx, utc_now_text
from node.envelope import Opened, decrypt_verified, verify
from node.handlers.jobs import Router
from node.receipts import RECEIPT_OUTBOX_SQL, receipt_row
from node.subjects import parse_alert_subject
from node.trust import Trust
from node.wire import Header, decode_frame
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
class Delivered:
    """One message as the broker delivered it."""

    subject: str
    data: bytes
    final: bool = True  # the broker will not deliver it again
    received_at: datetime | None = None  # when the broker stored it


@dataclass(frozen=True)
class Rejection:
    """Stage one found the message untrusted; it is audited with the batch, in order."""

    error: LaliError
    at: datetime | None


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
        return (await self.process_many([Delivered(subject, data, final, received_at)]))[0]

    async def process_many(self, items: Sequence[Delivered]) -> list[Decision]:
        """Decide on several deliveries, in order; every alert among them that is
        accepted is committed in one transaction (one fsync for the batch). Nothing may
        be settled with the broker before this returns."""
        now = self.clock()
        try:
            directory = await self.trust.current(now)
        except DirectoryError as exc:
            log.error("inbound_directory_unusable", reason=exc.reason, error=str(exc))
            return [self._told(Decision(Outcome.RETRY, reason=exc.reason), None) for _ in items]
        echoes = await self._own_echoes(items)
        staged: list[Decision | Opened | Rejection] = []
        for item in items:
            try:
                echo = echoes.get(item.data)
                if echo is not None:
                    staged.append(Decision(Outcome.OWN, echo, self.identity.code))
                    continue
                staged.append(await self._open(item, directory, now))
            except Exception as exc:
                staged.append(_internal_error(exc))
        committed = await self._commit_staged(
            [(i, s) for i, s in enumerate(staged) if not isinstance(s, Decision)], items, now
        )
        decisions: list[Decision] = []
        for i, s in enumerate(staged):
            if isinstance(s, Decision):
                decisions.append(self._told(s, None))
            else:
                decision = committed[i]
                opened = s if isinstance(s, Opened) else None
                accepted = decision.outcome is Outcome.ACCEPTED
                decisions.append(self._told(decision, opened if accepted else None))
        return decisions

    async def _own_echoes(self, items: Sequence[Delivered]) -> dict[bytes, str]:
        """Our own alerts coming back from the stream (the subject filters cannot leave
        them out), found by their bytes: an envelope byte-for-byte equal to one in our
        outbox is the one we signed, so it needs no verifying (a sender's largest
        per-alert cost after sealing). Anything else is verified as usual."""
        wanted: set[str] = set()
        for item in items:
            try:
                _, sender = parse_alert_subject(item.subject)
                if sender == self.identity.code:
                    header = Header.decode(decode_frame(item.data).header_bytes)
                    wanted.add(header.message_id)
            except LaliError:
                continue  # verification will say what is wrong with it
        if not wanted:
            return {}
        ids = sorted(wanted)
        found: dict[bytes, str] = {}
        try:
            for n in range(0, len(ids), 500):
                chunk = ids[n : n + 500]
                marks = ", ".join("?" * len(chunk))  # placeholders only
                rows = await self.db.fetchall(
                    f"SELECT message_id, envelope FROM outbox WHERE message_id IN ({marks})"  # noqa: S608
                    " AND kind = 'alert'",
                    tuple(chunk),
                )
                found.update((bytes(r[1]), str(r[0])) for r in rows)  # matched by bytes
        except StorageError as exc:
            log.warning("own_echo_lookup_failed", error=str(exc))  # all verified instead
            return {}
        return found

    def _told(self, decision: Decision, opened: Opened | None) -> Decision:
        self.counts[decision.outcome.value] += 1
        for listener in self.listeners:
            try:
                listener(decision, opened)
            except Exception as exc:  # observers must not affect delivery
                log.error("listener_failed", error_type=type(exc).__name__)
        return decision

    async def _open(
        self, item: Delivered, directory: Directory, now: datetime
    ) -> Decision | Opened | Rejection:
        """Verify and open (pure core); a Decision when there is nothing to commit."""
        try:
            topic, sender = parse_alert_subject(item.subject)
            verified = verify(
                item.data,
                directory,
                now,
                subject_sender=sender,
                subject_topic=topic,
                received_at=item.received_at,
            )
            if verified.header.sender == self.identity.code:
                return Decision(Outcome.OWN, verified.header.message_id, sender)
            return decrypt_verified(verified, self.identity, directory)
        except NotAddressed:
            h = verified.header
            return Decision(Outcome.NOT_ADDRESSED, h.message_id, h.sender)
        except TRANSIENT as exc:
            if not item.final:
                log.warning("inbound_deferred", reason=exc.reason, error=exc.message)
                return Decision(Outcome.DEFER, reason=exc.reason)
            return Rejection(exc, now)
        except UntrustedMessage as exc:
            return Rejection(exc, now)

    async def _commit_staged(
        self,
        staged: list[tuple[int, Opened | Rejection]],
        items: Sequence[Delivered],
        now: datetime,
    ) -> dict[int, Decision]:
        """Commit the batch's outcomes together, in order; on a bug of ours, one by one,
        so that only the message that meets it is set aside."""
        if not staged:
            return {}
        try:
            return await self._commit_group(staged, items, now)
        except StorageError as exc:
            log.error("inbound_storage_failed", error=str(exc))
            return {
                i: Decision(
                    Outcome.RETRY,
                    s.header.message_id if isinstance(s, Opened) else None,
                    reason=exc.reason,
                )
                for i, s in staged
            }
        except Exception as exc:
            if len(staged) == 1:
                index, single = staged[0]
                if isinstance(single, Rejection):  # even recording it fails: hold, say so
                    log.error("inbound_reject_failed", error_type=type(exc).__name__)
                    return {index: Decision(Outcome.RETRY, reason="internal_error")}
                return await self._commit_staged([(index, _internal_error(exc))], items, now)
        decisions: dict[int, Decision] = {}
        for pair in staged:
            decisions.update(await self._commit_staged([pair], items, now))
        return decisions

    async def _commit_group(
        self,
        staged: list[tuple[int, Opened | Rejection]],
        items: Sequence[Delivered],
        now: datetime,
    ) -> dict[int, Decision]:
        rejected: dict[int, LaliError] = {}
        accepted: dict[int, Opened] = {}
        duplicates: dict[int, Opened] = {}
        queued: list[str] = []
        ids = [s.header.message_id for _, s in staged if isinstance(s, Opened)]
        async with self.db.transaction() as tx:
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
                    receipts.append(receipt_row(h, self.identity, now))
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
            if self.router is not None:
                for s in accepted.values():
                    queued += await self.router.enqueue(
                        tx,
                        kind="alert",
                        message_id=s.header.message_id,
                        sender=s.header.sender,
                        alert=s.alert,
                        now=now,
                    )
        if queued and self.on_queued is not None:
            self.on_queued(sorted(set(queued)))
        decisions: dict[int, Decision] = {}
        for i, _ in staged:
            if i in rejected:
                decisions[i] = _rejected(items[i].subject, rejected[i])
            elif i in duplicates:
                h = duplicates[i].header
                decisions[i] = Decision(Outcome.DUPLICATE, h.message_id, h.sender)
            else:
                h = accepted[i].header
                decisions[i] = Decision(Outcome.ACCEPTED, h.message_id, h.sender)
        _log_received([s.header for s in accepted.values()])
        return decisions


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


def _internal_error(exc: Exception) -> Rejection:
    # A bug of ours must not stop intake. Log where, not what: the message of an
    # arbitrary exception could carry content.
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    log.error(
        "inbound_internal_error",
        error_type=type(exc).__name__,
        where=f"{frame.filename}:{frame.lineno}",
    )
    return Rejection(InternalError(f"internal error: {type(exc).__name__}"), None)


def _rejected(subject: str, exc: LaliError) -> Decision:
    log.warning("alert_rejected", reason=exc.reason, error=exc.message, subject=subject)
    return Decision(Outcome.REJECTED, reason=exc.reason)
