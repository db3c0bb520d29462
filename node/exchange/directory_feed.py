"""Live distribution of the member directory through a JetStream key-value bucket.

The hub puts each newly signed directory under ``lali_directory/current``; every node
watches that key, verifies what arrives (``Trust.accept_remote``) and switches to it at
once, so a revocation reaches all running nodes within seconds. The bucket is only a
carrier: nothing in it is trusted before the root-key signatures check out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from node.exchange.trust import Trust
from node.transport.ports import DirectoryBucket
from schemas.errors import LaliError

log = structlog.get_logger("lali.directory_feed")

BUCKET = "lali_directory"
KEY = "current"
RETRY_S = 2.0


async def publish_directory(transport: DirectoryBucket, data: bytes) -> int:
    """Hub side: make ``data`` (a signed directory file) the current one; returns the
    bucket revision."""
    return await transport.kv_put(BUCKET, KEY, data)


async def follow_directory(
    transport: DirectoryBucket,
    trust: Trust,
    clock: Callable[[], datetime],
    stopping: asyncio.Event,
    replicas: int = 1,
) -> None:
    """Node side: apply every directory published, until ``stopping`` is set."""
    try:
        await transport.ensure_kv(BUCKET, replicas)  # the hub's job; members may not
    except LaliError as exc:
        log.debug("directory_bucket_not_created", reason=exc.reason, error=str(exc))
    while not stopping.is_set():
        try:
            seen = await trust.feed_revision()
            async for revision, data in transport.kv_watch(BUCKET, KEY):
                if revision <= seen:
                    continue  # the feed replays its history; judged before
                if await trust.accept_remote(data, clock()):
                    log.info("directory_updated", version=trust.directory.version)
                await trust.set_feed_revision(revision)
                seen = revision
        except LaliError as exc:
            # No bucket yet (the hub has not published one), or the link is down.
            log.debug("directory_feed_unavailable", reason=exc.reason, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), RETRY_S)
