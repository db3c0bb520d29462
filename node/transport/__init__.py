"""NATS/JetStream adapter: this package is the only place that imports nats.

Exceptions from nats-py are translated into ``TransportError`` at one boundary
(``errors.nats_errors``). ``publish`` pipelines JetStream publishes; ``pull`` is the
member's durable pull consumer; ``Transport`` here is the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from node.transport import pull
from node.transport.errors import CLOSE_STEP_S, nats_errors
from node.transport.publish import PubAcks, Publication, publish_pipelined
from node.transport.pull import ConsumerState, Delivery
from schemas.errors import ConfigError, TransportError

__all__ = [
    "CLOSE_STEP_S",
    "ConnectOptions",
    "ConsumerState",
    "Delivery",
    "Publication",
    "Transport",
]

log = structlog.get_logger("lali.transport")


@dataclass(frozen=True)
class ConnectOptions:
    url: str
    name: str
    # Replies (PubAcks, pulled messages) come to this prefix; per member, so the server
    # can let each member read only its own replies.
    inbox_prefix: str = "_INBOX"
    nkey_seed_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    reconnect_wait_s: float = 2.0
    # A one-shot command (audit verify, directory publish) fails fast when the server
    # cannot be reached; a node retries for ever.
    one_shot: bool = False


_SUB_PENDING = 1024
KV_POLL_S = 5.0  # how often a key-value reader looks for a value it was not woken for
_NO_MESSAGE_FOUND = 10037  # JetStream's error code for "no message found"


def _tls_eof_warning(record: logging.LogRecord) -> bool:
    """False for asyncio's "returning true from eof_received() has no effect when using
    ssl": nats-py upgrades a plain stream to TLS without telling the stream's protocol
    (nats-io/nats.py#574), so asyncio says this at every close of a TLS connection. It
    is harmless; without the filter every node and ``lali`` command would print it."""
    return not str(record.msg).startswith("returning true from eof_received()")


class Transport:
    """A connection to NATS that reconnects forever."""

    def __init__(
        self, options: ConnectOptions, *, on_reconnect: Callable[[], None] | None = None
    ) -> None:
        """``on_reconnect`` is called each time the link comes back (the node drains
        its outbox at once rather than at the next retry tick)."""
        self.options = options
        self._on_reconnect = on_reconnect
        self._nc: Client | None = None
        self._js: nats.js.JetStreamContext | None = None  # one per connection, reused
        self._acks: PubAcks | None = None  # the replies of pipelined publishes
        self._closing = False
        self._last_error, self._last_error_at, self._suppressed = "", 0.0, 0
        self._sub: nats.js.JetStreamContext.PullSubscription | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.last_refusal: str | None = None

    def _tls(self) -> ssl.SSLContext | None:
        """The TLS context: trust ``tls_ca`` alone (never the system's CAs, so only a
        certificate from the network's own CA passes), hostname checked; present a
        client certificate when one is configured."""
        o = self.options
        if o.tls_ca is None and o.tls_cert is None:
            return None
        try:
            ctx = ssl.create_default_context(cafile=str(o.tls_ca) if o.tls_ca else None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if o.tls_cert is not None:
                ctx.load_cert_chain(str(o.tls_cert), str(o.tls_key) if o.tls_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"NATS TLS files unusable: {exc}") from exc
        return ctx

    async def connect(self) -> None:
        o = self.options

        async def on_error(exc: Exception) -> None:
            # A link down for days retries every few seconds: say it once a minute.
            text = f"{type(exc).__name__}: {exc}"
            if "permissions violation" in text.lower():
                # The server refused us: keep it, so a failing request can say why.
                self.last_refusal = str(exc).strip()
            now = time.monotonic()
            if text == self._last_error and now - self._last_error_at < 60:
                self._suppressed += 1
                return
            log.warning("nats_error", error=text, repeated=self._suppressed)
            self._last_error, self._last_error_at, self._suppressed = text, now, 0

        async def on_disconnect() -> None:
            self.connected.clear()
            self.disconnected.set()
            if not self._closing:
                log.warning("nats_disconnected", url=o.url)

        async def on_reconnect() -> None:
            self.disconnected.clear()
            self.connected.set()
            if self._on_reconnect is not None:
                self._on_reconnect()
            log.info("nats_reconnected", url=o.url)

        servers = [u.strip() for u in o.url.split(",") if u.strip()]
        tls = self._tls()
        asyncio_log = logging.getLogger("asyncio")
        if _tls_eof_warning not in asyncio_log.filters:
            asyncio_log.addFilter(_tls_eof_warning)
        with nats_errors(f"connecting to {o.url}"):
            self._nc = await nats.connect(
                # Several servers (a cluster) may be listed, comma-separated.
                servers=servers,
                name=o.name,
                inbox_prefix=o.inbox_prefix,
                # nats-py gives up after 60 attempts by default; a satellite link
                # may be down for days, so never give up.
                max_reconnect_attempts=1 if o.one_shot else -1,
                reconnect_time_wait=int(max(1, o.reconnect_wait_s)),
                connect_timeout=5,
                allow_reconnect=not o.one_shot,
                nkeys_seed=str(o.nkey_seed_file) if o.nkey_seed_file else None,
                tls=tls,
                # With TLS configured, the handshake comes first (the servers have
                # handshake_first): nats-py would otherwise fall back to plain text for
                # a server, or an attacker on the path, whose INFO asks for no TLS.
                tls_handshake_first=tls is not None or any(u.startswith("tls://") for u in servers),
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            )
        self.connected.set()

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("transport not connected")
        return self._nc

    @property
    def js(self) -> nats.js.JetStreamContext:
        """The JetStream context of this connection (made once: its asynchronous
        publish replies share one subscription)."""
        if self._js is None:
            self._js = self.nc.jetstream()
        return self._js

    async def ensure_stream(
        self, name: str, subjects: Sequence[str], *, duplicate_window_s: float, replicas: int = 1
    ) -> None:
        """Create the alert stream if it is missing (file storage, de-dup window)."""
        js = self.nc.jetstream()
        config = StreamConfig(
            name=name,
            subjects=list(subjects),
            storage=StorageType.FILE,
            duplicate_window=duplicate_window_s,
            num_replicas=replicas,
            max_msg_size=1024 * 1024,
            # Direct get by subject: a member may read back its own checkpoints with a
            # permission scoped to that subject, not the whole stream.
            allow_direct=True,
        )
        with nats_errors(f"creating stream {name}"):
            try:
                info = await js.stream_info(name)
            except nats.js.errors.NotFoundError:
                await js.add_stream(config)
                log.info("stream_created", stream=name)
                return
        missing = set(subjects) - set(info.config.subjects or [])
        if missing:
            raise TransportError(f"stream {name} exists but does not carry {sorted(missing)}")

    async def publish(
        self,
        subject: str,
        data: bytes,
        msg_id: str,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> int:
        """Publish once with ``Nats-Msg-Id``; return the stream sequence from the PubAck."""
        with nats_errors(f"publishing {msg_id}"):
            ack = await self.js.publish(
                subject, data, timeout=timeout, headers={**(headers or {}), "Nats-Msg-Id": msg_id}
            )
        return int(ack.seq)

    async def publish_pipelined(
        self, items: Sequence[Publication], *, window: int, timeout: float = 10.0
    ) -> list[int | TransportError | None]:
        """Publish ``items`` in order, up to ``window`` PubAcks awaited at once (see
        ``node.transport.publish.publish_pipelined``)."""
        if self._acks is None:
            self._acks = PubAcks(self.nc)
        return await publish_pipelined(
            self._acks, self.connected, items, window=window, timeout=timeout
        )

    async def ensure_kv(self, bucket: str, replicas: int = 1) -> None:
        """Create the key-value bucket (file storage) if it is missing."""
        js = self.nc.jetstream()
        with nats_errors(f"creating bucket {bucket}"):
            try:
                await js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                await js.create_key_value(
                    bucket=bucket, history=16, storage=StorageType.FILE, replicas=replicas
                )

    async def kv_put(self, bucket: str, key: str, value: bytes) -> int:
        """Put ``value`` under ``key``, creating the bucket if needed."""
        await self.ensure_kv(bucket)
        with nats_errors(f"writing {bucket}/{key}"):
            kv = await self.nc.jetstream().key_value(bucket)
            return int(await kv.put(key, value))

    async def kv_watch(self, bucket: str, key: str) -> AsyncIterator[tuple[int, bytes]]:
        """Yield every value of ``key`` the bucket still holds, oldest first, then each
        new one (a node that slept through two root rotations must see both).

        Read with plain message gets on the bucket's stream, never through a consumer:
        whoever may create a consumer on a stream may make it a push consumer, and the
        server then delivers (and redelivers, as often as its ack wait says) to any
        subject named in the request, another client's inbox included: a flood a member
        could start and leave running. A core subscription to the key's subject wakes
        the reader the moment the hub puts a value; a poll every ``KV_POLL_S`` catches
        what a wake-up missed (a reconnect, or a leaf's mirror, where the put is not
        seen)."""
        stream, subject = f"KV_{bucket}", f"$KV.{bucket}.{key}"
        wake = asyncio.Event()

        async def on_put(msg: Msg) -> None:
            wake.set()

        with nats_errors(f"watching {bucket}/{key}"):
            sub = await self.nc.subscribe(subject, cb=on_put)
        seq = 0
        try:
            while True:
                wake.clear()
                while (found := await self._next_value(stream, subject, seq + 1)) is not None:
                    seq, data = found
                    if data:  # an empty value is a delete or purge marker
                        yield seq, data
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), KV_POLL_S)
        finally:
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(sub.unsubscribe()), CLOSE_STEP_S)

    async def _next_value(self, stream: str, subject: str, seq: int) -> tuple[int, bytes] | None:
        """The first message on ``subject`` at or after ``seq`` (a ``STREAM.MSG.GET``
        request), or None when there is none yet."""
        with nats_errors(f"reading {subject}"):
            try:
                msg = await self.js.get_msg(stream, seq=seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError as exc:
                if exc.err_code == _NO_MESSAGE_FOUND:
                    return None
                raise  # no such stream (yet): the caller retries
        return int(msg.seq or seq), bytes(msg.data or b"")

    async def ensure_consumer(
        self,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        *,
        ack_wait_s: float,
        max_deliver: int,
        max_ack_pending: int,
    ) -> None:
        """Create a durable pull consumer, or update it to exactly this configuration
        (the hub, for every member: node/exchange/consumers.py)."""
        await pull.ensure(
            self.js,
            stream,
            durable,
            filter_subjects,
            ack_wait_s=ack_wait_s,
            max_deliver=max_deliver,
            max_ack_pending=max_ack_pending,
        )

    async def last_message(self, stream: str, subject: str) -> bytes | None:
        """The newest message on ``subject`` in ``stream``, or None if there is none."""
        js = self.nc.jetstream()
        with nats_errors(f"reading {subject}"):
            try:
                msg = await js.get_last_msg(stream, subject, direct=True)
            except nats.js.errors.NotFoundError:
                return None
        return bytes(msg.data or b"")

    async def publish_core(self, subject: str, data: bytes) -> None:
        """Fire-and-forget on core NATS (not stored): heartbeats."""
        with nats_errors(f"publishing on {subject}"):
            await self.nc.publish(subject, data)

    async def subscribe(
        self, subject: str, handler: Callable[[str, bytes], Awaitable[None]]
    ) -> None:
        """Core NATS subscription; ``handler(subject, data)`` runs for each message in
        turn, at most ``_SUB_PENDING`` waiting (the rest are dropped by the client)."""

        async def on_msg(msg: Msg) -> None:
            await handler(msg.subject, bytes(msg.data or b""))

        with nats_errors(f"subscribing to {subject}"):
            await self.nc.subscribe(subject, cb=on_msg, pending_msgs_limit=_SUB_PENDING)

    async def consumer_state(self, stream: str, durable: str) -> ConsumerState | None:
        """How far behind a durable consumer is (None if it does not exist yet)."""
        return await pull.consumer_state(self.js, stream, durable)

    async def pending(self, stream: str, durable: str) -> int:
        """Messages in the stream not yet delivered to this consumer."""
        return await pull.pending(self.js, stream, durable)

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
    ) -> AsyncIterator[list[Delivery]]:
        """Create (or update) a durable pull consumer of our own and yield its batches,
        forever: the hub's console. A node binds with ``bind_pull`` instead."""
        self._sub = await pull.bind(
            self.js,
            stream,
            durable,
            filter_subjects,
            ack_wait_s=ack_wait_s,
            max_deliver=max_deliver,
            batch=batch,
        )
        return pull.batches(self._sub, batch, fetch_timeout_s)

    async def bind_pull(
        self, stream: str, durable: str, *, batch: int, fetch_timeout_s: float = 2.0
    ) -> AsyncIterator[list[Delivery]]:
        """Yield batches from a durable pull consumer that exists, forever. Nothing is
        created or changed: the consumer is as the hub configured it."""
        self._sub = await pull.bind_existing(self.js, stream, durable)
        return pull.batches(self._sub, batch, fetch_timeout_s)

    async def jetstream_api(
        self, request: str, payload: dict[str, Any] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """One JetStream API request (``$JS.API.<request>``) and its JSON answer as the
        server sent it, so that a stream configuration read and written back keeps every
        field the server knows (the link sidecar, node/ops/linkresync.py)."""
        body = json.dumps(payload).encode() if payload is not None else b""
        with nats_errors(f"JetStream request {request}"):
            msg = await self.nc.request(f"$JS.API.{request}", body, timeout=timeout)
        answer: dict[str, Any] = json.loads(msg.data or b"{}")
        error = answer.get("error")
        if error:
            raise TransportError(
                f"JetStream request {request} refused by the server: "
                f"{error.get('description', error)}",
                code=error.get("code"),
                err_code=error.get("err_code"),
            )
        return answer

    async def close(self) -> None:
        """Flush our acks and close. Not ``drain()``: a pull subscription with messages
        left in its queue would hold a drain until its timeout."""
        nc, self._nc = self._nc, None
        self._js = self._acks = None
        sub, self._sub = self._sub, None
        self._closing = True
        self.connected.clear()
        if nc is None or nc.is_closed:
            return
        # Every step is bounded: closing must never hang on a half-dead connection.
        try:
            if sub is not None:
                await asyncio.wait_for(asyncio.shield(sub.unsubscribe()), CLOSE_STEP_S)
            await asyncio.wait_for(asyncio.shield(nc.flush(timeout=5)), CLOSE_STEP_S)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("nats_flush_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            try:
                await asyncio.wait_for(asyncio.shield(nc.close()), CLOSE_STEP_S)
            except TimeoutError:
                log.warning("nats_close_timed_out")
