"""The inbound pipeline: decide what one delivered message means, and record it.

``process`` verifies and opens the envelope (pure core), then commits the outcome to
the database. It returns a ``Decision`` that the consumer loop turns into an ack, a
term or a nak: the broker hears back only after the commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from keys import Directory, Identity
from node.exchange.inbound.commit import commit_group
from node.exchange.inbound.decisions import (
    TRANSIENT,
    Decision,
    Deferral,
    Delivered,
    Listener,
    Outcome,
    Rejection,
    internal_error,
)
from node.exchange.trust import Trust
from node.handlers.jobs import Router
from node.protocol.envelope import Opened, decrypt_verified, verify
from node.protocol.subjects import parse_alert_subject
from node.protocol.wire import Header, decode_frame
from node.storage.database import Database
from schemas.errors import DirectoryError, LaliError, NotAddressed, StorageError, UntrustedMessage

log = structlog.get_logger("lali.inbound")


class Inbound:
    def __init__(
        self,
        identity: Identity,
        trust: Trust,
        db: Database,
        clock: Callable[[], datetime],
        *,
        router: Router | None = None,
        on_queued: Callable[[list[str]], None] | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        """``router`` plans handler work, queued in the same transaction as the alert
        (``on_queued`` is told the new job ids); ``listeners`` observe every decision
        (metrics, the hub, tests) and never change it."""
        self.identity = identity
        self.trust = trust
        self.db = db
        self.clock = clock
        self.router = router
        self.on_queued = on_queued
        self.listeners: list[Listener] = listeners if listeners is not None else []
        self.counts: Counter[str] = Counter()

    async def process(
        self,
        subject: str,
        data: bytes,
        *,
        final: bool = True,
        received_at: datetime | None = None,
        stream_seq: int | None = None,
    ) -> Decision:
        """Decide on one delivery. ``final``: the broker will not deliver it again, so a
        transient failure must be rejected (and audited) rather than deferred."""
        item = Delivered(subject, data, final, received_at, stream_seq)
        return (await self.process_many([item]))[0]

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
        staged: list[Decision | Opened | Rejection | Deferral] = []
        for i, item in enumerate(items):
            try:
                echo = echoes.get(i)
                if echo is not None:
                    staged.append(Decision(Outcome.OWN, echo, self.identity.code))
                    continue
                staged.append(await self._open(item, directory, now))
            except Exception as exc:
                staged.append(internal_error(exc))
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

    async def _own_echoes(self, items: Sequence[Delivered]) -> dict[int, str]:
        """Our own alerts coming back from the stream (the subject filters cannot leave
        them out): an item on our own subject whose bytes equal, byte for byte, the
        envelope our outbox published on that same subject is the one we signed, so it
        needs no verifying (a sender's largest per-alert cost after sealing). Returns
        their positions and message ids; anything else is verified as usual."""
        wanted: dict[int, str] = {}
        for i, item in enumerate(items):
            try:
                _, sender = parse_alert_subject(item.subject)
                if sender == self.identity.code:
                    header = Header.decode(decode_frame(item.data).header_bytes)
                    wanted[i] = header.message_id
            except LaliError:
                continue  # verification will say what is wrong with it
        if not wanted:
            return {}
        ids = sorted(set(wanted.values()))
        sent: dict[str, tuple[str, bytes]] = {}
        try:
            for n in range(0, len(ids), 500):
                chunk = ids[n : n + 500]
                marks = ", ".join("?" * len(chunk))  # placeholders only
                rows = await self.db.fetchall(
                    "SELECT message_id, subject, envelope FROM outbox"  # noqa: S608
                    f" WHERE message_id IN ({marks}) AND kind = 'alert'",
                    tuple(chunk),
                )
                sent.update((str(r[0]), (str(r[1]), bytes(r[2]))) for r in rows)
        except StorageError as exc:
            log.warning("own_echo_lookup_failed", error=str(exc))  # all verified instead
            return {}
        return {
            i: mid
            for i, mid in wanted.items()
            if sent.get(mid) == (items[i].subject, items[i].data)
        }

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
    ) -> Decision | Opened | Rejection | Deferral:
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
                return Deferral(exc)  # audited at its first deferral
            return Rejection(exc, now)
        except UntrustedMessage as exc:
            return Rejection(exc, now)

    async def _commit_staged(
        self,
        staged: list[tuple[int, Opened | Rejection | Deferral]],
        items: Sequence[Delivered],
        now: datetime,
    ) -> dict[int, Decision]:
        """Commit the batch's outcomes together, in order; on a bug of ours, one by one,
        so that only the message that meets it is set aside."""
        if not staged:
            return {}
        try:
            committed, queued = await commit_group(
                self.db, self.identity, self.router, staged, items, now
            )
            if queued and self.on_queued is not None:
                self.on_queued(sorted(set(queued)))
            return committed
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
                if isinstance(single, Deferral):
                    # Deferred unaudited: it comes back, and its last delivery is
                    # rejected and audited whatever happens here.
                    log.error("inbound_defer_audit_failed", error_type=type(exc).__name__)
                    return {index: Decision(Outcome.DEFER, reason=single.error.reason)}
                return await self._commit_staged([(index, internal_error(exc))], items, now)
        decisions: dict[int, Decision] = {}
        for pair in staged:
            decisions.update(await self._commit_staged([pair], items, now))
        return decisions
