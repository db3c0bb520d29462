"""The correlation index: every alert the hub's node accepted (its inbox: only alerts
addressed to the hub) is reduced to the entities it names, stored in ``hub_mentions``,
and the links among them recomputed (``node/hub/correlate.py``).

The inbox is the queue of record: the inbound listener only wakes the indexer, which
indexes whatever inbox rows it has not indexed yet. Nothing is lost if the hub stops
mid-way or the wake-up is missed, and the memory used does not grow with the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from node.exchange.inbound.decisions import Decision, Outcome
from node.hub import store
from node.hub.correlate import KINDS, Link, find_links, mentions
from node.hub.events import EventBus
from node.metrics import HUB_LINKS
from node.protocol.envelope import Opened
from node.protocol.wire import message_time
from node.storage.database import Database
from node.storage.readonly import Reader
from schemas.alert import parse_alert
from schemas.errors import LaliError

log = structlog.get_logger("lali.hub.index")

BATCH = 500


class CorrelationIndex:
    """Indexes the hub's inbox and keeps its links current.

    ``db`` and ``reader`` are the hub node's database (writes) and a read-only view of
    the same file; ``window`` and ``threshold`` are the correlation settings
    (``correlation_window_days``, ``name_similarity``).
    """

    def __init__(
        self,
        db: Database,
        reader: Reader,
        *,
        window: timedelta,
        threshold: int,
        bus: EventBus,
        clock: Callable[[], datetime],
        stopping: asyncio.Event,
    ) -> None:
        self.db = db
        self.reader = reader
        self.window = window
        self.threshold = threshold
        self.bus = bus
        self.clock = clock
        self.stopping = stopping
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()  # set whenever everything in the inbox is indexed

    def on_decision(self, decision: Decision, opened: Opened | None) -> None:
        """Inbound listener: a new alert for the hub is committed to the inbox."""
        if decision.outcome is Outcome.ACCEPTED and opened is not None:
            h = opened.header
            self.idle.clear()
            self.wake.set()
            self.bus.publish("alert", message_id=h.message_id, sender=h.sender, topic=h.topic.value)

    async def run(self) -> None:
        """Index whenever woken (and once at start), until the hub stops."""
        self.wake.set()  # catch up with whatever arrived while we were stopped
        while not self.stopping.is_set():
            waits = {
                asyncio.ensure_future(self.wake.wait()),
                asyncio.ensure_future(self.stopping.wait()),
            }
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                fut.cancel()
            if self.stopping.is_set():
                return
            self.wake.clear()
            try:
                while await self.index_pending():
                    pass
            except LaliError as exc:
                log.warning("index_failed", reason=exc.reason, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 5.0)
                self.wake.set()
                continue
            if not self.wake.is_set():
                self.idle.set()

    async def index_pending(self) -> int:
        """Index up to BATCH new inbox alerts, then relink; how many were indexed."""
        rows = await store.unindexed(self.reader, BATCH)
        for message_id, sender, text in rows:
            try:
                found = mentions(parse_alert(str(text)))
            except LaliError as exc:  # the inbox holds validated alerts; be safe anyway
                log.warning("index_unparsable", message_id=message_id, reason=exc.reason)
                found = []
            at = message_time(str(message_id))
            await store.store_mentions(
                self.db, str(message_id), str(sender), at, found, self.clock()
            )
        if rows:
            await self.relink()
        return len(rows)

    async def relink(self) -> list[Link]:
        """Recompute every link from the mentions held; those new or grown."""
        sightings = await store.sightings(self.reader)
        links = await asyncio.to_thread(
            find_links, sightings, window=self.window, threshold=self.threshold
        )
        changed = await store.save_links(self.db, links, self.clock())
        per_kind = Counter(link.kind for link in links)
        for kind in KINDS:
            HUB_LINKS.labels(kind).set(per_kind.get(kind, 0))
        for link in changed:
            # Ids, kinds and counts only: the entity itself is content.
            log.info(
                "link_raised",
                link=link.id,
                kind=link.kind,
                strength=link.strength,
                rule=link.rule,
                alerts=len(link.alerts),
            )
            self.bus.publish("link", id=link.id, kind=link.kind, alerts=len(link.alerts))
        return changed
