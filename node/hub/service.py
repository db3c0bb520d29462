"""The hub: the parts of the coordination centre attached to its running node.

``Hub(node, settings)`` is started after ``node.start()`` and closed before
``node.drain()``. It adds: the network watcher (traffic metadata, heartbeats, lag),
the correlation index, a monitor that turns missing heartbeats into status changes,
and the console (uvicorn in the same event loop, on a socket bound before it starts,
so the address is known at once).

``Hub`` is where the hub is put together: it is the only part that holds the node
(``HubNode``: what the hub uses of it), and it hands each part just the collaborators
that part needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
import uvicorn

from keys import Directory, Role
from node.config import NodeSettings
from node.exchange.inbound.pipeline import Inbound
from node.exchange.outbound import SendResult
from node.exchange.receipts import ReceiptDecision
from node.hub import bulletin, liveness, store
from node.hub.auth import LoginThrottle, PasswordFile, Sessions
from node.hub.console.app import Console
from node.hub.events import EventBus
from node.hub.index import CorrelationIndex
from node.hub.settings import HubSettings
from node.hub.watcher import DirectorySource, NetworkWatcher, WatchSettings
from node.metrics import HUB_MEMBERS
from node.runtime import State
from node.storage.audit import verify_file
from node.storage.readonly import Reader
from node.transport import Transport
from schemas.errors import ConfigError, LaliError

log = structlog.get_logger("lali.hub")

TICK_S = 1.0
PRUNE_EVERY = timedelta(hours=1)
TERMS_BATCH = 200  # alerts per transaction when search terms are made for old alerts
TERMS_PAUSE_S = 0.05


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the hub's owner handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HubNode(bulletin.Sender, Protocol):
    """What the hub uses of its node (``node.runtime.Node``): identity and settings,
    lifecycle, trusted directory, database, sending, and the listener lists the hub
    joins."""

    @property
    def code(self) -> str:
        """The hub's member code."""
        ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """The node's clock."""
        ...

    @property
    def settings(self) -> NodeSettings:
        """The node's settings (database path, NATS connection, stream)."""
        ...

    @property
    def state(self) -> State:
        """Where the node is in its lifecycle."""
        ...

    @property
    def ready(self) -> asyncio.Event:
        """Set once the node is attached to the broker (stream and consumer in place)."""
        ...

    @property
    def trust(self) -> DirectorySource:
        """The directory the node trusts."""
        ...

    @property
    def inbound(self) -> Inbound:
        """The node's inbound pipeline (the hub listens to its decisions)."""
        ...

    @property
    def receipt_listeners(self) -> list[Callable[[ReceiptDecision], None]]:
        """Told of every receipt the node takes in."""
        ...


class Hub:
    """The hub's parts on top of its running node: watcher, index, monitor, console.

    ``console=False`` runs without the web console; ``clock`` defaults to the node's.
    """

    def __init__(
        self,
        node: HubNode,
        settings: HubSettings,
        *,
        console: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.node = node
        self.settings = settings
        self.code = node.code
        self._clock = clock or node.clock
        self.serve_console = console
        self.bus = EventBus()
        self.reader = Reader(node.settings.database)
        self.passwords = PasswordFile(settings.password_file)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self.url: str | None = None
        self.statuses: dict[str, str] = {}  # member -> liveness, as the monitor last saw it
        self.problems: dict[str, str] = {}  # part -> why it stopped (shown on the console)
        self._previous: dict[str, str] = {}
        self._checkpoints: tuple[int, int] | None = None
        self._pruned = self.now() - PRUNE_EVERY
        self.watcher: NetworkWatcher
        self.index: CorrelationIndex
        self._watch_transport: Transport
        self._started = False

    def now(self) -> datetime:
        """The hub's clock."""
        return self._clock()

    def directory(self) -> Directory:
        """The directory the hub's node trusts now."""
        return self.node.trust.directory

    async def start(self) -> None:
        """Attach to the running node: tables, parts, listeners, then the console."""
        if self.node.state is not State.RUNNING:
            raise RuntimeError("start the node before the hub")
        if self._started:
            raise RuntimeError("hub already started")
        if self.directory().member(self.code).role is not Role.HUB:
            raise ConfigError(f"{self.code} is not the hub in the directory (role hub)")
        self._started = True
        node, s = self.node, self.settings
        await store.create_tables(node.db)
        self._watch_transport = Transport(node.settings.connect_options("hub"))
        self.watcher = NetworkWatcher(
            self.code,
            self._watch_transport,
            node.trust,
            node.db,
            WatchSettings(
                stream=node.settings.stream,
                ack_wait_s=node.settings.ack_wait_s,
                max_deliver=node.settings.max_deliver,
                batch=node.settings.fetch_batch,
                lag_poll_s=s.lag_poll_s,
            ),
            attached=node.ready,
            bus=self.bus,
            clock=self.now,
            stopping=self._stopping,
        )
        self.index = CorrelationIndex(
            node.db,
            self.reader,
            window=timedelta(days=s.correlation_window_days),
            threshold=s.name_similarity,
            bus=self.bus,
            clock=self.now,
            stopping=self._stopping,
        )
        self.node.inbound.listeners.append(self.index.on_decision)
        self.node.receipt_listeners.append(self._on_receipt)
        self._spawn(self.watcher.run(), "hub-watcher")
        self._spawn(self.watcher.poll_lag(), "hub-lag")
        self._spawn(self.index.run(), "hub-index")
        self._spawn(self._monitor(), "hub-monitor")
        self._spawn(self._verify_at_start(), "hub-verify")
        self._spawn(self._backfill_terms(), "hub-terms")
        if self.serve_console:
            await self._start_console()
        log.info("hub_started", code=self.code, console=self.url)

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(self._guard(coro, name), name=name))

    async def _guard(self, coro: Any, name: str) -> None:
        """A failing part is logged and the rest of the hub runs on."""
        try:
            await coro
        except LaliError as exc:
            # E.g. the server refuses the watch consumer: say so on the console too.
            self.problems[name] = str(exc)
            log.error("hub_part_failed", part=name, reason=exc.reason, error=str(exc))
            self.bus.publish("status", part=name)

    def _on_receipt(self, decision: ReceiptDecision) -> None:
        if decision.outcome == "recorded":
            self.bus.publish(
                "receipt", message_id=decision.message_id, recipient=decision.recipient
            )

    # --- the console -------------------------------------------------------------------

    async def _start_console(self) -> None:
        s = self.settings
        sessions = Sessions(
            idle=timedelta(minutes=s.session_idle_min),
            max_age=timedelta(hours=s.session_max_h),
            clock=self.now,
        )
        console = Console(self, self.passwords, sessions, LoginThrottle(self.now))
        sock = socket.socket(socket.AF_INET6 if ":" in s.console_host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((s.console_host, s.console_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {s.console_host}:{s.console_port}: {exc}") from exc
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(
            console.app(),
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=str(s.tls_cert) if s.tls_cert else None,
            ssl_keyfile=str(s.tls_key) if s.tls_key else None,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _Server(config)
        port = sock.getsockname()[1]
        scheme = "https" if s.tls_cert else "http"
        host = f"[{s.console_host}]" if ":" in s.console_host else s.console_host
        self.url = f"{scheme}://{host}:{port}"
        server = self._server
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="hub-console"))

    # --- liveness, checkpoints, housekeeping -------------------------------------------

    async def _monitor(self) -> None:
        """Turn time passing into status changes (a member that stops beating goes
        late, then offline), and notice new checkpoints."""
        thresholds = liveness.Thresholds(
            self.settings.late_after_beats, self.settings.offline_after_beats
        )
        while not self._stopping.is_set():
            try:
                await self._tick(thresholds)
            except LaliError as exc:  # e.g. the database is busy: the next tick may pass
                log.warning("hub_monitor_failed", reason=exc.reason, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_S)

    async def _tick(self, thresholds: liveness.Thresholds) -> None:
        now = self.now()
        rows = await store.members(self.reader)
        current = {
            code: liveness.status(store.beat_of(rows.get(code)), now, thresholds)
            for code in self.directory().codes()
        }
        for code, state in current.items():
            was = self._previous.get(code)
            if was != state:
                if was is not None:
                    log.info("member_status", member=code, status=state, was=was)
                self.bus.publish("status", member=code, status=state)
        self._previous = current
        self.statuses = dict(current)
        for state in liveness.STATUSES:
            HUB_MEMBERS.labels(state).set(sum(1 for s in current.values() if s == state))
        seen = await store.checkpoint_mark(self.reader)
        if self._checkpoints is not None and seen != self._checkpoints:
            self.bus.publish("checkpoint", count=seen[0])
        self._checkpoints = seen
        if now - self._pruned >= PRUNE_EVERY:
            self._pruned = now
            keep = timedelta(days=self.settings.traffic_keep_days)
            await store.prune_traffic(self.node.db, keep, now)

    async def _verify_at_start(self) -> None:
        await self.verify_audit()

    async def _backfill_terms(self) -> None:
        """Search terms for the alerts indexed before the hub kept them: once, a small
        batch at a time, leaving the database to the intake in between."""
        while not self._stopping.is_set():
            if not await store.backfill_terms(self.node.db, self.reader, TERMS_BATCH):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TERMS_PAUSE_S)

    async def verify_audit(self) -> dict[str, Any]:
        """Check the hub's own audit chain (in a thread) and keep the result."""
        path = self.node.settings.database
        at = self.now().isoformat()
        try:
            chain = await asyncio.to_thread(verify_file, path)
            result: dict[str, Any] = {
                "ok": True,
                "count": chain.count,
                "head": chain.head.hex()[:16],
                "at": at,
            }
        except LaliError as exc:
            result = {"ok": False, "error": str(exc), "reason": exc.reason, "at": at}
            log.error("hub_audit_verify_failed", reason=exc.reason, error=str(exc))
        await store.set_state(self.node.db, "audit_verify", result)
        return result

    # --- bulletins ---------------------------------------------------------------------

    async def send_bulletin(self, draft: bulletin.Draft) -> SendResult:
        """Compose, check and send a bulletin; tell the console."""
        result = await bulletin.send(self.node, self.reader, draft)
        self.bus.publish("bulletin", message_id=result.message_id)
        return result

    # --- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the console and the hub's parts (the node stays up: drain it next)."""
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self.bus.close()
        if self._server is not None:
            self._server.should_exit = True
        with contextlib.suppress(ValueError):
            self.node.inbound.listeners.remove(self.index.on_decision)
        with contextlib.suppress(ValueError):
            self.node.receipt_listeners.remove(self._on_receipt)
        done, pending = await asyncio.wait(self._tasks, timeout=10.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.error("hub_task_failed", task=task.get_name(), error=f"{type(exc).__name__}")
        await self._watch_transport.close()
        if self._socket is not None:
            self._socket.close()
        log.info("hub_closed", code=self.code)
