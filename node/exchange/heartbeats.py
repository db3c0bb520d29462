"""The node's heartbeat task: sign a heartbeat (``node.protocol.heartbeat``) every few
seconds and publish it on core NATS; a last one, flagged stopping, on a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from keys.identity import Identity
from node.protocol.heartbeat import Heartbeat, make_heartbeat
from node.protocol.subjects import heartbeat_subject
from node.storage.database import Database
from node.transport.ports import TransportPort
from schemas.errors import LaliError

log = structlog.get_logger("lali.heartbeat")


async def _state(db: Database) -> tuple[int, int]:
    head = await db.fetchone("SELECT count FROM audit_head WHERE id = 1")
    depth = await db.fetchone("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
    return (int(head[0]) if head else 0), (int(depth[0]) if depth else 0)


async def run_heartbeats(
    transport: TransportPort,
    db: Database,
    identity: Callable[[], Identity],
    clock: Callable[[], datetime],
    interval_s: float,
    stopping: asyncio.Event,
) -> None:
    """Beat now and every ``interval_s`` until stopped or cancelled, then say goodbye
    once (bounded) so the hub shows a clean stop at once rather than after a timeout."""
    started = clock()
    interval = timedelta(seconds=interval_s)
    count = depth = 0

    async def beat(stop: bool) -> None:
        me = identity()
        blob = make_heartbeat(
            me, Heartbeat(me.code, clock(), started, interval, count, depth, stopping=stop)
        )
        await transport.publish_core(heartbeat_subject(me.code), blob)

    try:
        while not stopping.is_set():
            try:
                count, depth = await _state(db)
                await beat(False)
            except LaliError as exc:  # link down or database busy: the next beat may pass
                log.debug("heartbeat_failed", reason=exc.reason, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
    finally:
        if transport.connected.is_set():
            with contextlib.suppress(LaliError, TimeoutError):
                await asyncio.wait_for(beat(True), 2.0)
