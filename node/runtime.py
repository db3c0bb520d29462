"""The node: composes identity, trust, database, transport and the two pipelines.

Lifecycle is a small state machine: ``NEW → RUNNING → DRAINING → CLOSED``.
``drain()`` stops intake, lets the in-flight batch finish, flushes the outbox once,
closes NATS, then the database. Closing is idempotent and shielded from cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import TracebackType

import structlog

from keys import Directory, Identity, Role, key_id, load_identity
from node.config import NodeSettings
from node.exchange.attach import (
    FETCH_WAIT_S,
    bind_consumer,
    connect_forever,
    ensure_stream,
)
from node.exchange.consumer import Consumer
from node.exchange.consumers import create_consumers, keep_consumers
from node.exchange.continuity import check_continuity
from node.exchange.directory_feed import follow_directory
from node.exchange.heartbeats import run_heartbeats
from node.exchange.inbound.decisions import Listener
from node.exchange.inbound.pipeline import Inbound
from node.exchange.outbound import Outbound, SendResult
from node.exchange.receipts import ReceiptDecision, ReceiptIntake
from node.exchange.trust import Trust, parse_root_keys
from node.exchange.witness import Witness
from node.handlers.base import HandlerEnv
from node.handlers.instances import build_instances
from node.handlers.runner import HandlerRunner
from node.metrics import HANDLER_FAILURES, MetricsSource, serve_metrics
from node.storage.audit import verify_file
from node.storage.database import Database
from node.transport import Transport
from schemas.alert import Alert
from schemas.errors import AuditChainBroken, ConfigError, LaliError, TransportError

log = structlog.get_logger("lali.node")


class State(Enum):
    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    CLOSED = "closed"


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        self._directory_changed = asyncio.Event()  # the hub reconfigures the consumers
        self._diverged = False  # our log contradicts the hub's checkpoint of it
        self.ready = asyncio.Event()  # connected, stream and consumer in place
        self.failed = asyncio.Event()  # the consumer stopped on an error (see .failure)
        self.failure: LaliError | None = None
        # Observers (metrics, the hub, the demo, tests) subscribe here; the parts that
        # decide are handed these lists when they are built.
        self.decision_listeners: list[Listener] = []
        self.receipt_listeners: list[Callable[[ReceiptDecision], None]] = []
        self.directory_listeners: list[Callable[[Directory], None]] = [self._on_directory]
        self.policy = settings.stream_policy()
        self.durable = self.policy.durable
        self.handlers: HandlerRunner | None = None
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
        self._keys = load_identity(s.identity, self._passphrase)
        if self._keys.code != s.code:
            raise ConfigError(f"key file {s.identity} is for {self._keys.code}, not {s.code}")
        if s.database.exists():
            # Fail loudly on a damaged or edited log rather than append to it.
            await asyncio.to_thread(verify_file, s.database)
        self.db = await Database.open(s.database)
        try:
            self.trust = Trust(
                parse_root_keys(s.root_keys),
                s.directory_threshold,
                s.directory,
                self.db,
                grace=timedelta(hours=s.directory_grace_h),
                listeners=self.directory_listeners,
            )
            await self.trust.load(self.clock())
            self._check_keys_held(self.clock())
            self.identity = self._keys.for_directory(self.trust.directory, self.clock())
            # Bad handler configuration stops the start here, before anything runs.
            self.handlers = self._handler_runner() if self.consume else None
        except BaseException:
            await self.db.close()
            raise
        # The link is back: drain the outbox now, not at the next retry tick.
        self.transport = Transport(s.connect_options(), on_reconnect=self._wake_outbox.set)
        self.inbound = Inbound(
            self.identity,
            self.trust,
            self.db,
            self.clock,
            router=None if self.handlers is None else self.handlers.router,
            on_queued=None if self.handlers is None else self.handlers.wake,
            listeners=self.decision_listeners,
        )
        self.outbound = Outbound(self.identity, self.trust, self.db, self.transport, self.clock)
        self.receipts = ReceiptIntake(self.identity, self.trust, self.db, self.clock)
        self.witness = Witness(self.identity, self.trust, self.db, self.clock)
        self.consumer = Consumer(
            policy=self.policy,
            transport=self.transport,
            db=self.db,
            trust=self.trust,
            inbound=self.inbound,
            receipts=self.receipts,
            witness=self.witness,
            clock=self.clock,
            stopping=self._stopping,
            wake_outbox=self._wake_outbox.set,
            receipt_listeners=self.receipt_listeners,
        )
        if self.handlers is not None:
            # Pending handler work resumes at once, whether or not the link is up.
            try:
                await self.handlers.start()
            except BaseException:
                await self.handlers.stop()
                await self.db.close()
                raise
        self.state = State.RUNNING
        # Held by name: other tasks (a directory adopted while loading) may come first.
        self._main = asyncio.create_task(self._run(), name=f"node-{s.code}")
        self._tasks.append(self._main)
        log.info("node_started", code=s.code, topics=len(s.topics))

    def _handler_runner(self) -> HandlerRunner | None:
        s = self.settings
        if not s.handlers and not s.routes:
            return None
        env = HandlerEnv(
            code=s.code,
            config_dir=s.config_dir,
            state_dir=s.database.parent / f"{s.database.stem}-handlers",
        )
        return HandlerRunner(
            code=s.code,
            db=self.db,
            routes=list(s.routes),
            instances=build_instances(s.handlers),
            env=env,
            clock=self.clock,
            on_failure=lambda instance: HANDLER_FAILURES.labels(instance).inc(),
        )

    def _check_keys_held(self, now: datetime) -> None:
        """The directory's keys for us must be the ones in our key file; otherwise
        alerts sealed to us would be dropped as "not addressed" without a trace."""
        member = self.trust.directory.member(self.code)
        keys = self._keys
        held = set(keys.encryption_kids()) | {keys.sign_kid}
        if keys.retired_signing_key is not None:
            held.add(key_id(bytes(keys.retired_signing_key.verify_key)))
        missing = [k.kid for k in member.keys if k.valid_at(now) and k.kid not in held]
        if missing:
            raise ConfigError(
                f"the directory lists keys for {self.code} that {self.settings.identity}"
                f" does not hold: {', '.join(missing)} (wrong key file, or lost keys?)"
            )

    def _on_directory(self, directory: Directory) -> None:
        self._directory_changed.set()
        self._tasks.append(asyncio.create_task(self._adopt_keys(directory)))

    async def _adopt_keys(self, directory: Directory) -> None:
        """After a key rotation (`lali keys rotate` rewrote the key file, the hub
        published the new keys), sign and seal with whatever the directory lists."""
        try:
            self._keys = await asyncio.to_thread(
                load_identity, self.settings.identity, self._passphrase
            )
        except LaliError as exc:
            log.error("key_file_unreadable", reason=exc.reason, error=str(exc))
        identity = self._keys.for_directory(directory, self.clock())
        if (identity.sign_kid, identity.enc_kid) != (self.identity.sign_kid, self.identity.enc_kid):
            log.info("keys_switched", sign_kid=identity.sign_kid, enc_kid=identity.enc_kid)
        self.identity = identity
        self.inbound.identity = self.outbound.identity = identity
        self.receipts.me = self.witness.me = identity

    async def send(self, alert: Alert, to: Sequence[str]) -> SendResult:
        if self.state is not State.RUNNING:
            raise RuntimeError(f"node is {self.state.value}; cannot send")
        result = await self.outbound.submit(alert, to)
        if result.state == "queued":
            self._wake_outbox.set()
        return result

    async def forward(self, message_id: str, to: Sequence[str]) -> SendResult:
        """Re-share a received alert (TLP permitting) as a new alert from us."""
        if self.state is not State.RUNNING:
            raise RuntimeError(f"node is {self.state.value}; cannot forward")
        result = await self.outbound.forward(message_id, to)
        self._wake_outbox.set()
        return result

    async def _run(self) -> None:
        try:
            await self._consume()
        except LaliError as exc:
            # E.g. the server refuses our stream or consumer: nothing will arrive, so
            # say so loudly and let the owner (``lali node run``) exit non-zero.
            refusal = self.transport.last_refusal
            if refusal:
                exc = TransportError(f"{exc} (the server said: {refusal})", **exc.fields)
            self.failure = exc
            log.error("node_failed", reason=exc.reason, error=str(exc))
            self.failed.set()

    async def _consume(self) -> None:
        await connect_forever(self.transport, self._stopping)
        if self._stopping.is_set():
            return
        s = self.settings
        await self._check_continuity()
        hub = self.trust.directory.member(s.code).role is Role.HUB
        if hub:  # the hub owns the stream and every member's consumer (ours included)
            await ensure_stream(self.transport, self.policy, self._stopping)
        if not self.consume:
            self.ready.set()
            return
        if hub:
            self._directory_changed.clear()
            await create_consumers(self.transport, self.trust, self.policy, self._stopping)
            keeper = keep_consumers(
                self.transport, self.trust, self.policy, self._directory_changed, self._stopping
            )
            self._tasks.append(asyncio.create_task(keeper, name=f"consumers-{s.code}"))
        batches = await bind_consumer(self.transport, self.policy, self._stopping)
        if batches is None:
            return  # stopped while waiting
        self._tasks.append(asyncio.create_task(self._publisher(), name=f"outbox-{s.code}"))
        self._tasks.append(asyncio.create_task(self._checkpointer(), name=f"ckpt-{s.code}"))
        self._tasks.append(asyncio.create_task(self._heartbeats(), name=f"beat-{s.code}"))
        if s.metrics_port is not None:
            source = MetricsSource(
                code=s.code,
                port=s.metrics_port,
                database=s.database,
                clock=self.clock,
                decision_listeners=self.decision_listeners,
                receipt_listeners=self.receipt_listeners,
                consumer_lag=self._consumer_lag,
            )
            self._tasks.append(asyncio.create_task(serve_metrics(source), name=f"metrics-{s.code}"))
        self._tasks.append(
            asyncio.create_task(
                follow_directory(
                    self.transport,
                    self.trust,
                    self.clock,
                    self._stopping,
                    replicas=s.stream_replicas,
                ),
                name=f"directory-{s.code}",
            )
        )
        self.ready.set()
        log.info("node_ready", code=s.code)
        await self.consumer.run(batches)

    async def _consumer_lag(self) -> int | None:
        """Messages waiting for our consumer; None while the link is down."""
        if not self.transport.connected.is_set():
            return None
        try:
            state = await self.transport.consumer_state(self.policy.stream, self.durable)
        except LaliError:
            return None
        return None if state is None else state.pending

    async def _check_continuity(self) -> None:
        """Before anything is taken in or sent: refuse to run on a log that is behind or
        departs from the newest checkpoint of ours the hub holds (a restored backup)."""
        try:
            await check_continuity(
                self.transport, self.policy.stream, self.db, self.trust.directory, self.code
            )
        except AuditChainBroken:
            self._diverged = True
            raise
        except TransportError as exc:
            # No stream yet, or the server would not say: nothing to compare with now.
            log.warning("continuity_unchecked", reason=exc.reason, error=str(exc))

    async def _checkpointer(self) -> None:
        """Sign our audit head at start and every ``checkpoint_interval_s`` (and once at
        drain), so a node that is often killed still leaves checkpoints behind."""
        while not self._stopping.is_set():
            await self.checkpoint()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.checkpoint_interval_s)

    async def _heartbeats(self) -> None:
        await run_heartbeats(
            self.transport,
            self.db,
            lambda: self.identity,  # follows key rotation
            self.clock,
            self.settings.heartbeat_interval_s,
            self._stopping,
        )

    async def checkpoint(self) -> None:
        try:
            if await self.witness.checkpoint_now() is not None:
                self._wake_outbox.set()
        except LaliError as exc:
            log.warning("checkpoint_failed", reason=exc.reason, error=str(exc))

    async def _publisher(self) -> None:
        while not self._stopping.is_set():
            # Cleared before the flush: whatever is queued during it wakes the next one
            # (a receipt committed mid-flush must not wait for the retry tick).
            self._wake_outbox.clear()
            try:
                await self.outbound.flush()
            except LaliError as exc:  # storage or transport: the outbox keeps the alerts
                log.warning("outbox_flush_failed", reason=exc.reason, error=str(exc))
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
        consumer = self._main
        others = [task for task in self._tasks if task is not consumer]
        for task in others:
            task.cancel()  # the publisher: a half-done publish is retried with its id
        # The consumer notices _stopping when its current fetch returns (at most
        # FETCH_WAIT_S), finishes the message in hand and hands back the rest.
        if not self.ready.is_set():
            consumer.cancel()  # still connecting: nothing fetched, nothing to finish
        done, _ = await asyncio.wait([consumer], timeout=FETCH_WAIT_S + 15.0)
        if not done:
            consumer.cancel()  # still safe: every message is settled only after commit
        for task in self._tasks:
            task.cancel()
        done, pending = await asyncio.wait(self._tasks, timeout=15.0)
        for task in pending:  # a task that ignores cancellation must not hold us here
            log.error("node_task_stuck", task=task.get_name())
        results = [t.exception() if not t.cancelled() else None for t in done]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("node_task_failed", error=f"{type(result).__name__}: {result}")
        try:
            if self.handlers is not None:
                await self.handlers.stop()  # an interrupted job stays pending
            # A log the hub's checkpoint contradicts must not speak for us: no checkpoint
            # of it, nothing from its outbox (until the operator accepts the restore).
            if self.consume and not self._diverged:
                await self.checkpoint()  # the last head we reached, for the witnesses
            if self.transport.connected.is_set() and not self._diverged:
                # Bounded: whatever is left stays queued for the next start.
                with contextlib.suppress(LaliError, TimeoutError):
                    await asyncio.wait_for(self.outbound.flush(), 15.0)
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
