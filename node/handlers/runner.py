"""Running handler instances: one bounded queue, its workers, timeouts and retries each.

The database is the queue of record (``handler_jobs``); the in-memory queue of an
instance only holds the ids its workers are about to take. A feeder task per instance
moves due jobs (flash first) into its queue; workers run the handler under its timeout
and record the outcome. An instance that hangs or fails holds up only itself: intake
and acknowledgement never wait for handlers, and other instances have their own
queues. Work is at-least-once: a job interrupted by a crash runs again after restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    Hit,
    Item,
    PermanentHandlerError,
)
from node.handlers.config import RouteConfig
from node.handlers.instances import Instance, check_routes
from node.handlers.jobs import Router
from node.handlers.routing import permits
from node.storage.database import Database, utc_now_text
from schemas.alert import parse_alert
from schemas.enums import Priority, Tlp, Topic
from schemas.errors import StorageError

log = structlog.get_logger("lali.handlers")

MAX_BACKOFF_S = 600.0
POLL_S = 5.0  # also picks up `lali handlers retry` made by another process
FailureHook = Callable[[str], None]
# Told of every outcome: (instance, message_id, kind, state); state is done, failed or
# retry. For metrics and tests; must not raise or block.
JobListener = Callable[[str, str, str, str], None]


class HandlerRunner:
    def __init__(
        self,
        *,
        code: str,
        db: Database,
        routes: list[RouteConfig],
        instances: dict[str, Instance],
        env: HandlerEnv,
        clock: Callable[[], datetime],
        on_failure: FailureHook | None = None,
    ) -> None:
        check_routes(routes, instances)
        self.code = code
        self.db = db
        self.instances = instances
        self.router = Router(routes, {n: i.ceiling for n, i in instances.items()})
        self.env = env
        self.clock = clock
        self.on_failure = on_failure
        self.listeners: list[JobListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        for inst in instances.values():
            if inst.ceiling is None:
                log.warning("handler_policy_missing", instance=inst.name, effect="refuses all")

    async def start(self) -> None:
        for inst in self.instances.values():
            inst.handler = inst.cls.from_settings(inst.settings, self.env)
            inst.queue = asyncio.Queue(maxsize=inst.config.queue)
            self._spawn(self._feed(inst), f"feed-{inst.name}")
            for n in range(inst.config.workers):
                self._spawn(self._work(inst), f"handler-{inst.name}-{n}")
        log.info("handlers_started", instances=sorted(self.instances))

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    def wake(self, names: Iterable[str] | None = None) -> None:
        for name in self.instances if names is None else names:
            if name in self.instances:
                self.instances[name].wake.set()

    async def stop(self) -> None:
        """Cancel workers (an interrupted job stays pending) and close the handlers."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10.0)
            for task in pending:
                log.error("handler_task_stuck", task=task.get_name())
        for inst in self.instances.values():
            if inst.handler is not None:
                try:
                    await asyncio.wait_for(inst.handler.aclose(), 5.0)
                except Exception as exc:
                    log.error("handler_close_failed", instance=inst.name, error=type(exc).__name__)

    # -- feeding -----------------------------------------------------------------------

    async def _feed(self, inst: Instance) -> None:
        while not self._stopping.is_set():
            inst.wake.clear()
            delay = POLL_S
            try:
                delay = await self._feed_once(inst)
            except StorageError as exc:
                log.error("handler_feed_failed", instance=inst.name, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inst.wake.wait(), delay)

    async def _feed_once(self, inst: Instance) -> float:
        """Queue the due jobs; return how long to wait before looking again."""
        now = self.clock()
        rows = await self.db.fetchall(
            "SELECT id FROM handler_jobs WHERE instance = ? AND state = 'pending'"
            " AND next_at <= ? ORDER BY priority, id LIMIT ?",
            (inst.name, utc_now_text(now), inst.config.queue + len(inst.in_flight)),
        )
        for (job_id,) in rows:
            if job_id not in inst.in_flight:
                inst.in_flight.add(job_id)
                await inst.queue.put(job_id)  # bounded: waits while the workers are busy
        row = await self.db.fetchone(
            "SELECT MIN(next_at) FROM handler_jobs WHERE instance = ? AND state = 'pending'"
            " AND next_at > ?",
            (inst.name, utc_now_text(now)),
        )
        if row is None or row[0] is None:
            return POLL_S
        wait = (datetime.fromisoformat(row[0]) - self.clock()).total_seconds()
        return min(POLL_S, max(0.01, wait))

    # -- working -----------------------------------------------------------------------

    async def _work(self, inst: Instance) -> None:
        while True:
            job_id = await inst.queue.get()
            try:
                await self._run_job(inst, job_id)
            except StorageError as exc:
                # The job stays pending; the feeder offers it again after a pause.
                log.error("handler_record_failed", instance=inst.name, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
            finally:
                inst.in_flight.discard(job_id)

    async def _run_job(self, inst: Instance, job_id: int) -> None:
        row = await self.db.fetchone(
            "SELECT j.message_id, j.kind, j.hit_id, j.route, j.state, j.attempts, i.sender,"
            " i.topic, i.tlp, i.received_at, i.alert FROM handler_jobs j"
            " JOIN inbox i ON i.message_id = j.message_id WHERE j.id = ?",
            (job_id,),
        )
        if row is None or row["state"] != "pending":
            return
        item = await self._item(row)
        now = self.clock()
        attempt = int(row["attempts"]) + 1
        where = {"instance": inst.name, "route": row["route"], "kind": item.kind}
        where["hit_id"] = row["hit_id"]
        if not permits(inst.ceiling, item.tlp):
            # The policy changed since the job was queued: the policy of now wins.
            await self._finish(job_id, item, "failed", "handler_refused", where, "tlp_policy")
            return
        ctx = Context(
            code=self.code,
            instance=inst.name,
            route=row["route"],
            attempt=attempt,
            now=now,
            audit=partial(self._audit_action, item, where),
            raise_hit=partial(self._raise_hit, inst, item),
        )
        assert inst.handler is not None
        started = time.monotonic()
        try:
            await asyncio.wait_for(inst.handler(item, ctx), inst.config.timeout_s)
        except TimeoutError:
            error: HandlerError = HandlerError(f"timed out after {inst.config.timeout_s:g} s")
        except HandlerError as exc:
            error = exc
        except Exception as exc:  # a plugin's bug: retried, recorded by type and place only
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            error = HandlerError(f"{type(exc).__name__} at {frame.filename}:{frame.lineno}")
        else:
            ms = round((time.monotonic() - started) * 1000, 1)
            await self._finish(job_id, item, "done", "handled", {**where, "ms": ms}, None)
            return
        await self._failed(inst, job_id, item, where, attempt, error)

    async def _item(self, row: Any) -> Item:
        hit = None
        if row["kind"] == "hit":
            h = await self.db.fetchone(
                "SELECT list_entry, entity, score, fields FROM hits WHERE id = ?", (row["hit_id"],)
            )
            if h is None:
                raise StorageError(f"hit {row['hit_id']} is missing")
            hit = Hit(h[0], h[1], float(h[2]), tuple(json.loads(h[3])), int(row["hit_id"]))
        alert = parse_alert(row["alert"])
        return Item(
            kind=row["kind"],
            message_id=row["message_id"],
            sender=row["sender"],
            topic=Topic(row["topic"]),
            tlp=Tlp(row["tlp"]),
            priority=Priority.FLASH if hit is not None else alert.priority,
            received_at=datetime.fromisoformat(row["received_at"]),
            alert=alert,
            hit=hit,
        )

    async def _failed(
        self,
        inst: Instance,
        job_id: int,
        item: Item,
        where: dict[str, Any],
        attempt: int,
        error: HandlerError,
    ) -> None:
        if self.on_failure is not None:
            self.on_failure(inst.name)
        detail = {**where, "attempt": attempt, "error": error.message}
        final = isinstance(error, PermanentHandlerError) or attempt >= inst.config.attempts
        log.warning(
            "handler_error",
            instance=inst.name,
            message_id=item.message_id,
            attempt=attempt,
            final=final,
            reason=error.reason,
            error=error.message,
        )
        if final:
            await self._finish(job_id, item, "failed", "handler_failed", detail, error.reason)
            return
        backoff = min(MAX_BACKOFF_S, inst.config.backoff_s * 2 ** (attempt - 1))
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE handler_jobs SET attempts = ?, next_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (
                    attempt,
                    utc_now_text(now + timedelta(seconds=backoff)),
                    error.message,
                    utc_now_text(now),
                    job_id,
                ),
            )
            await self._audit(tx, "handler_error", item, detail, error.reason, now)
        self._tell(inst.name, item, "retry")

    def _tell(self, instance: str, item: Item, state: str) -> None:
        for listener in self.listeners:
            try:
                listener(instance, item.message_id, item.kind, state)
            except Exception as exc:  # observers must not affect handling
                log.error("job_listener_failed", error_type=type(exc).__name__)

    async def _finish(
        self,
        job_id: int,
        item: Item,
        state: str,
        kind: str,
        detail: dict[str, Any],
        reason: str | None,
    ) -> None:
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE handler_jobs SET state = ?, attempts = attempts + 1, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (state, detail.get("error") or reason, utc_now_text(now), job_id),
            )
            await self._audit(tx, kind, item, detail, reason, now)
        self._tell(str(detail["instance"]), item, state)

    async def _audit(
        self,
        tx: Any,
        kind: str,
        item: Item,
        detail: Mapping[str, Any],
        reason: str | None,
        now: datetime,
    ) -> None:
        await tx.audit(
            kind,
            at=now,
            message_id=item.message_id,
            peer=item.sender,
            topic=item.topic.value,
            reason=reason,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )

    async def _audit_action(
        self, item: Item, where: dict[str, Any], action: str, detail: Mapping[str, Any]
    ) -> None:
        async with self.db.transaction() as tx:
            await self._audit(
                tx,
                "handler_action",
                item,
                {**where, "action": action, **detail},
                None,
                self.clock(),
            )

    async def _raise_hit(self, inst: Instance, item: Item, hit: Hit) -> Hit:
        now = self.clock()
        queued: list[str] = []
        async with self.db.transaction() as tx:
            added = await tx.execute(
                "INSERT OR IGNORE INTO hits (message_id, instance, list_entry, entity, score,"
                " fields, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item.message_id,
                    inst.name,
                    hit.list_entry,
                    hit.entity,
                    hit.score,
                    json.dumps(list(hit.fields)),
                    utc_now_text(now),
                ),
            )
            row = await tx.fetchone(
                "SELECT id FROM hits WHERE message_id = ? AND instance = ? AND list_entry = ?"
                " AND entity = ?",
                (item.message_id, inst.name, hit.list_entry, hit.entity),
            )
            if row is None:
                raise StorageError("hit was not recorded")
            stored = replace(hit, hit_id=int(row[0]))
            if added:
                await self._audit(
                    tx, "hit", item, {"instance": inst.name, **stored.as_dict()}, None, now
                )
                queued = await self.router.enqueue(
                    tx,
                    kind="hit",
                    message_id=item.message_id,
                    sender=item.sender,
                    alert=item.alert,
                    now=now,
                    hit_id=stored.hit_id,
                )
        if added:
            log.info(
                "watchlist_hit",
                message_id=item.message_id,
                instance=inst.name,
                entity=hit.entity,
                list_entry=hit.list_entry,
                score=round(hit.score, 1),
            )
        self.wake(queued)
        return stored
