"""Getting a node onto the broker: connect, create the stream (the hub), bind the
durable consumer the hub configured. Each is retried with backoff until it works or the
node stops; a refusal that waiting cannot cure is raised."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog

from node.exchange.consumers import filters_for, unsafe_filters
from node.exchange.policy import StreamPolicy
from node.protocol.subjects import STREAM_SUBJECTS
from node.transport.ports import ConsumerState, PulledMessage, TransportPort
from schemas.errors import TransportError

log = structlog.get_logger("lali.node")

FETCH_WAIT_S = 1.0  # how long one pull waits for messages; bounds the time to drain


async def connect_forever(transport: TransportPort, stopping: asyncio.Event) -> None:
    """Connect, retrying with backoff until it works or the node stops."""
    delay = 1.0
    while not stopping.is_set():
        try:
            await transport.connect()
            return
        except TransportError as exc:
            log.warning("connect_failed", error=str(exc), retry_in_s=delay)
        except asyncio.CancelledError:
            if stopping.is_set():
                return  # drain() cut a connection attempt short
            raise
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, 30.0)


async def ensure_stream(transport: TransportPort, s: StreamPolicy, stopping: asyncio.Event) -> None:
    """Create the stream (the hub's node; members neither create nor inspect it: they
    wait for their consumer instead, ``bind_consumer``)."""
    delay = 1.0
    while True:
        try:
            await transport.ensure_stream(
                s.stream,
                STREAM_SUBJECTS,
                duplicate_window_s=s.duplicate_window_s,
                replicas=s.replicas,
            )
            return
        except TransportError as exc:
            refusal = transport.last_refusal or ""
            if stopping.is_set() or "subscription to" in refusal.lower():
                # Refused even our own reply inbox: wrong credentials, not a wait.
                raise
            log.warning(
                "waiting_for_stream",
                stream=s.stream,
                error=str(exc),
                refused=transport.last_refusal,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, 30.0)


async def bind_consumer(
    transport: TransportPort, s: StreamPolicy, stopping: asyncio.Event
) -> AsyncIterator[Sequence[PulledMessage]] | None:
    """Bind our durable consumer as the hub configured it. We never create or change it
    (members may not: docs/security.md §5), so until it exists we wait with backoff and
    say so. A consumer whose filters would deliver dead letters is never consumed: a
    node that rejected its own dead letters would write them again, for ever. A timeout
    is retried; a refusal of our own consumer's subjects is final, and said loudly."""
    delay = 1.0
    while not stopping.is_set():
        try:
            state = await transport.consumer_state(s.stream, s.durable)
            if state is None:
                log.warning(
                    "waiting_for_consumer",
                    consumer=s.durable,
                    message=f"waiting for the hub to create consumer {s.durable}",
                    retry_in_s=delay,
                )
            elif unsafe := unsafe_filters(state.filters):
                log.error(
                    "consumer_unsafe",
                    consumer=s.durable,
                    filters=list(state.filters),
                    message=f"consumer {s.durable} would deliver dead letters ({unsafe}):"
                    " not consuming it until the hub configures it again",
                    retry_in_s=delay,
                )
            else:
                _compare_settings(state, s)
                return await transport.bind_pull(
                    s.stream, s.durable, batch=s.fetch_batch, fetch_timeout_s=FETCH_WAIT_S
                )
        except TransportError as exc:
            refusal = (transport.last_refusal or "").lower()
            if s.durable.lower() in refusal or "subscription to" in refusal:
                raise  # our own consumer or inbox refused: credentials, not a wait
            if "timeout" not in str(exc).lower():
                raise
            log.warning("consumer_bind_retry", error=str(exc), retry_in_s=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, 30.0)
    return None


def _compare_settings(state: ConsumerState, s: StreamPolicy) -> None:
    """The broker redelivers as the hub's consumer says; our node.toml should agree, or
    a deferred message stops being redelivered before we treat a delivery as its last."""
    if (state.ack_wait_s, state.max_deliver) != (s.ack_wait_s, s.max_deliver):
        log.warning(
            "consumer_settings_differ",
            consumer=s.durable,
            hub_ack_wait_s=state.ack_wait_s,
            hub_max_deliver=state.max_deliver,
            ack_wait_s=s.ack_wait_s,
            max_deliver=s.max_deliver,
            message="set ack_wait_s and max_deliver in node.toml to the hub's",
        )


def consumer_filters(s: StreamPolicy) -> list[str]:
    """Our topics (from node.toml), our receipts and every member's checkpoints: the
    filters the hub gives our consumer when the directory lists the same topics
    (``consumers.filters_for``)."""
    return list(filters_for(s.code, (t.value for t in s.topics)))
