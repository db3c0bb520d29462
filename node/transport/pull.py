"""This member's durable pull consumer: binding, fetching, and its position."""

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
    """Create (or update) this member's durable pull consumer and bind to it."""
    config = ConsumerConfig(
        name=durable,
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=max_deliver,
        filter_subjects=list(filter_subjects),
        max_ack_pending=max(1000, batch * 4),
    )
    with nats_errors(f"binding consumer {durable}"):
        await js.add_consumer(stream, config)
        sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    return sub


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
    return ConsumerState(
        pending=int(info.num_pending or 0),
        ack_pending=int(info.num_ack_pending or 0),
        redelivered=int(info.num_redelivered or 0),
        delivered_seq=int(delivered or 0),
    )


async def pending(js: JetStreamContext, stream: str, durable: str) -> int:
    """Messages in the stream not yet delivered to this consumer."""
    with nats_errors(f"reading consumer {durable}"):
        info = await js.consumer_info(stream, durable)
    return int(info.num_pending or 0)
