"""An in-memory stream simulator behind ``node.transport.ports.TransportPort``.

The role python-tuf's ``RepositorySimulator`` plays for its updater: the pipelines run
against it unchanged, and a test can look at everything the broker saw and hurt the
link on purpose.

``Broker`` is the server side, shared by the nodes of a test: JetStream streams (ordered,
sequence numbers from 1, ``Nats-Msg-Id`` de-duplication within the stream's window),
durable pull consumers (filters, redelivery after a nak's delay or after AckWait,
``max_deliver``, pending counts), key-value buckets and captured core-NATS messages.
Each ``FakeTransport`` is one node's connection to it; ``link_down``/``link_up`` cut
and restore it, ``refuse_publishes`` and ``lose_pubacks`` make publishes fail.

Time is the broker's clock (a ``ManualClock`` the test moves), never the event loop's:
a nak with a delay of 4 s is due again once the test has advanced the clock by 4 s.

Deliberately not modelled: permissions and refusals other than the injected ones,
stream limits (sizes, retention, max_ack_pending), sourcing between streams, ordering
of concurrent pipelined publishes (this one issues them one at a time, a behaviour the
real contract allows), a PubAck timeout taking real time, and closing semantics beyond
"every call fails".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from node.transport.ports import ConsumerState, Publication, TransportPort
from schemas.errors import TransportError

Settle = Literal["ack", "nak", "term", "in_progress"]


class ManualClock:
    """A clock that moves only when told: ``clock()`` is now."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True)
class Stored:
    """One message in a stream."""

    seq: int
    subject: str
    data: bytes
    msg_id: str | None
    headers: Mapping[str, str]
    stored_at: datetime


@dataclass(frozen=True)
class Settlement:
    """What a consumer told the broker about one delivery."""

    how: Settle
    durable: str
    stream_seq: int
    subject: str
    num_delivered: int
    delay: float | None = None


@dataclass
class Stream:
    name: str
    subjects: list[str]
    duplicate_window: timedelta
    messages: list[Stored] = field(default_factory=list)  # messages[i].seq == i + 1
    _by_id: dict[str, Stored] = field(default_factory=dict)

    def takes(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.subjects)

    def store(
        self,
        subject: str,
        data: bytes,
        msg_id: str | None,
        headers: Mapping[str, str],
        at: datetime,
    ) -> tuple[Stored, bool]:
        """Append, unless ``msg_id`` was stored within the window; (message, is new)."""
        if msg_id is not None:
            earlier = self._by_id.get(msg_id)
            if earlier is not None and at - earlier.stored_at < self.duplicate_window:
                return earlier, False  # the PubAck names the first copy's sequence
        stored = Stored(len(self.messages) + 1, subject, data, msg_id, dict(headers), at)
        self.messages.append(stored)
        if msg_id is not None:
            self._by_id[msg_id] = stored
        return stored, True


@dataclass
class _Lease:
    num_delivered: int
    due: datetime  # delivered again from then on, unless settled


@dataclass
class DurableConsumer:
    """A durable pull consumer with explicit acks."""

    name: str
    stream: Stream
    filters: list[str]
    ack_wait: timedelta
    max_deliver: int
    cursor: int = 0  # the last stream sequence delivered for the first time
    leases: dict[int, _Lease] = field(default_factory=dict)  # delivered, not acked/termed

    def matches(self, subject: str) -> bool:
        return any(subject_matches(f, subject) for f in self.filters)

    def pending(self) -> int:
        return sum(1 for m in self.stream.messages[self.cursor :] if self.matches(m.subject))

    def fetch(self, batch: int, now: datetime) -> list[tuple[Stored, int]]:
        """Due redeliveries first (oldest first), then new messages in stream order."""
        out: list[tuple[Stored, int]] = []
        for seq in sorted(self.leases):
            lease = self.leases[seq]
            if len(out) < batch and lease.due <= now and lease.num_delivered < self.max_deliver:
                lease.num_delivered += 1
                lease.due = now + self.ack_wait
                out.append((self.stream.messages[seq - 1], lease.num_delivered))
        for message in self.stream.messages[self.cursor :]:
            if len(out) >= batch:
                break
            self.cursor = message.seq
            if self.matches(message.subject):
                self.leases[message.seq] = _Lease(1, now + self.ack_wait)
                out.append((message, 1))
        return out

    def settle(self, seq: int, how: Settle, delay: float | None, now: datetime) -> None:
        lease = self.leases.get(seq)
        if how in ("ack", "term"):
            self.leases.pop(seq, None)
        elif lease is not None and how == "nak":
            lease.due = now + timedelta(seconds=delay or 0.0)
        elif lease is not None:  # in_progress: AckWait starts again
            lease.due = now + self.ack_wait


@dataclass
class _Bucket:
    revision: int = 0
    entries: list[tuple[int, str, bytes]] = field(default_factory=list)  # oldest first


KV_HISTORY = 16  # values kept per key, as the directory bucket is created


class Broker:
    """The server side, shared by every ``FakeTransport`` of a test."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.streams: dict[str, Stream] = {}
        self.consumers: dict[tuple[str, str], DurableConsumer] = {}
        self.buckets: dict[str, _Bucket] = {}
        self.core: list[tuple[str, bytes]] = []  # core NATS publishes, in order
        self.settlements: list[Settlement] = []  # every ack/nak/term/in_progress, in order
        # Observers, called synchronously as it happens (e.g. to look at the database
        # at the moment of an ack).
        self.on_store: list[Callable[[Stored], None]] = []
        self.on_settle: list[Callable[[Settlement], None]] = []
        self._changed = asyncio.Event()

    def add_stream(
        self, name: str, subjects: Sequence[str], duplicate_window_s: float = 120.0
    ) -> Stream:
        stream = Stream(name, list(subjects), timedelta(seconds=duplicate_window_s))
        self.streams[name] = stream
        return stream

    def stream(self, name: str) -> Stream:
        try:
            return self.streams[name]
        except KeyError:
            raise TransportError(f"stream {name} refused by the server: not found") from None

    def messages(self, pattern: str = ">") -> list[Stored]:
        """Every stored message whose subject matches ``pattern``, stream by stream."""
        return [
            m
            for s in self.streams.values()
            for m in s.messages
            if subject_matches(pattern, m.subject)
        ]

    def store(
        self, subject: str, data: bytes, msg_id: str | None, headers: Mapping[str, str]
    ) -> int:
        """What a JetStream publish does at the server; returns the PubAck's sequence."""
        stream = next((s for s in self.streams.values() if s.takes(subject)), None)
        if stream is None:
            raise TransportError(f"publishing {msg_id} failed: no stream takes {subject!r}")
        stored, new = stream.store(subject, data, msg_id, headers, self.clock())
        if new:
            for listener in self.on_store:
                listener(stored)
            self.notify()
        return stored.seq

    def settle(self, delivery: FakeDelivery, how: Settle, delay: float | None = None) -> None:
        consumer = delivery.consumer
        consumer.settle(delivery.stream_seq, how, delay, self.clock())
        record = Settlement(
            how, consumer.name, delivery.stream_seq, delivery.subject, delivery.num_delivered, delay
        )
        self.settlements.append(record)
        for listener in self.on_settle:
            listener(record)

    def notify(self) -> None:
        """Wake whoever waits for a new message, a new value or a link change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


@dataclass(frozen=True, eq=False)
class FakeDelivery:
    """One pulled message (``node.transport.ports.PulledMessage``)."""

    subject: str
    data: bytes
    num_delivered: int
    stream_seq: int
    stored_at: datetime | None
    consumer: DurableConsumer = field(repr=False)
    via: FakeTransport = field(repr=False)

    async def ack(self) -> None:
        self.via.settle(self, "ack")

    async def nak(self, delay: float | None = None) -> None:
        self.via.settle(self, "nak", delay)

    async def term(self) -> None:
        self.via.settle(self, "term")

    async def in_progress(self) -> None:
        self.via.settle(self, "in_progress")


class FakeTransport:
    """One node's connection to a ``Broker`` (``node.transport.ports.TransportPort``).

    ``idle_ends_pull``: a fetch that finds nothing due ends the batches (so a test runs
    a consumer loop to quiescence with one await); otherwise it yields an empty batch
    after ``fetch_timeout_s`` of nothing, forever, as the real one does.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        on_reconnect: Callable[[], None] | None = None,
        idle_ends_pull: bool = True,
    ) -> None:
        self.broker = broker
        self.idle_ends_pull = idle_ends_pull
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.last_refusal: str | None = None
        self.attempts: list[Publication] = []  # every JetStream publish issued, in order
        self._on_reconnect = on_reconnect
        self._reachable = True
        self._open = False  # connect() succeeded and close() was not called since
        self._faults: collections.deque[Literal["refuse", "lose_ack"]] = collections.deque()

    # -- the test's levers --------------------------------------------------------

    def link_down(self) -> None:
        """Cut the link: every call fails with ``TransportError`` until ``link_up``."""
        self._reachable = False
        self.connected.clear()
        self.disconnected.set()
        self.broker.notify()

    def link_up(self) -> None:
        """Restore the link; a connection that was open reconnects (``on_reconnect``)."""
        self._reachable = True
        if self._open:
            self.disconnected.clear()
            self.connected.set()
            if self._on_reconnect is not None:
                self._on_reconnect()
        self.broker.notify()

    def refuse_publishes(self, n: int = 1) -> None:
        """The next ``n`` JetStream publishes are refused: not stored, an error."""
        self._faults.extend(["refuse"] * n)

    def lose_pubacks(self, n: int = 1) -> None:
        """The next ``n`` JetStream publishes are stored but their PubAck never comes."""
        self._faults.extend(["lose_ack"] * n)

    # -- Link ---------------------------------------------------------------------

    def _require_link(self, action: str) -> None:
        if not (self._open and self._reachable):
            raise TransportError(f"{action} failed: the link is down")

    async def connect(self) -> None:
        if not self._reachable:
            raise TransportError("connecting to the fake broker failed: unreachable")
        self._open = True
        self.disconnected.clear()
        self.connected.set()

    async def close(self) -> None:
        self._open = False
        self.connected.clear()
        self.broker.notify()

    # -- StreamPublisher ----------------------------------------------------------

    async def publish(
        self,
        subject: str,
        data: bytes,
        msg_id: str,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> int:
        self._require_link(f"publishing {msg_id}")
        self.attempts.append(Publication(subject, data, msg_id))
        fault = self._faults.popleft() if self._faults else None
        if fault == "refuse":
            raise TransportError(f"publishing {msg_id} refused by the server: injected")
        seq = self.broker.store(subject, data, msg_id, headers or {})
        if fault == "lose_ack":
            raise TransportError(f"publishing {msg_id} failed: no PubAck in {timeout:g} s")
        return seq

    async def publish_pipelined(
        self, items: Sequence[Publication], *, window: int, timeout: float = 10.0
    ) -> list[int | TransportError | None]:
        results: list[int | TransportError | None] = [None] * len(items)
        for i, item in enumerate(items):
            if not self.connected.is_set():
                break  # never issued: None
            try:
                results[i] = await self.publish(item.subject, item.data, item.msg_id, timeout)
            except TransportError as exc:
                results[i] = exc
                break
        return results

    # -- StreamConsumer -----------------------------------------------------------

    async def ensure_stream(
        self, name: str, subjects: Sequence[str], *, duplicate_window_s: float, replicas: int = 1
    ) -> None:
        self._require_link(f"creating stream {name}")
        existing = self.broker.streams.get(name)
        if existing is None:
            self.broker.add_stream(name, subjects, duplicate_window_s)
            return
        missing = set(subjects) - set(existing.subjects)
        if missing:
            raise TransportError(f"stream {name} exists but does not carry {sorted(missing)}")

    async def durable_pull(
        self,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        *,
        ack_wait_s: float,
        max_deliver: int,
        batch: int,
        fetch_timeout_s: float = 2.0,
    ) -> AsyncIterator[list[FakeDelivery]]:
        self._require_link(f"binding consumer {durable}")
        the_stream = self.broker.stream(stream)
        consumer = self.broker.consumers.get((stream, durable))
        if consumer is None:
            consumer = DurableConsumer(
                durable, the_stream, [], timedelta(seconds=ack_wait_s), max_deliver
            )
            self.broker.consumers[(stream, durable)] = consumer
        # A durable keeps its position across binds; the settings follow the last bind.
        consumer.filters = list(filter_subjects)
        consumer.ack_wait = timedelta(seconds=ack_wait_s)
        consumer.max_deliver = max_deliver
        return self._batches(consumer, batch, fetch_timeout_s)

    async def bind_pull(
        self, stream: str, durable: str, *, batch: int, fetch_timeout_s: float = 2.0
    ) -> AsyncIterator[list[FakeDelivery]]:
        consumer = self._consumer(stream, durable)
        if consumer is None:
            raise TransportError(f"binding consumer {durable} refused by the server: not found")
        return self._batches(consumer, batch, fetch_timeout_s)

    async def _batches(
        self, consumer: DurableConsumer, batch: int, fetch_timeout_s: float
    ) -> AsyncIterator[list[FakeDelivery]]:
        while True:
            if not self.connected.is_set():
                if self.idle_ends_pull:
                    return
                await self.broker.wait_changed(fetch_timeout_s)
                yield []  # a fetch on a dead link fails: an empty batch
                continue
            fetched = consumer.fetch(batch, self.broker.clock())
            if fetched:
                yield [
                    FakeDelivery(m.subject, m.data, n, m.seq, m.stored_at, consumer, self)
                    for m, n in fetched
                ]
            elif self.idle_ends_pull:
                return
            else:
                await self.broker.wait_changed(fetch_timeout_s)
                yield []

    def settle(self, delivery: FakeDelivery, how: Settle, delay: float | None = None) -> None:
        self._require_link(how)
        self.broker.settle(delivery, how, delay)

    def _consumer(self, stream: str, durable: str) -> DurableConsumer | None:
        self._require_link(f"reading consumer {durable}")
        return self.broker.consumers.get((stream, durable))

    async def pending(self, stream: str, durable: str) -> int:
        consumer = self._consumer(stream, durable)
        if consumer is None:
            raise TransportError(f"reading consumer {durable} refused by the server: not found")
        return consumer.pending()

    async def consumer_state(self, stream: str, durable: str) -> ConsumerState | None:
        consumer = self._consumer(stream, durable)
        if consumer is None:
            return None
        return ConsumerState(
            pending=consumer.pending(),
            ack_pending=len(consumer.leases),
            redelivered=sum(1 for lease in consumer.leases.values() if lease.num_delivered > 1),
            delivered_seq=consumer.cursor,
            filters=tuple(consumer.filters),
            ack_wait_s=consumer.ack_wait.total_seconds(),
            max_deliver=consumer.max_deliver,
        )

    async def last_message(self, stream: str, subject: str) -> bytes | None:
        self._require_link(f"reading {subject}")
        found = [m for m in self.broker.stream(stream).messages if m.subject == subject]
        return found[-1].data if found else None

    # -- DirectoryBucket ----------------------------------------------------------

    async def ensure_kv(self, bucket: str, replicas: int = 1) -> None:
        self._require_link(f"creating bucket {bucket}")
        self.broker.buckets.setdefault(bucket, _Bucket())

    async def kv_put(self, bucket: str, key: str, value: bytes) -> int:
        await self.ensure_kv(bucket)
        b = self.broker.buckets[bucket]
        b.revision += 1
        b.entries.append((b.revision, key, value))
        held = [e for e in b.entries if e[1] == key]
        for old in held[: max(0, len(held) - KV_HISTORY)]:
            b.entries.remove(old)
        self.broker.notify()
        return b.revision

    async def kv_watch(self, bucket: str, key: str) -> AsyncIterator[tuple[int, bytes]]:
        seen = 0
        while True:
            self._require_link(f"watching {bucket}/{key}")
            b = self.broker.buckets.get(bucket)
            if b is None:
                raise TransportError(f"watching {bucket}/{key} refused by the server: no bucket")
            new = [(r, v) for r, k, v in b.entries if k == key and r > seen]
            for revision, value in new:
                seen = revision
                yield revision, value
            if not new:
                await self.broker.wait_changed(None)

    # -- CoreNats -----------------------------------------------------------------

    async def publish_core(self, subject: str, data: bytes) -> None:
        self._require_link(f"publishing on {subject}")
        self.broker.core.append((subject, data))


if TYPE_CHECKING:

    def _conforms(transport: FakeTransport) -> TransportPort:
        return transport  # mypy: the simulator satisfies the same port as Transport
