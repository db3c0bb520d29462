"""What the pipelines use of the transport, as Protocols: the seam between
``node/exchange`` (and the runtime that composes it) and NATS.

``Transport`` in this package is the one implementation that talks to a server; the
unit tests put an in-memory stream simulator behind the same Protocols
(``tests/transportkit.py``). Each Protocol is narrow, so a pipeline can say which part
of the transport it needs; ``TransportPort`` is all of them, as the runtime holds it.

Signatures are copied from ``Transport``; ``_conforms`` below makes mypy check that it
still satisfies them. Nothing here imports nats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from node.transport.publish import Publication
from node.transport.pull import ConsumerState
from schemas.errors import TransportError

__all__ = [
    "ConsumerAdmin",
    "ConsumerState",
    "CoreNats",
    "DirectoryBucket",
    "Link",
    "Publication",
    "PulledMessage",
    "StreamConsumer",
    "StreamPublisher",
    "TransportPort",
]


@runtime_checkable
class PulledMessage(Protocol):
    """One message pulled from a durable consumer, settled exactly once by the consumer
    loop: ``ack`` (committed, or nothing to keep), ``term`` (rejected: never again),
    ``nak`` (again after ``delay`` seconds), ``in_progress`` (held: restart AckWait).
    Each settling call raises ``TransportError`` when the link cannot carry it."""

    @property
    def subject(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def num_delivered(self) -> int: ...

    @property
    def stream_seq(self) -> int: ...

    @property
    def stored_at(self) -> datetime | None:
        """When the broker stored it (revocation is judged by it)."""
        ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...

    async def in_progress(self) -> None: ...


@runtime_checkable
class Link(Protocol):
    """The connection itself: up or down, and why the server last refused us. (Who
    is told when the link comes back is given to the implementation's constructor.)"""

    @property
    def connected(self) -> asyncio.Event:
        """Set while the link is up."""
        ...

    @property
    def last_refusal(self) -> str | None:
        """The server's last permissions violation, to explain a failing request."""
        ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StreamPublisher(Protocol):
    """JetStream publishing, each message with its ``Nats-Msg-Id`` (the broker drops a
    second copy within its duplicate window)."""

    @property
    def connected(self) -> asyncio.Event: ...

    async def publish(
        self,
        subject: str,
        data: bytes,
        msg_id: str,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> int:
        """The stream sequence from the PubAck; ``TransportError`` if there is none."""
        ...

    async def publish_pipelined(
        self, items: Sequence[Publication], *, window: int, timeout: float = 10.0
    ) -> list[int | TransportError | None]:
        """Per item, in order: its stream sequence, the error that stopped it, or None
        when it was never issued (nothing is issued after a failure or while down)."""
        ...


@runtime_checkable
class StreamConsumer(Protocol):
    """The alert stream from the receiving side: create it, pull from this member's
    durable consumer, and read positions and last messages."""

    async def ensure_stream(
        self, name: str, subjects: Sequence[str], *, duplicate_window_s: float, replicas: int = 1
    ) -> None: ...

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
    ) -> AsyncIterator[Sequence[PulledMessage]]:
        """Bind (create or update) the durable consumer; then its batches, forever (an
        empty batch when a fetch brings nothing)."""
        ...

    async def bind_pull(
        self, stream: str, durable: str, *, batch: int, fetch_timeout_s: float = 2.0
    ) -> AsyncIterator[Sequence[PulledMessage]]:
        """Bind to a durable consumer as it exists, creating or changing nothing (the
        hub owns the members' consumers); then its batches, forever."""
        ...

    async def pending(self, stream: str, durable: str) -> int:
        """Messages in the stream not yet delivered to this consumer."""
        ...

    async def consumer_state(self, stream: str, durable: str) -> ConsumerState | None: ...

    async def last_message(self, stream: str, subject: str) -> bytes | None: ...


@runtime_checkable
class ConsumerAdmin(Protocol):
    """What the hub needs to own the members' durable consumers: create or update one
    to a given configuration. Not part of ``TransportPort``: only the hub (and the
    provisioning of local networks) configures consumers."""

    @property
    def last_refusal(self) -> str | None: ...

    async def ensure_consumer(
        self,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        *,
        ack_wait_s: float,
        max_deliver: int,
        max_ack_pending: int,
    ) -> None: ...


@runtime_checkable
class DirectoryBucket(Protocol):
    """The key-value bucket that carries the signed member directory."""

    async def ensure_kv(self, bucket: str, replicas: int = 1) -> None: ...

    async def kv_put(self, bucket: str, key: str, value: bytes) -> int:
        """Returns the bucket revision."""
        ...

    def kv_watch(self, bucket: str, key: str) -> AsyncIterator[tuple[int, bytes]]:
        """Every value of ``key`` still held, oldest first, then each new one."""
        ...


@runtime_checkable
class CoreNats(Protocol):
    """Fire-and-forget publishing on core NATS (not stored): heartbeats."""

    async def publish_core(self, subject: str, data: bytes) -> None: ...


@runtime_checkable
class TransportPort(Link, StreamPublisher, StreamConsumer, DirectoryBucket, CoreNats, Protocol):
    """Everything the node's pipelines and runtime use of the transport."""


if TYPE_CHECKING:
    from node.transport import Transport

    def _conforms(transport: Transport) -> TransportPort:
        return transport  # mypy: the real transport satisfies the port

    def _administers(transport: Transport) -> ConsumerAdmin:
        return transport
