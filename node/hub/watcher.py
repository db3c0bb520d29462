"""The hub's view of the whole network: traffic metadata, heartbeats and lag.

It runs on its own NATS connection with the hub's credentials, so what it can see is
exactly what the hub's server permissions allow (``node/ops/natsconfig.py``):

- traffic: its own durable consumer ``watch-<CODE>`` over alerts and receipts. Each
  envelope is *verified* (signature and identity, with public keys only) and its clear
  header recorded: sender, topic, TLP, priority, size, number of recipients, times.
  Nothing is decrypted here; content reaches the hub only through its node's inbox,
  for alerts addressed to it.
- liveness: the signed heartbeats on ``lali.heartbeat.*`` (core NATS).
- lag: every member's durable consumer state, polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from keys import Directory
from node.hub import store
from node.hub.events import EventBus
from node.metrics import CONSUMER_LAG
from node.protocol.envelope import verify
from node.protocol.heartbeat import verify_heartbeat
from node.protocol.receipt import verify_receipt
from node.protocol.subjects import (
    ALERT_PREFIX,
    HEARTBEAT_PREFIX,
    RECEIPT_PREFIX,
    heartbeat_member,
    is_receipt_subject,
    parse_alert_subject,
    parse_receipt_subject,
)
from node.storage.database import Database
from node.transport import Delivery, Transport
from schemas.errors import LaliError, SenderMismatch, TransportError, UntrustedMessage

log = structlog.get_logger("lali.hub.watcher")

WATCH_FILTERS = [f"{ALERT_PREFIX}.>", f"{RECEIPT_PREFIX}.>"]
# Metadata of history is judged at the time the broker stored it, not today: an alert
# that expired last week was valid when it travelled.
_HISTORY_AGE = timedelta(days=3650)


def describe(
    subject: str,
    data: bytes,
    stream_seq: int,
    stored_at: datetime | None,
    directory: Directory,
    now: datetime,
) -> store.TrafficRow:
    """The clear-header metadata of one stream message, verified (no decryption)."""
    at = stored_at or now
    if is_receipt_subject(subject):
        return _describe_receipt(subject, data, stream_seq, stored_at, directory, at)
    try:
        topic, sender = parse_alert_subject(subject)
    except UntrustedMessage as exc:
        return store.TrafficRow(
            stream_seq, "alert", subject, None, None, None, None, None, len(data), None,
            None, None, stored_at, exc.reason,
        )  # fmt: skip
    try:
        verified = verify(
            data,
            directory,
            at,
            subject_sender=sender,
            subject_topic=topic,
            received_at=stored_at,
            max_age=_HISTORY_AGE,
        )
    except UntrustedMessage as exc:
        # Only what the subject claims (the server checked the sender's right to it).
        return store.TrafficRow(
            stream_seq, "alert", subject, sender, None, topic.value, None, None, len(data),
            None, None, None, stored_at, exc.reason,
        )  # fmt: skip
    h = verified.header
    return store.TrafficRow(
        stream_seq=stream_seq,
        kind="alert",
        subject=subject,
        sender=h.sender,
        peer=None,
        topic=h.topic.value,
        tlp=h.tlp.value,
        priority=h.priority.value,
        size=len(data),
        recipients=len(verified.frame.wraps),
        message_id=h.message_id,
        sent_at=h.sent_at,
        stored_at=stored_at,
        status="verified",
    )


def _describe_receipt(
    subject: str,
    data: bytes,
    stream_seq: int,
    stored_at: datetime | None,
    directory: Directory,
    at: datetime,
) -> store.TrafficRow:
    try:
        sender, recipient = parse_receipt_subject(subject)
        receipt = verify_receipt(data, directory, at)
        if (receipt.sender, receipt.recipient) != (sender, recipient):
            raise SenderMismatch("receipt subject and signer disagree")
    except UntrustedMessage as exc:
        return store.TrafficRow(
            stream_seq, "receipt", subject, None, None, None, None, None, len(data), None,
            None, None, stored_at, exc.reason,
        )  # fmt: skip
    return store.TrafficRow(
        stream_seq=stream_seq,
        kind="receipt",
        subject=subject,
        sender=recipient,  # who published the receipt
        peer=sender,
        topic=None,
        tlp=None,
        priority=None,
        size=len(data),
        recipients=None,
        message_id=receipt.message_id,
        sent_at=receipt.received_at,
        stored_at=stored_at,
        status="verified",
    )


class DirectorySource(Protocol):
    """The directory the hub's node trusts (``node.exchange.trust.Trust``)."""

    @property
    def directory(self) -> Directory:
        """The directory held now, without checks."""
        ...

    async def current(self, now: datetime) -> Directory:
        """The directory to verify with at ``now``; raises if it is unusable."""
        ...


@dataclass(frozen=True)
class WatchSettings:
    """Where the watcher reads (the node's stream and consumer limits) and how often it
    polls the members' consumers."""

    stream: str
    ack_wait_s: float
    max_deliver: int
    batch: int
    lag_poll_s: float


class NetworkWatcher:
    """Records network-wide metadata in the hub's tables and says what changed on the
    bus. ``transport`` is a connection of its own with the hub's credentials (its
    owner closes it); ``attached`` is set once the hub's node has its stream."""

    def __init__(
        self,
        code: str,
        transport: Transport,
        trust: DirectorySource,
        db: Database,
        settings: WatchSettings,
        *,
        attached: asyncio.Event,
        bus: EventBus,
        clock: Callable[[], datetime],
        stopping: asyncio.Event,
    ) -> None:
        self.code = code
        self.transport = transport
        self.trust = trust
        self.db = db
        self.settings = settings
        self.attached = attached
        self.bus = bus
        self.clock = clock
        self.stopping = stopping
        self.durable = f"watch-{code}"
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Connect, subscribe to heartbeats, then follow the stream until stopped."""
        await self._wait(self.attached)
        if self.stopping.is_set():
            return
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.transport.connect()
                break
            except TransportError as exc:
                log.warning("watcher_connect_failed", error=str(exc), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, 30.0)
        if self.stopping.is_set():
            return
        await self.transport.subscribe(f"{HEARTBEAT_PREFIX}.*", self._on_heartbeat)
        s = self.settings
        batches = await self.transport.durable_pull(
            s.stream,
            self.durable,
            WATCH_FILTERS,
            ack_wait_s=s.ack_wait_s,
            max_deliver=s.max_deliver,
            batch=s.batch,
            fetch_timeout_s=1.0,
        )
        self.ready.set()
        log.info("watcher_ready", consumer=self.durable)
        async for batch in batches:
            if batch:
                await self._record(batch)
            if self.stopping.is_set():
                break

    async def _wait(self, event: asyncio.Event) -> None:
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.stopping.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()

    async def _record(self, batch: list[Delivery]) -> None:
        now = self.clock()
        try:
            directory = await self.trust.current(now)
        except LaliError as exc:
            log.warning("watcher_directory_unusable", reason=exc.reason)
            return  # not acked: redelivered after AckWait
        rows = [
            describe(d.subject, d.data, d.stream_seq, d.stored_at, directory, now) for d in batch
        ]
        try:
            async with self.db.transaction() as tx:
                fresh = [row for row in rows if await store.insert_traffic(tx, row, now)]
        except LaliError as exc:
            log.warning("watcher_store_failed", reason=exc.reason, error=str(exc))
            return
        for delivery in batch:
            with contextlib.suppress(TransportError):
                await delivery.ack()
        for row in fresh:
            self.bus.publish(
                "traffic",
                kind=row.kind,
                sender=row.sender,
                topic=row.topic,
                status=row.status,
                seq=row.stream_seq,
            )
            if row.kind == "receipt" and row.peer == self.code:
                self.bus.publish("receipt", message_id=row.message_id, recipient=row.sender)

    async def _on_heartbeat(self, subject: str, data: bytes) -> None:
        now = self.clock()
        try:
            directory = await self.trust.current(now)
            beat = verify_heartbeat(data, directory, heartbeat_member(subject))
            if not await store.record_heartbeat(self.db, beat, now):
                log.warning("heartbeat_replayed", member=beat.member)
                return
        except UntrustedMessage as exc:
            log.warning("heartbeat_rejected", subject=subject, reason=exc.reason)
            return
        except LaliError as exc:
            log.warning("heartbeat_not_recorded", reason=exc.reason, error=str(exc))
            return
        self.bus.publish("heartbeat", member=beat.member, stopping=int(beat.stopping))

    async def poll_lag(self) -> None:
        """Every ``lag_poll_s``: each member's durable consumer, as JetStream sees it."""
        await self._wait(self.ready)
        while not self.stopping.is_set():
            try:
                await self._lag_once()
            except LaliError as exc:
                log.warning("lag_poll_failed", reason=exc.reason, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.lag_poll_s)

    async def _lag_once(self) -> None:
        if not self.transport.connected.is_set():
            return
        stream = self.settings.stream
        members = self.trust.directory.codes()
        lags = {
            code: await self.transport.consumer_state(stream, f"node-{code}") for code in members
        }
        await store.record_lag(self.db, lags, self.clock())
        for code, state in lags.items():
            if state is not None:
                CONSUMER_LAG.labels(self.code, f"node-{code}").set(state.pending)
        self.bus.publish("lag")
