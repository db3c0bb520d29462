"""Live updates for the console: a small broadcast of *what changed* (never content).

Each console tab holds one bounded queue. A tab that falls behind loses events and is
told to refresh everything (``resync``) instead of the hub holding memory for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

QUEUE_SIZE = 256
MAX_SUBSCRIBERS = 64


@dataclass(frozen=True)
class Event:
    """One change, by kind, with ids and counts only (never content)."""

    kind: str  # heartbeat, status, lag, traffic, alert, link, bulletin, receipt, checkpoint
    data: dict[str, str | int | None]

    def sse(self) -> str:
        """The event as server-sent events text."""
        return f"event: {self.kind}\ndata: {json.dumps(self.data, sort_keys=True)}\n\n"


RESYNC = Event("resync", {})
CLOSE = Event("close", {})


class EventBus:
    """Broadcasts events to every subscribed console tab, each with a bounded queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self.closed = False

    def publish(self, kind: str, /, **data: str | int | None) -> None:
        """Tell every subscriber; one that falls behind is told to ``resync`` instead."""
        event = Event(kind, data)
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # Too slow: drop what it has and tell it to reload the page.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    def subscribe(self) -> asyncio.Queue[Event] | None:
        """A queue for one more tab; None when closed or at ``MAX_SUBSCRIBERS``."""
        if self.closed or len(self._queues) >= MAX_SUBSCRIBERS:
            return None
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Stop sending to ``queue``."""
        self._queues.discard(queue)

    def close(self) -> None:
        """End every stream (the console is shutting down)."""
        self.closed = True
        for queue in list(self._queues):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(CLOSE)

    async def stream(
        self, queue: asyncio.Queue[Event], keepalive_s: float = 15.0
    ) -> AsyncIterator[str]:
        """Server-sent events text for one subscriber, until the bus closes."""
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), keepalive_s)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event is CLOSE:
                    return
                yield event.sse()
        finally:
            self.unsubscribe(queue)
