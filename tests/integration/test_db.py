"""The database layer on a real SQLite file: writes carried to a later call land in
order and all together, a failing one takes the whole transaction with it, and a
transaction costs one or two hand-offs to the database thread, not one per statement."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from node.storage.audit import verify_file
from node.storage.database import Database
from schemas.errors import StorageError

pytestmark = pytest.mark.integration

PUT = "INSERT INTO state (key, value) VALUES (?, ?)"


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def count_hand_offs(db: Database) -> list[str]:
    calls: list[str] = []
    run = db.run

    async def counting(fn: Callable[[sqlite3.Connection], Any]) -> Any:
        calls.append("run")
        return await run(fn)

    db.run = counting  # type: ignore[method-assign]
    return calls


async def test_carried_writes_land_in_order_with_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "lali.db"
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="m-1")
            await tx.executemany(PUT, [("a", "1"), ("b", "2")])
            tx.append_audit("sent", message_id="m-2")
            # A read sees the writes made before it in the same transaction.
            row = await tx.fetchone("SELECT value FROM state WHERE key = 'b'")
            assert row is not None and row[0] == "2"
            tx.append_audit("sent", message_id="m-3")
            await tx.executemany(PUT, [("c", "3")])
    finally:
        await db.close()
    assert rows(path, "SELECT seq, message_id FROM audit ORDER BY seq") == [
        (1, "m-1"),
        (2, "m-2"),
        (3, "m-3"),
    ]
    assert rows(path, "SELECT count FROM audit_head") == [(3,)]
    assert rows(path, "SELECT key FROM state WHERE key IN ('a', 'b', 'c') ORDER BY key") == [
        ("a",),
        ("b",),
        ("c",),
    ]
    assert verify_file(path).count == 3


async def test_a_failing_carried_write_rolls_back_the_whole_transaction(tmp_path: Path) -> None:
    path = tmp_path / "lali.db"
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="kept")
        with pytest.raises(StorageError):
            async with db.transaction() as tx:
                await tx.audit("sent", message_id="lost")
                await tx.executemany(PUT, [("dup", "1"), ("dup", "2")])  # primary key
        async with db.transaction() as tx:  # the database is usable afterwards
            await tx.audit("sent", message_id="after")
    finally:
        await db.close()
    assert rows(path, "SELECT message_id FROM audit ORDER BY seq") == [("kept",), ("after",)]
    assert rows(path, "SELECT key FROM state WHERE key = 'dup'") == []
    assert verify_file(path).count == 2


async def test_a_transaction_is_one_or_two_hand_offs(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "lali.db")
    try:
        calls = count_hand_offs(db)
        async with db.transaction() as tx:  # append-only: BEGIN with the head, COMMIT
            await tx.load_head()
            for n in range(50):
                tx.append_audit("sent", message_id=f"m-{n}")
            await tx.executemany(PUT, [(f"k-{n}", "v") for n in range(50)])
        assert len(calls) == 2
        calls.clear()
        async with db.transaction() as tx:  # a look-up first: it carries BEGIN
            await tx.fetchall("SELECT key FROM state WHERE key = 'k-1'")
            await tx.audit("received", message_id="x")
        assert len(calls) == 2
    finally:
        await db.close()


async def test_close_lets_a_running_transaction_commit_first(tmp_path: Path) -> None:
    path = tmp_path / "lali.db"
    db = await Database.open(path)
    entered, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="in-flight")
            entered.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await entered.wait()
    closing = asyncio.create_task(db.close())  # waits for the writer's transaction
    release.set()
    await task
    await closing
    with pytest.raises(RuntimeError, match="closed"):
        async with db.transaction():
            pass
    assert rows(path, "SELECT message_id FROM audit") == [("in-flight",)]
    assert verify_file(path).count == 1
