"""The node's SQLite database: audit log, inbox and outbox in one file.

One file so that an audit entry and the inbox or outbox row it speaks for commit in
one transaction. WAL mode with ``synchronous=FULL``: an acknowledgement to the broker
or a receipt depends on these commits surviving a power cut. ``sqlite3.Error`` is
translated into ``StorageError`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import structlog

from node.protocol.chain import Entry, StoredEntry, entry_hash
from node.storage.schema import SCHEMA, SCHEMA_VERSION
from schemas.errors import StorageError

log = structlog.get_logger("lali.db")

CLOSE_WAIT_S = 5.0  # how long close() waits for a transaction still running


def utc_now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


@contextmanager
def _storage_errors(action: str, path: Path) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # the latter: a damaged file
        raise StorageError(f"{action} failed: {exc}", path=str(path)) from exc


_INSERT_AUDIT = (
    "INSERT INTO audit (seq, at, kind, message_id, peer, topic, reason, detail,"
    " envelope, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


Write = tuple[str, list[tuple[Any, ...]]]


class AuditFields(TypedDict, total=False):
    """The optional fields of an audit entry (``Tx.append_audit``'s keywords)."""

    at: datetime | None
    message_id: str | None
    peer: str | None
    topic: str | None
    reason: str | None
    detail: str | None
    envelope: bytes | None


R = TypeVar("R")


class Tx:
    """One open write transaction.

    Every call that needs the database is **one** hand-off to the connection's thread:
    ``BEGIN IMMEDIATE`` and the read of the chain head travel with the first one, and
    writes whose result nobody waits for (``executemany``, audit entries, the head) are
    carried by the next read or by the ``COMMIT``. A transaction that appends and
    inserts is then one or two hand-offs instead of one per statement: on a busy node
    each hand-off waits for the event loop, and the database lock is held meanwhile.
    An error in a carried write surfaces at that later call and fails the transaction
    all the same.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._begun = False  # set on the database thread
        self._called = False  # a call was handed off (set here, before it runs)
        # The chain head, read with BEGIN IMMEDIATE (no other writer can move it
        # meanwhile) and then carried along: one statement less per entry.
        self._head: tuple[int, bytes] | None = None
        self._head_read: tuple[int, bytes] | None = None  # set on the database thread
        self._head_moved = False
        self._audit_rows: list[tuple[Any, ...]] = []  # appended, not yet inserted
        self._writes: list[Write] = []  # carried by the next call, in order

    def _queue_audit(self) -> None:
        """Entries appended so far go before any later write (one statement for all)."""
        if self._audit_rows:
            rows, self._audit_rows = self._audit_rows, []
            self._writes.append((_INSERT_AUDIT, rows))

    def _take_writes(self) -> list[Write]:
        self._queue_audit()
        writes, self._writes = self._writes, []
        return writes

    def _apply(self, conn: sqlite3.Connection, writes: list[Write]) -> None:
        """On the database thread: begin (reading the head), then the carried writes."""
        if not self._begun:
            conn.execute("BEGIN IMMEDIATE")
            self._begun = True
            row = conn.execute("SELECT count, head FROM audit_head WHERE id = 1").fetchone()
            if row is None:
                raise StorageError("audit head row is missing")
            self._head_read = (int(row[0]), bytes(row[1]))
        for sql, rows in writes:
            conn.executemany(sql, rows)

    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(connection)`` on the database thread after BEGIN and the carried writes."""
        writes = self._take_writes()
        self._called = True

        def work(conn: sqlite3.Connection) -> R:
            self._apply(conn, writes)
            return fn(conn)

        result = await self._db.run(work)
        if self._head is None:
            self._head = self._head_read
        return result

    async def finish(self) -> None:
        """The carried writes, the chain head and COMMIT in one hand-off (called by
        ``Database.transaction``; audit_head is stale until then)."""
        writes = self._take_writes()
        if self._head_moved and self._head is not None:
            writes.append(("UPDATE audit_head SET count = ?, head = ? WHERE id = 1", [self._head]))
            self._head_moved = False
        if not self._called and not writes:
            return  # nothing read or written: no transaction was opened

        def work(conn: sqlite3.Connection) -> None:
            # Decided here, on the database thread: a call whose caller gave up may
            # still have begun the transaction.
            self._apply(conn, writes)
            if conn.in_transaction:
                conn.commit()

        await self._db.run(work)

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement now; returns the number of rows it changed."""
        return await self._call(lambda conn: conn.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Carried by the next call of this transaction or by the COMMIT, in order."""
        if rows:
            self._queue_audit()  # keeps the order with audit entries appended before
            self._writes.append((sql, list(rows)))

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self._call(
            lambda conn: conn.execute(sql, params).fetchone()
        )
        return row

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return await self._call(lambda conn: conn.execute(sql, params).fetchall())

    async def audit(self, kind: str, **fields: Unpack[AuditFields]) -> StoredEntry:
        """Append one audit entry, chained to the head, in this transaction.

        Kinds: ``sent``, ``received``, ``rejected`` (with ``reason``), ``deferred``
        (with ``reason``: the first deferral of a stream message), ``replayed`` (an
        alert we hold, in another stream message), ``receipt``, ``expired``,
        ``refused`` (a local request a rule forbade), ``directory``; from the handlers:
        ``handler_refused``, ``handled``, ``handler_error``, ``handler_failed``,
        ``handler_retry``, ``handler_action``, ``hit``.
        """
        await self.load_head()
        return self.append_audit(kind, **fields)

    async def load_head(self) -> None:
        """Begin now if not yet begun, which reads the chain head (``append_audit``
        needs it)."""
        if self._head is None:
            await self._call(lambda conn: None)

    def append_audit(
        self,
        kind: str,
        *,
        at: datetime | None = None,
        message_id: str | None = None,
        peer: str | None = None,
        topic: str | None = None,
        reason: str | None = None,
        detail: str | None = None,
        envelope: bytes | None = None,
    ) -> StoredEntry:
        """Chain one entry and buffer it; it is inserted by the next call of this
        transaction or with the COMMIT, several in one go. ``load_head`` first."""
        if self._head is None:
            raise RuntimeError("append_audit before load_head")
        count, prev = self._head
        entry = Entry(
            seq=count + 1,
            at=utc_now_text(at),
            kind=kind,
            message_id=message_id,
            peer=peer,
            topic=topic,
            reason=reason,
            detail=detail,
            envelope=envelope,
        )
        digest = entry_hash(prev, entry)
        self._audit_rows.append(
            (
                entry.seq,
                entry.at,
                kind,
                message_id,
                peer,
                topic,
                reason,
                detail,
                envelope,
                prev,
                digest,
            )
        )
        self._head = (entry.seq, digest)
        self._head_moved = True  # written once, with the COMMIT (finish)
        return StoredEntry(entry, prev, digest)


def _connect(path: Path) -> sqlite3.Connection:
    """Open and check the file, create the schema (on the database thread)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StorageError("database integrity check failed", path=str(path))
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO state (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """An open node database. Writers are serialised; each write is one transaction.

    The connection lives on one thread of its own (a single-worker executor): calls run
    there in the order they were made, so a ROLLBACK queued after a cancelled call runs
    after it, and the event loop never blocks on the disk.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, worker: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._worker = worker
        self.path = path
        self._lock = asyncio.Lock()
        self._closing = False
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lali-db")
        with _storage_errors("opening the database", path):
            try:
                conn = await asyncio.get_running_loop().run_in_executor(worker, _connect, path)
            except BaseException:
                worker.shutdown(wait=False)
                raise
        return cls(conn, path, worker)

    async def run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(connection)`` on the database thread: one hand-off. Cancelling the
        caller does not stop ``fn``; whatever is queued next runs after it."""
        if self._closed:
            raise StorageError("the database is closed", path=str(self.path))
        return await self._on_thread(fn)

    async def _on_thread(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, self._conn)

    async def set_busy_timeout(self, ms: int) -> None:
        """How long a write waits for another process's lock before failing."""
        await self.run(lambda conn: conn.execute(f"PRAGMA busy_timeout = {int(ms)}"))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error or cancellation,
        including one that lands while BEGIN or COMMIT is still running."""
        if self._closing:
            raise RuntimeError("database is closed")
        async with self._lock:
            if self._closed:
                raise RuntimeError("database is closed")
            with _storage_errors("writing to the database", self.path):
                try:
                    tx = Tx(self)  # BEGIN IMMEDIATE goes with its first call
                    yield tx
                    await asyncio.shield(tx.finish())
                except BaseException:
                    # Queued behind BEGIN/COMMIT on the database thread, so it runs
                    # after them; a no-op when no transaction is open.
                    await asyncio.shield(self._on_thread(lambda conn: conn.rollback()))
                    raise

    async def probe(self) -> None:
        """A small committed write: raises StorageError while the disk refuses writes."""
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO state (key, value) VALUES ('probe', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (utc_now_text(),),
            )

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with _storage_errors("reading the database", self.path):
            return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True  # no new transaction from here on
        held = False
        try:
            # A transaction still running (its task was given up on) finishes first.
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self._lock.acquire()
                held = True
        except TimeoutError:
            log.error("database_close_forced", path=str(self.path))
        self._closed = True
        try:
            await asyncio.shield(self._on_thread(lambda conn: conn.close()))
        finally:
            self._worker.shutdown(wait=False)
            if held:
                self._lock.release()  # a writer queued meanwhile sees it closed
