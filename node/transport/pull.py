"""Durable pull consumers: configuring them (the hub), binding to them (every node),
fetching, and their position."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from node.transport.errors import nats_errors

log = structlog.get_logger("lali.transport")


@dataclass(frozen=True)
class ConsumerState:
    """A durable consumer's position, from JetStream consumer info."""

    pending: int  # in the stream, matching its filter, not yet delivered
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int
    delivered_seq: int  # last stream sequence delivered
    # How the broker has it configured (the hub sets these; a member only reads them).
    # No filter at all would mean every subject of the stream.
    filters: tuple[str, ...] = ()
    ack_wait_s: float | None = None
    max_deliver: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One message pulled from a durable consumer."""

    subject: str
    data: bytes
    num_delivered: int
    stream_seq: int
    stored_at: datetime | None  # when the broker stored it (revocation is judged by it)
    _msg: Msg

    async def ack(self) -> None:
        with nats_errors("ack"):
            await self._msg.ack()

    async def nak(self, delay: float | None = None) -> None:
        with nats_errors("nak"):
            await self._msg.nak(delay=delay)

    async def term(self) -> None:
        with nats_errors("term"):
            await self._msg.term()

    async def in_progress(self) -> None:
        with nats_errors("in_progress"):
            await self._msg.in_progress()


async def ensure(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subjects: Sequence[str],
    *,
    ack_wait_s: float,
    max_deliver: int,
    max_ack_pending: int,
) -> None:
    """Create a durable pull consumer, or update it to exactly this configuration (its
    position is kept). The hub does this for every member's consumer."""
    if not filter_subjects:
        raise ValueError(f"consumer {durable}: no filter would deliver the whole stream")
    config = ConsumerConfig(
        name=durable,
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=max_deliver,
        filter_subjects=list(filter_subjects),
        max_ack_pending=max_ack_pending,
    )
    with nats_errors(f"configuring consumer {durable}"):
        await js.add_consumer(stream, config)


async def bind(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subjects: Sequence[str],
    *,
    ack_wait_s: float,
    max_deliver: int,
    batch: int,
) -> JetStreamContext.PullSubscription:
    """Create (or update) a durable pull consumer of our own and bind to it (the hub's
    console consumer; members' consumers are bound with ``bind_existing``)."""
    await ensure(
        js,
        stream,
        durable,
        filter_subjects,
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
        max_ack_pending=max(1000, batch * 4),
    )
    return await bind_existing(js, stream, durable)


async def bind_existing(
    js: JetStreamContext, stream: str, durable: str
) -> JetStreamContext.PullSubscription:
    """Bind to a durable pull consumer that exists, as it is configured: nothing is
    created or changed (a member may not; the hub owns the consumers)."""
    with nats_errors(f"binding consumer {durable}"):
        return await js.pull_subscribe_bind(durable=durable, stream=stream)


async def batches(
    sub: JetStreamContext.PullSubscription, batch: int, timeout: float
) -> AsyncIterator[list[Delivery]]:
    """Yield fetched batches forever (an empty one when a fetch times out or fails)."""
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            yield []
            continue
        except nats.errors.Error as exc:
            log.warning("fetch_failed", error=f"{type(exc).__name__}: {exc}")
            yield []
            await asyncio.sleep(1.0)  # back off while the link recovers
            continue
        yield [
            Delivery(
                subject=m.subject,
                data=m.data,
                num_delivered=m.metadata.num_delivered or 1,
                stream_seq=m.metadata.sequence.stream,
                stored_at=m.metadata.timestamp,
                _msg=m,
            )
            for m in msgs
        ]


async def consumer_state(js: JetStreamContext, stream: str, durable: str) -> ConsumerState | None:
    """How far behind a durable consumer is (None if it does not exist yet)."""
    with nats_errors(f"reading consumer {durable}"):
        try:
            info = await js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            return None
    delivered = info.delivered.stream_seq if info.delivered else None
    config = info.config
    filters = list(config.filter_subjects or [])
    if config.filter_subject:
        filters.append(config.filter_subject)
    return ConsumerState(
        pending=int(info.num_pending or 0),
        ack_pending=int(info.num_ack_pending or 0),
        redelivered=int(info.num_redelivered or 0),
        delivered_seq=int(delivered or 0),
        filters=tuple(filters),
        ack_wait_s=config.ack_wait,
        max_deliver=config.max_deliver,
    )


async def pending(js: JetStreamContext, stream: str, durable: str) -> int:
    """Messages in the stream not yet delivered to this consumer."""
    with nats_errors(f"reading consumer {durable}"):
        info = await js.consumer_info(stream, durable)
    return int(info.num_pending or 0)
