"""Pipelined JetStream publishing: many PubAcks in flight, each one checked.

A JetStream publish is a core NATS publish with a reply subject; the stream answers
there with its PubAck. ``PubAcks`` keeps one reply subscription per connection and one
future per publish, so a window of publishes costs no task and no request each. Built
on nats-py's public ``publish``/``subscribe`` rather than its ``publish_async``, whose
global semaphore can leak slots when a publish raises and then blocks every later
publish for ever.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg

from node.transport.errors import nats_errors
from schemas.errors import TransportError

_NO_RESPONDERS = "503"  # the Status header when no stream takes the subject


@dataclass(frozen=True)
class Publication:
    """One message for ``Transport.publish_pipelined``."""

    subject: str
    data: bytes
    msg_id: str  # Nats-Msg-Id: the broker drops a second copy within its window


class PubAcks:
    """The replies of one connection's JetStream publishes, matched to their futures."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix: str | None = None
        self._starting = asyncio.Lock()
        self._futures: dict[str, asyncio.Future[Msg]] = {}
        self._next = 0

    async def _reply_prefix(self) -> str:
        if self._prefix is not None:  # every publish but the first: no lock
            return self._prefix
        async with self._starting:
            if self._prefix is None:
                prefix = self._nc.new_inbox()  # under the member's own inbox prefix
                with nats_errors("subscribing to PubAcks"):
                    await self._nc.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix
            return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        prefix = self._prefix or ""
        future = self._futures.pop(msg.subject[len(prefix) + 1 :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def publish(self, item: Publication) -> tuple[str, asyncio.Future[Msg]]:
        """Publish ``item``; its PubAck (or refusal) will complete the future."""
        prefix = await self._reply_prefix()
        self._next += 1
        token = str(self._next)
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        try:
            with nats_errors(f"publishing {item.msg_id}"):
                await self._nc.publish(
                    item.subject,
                    item.data,
                    reply=f"{prefix}.{token}",
                    headers={"Nats-Msg-Id": item.msg_id},
                )
        except BaseException:
            self._futures.pop(token, None)
            raise
        return token, future

    def forget(self, token: str) -> None:
        """Stop waiting for this PubAck (timed out, or the caller gave up)."""
        future = self._futures.pop(token, None)
        if future is not None:
            future.cancel()


def stream_sequence(reply: Msg, msg_id: str) -> int:
    """The stream sequence a PubAck reports; ``TransportError`` for a refusal."""
    if reply.headers and reply.headers.get("Status") == _NO_RESPONDERS:
        raise TransportError(f"publishing {msg_id} failed: no stream takes {reply.subject!r}")
    try:
        answer = json.loads(reply.data or b"{}")
    except ValueError:
        raise TransportError(f"publishing {msg_id} failed: the PubAck is not JSON") from None
    error = answer.get("error") if isinstance(answer, dict) else None
    if error:
        raise TransportError(
            f"publishing {msg_id} refused by the server: {error.get('description', error)}",
            code=error.get("code"),
            err_code=error.get("err_code"),
        )
    if not isinstance(answer, dict) or not isinstance(answer.get("seq"), int):
        raise TransportError(f"publishing {msg_id} failed: the PubAck has no sequence")
    return int(answer["seq"])


async def publish_pipelined(
    acks: PubAcks,
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
    pending: collections.deque[tuple[int, float, str, asyncio.Future[Msg]]] = collections.deque()
    failed = False

    async def settle(i: int, issued: float, token: str, future: asyncio.Future[Msg]) -> None:
        nonlocal failed
        try:
            if not future.done():
                left = max(0.0, issued + timeout - time.monotonic())
                try:
                    await asyncio.wait_for(asyncio.shield(future), left)
                except TimeoutError:
                    raise TransportError(
                        f"publishing {items[i].msg_id} failed: no PubAck in {timeout:g} s"
                    ) from None
            results[i] = stream_sequence(future.result(), items[i].msg_id)
        except TransportError as exc:
            results[i], failed = exc, True
        finally:
            acks.forget(token)

    try:
        for i, item in enumerate(items):
            if failed or not connected.is_set():
                break
            if len(pending) >= window:
                await settle(*pending.popleft())
                if failed:
                    break
            try:
                token, future = await acks.publish(item)
            except TransportError as exc:
                results[i], failed = exc, True
                break
            pending.append((i, time.monotonic(), token, future))
        while pending:
            await settle(*pending.popleft())
    finally:
        for _, _, token, _ in pending:  # cancelled ourselves: stop waiting for these
            acks.forget(token)
    return results
