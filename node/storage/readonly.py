"""Read-only access to a node's database file from outside its writer thread.

The CLI (``lali status``, ``lali audit``), the metrics sampler and the hub console read
committed rows while the node runs in another thread or process. Each read opens its
own ``mode=ro`` connection (WAL lets it run beside the writer), and every
``sqlite3.Error`` becomes a ``StorageError`` here, as in ``database.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from schemas.errors import StorageError

# A result row: indexable by position and by column name.
Row = sqlite3.Row
Params = Sequence[Any]


def _lenient_text(data: bytes) -> str:
    # A damaged file can hold text that is not UTF-8 (in integrity_check's report, or
    # in a column): decode it with replacement so the damage is reported, not a crash.
    return data.decode("utf-8", "replace")


class Snapshot:
    """One read-only connection; every call's errors are translated."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return list(self._conn.execute(sql, tuple(params)).fetchall())
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise StorageError(f"reading {self.path} failed: {exc}", path=str(self.path)) from exc

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def iterate(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """Rows one at a time (a whole audit log need not fit in memory)."""
        try:
            cursor = self._conn.execute(sql, tuple(params))
            while True:
                row = cursor.fetchone()
                if row is None:
                    return
                yield row
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise StorageError(f"reading {self.path} failed: {exc}", path=str(self.path)) from exc

    def has_table(self, name: str) -> bool:
        row = self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return row is not None


@contextmanager
def read_only(path: Path, *, must_exist: bool = True) -> Iterator[Snapshot]:
    """Open ``path`` read-only (blocking: call it in a thread from async code)."""
    if must_exist and not path.exists():
        raise StorageError(f"no database at {path}", path=str(path))
    try:
        # as_uri() escapes the path: a '#' or '?' in it must not cut the URI short.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}", path=str(path)) from exc
    conn.row_factory = sqlite3.Row
    conn.text_factory = _lenient_text
    with closing(conn):
        yield Snapshot(conn, path)


class Reader:
    """Async read-only queries, each on its own connection in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: Params) -> list[Row]:
        with read_only(self.path) as snap:
            return snap.all(sql, params)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return await asyncio.to_thread(self._query, sql, params)

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None
