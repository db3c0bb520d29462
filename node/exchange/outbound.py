"""The outbound path: validate, seal, commit to audit and outbox, then publish.

An alert is *accepted* once its ``sent`` audit entry and its outbox row commit together;
from then on it is never lost: if the link is down it stays queued and the publisher
retries it with the same ``Nats-Msg-Id`` (the broker drops duplicates). Every outbox
row (alert, receipt, checkpoint) is published under the id its subject and stored bytes
hash to (``node.protocol.msgid``): a retry carries the same id, and nobody without the
bytes can take that id first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import structlog

from keys import Identity
from node.exchange.trust import Trust
from node.protocol.envelope import seal
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import alert_subject
from node.protocol.wire import Header
from node.storage.database import Database, Tx, utc_now_text
from node.transport import Publication
from node.transport.ports import StreamPublisher
from schemas.alert import Alert, Priority, Tlp, parse_alert
from schemas.errors import PolicyViolation, UnknownKey

log = structlog.get_logger("lali.outbound")

ALL = "all"
_PRIORITY_ORDER = {p: i for i, p in enumerate(Priority)}  # flash first
PUBLISH_WINDOW = 64  # publishes in flight while the outbox drains, each PubAck awaited
FLUSH_PAGE = 256  # queued rows read per query: a long outbox is not loaded whole
_ROWS_PER_STATEMENT = 100  # multi-row statements stay far below SQLite's 999 variables
_INSERT_OUTBOX = (
    "INSERT INTO outbox (message_id, subject, envelope, priority, recipients, created_at,"
    " expires_at) VALUES "
)
_MARK_PUBLISHED = (
    "UPDATE outbox SET state = 'published', published_at = ?, attempts = attempts + 1,"
    " stream_seq = CASE message_id {cases} END WHERE message_id IN ({marks})"
)
_COUNT_ATTEMPT = "UPDATE outbox SET attempts = attempts + 1 WHERE message_id IN ({marks})"


@dataclass(frozen=True)
class SendResult:
    message_id: str
    recipients: tuple[str, ...]
    state: str  # "published" or "queued"
    stream_seq: int | None = None


def crash_point(name: str) -> None:
    """Fault-injection seam for the fault suite: ``LALI_CRASH_AT=<name>`` makes the
    process kill itself with SIGKILL here, as a power cut would."""
    if os.environ.get("LALI_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def resolve_recipients(
    to: Sequence[str], alert: Alert, sender: str, members: Sequence[str]
) -> list[str]:
    """Turn ``--to`` into member codes; ``all`` is refused for TLP:RED and AMBER+STRICT."""
    if not to:
        raise PolicyViolation("no recipients given")
    if ALL in to:
        if len(to) != 1:
            raise PolicyViolation("'all' cannot be combined with named recipients")
        if alert.tlp in (Tlp.RED, Tlp.AMBER_STRICT):
            raise PolicyViolation(f"TLP:{alert.tlp.value} needs named recipients, not 'all'")
        return [code for code in members if code != sender]
    unknown = [code for code in to if code not in members]
    if unknown:
        raise PolicyViolation(f"not in the directory: {', '.join(unknown)}")
    return list(dict.fromkeys(to))


NO_RESHARE = (Tlp.RED, Tlp.AMBER_STRICT)


def check_may_forward(tlp: Tlp) -> None:
    """TLP 2.0: RED is for the named recipients only, AMBER+STRICT for their own
    organisation only; neither may be passed to another member."""
    if tlp in NO_RESHARE:
        raise PolicyViolation(f"TLP:{tlp.value} may not be re-shared beyond its recipients")


T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Writes that arrive while a transaction runs go together into the next one: one
    commit (one fsync) for many callers instead of one each.

    A caller returns only once the transaction holding its write has committed, and
    raises that transaction's error if it failed (then none of its writes happened).
    A caller cancelled before its transaction began is left out of it.
    """

    def __init__(self, db: Database, write: Callable[[Tx, list[T]], Awaitable[None]]) -> None:
        self._db = db
        self._write = write
        self._queue: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, *items: T) -> None:
        """Write ``items`` in the next group; return once it has committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        batch: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch = [(items, f) for items, f in self._queue if not f.done()]
                self._queue = []
                if not batch:
                    continue
                try:
                    async with self._db.transaction() as tx:
                        await self._write(tx, [item for items, _ in batch for item in items])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        except BaseException:
            # Cancelled (the node is closing): no caller may be left waiting for ever.
            for _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue = []
            raise
        finally:
            self._task = None


@dataclass(frozen=True)
class _Accepted:
    header: Header
    envelope: bytes
    recipients: list[str]
    now: datetime


@dataclass(frozen=True)
class _Queued:
    message_id: str
    subject: str
    envelope: bytes


def _log_published(published: Sequence[tuple[str, int]]) -> None:
    """One line per published batch (each message at debug level): a busy node
    would otherwise spend a good part of its time writing logs."""
    if len(published) == 1:
        log.info("alert_published", message_id=published[0][0], stream_seq=published[0][1])
        return
    for mid, seq in published:
        log.debug("alert_published", message_id=mid, stream_seq=seq)
    log.info(
        "alerts_published",
        count=len(published),
        first_seq=published[0][1],
        last_seq=published[-1][1],
    )


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Outbound:
    def __init__(
        self,
        identity: Identity,
        trust: Trust,
        db: Database,
        transport: StreamPublisher | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.identity = identity
        self.trust = trust
        self.db = db
        self.transport = transport
        self.clock = clock
        self._flush_lock = asyncio.Lock()
        # Concurrent sends share their audit + outbox commits, and their
        # "published" marks: a busy sender pays one fsync per group, not per alert.
        self._accept = GroupCommit[_Accepted](db, self._write_accepted)
        self._mark = GroupCommit[tuple[str, int]](db, self._write_published)

    async def submit(self, alert: Alert, to: Sequence[str]) -> SendResult:
        """Accept an alert for sending; publish at once when the link is up."""
        now = self.clock()
        directory = await self.trust.current(now)
        recipients = resolve_recipients(to, alert, self.identity.code, directory.codes())
        try:
            header, envelope = seal(alert, self.identity, recipients, directory, now)
        except UnknownKey as exc:
            raise PolicyViolation(f"cannot seal: {exc}") from exc
        await self._accept(_Accepted(header, envelope, recipients, now))
        crash_point("after_commit")
        # Published from the bytes in hand (no read-back); many sends in flight at once
        # pipeline their PubAcks.
        queued = _Queued(header.message_id, alert_subject(header.topic, header.sender), envelope)
        seq = None
        if self._link_up():
            published, _ = await self._publish([queued], announce=False)
            seq = published[0][1] if published else None
        state = "queued" if seq is None else "published"
        log.info(  # one line per send: accepted, and published or queued
            "alert_accepted",
            message_id=header.message_id,
            topic=header.topic.value,
            recipients=",".join(recipients),
            size=len(envelope),
            state=state,
            stream_seq=seq,
        )
        return SendResult(header.message_id, tuple(recipients), state, seq)

    async def forward(self, message_id: str, to: Sequence[str]) -> SendResult:
        """Re-share a received alert as our own, referencing the original; refused (and
        audited) when its handling code forbids it."""
        row = await self.db.fetchone("SELECT alert FROM inbox WHERE message_id = ?", (message_id,))
        if row is None:
            raise PolicyViolation(f"no alert {message_id} in the inbox")
        original = parse_alert(str(row[0]))
        try:
            check_may_forward(original.tlp)
        except PolicyViolation as exc:
            async with self.db.transaction() as tx:
                await tx.audit(
                    "refused",
                    message_id=message_id,
                    peer=",".join(to),
                    topic=original.topic.value,
                    reason="tlp_forward",
                    detail=json.dumps({"tlp": original.tlp.value}),
                )
            log.warning("forward_refused", message_id=message_id, tlp=original.tlp.value)
            raise exc
        references = [*original.references, message_id][-50:]
        alert = parse_alert(
            original.model_copy(update={"references": references}).model_dump_json()
        )
        return await self.submit(alert, to)

    async def _write_accepted(self, tx: Tx, items: list[_Accepted]) -> None:
        """The ``sent`` audit entries and outbox rows of a group of sends."""
        await tx.load_head()
        for a in items:
            h = a.header
            tx.append_audit(
                "sent",
                at=a.now,
                message_id=h.message_id,
                peer=",".join(a.recipients),
                topic=h.topic.value,
                detail=json.dumps(
                    {"tlp": h.tlp.value, "priority": h.priority.value},
                    sort_keys=True,
                ),
                envelope=a.envelope,
            )
        for chunk in _chunks(items, _ROWS_PER_STATEMENT):
            rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            params: list[object] = []
            for a in chunk:
                h = a.header
                params += [
                    h.message_id,
                    alert_subject(h.topic, h.sender),
                    a.envelope,
                    _PRIORITY_ORDER[h.priority],
                    ",".join(a.recipients),
                    utc_now_text(a.now),
                    None if h.expires_at is None else utc_now_text(h.expires_at),
                ]
            # Carried by the COMMIT: the group is one hand-off to the database thread.
            await tx.executemany(_INSERT_OUTBOX + rows, [tuple(params)])  # only ?s inserted

    async def _write_published(self, tx: Tx, items: list[tuple[str, int]]) -> None:
        """Mark a group of outbox rows published, with their stream sequences."""
        at = utc_now_text(self.clock())
        for chunk in _chunks(items, _ROWS_PER_STATEMENT):
            cases = " ".join(["WHEN ? THEN ?"] * len(chunk))
            marks = ", ".join(["?"] * len(chunk))
            params = [at, *itertools.chain.from_iterable(chunk), *(mid for mid, _ in chunk)]
            sql = _MARK_PUBLISHED.format(cases=cases, marks=marks)  # only ?s are inserted
            await tx.executemany(sql, [tuple(params)])  # carried by the COMMIT

    def _link_up(self) -> bool:
        return self.transport is not None and self.transport.connected.is_set()

    async def _publish(
        self, rows: Sequence[_Queued], *, announce: bool = True
    ) -> tuple[list[tuple[str, int]], bool]:
        """Publish ``rows`` in order, up to PUBLISH_WINDOW awaiting their PubAck at once;
        mark those acknowledged as published (and log it if ``announce``). Stops issuing
        at the first failure.
        Returns the (message id, stream sequence) published and whether one failed."""
        transport = self.transport
        if transport is None:
            return [], True
        results = await transport.publish_pipelined(
            [Publication(r.subject, r.envelope, nats_msg_id(r.subject, r.envelope)) for r in rows],
            window=PUBLISH_WINDOW,
        )
        published: list[tuple[str, int]] = []
        failed: list[str] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, int):
                published.append((row.message_id, result))
            elif result is not None:
                log.warning("publish_failed", message_id=row.message_id, error=str(result))
                failed.append(row.message_id)
        if failed:
            async with self.db.transaction() as tx:
                sql = _COUNT_ATTEMPT.format(marks=", ".join(["?"] * len(failed)))
                await tx.execute(sql, tuple(failed))
        if published:
            await self._mark(*published)
            if announce:
                _log_published(published)
        return published, bool(failed) or any(r is None for r in results)

    async def _expire(self, now: datetime) -> None:
        """Alerts whose expiry passed while queued are not sent; each is audited."""
        rows = await self.db.fetchall(
            "SELECT message_id FROM outbox WHERE state = 'queued' AND expires_at IS NOT NULL"
            " AND expires_at <= ?",
            (utc_now_text(now),),
        )
        for row in rows:
            async with self.db.transaction() as tx:
                changed = await tx.execute(
                    "UPDATE outbox SET state = 'expired' WHERE message_id = ? AND state = 'queued'",
                    (row[0],),
                )
                if changed:
                    await tx.audit("expired", at=now, message_id=str(row[0]), reason="expired")
            log.warning("alert_expired_unsent", message_id=str(row[0]))

    async def flush(self) -> int:
        """Publish every queued alert, most urgent first; return how many went out."""
        async with self._flush_lock:  # one drain at a time keeps the priority order
            return await self._flush()

    async def _flush(self) -> int:
        await self._expire(self.clock())
        sent = 0
        while self._link_up():
            rows = await self.db.fetchall(
                "SELECT message_id, subject, envelope, priority FROM outbox"
                " WHERE state = 'queued' ORDER BY priority, created_at, message_id LIMIT ?",
                (FLUSH_PAGE,),
            )
            # One priority at a time, each wholly acknowledged before the next starts:
            # a flash alert never lands behind an urgent one, even when a publish fails.
            # Within a priority the stream keeps the outbox order, except that a publish
            # that fails goes out on the retry, after those already in flight with it.
            for _, group in itertools.groupby(rows, key=lambda r: int(r[3])):
                queued = [_Queued(str(r[0]), str(r[1]), bytes(r[2])) for r in group]
                published, stopped = await self._publish(queued)
                sent += len(published)
                if stopped:
                    return sent  # link down or refused: keep the order, try again later
            if len(rows) < FLUSH_PAGE:
                break
        return sent
