"""The consumer loop: pull batches from the member's durable consumer, dispatch each
message to its pipeline (alert, receipt, checkpoint), and settle it with the broker
only after the pipeline has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import structlog

from node.exchange.inbound.decisions import Decision, Delivered, Outcome, Recorded
from node.exchange.inbound.pipeline import Inbound
from node.exchange.policy import StreamPolicy
from node.exchange.receipts import ReceiptDecision, ReceiptIntake
from node.exchange.trust import Trust
from node.exchange.witness import Witness
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import dead_letter_subject, is_checkpoint_subject, is_receipt_subject
from node.protocol.wire import LABEL
from node.storage.database import Database
from node.transport.ports import PulledMessage, TransportPort
from schemas.errors import LaliError, TransportError

log = structlog.get_logger("lali.consumer")

PROGRESS_EVERY_S = 5.0  # how often a draining backlog is reported


class Settle(Enum):
    """What the broker hears about one delivery, once our side has committed."""

    ACK = "ack"  # done: never deliver it again
    NAK = "nak"  # deliver it again after a delay
    TERM = "term"  # never deliver it again: it is rejected (audited, dead-lettered)


class Kind(Enum):
    """Which pipeline a delivery goes to, by its subject."""

    ALERT = "alert"
    RECEIPT = "receipt"
    CHECKPOINT = "checkpoint"


_PRIORITY_OFFSET = len(LABEL) + 3  # the header's priority byte (docs/wire-format.md)


def priority_hint(delivery: PulledMessage) -> int:
    """The claimed priority of an alert, read from the unverified header: used only to
    order work, never to decide anything. Receipts and checkpoints come after alerts."""
    data = delivery.data
    if is_receipt_subject(delivery.subject) or is_checkpoint_subject(delivery.subject):
        return 3
    if len(data) > _PRIORITY_OFFSET and data[: len(LABEL)] == LABEL:
        return min(data[_PRIORITY_OFFSET], 3)
    return 3


def nak_delay(num_delivered: int) -> float:
    """Back off 1, 2, 4 … 60 s between redeliveries of a deferred message."""
    return float(min(60, 2 ** max(0, num_delivered - 1)))


@dataclass
class Consumer:
    policy: StreamPolicy
    transport: TransportPort
    db: Database
    trust: Trust
    inbound: Inbound
    receipts: ReceiptIntake
    witness: Witness
    clock: Callable[[], datetime]
    stopping: asyncio.Event
    wake_outbox: Callable[[], None]
    receipt_listeners: list[Callable[[ReceiptDecision], None]] = field(default_factory=list)
    _progress_at: float = field(default_factory=time.monotonic)
    _progress_count: int = 0
    _receipts_queued: bool = False

    async def run(self, batches: AsyncIterator[Sequence[PulledMessage]]) -> None:
        processed = 0
        async for batch in batches:
            await self._handle_batch(batch)
            processed += len(batch)
            if batch:
                await self._report_progress(processed)
            if self.stopping.is_set():
                break

    async def _handle_batch(self, batch: Sequence[PulledMessage]) -> None:
        # Within what one fetch brought (a backlog arrives in large batches), flash
        # alerts go first, then urgent, then routine; ties keep the stream's order.
        if self.policy.priority_catch_up:
            batch = sorted(batch, key=priority_hint)
        i = 0
        try:
            while i < len(batch):
                if self.stopping.is_set():
                    await self._release(batch[i:])
                    return
                kind = _kind(batch[i])
                if kind is not Kind.CHECKPOINT:
                    # A run of alerts (or of receipts) is committed in one transaction,
                    # then settled.
                    end = i
                    while end < len(batch) and _kind(batch[end]) == kind:
                        end += 1
                    run = batch[i:end]
                    if kind is Kind.ALERT:
                        done = await self._handle_alerts(run)
                    else:
                        done = await self._handle_receipts(run)
                    i += done
                    if i < end:
                        await self._hold_until_healthy(batch[i:])
                elif await self._handle_checkpoint(batch[i]):
                    i += 1
                else:
                    # Our side cannot commit (storage, stale directory): do not spend the
                    # broker's delivery attempts; hold the batch until a probe succeeds,
                    # then process the same message again.
                    await self._hold_until_healthy(batch[i:])
        finally:
            if self._receipts_queued:
                # Once per batch, not per alert: the publisher then sends the batch's
                # receipts together (one read, pipelined publishes, one commit).
                self._receipts_queued = False
                self.wake_outbox()

    async def _release(self, deliveries: Sequence[PulledMessage]) -> None:
        """Hand back fetched but unprocessed messages so a restart gets them at once
        (otherwise they would wait out AckWait)."""
        for delivery in deliveries:
            with contextlib.suppress(TransportError):
                await delivery.nak()

    async def _settle(self, delivery: PulledMessage, how: Settle, outcome: str) -> None:
        try:
            if how is Settle.TERM:
                await delivery.term()
            elif how is Settle.ACK:
                await delivery.ack()
            else:
                await delivery.nak(nak_delay(delivery.num_delivered))
        except TransportError as exc:
            # The commit stands; the broker will redeliver and we will see a duplicate.
            log.warning("settle_failed", outcome=outcome, error=str(exc))

    async def _handle_alerts(self, deliveries: Sequence[PulledMessage]) -> int:
        """Decide on a run of alerts (one commit for all accepted), then settle each in
        order. Returns how many were settled: the rest must be retried here."""
        decisions: list[Decision] = await self.inbound.process_many(
            [
                Delivered(
                    d.subject,
                    d.data,
                    final=d.num_delivered >= self.policy.max_deliver,
                    received_at=d.stored_at,
                    stream_seq=d.stream_seq,
                )
                for d in deliveries
            ]
        )
        for n, (delivery, decision) in enumerate(zip(deliveries, decisions, strict=True)):
            if decision.outcome is Outcome.RETRY:
                return n  # this one and the rest: held (a committed one comes back DUPLICATE)
            if decision.outcome is Outcome.DEFER:
                await self._settle(delivery, Settle.NAK, decision.outcome.value)
            elif decision.outcome is Outcome.REJECTED:
                await self._settle(delivery, Settle.TERM, decision.outcome.value)
                await self._dead_letter(delivery, decision.reason)
            else:
                await self._settle(delivery, Settle.ACK, decision.outcome.value)
            if decision.outcome is Outcome.ACCEPTED:
                self._receipts_queued = True  # the outbox is woken at the end of the batch
        return len(deliveries)

    async def _handle_receipts(self, deliveries: Sequence[PulledMessage]) -> int:
        """Record a run of receipts in one transaction, then settle each in order.
        Returns how many were settled: the rest must be retried here."""
        decisions = await self.receipts.process_many([(d.subject, d.data) for d in deliveries])
        for n, (delivery, decision) in enumerate(zip(deliveries, decisions, strict=True)):
            if decision.outcome is Recorded.RETRY:
                return n
            how = Settle.TERM if decision.outcome is Recorded.REJECTED else Settle.ACK
            await self._settle(delivery, how, decision.outcome.value)
            for listener in self.receipt_listeners:
                try:
                    listener(decision)
                except Exception as exc:  # observers (metrics, console) must not stop intake
                    log.error("receipt_listener_failed", error_type=type(exc).__name__)
        return len(deliveries)

    async def _handle_checkpoint(self, delivery: PulledMessage) -> bool:
        outcome = await self.witness.receive(delivery.data)
        if outcome is Recorded.RETRY:
            return False
        how = Settle.TERM if outcome is Recorded.REJECTED else Settle.ACK
        await self._settle(delivery, how, outcome.value)
        return True

    async def _dead_letter(self, delivery: PulledMessage, reason: str | None) -> None:
        """Copy a rejected message to the dead-letter subject. Best effort: the audit
        log already holds the bytes and the reason."""
        code = self.policy.code
        try:
            await self.transport.publish(
                dead_letter_subject(code),
                delivery.data,
                # Hashed from the subject and bytes: another member cannot take the id
                # first, and our own copies of identical junk are kept once per window.
                nats_msg_id(dead_letter_subject(code), delivery.data),
                headers={"Lali-Reason": reason or "", "Lali-Subject": delivery.subject},
            )
        except TransportError as exc:
            log.warning("dead_letter_failed", error=str(exc))

    async def _report_progress(self, processed: int) -> None:
        """While a backlog drains, log how much is left and how fast it goes."""
        now = time.monotonic()
        if now - self._progress_at < PROGRESS_EVERY_S:
            return
        try:
            remaining = await self.transport.pending(self.policy.stream, self.policy.durable)
        except TransportError:
            return
        elapsed = now - self._progress_at
        rate = (processed - self._progress_count) / elapsed if elapsed else 0.0
        self._progress_at, self._progress_count = now, processed
        if remaining:
            eta = remaining / rate if rate else None
            log.info(
                "catching_up",
                remaining=remaining,
                rate_per_s=round(rate, 1),
                eta_s=None if eta is None else round(eta),
            )

    async def _hold_until_healthy(self, held: Sequence[PulledMessage]) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            for delivery in held:  # keep AckWait from expiring while we wait
                with contextlib.suppress(TransportError):
                    await delivery.in_progress()
            try:
                await self.db.probe()
                await self.trust.current(self.clock())
                return
            except LaliError as exc:
                log.error("node_degraded", reason=exc.reason, error=str(exc), retry_in_s=delay)
            delay = min(delay * 2, max(1.0, self.policy.ack_wait_s / 3))


def _kind(delivery: PulledMessage) -> Kind:
    if is_receipt_subject(delivery.subject):
        return Kind.RECEIPT
    if is_checkpoint_subject(delivery.subject):
        return Kind.CHECKPOINT
    return Kind.ALERT
