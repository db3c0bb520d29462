"""Getting a node onto the broker: connect, find (or create) the stream, bind the
durable consumer. Each is retried with backoff until it works or the node stops; a
refusal that waiting cannot cure is raised."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog

from keys import Role
from node.exchange.policy import StreamPolicy
from node.exchange.trust import Trust
from node.protocol.subjects import STREAM_SUBJECTS, checkpoint_subject, receipt_filter, topic_filter
from node.transport.ports import PulledMessage, TransportPort
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
    """Create the stream, or wait for the hub to: members may not create it."""
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
    transport: TransportPort,
    s: StreamPolicy,
    filters: list[str],
    stopping: asyncio.Event,
) -> AsyncIterator[Sequence[PulledMessage]] | None:
    """Bind our durable consumer. A timeout (a cluster still electing its leaders, a
    busy server) is retried with backoff; a refusal is final and said loudly."""
    delay = 1.0
    while not stopping.is_set():
        try:
            return await transport.durable_pull(
                s.stream,
                s.durable,
                filters,
                ack_wait_s=s.ack_wait_s,
                max_deliver=s.max_deliver,
                batch=s.fetch_batch,
                fetch_timeout_s=FETCH_WAIT_S,
            )
        except TransportError as exc:
            if "timeout" not in str(exc).lower():
                raise
            log.warning("consumer_bind_retry", error=str(exc), retry_in_s=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, 30.0)
    return None


def consumer_filters(s: StreamPolicy, trust: Trust) -> list[str]:
    """Our topics, our receipts, and (at the hub) every member's checkpoints."""
    subjects = [*(topic_filter(t) for t in s.topics), receipt_filter(s.code)]
    if trust.directory.member(s.code).role is Role.HUB:
        subjects.append(checkpoint_subject("*"))
    return subjects
