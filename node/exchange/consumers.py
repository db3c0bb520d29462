"""The members' durable consumers, owned by the hub.

A durable consumer's filter decides what the broker delivers to a node. While each
member created its own consumer it could also widen it: to every receipt subject
(``lali.receipt.<SENDER>.<RECIPIENT>`` names who received what, the recipient lists
the envelope hides) and to its own dead letters, which its node rejected and
dead-lettered again, for ever (8,160 messages in 10 s; 4.9 GB in 5 minutes). So the
hub configures every member's consumer from the signed directory, and a member may
only bind to it (``attach.bind_consumer``) and fetch and ack what it delivers
(``node/ops/natsconfig.py``).

The pure part (no I/O, tested without a server): ``filters_for``, ``consumer_specs``
and ``unsafe_filters``. The I/O: ``configure_consumers`` (one pass), and at the hub
``create_consumers`` (at start, before it binds its own) and ``keep_consumers`` (again
for each directory it adopts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from keys import Directory
from node.exchange.policy import StreamPolicy
from node.exchange.trust import Trust
from node.protocol.subjects import (
    checkpoint_subject,
    dead_letter_subject,
    receipt_filter,
    topic_filter,
)
from node.transport.ports import ConsumerAdmin
from schemas.alert import Topic
from schemas.errors import TransportError

log = structlog.get_logger("lali.consumers")

DEAD_LETTERS = dead_letter_subject("*")  # lali.dead.<CODE>: never delivered to any node


@dataclass(frozen=True)
class ConsumerSpec:
    """One member's durable consumer as the hub configures it."""

    durable: str
    filters: tuple[str, ...]
    ack_wait_s: float
    max_deliver: int
    max_ack_pending: int


def durable_name(code: str) -> str:
    """A member's durable consumer (``StreamPolicy.durable`` on its own node)."""
    return f"node-{code}"


def filters_for(code: str, topics: Iterable[str]) -> tuple[str, ...]:
    """What a node's consumer delivers: the alerts on its topics, the receipts for the
    alerts it sent (``lali.receipt.<CODE>.*``: a receipt is seen by the alert's sender
    only), and every member's checkpoints: each node witnesses every other's log (a
    member that signs two histories is caught by whoever sees both, not only by the hub).
    Never a dead letter."""
    subjects = [topic_filter(Topic(t)) for t in topics]
    subjects.append(receipt_filter(code))
    subjects.append(checkpoint_subject("*"))
    return tuple(subjects)


def consumer_specs(directory: Directory, policy: StreamPolicy) -> list[ConsumerSpec]:
    """One durable consumer per member of ``directory``: its topics from the directory,
    the redelivery settings from ``policy`` (the hub's own settings)."""
    specs = []
    for member in directory.members:
        filters = filters_for(member.code, member.topics)
        unsafe = unsafe_filters(filters)
        if unsafe:  # filters_for cannot produce one; this keeps it so
            raise RuntimeError(f"consumer filters would deliver dead letters: {unsafe}")
        specs.append(
            ConsumerSpec(
                durable=durable_name(member.code),
                filters=filters,
                ack_wait_s=policy.ack_wait_s,
                max_deliver=policy.max_deliver,
                max_ack_pending=max(1000, 4 * policy.fetch_batch),
            )
        )
    return specs


def unsafe_filters(filters: Iterable[str]) -> list[str]:
    """The filters that would deliver a dead letter (``lali.dead.<CODE>``), as a node
    checks its consumer before it consumes. No filter at all means the whole stream."""
    filters = list(filters)
    if not filters:
        return [">"]
    return [f for f in filters if _overlap(f, DEAD_LETTERS)]


def _overlap(a: str, b: str) -> bool:
    """True if some subject matches both NATS subject patterns ``a`` and ``b``."""
    ta, tb = a.split("."), b.split(".")
    for x, y in zip(ta, tb, strict=False):
        if ">" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(ta) == len(tb)


async def configure_consumers(
    admin: ConsumerAdmin, directory: Directory, policy: StreamPolicy
) -> list[ConsumerSpec]:
    """Create or update every member's consumer (its position is kept). A server that
    does not answer stops the pass; a refusal for one member does not stop the others,
    and is raised at the end, naming them."""
    specs = consumer_specs(directory, policy)
    refused: list[str] = []
    first: TransportError | None = None
    for spec in specs:
        try:
            await admin.ensure_consumer(
                policy.stream,
                spec.durable,
                spec.filters,
                ack_wait_s=spec.ack_wait_s,
                max_deliver=spec.max_deliver,
                max_ack_pending=spec.max_ack_pending,
            )
        except TransportError as exc:
            if "refused by the server" not in str(exc):
                raise  # no answer: the link or the cluster, not this member
            log.error("consumer_refused", consumer=spec.durable, error=str(exc))
            refused.append(spec.durable)
            first = first or exc
    if first is not None:
        raise TransportError(f"consumers {', '.join(refused)} not configured: {first}")
    log.info(
        "consumers_configured",
        stream=policy.stream,
        directory_version=directory.version,
        consumers=[spec.durable for spec in specs],
    )
    return specs


async def create_consumers(
    admin: ConsumerAdmin, trust: Trust, policy: StreamPolicy, stopping: asyncio.Event
) -> None:
    """The hub at start, before it binds its own consumer: every member's, from the
    directory in force. A server that does not answer (a cluster electing its leaders)
    is retried with backoff; a server that forbids the hub to create consumers is a
    configuration error, raised; a consumer the server refuses to change is logged
    (``keep_consumers`` tries again with the next directory)."""
    delay = 1.0
    while not stopping.is_set():
        try:
            await configure_consumers(admin, trust.directory, policy)
            return
        except TransportError as exc:
            if "consumer.create" in (admin.last_refusal or "").lower():
                raise  # the server's permissions: regenerate them (lali deploy nats-config)
            if "refused by the server" in str(exc):
                return  # said per consumer; the others are in place
            log.warning("consumers_retry", error=str(exc), retry_in_s=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, 30.0)


async def keep_consumers(
    admin: ConsumerAdmin,
    trust: Trust,
    policy: StreamPolicy,
    changed: asyncio.Event,
    stopping: asyncio.Event,
) -> None:
    """The hub, for as long as it runs: configure the consumers again each time
    ``changed`` is set (a directory adopted: a member added, its topics changed),
    retrying with backoff until a pass succeeds."""
    retry_in: float | None = None
    while not stopping.is_set():
        await _either(changed, stopping, retry_in)
        if stopping.is_set():
            return
        changed.clear()
        try:
            await configure_consumers(admin, trust.directory, policy)
            retry_in = None
        except TransportError as exc:
            retry_in = min(2 * (retry_in or 0.5), 30.0)
            log.warning("consumers_retry", error=str(exc), retry_in_s=retry_in)


async def _either(a: asyncio.Event, b: asyncio.Event, timeout: float | None) -> None:
    """Until ``a`` or ``b`` is set, or ``timeout`` seconds have passed."""
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for fut in waits:
            fut.cancel()
