"""Pipelined JetStream publishing: many PubAcks in flight, each one checked."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from node.transport.errors import nats_errors
from schemas.errors import TransportError


@dataclass(frozen=True)
class Publication:
    """One message for ``Transport.publish_pipelined``."""

    subject: str
    data: bytes
    msg_id: str  # Nats-Msg-Id: the broker drops a second copy within its window


async def publish_pipelined(
    js: JetStreamContext,
    connected: asyncio.Event,
    items: Sequence[Publication],
    *,
    window: int,
    timeout: float = 10.0,
) -> list[int | TransportError | None]:
    """Publish ``items`` in order, up to ``window`` awaiting their PubAck at once.

    Returns, per item, the stream sequence from its PubAck, the error that stopped
    it, or None when it was never issued: nothing more is issued after a failure
    is seen or while the link is down. Each PubAck is awaited at most ``timeout``
    seconds after its publish. Publishes issued together reach the server, and so
    the stream, in the order given.
    """
    results: list[int | TransportError | None] = [None] * len(items)
    pending: collections.deque[tuple[int, float, asyncio.Future[Any]]] = collections.deque()
    failed = False

    async def settle(i: int, issued: float, future: asyncio.Future[Any]) -> None:
        nonlocal failed
        try:
            with nats_errors(f"publishing {items[i].msg_id}"):
                if not future.done():
                    left = max(0.0, issued + timeout - time.monotonic())
                    await asyncio.wait_for(future, left)  # cancelled when it times out
                results[i] = int(future.result().seq)
        except TransportError as exc:
            results[i], failed = exc, True

    try:
        for i, item in enumerate(items):
            if failed or not connected.is_set():
                break
            if len(pending) >= window:
                await settle(*pending.popleft())
                if failed:
                    break
            try:
                with nats_errors(f"publishing {item.msg_id}"):
                    future = await js.publish_async(
                        item.subject, item.data, headers={"Nats-Msg-Id": item.msg_id}
                    )
            except TransportError as exc:
                results[i], failed = exc, True
                break
            pending.append((i, time.monotonic(), future))
        while pending:
            await settle(*pending.popleft())
    finally:
        for _, _, future in pending:  # cancelled ourselves: release nats-py's slots
            future.cancel()
    return results
