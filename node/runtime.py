"""The node: composes identity, trust, database, transport and the two pipelines.

Lifecycle is a small state machine: ``NEW → RUNNING → DRAINING → CLOSED``.
``drain()`` stops intake, lets the in-flight batch finish, flushes the outbox once,
closes NATS, then the database. Closing is idempotent and shielded from cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType

import structlog

from keys import Identity, load_identity
from node.audit import verify_file
from node.config import NodeSettings
from node.db import Database
from node.directory_feed import follow_directory
from node.inbound import Decision, Inbound, Outcome
from node.outbound import Outbound, SendResult
from node.receipts import ReceiptDecision, ReceiptIntake
from node.subjects import (
    STREAM_SUBJECTS,
    dead_letter_subject,
    is_receipt_subject,
    receipt_filter,
    topic_filter,
)
from node.transport import Delivery, Transport
from node.trust import Trust, parse_root_keys
from schemas.alert import Alert
from schemas.errors import ConfigError, LaliError, TransportError

log = structlog.get_logger("lali.node")


class State(Enum):
    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    CLOSED = "closed"


PROGRESS_EVERY_S = 5.0  # how often a draining backlog is reported
FETCH_WAIT_S = 1.0  # how long one pull waits for messages; bounds the time to drain


def utc_now() -> datetime:
    return datetime.now(UTC)


def nak_delay(num_delivered: int) -> float:
    """Back off 1, 2, 4 … 60 s between redeliveries after a failure on our side."""
    return float(min(60, 2 ** max(0, num_delivered - 1)))


class Node:
    def __init__(
        self,
        settings: NodeSettings,
        *,
        passphrase: bytes | None = None,
        clock: Callable[[], datetime] = utc_now,
        consume: bool = True,
    ) -> None:
        """``consume=False``: a send-only node (``lali send``) that neither takes in
        alerts nor runs the outbox publisher; it only publishes what it sends."""
        self.settings = settings
        self.consume = consume
        self.clock = clock
        self.state = State.NEW
        self._passphrase = passphrase
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._wake_outbox = asyncio.Event()
        self.ready = asyncio.Event()  # connected, stream and consumer in place
        self.failed = asyncio.Event()  # the consumer stopped on an error (see .failure)
        self.failure: LaliError | None = None
        self.receipt_listeners: list[Callable[[ReceiptDecision], None]] = []
        self.durable = f"node-{settings.code}"
        self._progress_at = time.monotonic()
        self._progress_count = 0
        self.identity: Identity
        self.db: Database
        self.trust: Trust
        self.transport: Transport
        self.inbound: Inbound
        self.outbound: Outbound

    @property
    def code(self) -> str:
        return self.settings.code

    async def start(self) -> None:
        if self.state is not State.NEW:
            raise RuntimeError(f"cannot start a node that is {self.state.value}")
        s = self.settings
        self.identity = load_identity(s.identity, self._passphrase)
        if self.identity.code != s.code:
            raise ConfigError(f"key file {s.identity} is for {self.identity.code}, not {s.code}")
        if s.database.exists():
            # Fail loudly on a damaged or edited log rather than append to it.
            await asyncio.to_thread(verify_file, s.database)
        self.db = await Database.open(s.database)
        try:
            self.trust = Trust(
                parse_root_keys(s.root_keys), s.directory_threshold, s.directory, self.db
            )
            await self.trust.load(self.clock())
            self._check_keys_held(self.clock())
        except BaseException:
            await self.db.close()
            raise
        self.transport = Transport(s.connect_options())
        # The link is back: drain the outbox now, not at the next retry tick.
        self.transport.reconnect_listeners.append(self._wake_outbox.set)
        self.inbound = Inbound(self.identity, self.trust, self.db, self.clock)
        self.outbound = Outbound(self.identity, self.trust, self.db, self.transport, self.clock)
        self.receipts = ReceiptIntake(self.identity, self.trust, self.db, self.clock)
        self.state = State.RUNNING
        self._tasks.append(asyncio.create_task(self._run(), name=f"node-{s.code}"))
        log.info("node_started", code=s.code, topics=len(s.topics))

    def _check_keys_held(self, now: datetime) -> None:
        """The directory's keys for us must be the ones in our key file; otherwise
        alerts sealed to us would be dropped as "not addressed" without a trace."""
        member = self.trust.directory.member(self.code)
        held = set(self.identity.encryption_kids()) | {self.identity.sign_kid}
        missing = [k.kid for k in member.keys if k.valid_at(now) and k.kid not in held]
        if missing:
            raise ConfigError(
                f"the directory lists keys for {self.code} that {self.settings.identity}"
                f" does not hold: {', '.join(missing)} (wrong key file, or lost keys?)"
            )

    async def send(self, alert: Alert, to: Sequence[str]) -> SendResult:
        if self.state is not State.RUNNING:
            raise RuntimeError(f"node is {self.state.value}; cannot send")
        result = await self.outbound.submit(alert, to)
        if result.state == "queued":
            self._wake_outbox.set()
        return result

    async def _run(self) -> None:
        try:
            await self._consume()
        except LaliError as exc:
            # E.g. the server refuses our stream or consumer: nothing will arrive, so
            # say so loudly and let the owner (``lali node run``) exit non-zero.
            self.failure = exc
            log.error("node_failed", reason=exc.reason, error=str(exc))
            self.failed.set()

    async def _consume(self) -> None:
        await self._connect_forever()
        if self._stopping.is_set():
            return
        s = self.settings
        await self.transport.ensure_stream(
            s.stream,
            STREAM_SUBJECTS,
            duplicate_window_s=s.duplicate_window_s,
            replicas=s.stream_replicas,
        )
        if not self.consume:
            self.ready.set()
            return
        batches = await self.transport.durable_pull(
            s.stream,
            self.durable,
            [*(topic_filter(t) for t in s.topics), receipt_filter(s.code)],
            ack_wait_s=s.ack_wait_s,
            max_deliver=s.max_deliver,
            batch=s.fetch_batch,
            fetch_timeout_s=FETCH_WAIT_S,
        )
        self._tasks.append(asyncio.create_task(self._publisher(), name=f"outbox-{s.code}"))
        self._tasks.append(
            asyncio.create_task(
                follow_directory(self.transport, self.trust, self.clock, self._stopping),
                name=f"directory-{s.code}",
            )
        )
        self.ready.set()
        log.info("node_ready", code=s.code)
        processed = 0
        async for batch in batches:
            await self._handle_batch(batch)
            processed += len(batch)
            if batch:
                await self._report_progress(processed)
            if self._stopping.is_set():
                break

    async def _handle_batch(self, batch: list[Delivery]) -> None:
        i = 0
        while i < len(batch):
            if self._stopping.is_set():
                await self._release(batch[i:])
                return
            if await self._handle(batch[i]):
                i += 1
            else:
                # Our side cannot commit (storage, stale directory): do not spend the
                # broker's delivery attempts; hold the batch until a probe succeeds,
                # then process the same message again.
                await self._hold_until_healthy(batch[i:])

    async def _release(self, deliveries: list[Delivery]) -> None:
        """Hand back fetched but unprocessed messages so a restart gets them at once
        (otherwise they would wait out AckWait)."""
        for delivery in deliveries:
            with contextlib.suppress(TransportError):
                await delivery.nak()

    async def _connect_forever(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                await self.transport.connect()
                return
            except TransportError as exc:
                log.warning("connect_failed", error=str(exc), retry_in_s=delay)
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return  # drain() cut a connection attempt short
                raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, 30.0)

    async def _handle(self, delivery: Delivery) -> bool:
        """Process and settle one delivery; False if it must be retried here."""
        if is_receipt_subject(delivery.subject):
            return await self._handle_receipt(delivery)
        final = delivery.num_delivered >= self.settings.max_deliver
        decision: Decision = await self.inbound.process(
            delivery.subject, delivery.data, final=final, received_at=delivery.stored_at
        )
        if decision.outcome is Outcome.RETRY:
            return False
        try:
            if decision.outcome is Outcome.DEFER:
                await delivery.nak(nak_delay(delivery.num_delivered))
            elif decision.outcome is Outcome.REJECTED:
                await delivery.term()
                await self._dead_letter(delivery, decision)
            else:
                await delivery.ack()
        except TransportError as exc:
            # The commit stands; the broker will redeliver and we will see a duplicate.
            log.warning("settle_failed", outcome=decision.outcome.value, error=str(exc))
        if decision.outcome is Outcome.ACCEPTED:
            self._wake_outbox.set()  # its receipt is queued
        return True

    async def _dead_letter(self, delivery: Delivery, decision: Decision) -> None:
        """Copy a rejected message to the dead-letter subject. Best effort: the audit
        log already holds the bytes and the reason."""
        try:
            await self.transport.publish(
                dead_letter_subject(self.code),
                delivery.data,
                f"dead-{self.code}-{delivery.stream_seq}",
                headers={"Lali-Reason": decision.reason or "", "Lali-Subject": delivery.subject},
            )
        except TransportError as exc:
            log.warning("dead_letter_failed", error=str(exc))

    async def _report_progress(self, processed: int) -> None:
        """While a backlog drains, log how much is left and how fast it goes."""
        now = time.monotonic()
        if now - self._progress_at < PROGRESS_EVERY_S:
            return
        try:
            remaining = await self.transport.pending(self.settings.stream, self.durable)
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

    async def _handle_receipt(self, delivery: Delivery) -> bool:
        decision = await self.receipts.process(delivery.subject, delivery.data)
        if decision.outcome == "retry":
            return False
        try:
            if decision.outcome == "rejected":
                await delivery.term()
            else:
                await delivery.ack()
        except TransportError as exc:
            log.warning("settle_failed", outcome=decision.outcome, error=str(exc))
        for listener in self.receipt_listeners:
            listener(decision)
        return True

    async def _hold_until_healthy(self, held: list[Delivery]) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            for delivery in held:  # keep AckWait from expiring while we wait
                with contextlib.suppress(TransportError):
                    await delivery.in_progress()
            try:
                await self.db.probe()
                await self.trust.current(self.clock())
                return
            except LaliError as exc:
                log.error("node_degraded", reason=exc.reason, error=str(exc), retry_in_s=delay)
            delay = min(delay * 2, max(1.0, self.settings.ack_wait_s / 3))

    async def _publisher(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.outbound.flush()
            except LaliError as exc:  # storage or transport: the outbox keeps the alerts
                log.warning("outbox_flush_failed", reason=exc.reason, error=str(exc))
            self._wake_outbox.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_outbox.wait(), self.settings.outbox_retry_s)

    async def drain(self) -> None:
        """Stop intake, finish the batch in hand, flush the outbox, close NATS and DB."""
        if self.state in (State.DRAINING, State.CLOSED):
            return
        if self.state is State.NEW:
            self.state = State.CLOSED
            return
        self.state = State.DRAINING
        self._stopping.set()
        self._wake_outbox.set()
        await asyncio.shield(self._finish())

    async def _finish(self) -> None:
        consumer, others = self._tasks[0], self._tasks[1:]
        for task in others:
            task.cancel()  # the publisher: a half-done publish is retried with its id
        # The consumer notices _stopping when its current fetch returns (at most
        # FETCH_WAIT_S), finishes the message in hand and hands back the rest.
        if not self.ready.is_set():
            consumer.cancel()  # still connecting: nothing fetched, nothing to finish
        done, _ = await asyncio.wait([consumer], timeout=FETCH_WAIT_S + 15.0)
        if not done:
            consumer.cancel()  # still safe: every message is settled only after commit
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("node_task_failed", error=f"{type(result).__name__}: {result}")
        try:
            if self.transport.connected.is_set():
                with contextlib.suppress(LaliError):
                    await self.outbound.flush()
        finally:
            try:
                await self.transport.close()
            finally:
                await self.db.close()
                self.state = State.CLOSED
        log.info("node_closed", code=self.code)

    async def aclose(self) -> None:
        await self.drain()

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
