"""How this node uses the stream: the slice of its configuration the pipelines read.

``NodeSettings.stream_policy()`` builds it; the exchange layer never sees the whole
configuration (it sits below it)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.enums import Topic


@dataclass(frozen=True)
class StreamPolicy:
    code: str  # our member code
    stream: str  # the JetStream stream every message travels in
    topics: tuple[Topic, ...]  # the alert topics we take in
    duplicate_window_s: float  # the stream's de-duplication window
    replicas: int  # stream replicas (3 on a cluster)
    ack_wait_s: float  # the broker redelivers what we have not settled by then
    max_deliver: int  # deliveries before a message is final (then dead-lettered)
    fetch_batch: int  # messages per pull
    priority_catch_up: bool  # work each fetched batch flash-first

    @property
    def durable(self) -> str:
        """Our durable consumer's name."""
        return f"node-{self.code}"
