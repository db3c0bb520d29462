"""Keyset pagination: walking a list page by page ("older" links carrying the last
key) visits every row once, with no duplicate and no gap, while new rows arrive —
on a copy of the small year (``consolekit.small_year``) written to between pages."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from consolekit import (
    FIXED_END,
    OLDER,
    App,
    console_app,
    copy_database,
    logged_in,
    rows_of,
    small_year,
)

from node.hub import store
from node.protocol.wire import new_message_id
from node.storage.database import Database, utc_now_text
from node.storage.readonly import read_only

NEWER = re.compile(r'<a href="([^"]+)" class="newer"')
Insert = Callable[[Database, int], Awaitable[str]]


@pytest.fixture
async def db(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> AsyncIterator[Path]:
    source, _ = small_year(tmp_path_factory.mktemp("year"))
    yield copy_database(source, tmp_path / "hub.db")


@pytest.fixture
async def app(db: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    _, year = small_year(tmp_path_factory.mktemp("year"))
    root = tmp_path_factory.mktemp("console")
    async with console_app(db, year.keyring.directory, root, clock=FIXED_END) as app:
        await logged_in(app)
        yield app


def ids(db: Path, query: str) -> list[str]:
    with read_only(db) as snap:
        return [str(r[0]) for r in snap.all(query)]


# New rows, as they arrive while an analyst pages: each newer than all before it.


async def new_traffic(db: Database, n: int) -> str:
    now = FIXED_END + timedelta(minutes=n)
    mid = new_message_id(now, bytes(10))
    row = store.TrafficRow(
        10_000_000 + n, "alert", "lali.alert.asylum.WS", "WS", None, "asylum", "AMBER",
        "urgent", 900, 3, mid, now, now, "verified",
    )  # fmt: skip
    async with db.transaction() as tx:
        await store.insert_traffic(tx, row, now)
    return str(row.stream_seq)


async def new_alert(db: Database, n: int) -> str:
    now = FIXED_END + timedelta(minutes=n)
    mid = new_message_id(now, n.to_bytes(10, "big"))
    alert = {"title": f"late {n}", "summary": "s", "priority": "urgent", "tlp": "AMBER",
             "payload": {"topic": "asylum"}}  # fmt: skip
    async with db.transaction() as tx:
        entry = await tx.audit("received", message_id=mid, peer="WS", topic="asylum")
        await tx.execute(
            "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
            " audit_seq) VALUES (?, ?, 'WS', 'asylum', 'AMBER', 'urgent', ?, ?)",
            (mid, utc_now_text(now), json.dumps(alert), entry.entry.seq),
        )
    return mid


async def new_link(db: Database, n: int) -> str:
    now = utc_now_text(FIXED_END + timedelta(minutes=n))
    link = f"{n:016x}"
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO hub_links (id, kind, label, strength, rule, alerts, reasons, keys, count,"
            " first_seen, updated_at) VALUES (?, 'phone', '+1', 'strong', 'members', '[]',"
            " '[]', '[]', 2, ?, ?)",
            (link, now, now),
        )
    return link


async def new_bulletin(db: Database, n: int) -> str:
    now = FIXED_END + timedelta(minutes=n)
    mid = new_message_id(now, n.to_bytes(10, "big"))
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO hub_bulletins (message_id, created_at, title, tlp, priority, recipients,"
            " alert, links) VALUES (?, ?, 'late', 'AMBER', 'routine', 'WS', '{}', '[]')",
            (mid, utc_now_text(now)),
        )
    return mid


LISTS = [
    # (first page, row attribute, every row in list order (SQL), insert one)
    (
        "/traffic?sender=WS&kind=all&n=100",
        "data-seq",
        "SELECT stream_seq FROM hub_traffic WHERE sender = 'WS'"
        " ORDER BY stored_at DESC, stream_seq DESC",
        new_traffic,
    ),
    (
        "/alerts?n=200",
        "data-message",
        "SELECT message_id FROM inbox ORDER BY received_at DESC, message_id DESC",
        new_alert,
    ),
    (
        "/correlations?weak=1&n=200",
        "data-link",
        "SELECT id FROM hub_links ORDER BY updated_at DESC, id DESC",
        new_link,
    ),
    (
        "/bulletins?n=50",
        "data-message",
        "SELECT message_id FROM hub_bulletins ORDER BY created_at DESC, message_id DESC",
        new_bulletin,
    ),
]


@pytest.mark.parametrize(("url", "attribute", "everything", "insert"), LISTS)
async def test_a_walk_sees_every_row_once_while_rows_arrive(
    app: App, db: Path, url: str, attribute: str, everything: str, insert: Insert
) -> None:
    before = ids(db, everything)
    writer = await Database.open(db)
    try:
        # 1. Older and older, to the end; a new row arrives after every page.
        seen: list[str] = []
        added: list[str] = []
        page = await app.client.get(url)
        while True:
            seen += rows_of(page.text, attribute)
            added.append(await insert(writer, len(added) + 1))
            more = OLDER.search(page.text)
            if more is None:
                break
            page = await app.client.get(more.group(1).replace("&amp;", "&"))
        assert len(seen) == len(set(seen)), "a row was shown twice"
        assert seen == before, "the walk missed or reordered rows"
        # 2. Back up with "newer" links: the same rows, then the ones that arrived.
        back: list[str] = rows_of(page.text, attribute)
        while more := NEWER.search(page.text):
            page = await app.client.get(more.group(1).replace("&amp;", "&"))
            back = rows_of(page.text, attribute) + back
        assert len(back) == len(set(back))
        assert back == list(reversed(added)) + before
    finally:
        await writer.close()
    assert len(before) > 100


async def test_rows_with_the_same_time_are_told_apart_by_their_id(app: App, db: Path) -> None:
    """Keys are (time, id): rows received in the same millisecond still page cleanly."""
    writer = await Database.open(db)
    try:
        at = FIXED_END + timedelta(days=1)
        async with writer.transaction() as tx:
            for n in range(130):
                mid = new_message_id(at, n.to_bytes(10, "big"))
                entry = await tx.audit("received", message_id=mid, peer="FJ", topic="asylum")
                await tx.execute(
                    "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority,"
                    " alert, audit_seq) VALUES (?, ?, 'FJ', 'asylum', 'GREEN', 'routine',"
                    ' \'{"title": "t"}\', ?)',
                    (mid, utc_now_text(at), entry.entry.seq),
                )
    finally:
        await writer.close()
    url = f"/alerts?since={(at - timedelta(seconds=1)).isoformat()}&n=25"
    seen: list[str] = []
    while url:
        page = await app.client.get(url.replace("+", "%2B"))
        seen += rows_of(page.text, "data-message")
        more = OLDER.search(page.text)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert len(seen) == len(set(seen)) == 130


async def test_a_key_from_an_old_link_still_pages(app: App, db: Path) -> None:
    """A cursor names a position, not a row: after the row it came from is gone (pruned
    traffic), the link still lists what is older than it."""
    first = await app.client.get("/traffic?n=20")
    older = OLDER.search(first.text)
    assert older is not None
    last = rows_of(first.text, "data-seq")[-1]
    writer = await Database.open(db)
    try:
        async with writer.transaction() as tx:
            await tx.execute("DELETE FROM hub_traffic WHERE stream_seq = ?", (int(last),))
    finally:
        await writer.close()
    page = await app.client.get(older.group(1).replace("&amp;", "&"))
    rows = rows_of(page.text, "data-seq")
    assert len(rows) == 20 and last not in rows
    assert rows == ids(
        db,
        "SELECT stream_seq FROM hub_traffic WHERE kind = 'alert'"
        " ORDER BY stored_at DESC, stream_seq DESC LIMIT 20 OFFSET 19",
    )
