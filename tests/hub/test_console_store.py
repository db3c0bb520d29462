"""What the hub's tables keep for the console: search terms (and their one-time
backfill), tables filled once from what an older database holds, traffic totals kept
by triggers, and checkpoint evidence that judges like every checkpoint held."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from testkit import example_alerts

from node.hub import store
from node.hub.checks import HeldCheckpoint, judge_checkpoints
from node.hub.correlate import Link, LinkedAlert
from node.protocol.wire import new_message_id
from node.storage.database import Database, utc_now_text
from node.storage.readonly import Reader
from schemas.alert import parse_alert

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def inbox_alert(db: Database, name: str, n: int) -> str:
    mid = new_message_id(T0 + timedelta(minutes=n), bytes([n]) * 10)
    async with db.transaction() as tx:
        entry = await tx.audit("received", message_id=mid, peer="TO", topic="x")
        data = json.loads(example_alerts()[name])
        await tx.execute(
            "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
            " audit_seq) VALUES (?, ?, 'TO', ?, ?, ?, ?, ?)",
            (mid, utc_now_text(T0 + timedelta(minutes=n)), data["payload"]["topic"], data["tlp"],
             data["priority"], json.dumps(data), entry.entry.seq),
        )  # fmt: skip
        await tx.execute(
            "INSERT INTO hub_indexed (message_id, indexed_at, mentions) VALUES (?, ?, 0)",
            (mid, utc_now_text()),
        )
    return mid


def test_search_terms_of_an_alert() -> None:
    terms = store.search_terms(parse_alert(example_alerts()["identity_fraud.json"]))
    assert ("document", "tn4827193") in terms
    assert {("person", "siosaia mosese finau"), ("person", "finau siosaia mosese")} <= terms
    assert {("person", "finau"), ("person", "mosese")} <= terms
    ship = store.search_terms(parse_alert(example_alerts()["maritime.json"]))
    assert {("vessel", "9074729"), ("vessel", "311000517"), ("vessel", "c6xy7")} <= ship
    assert {("vessel", "coral meridian"), ("vessel", "meridian")} <= ship
    assert store.Search("TN 482-7193", "document").prefixes() == [("document", "tn4827193")]
    assert store.Search("+679 912").prefixes()[-1] == ("phone", "679912")
    assert store.Search("x").prefixes() == []


async def test_terms_are_made_once_for_alerts_indexed_before(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        ids = [await inbox_alert(db, name, n) for n, name in enumerate(
            ("identity_fraud.json", "maritime.json", "asylum.json"))]  # fmt: skip
        reader = Reader(db.path)
        q = store.AlertQuery(search=store.Search("tn4827193"))
        assert (await store.alerts_page(reader, q, store.Window())).rows == []
        done = [await store.backfill_terms(db, reader, batch=2) for _ in range(4)]
        assert done == [2, 1, 0, 0]
        assert await store.state(reader, store.TERMS_DONE) is True
        page = await store.alerts_page(reader, q, store.Window())
        assert [r["message_id"] for r in page.rows] == [ids[0]]
    finally:
        await db.close()


async def test_an_older_database_gets_the_new_tables_filled(tmp_path: Path) -> None:
    """Links and checkpoints written before the hub kept their rows and summaries are
    copied once, when the hub starts (``create_tables``)."""
    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        alerts = [
            {"message_id": f"m{n}", "sender": s, "at": utc_now_text(T0), "label": "x"}
            for n, s in enumerate(("WS", "FJ", "WS"))
        ]
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO hub_links (id, kind, label, strength, rule, alerts, reasons, keys,"
                " count, first_seen, updated_at) VALUES ('a1', 'phone', '+1', 'strong',"
                " 'members', ?, '[]', '[]', 3, ?, ?)",
                (json.dumps(alerts), utc_now_text(T0), utc_now_text(T0)),
            )
            for table in ("hub_link_alerts", "hub_link_senders", "hub_checkpoint_summary"):
                await tx.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            await tx.execute("DELETE FROM hub_state WHERE key = 'checkpoints_summarised'")
            await tx.execute("DROP TRIGGER hub_checkpoint_summarised")
            for count, minute in ((10, 1), (30, 2), (20, 3), (40, 4)):
                await tx.execute(
                    "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                    " VALUES ('WS', ?, ?, ?, x'00')",
                    (count, bytes([count]) * 32, utc_now_text(T0 + timedelta(minutes=minute))),
                )
        await store.create_tables(db)
        reader = Reader(db.path)
        rows = await reader.all("SELECT message_id, sender FROM hub_link_alerts ORDER BY 1")
        assert [tuple(r) for r in rows] == [("m0", "WS"), ("m1", "FJ"), ("m2", "WS")]
        senders = await reader.all("SELECT sender, alerts FROM hub_link_senders ORDER BY 1")
        assert [tuple(r) for r in senders] == [("FJ", 1), ("WS", 2)]
        summary = await reader.one("SELECT held, earlier, later FROM hub_checkpoint_summary")
        assert summary is not None and tuple(summary) == (4, 30, 20)
        await store.create_tables(db)  # again: nothing is copied twice
        again = await reader.one("SELECT held FROM hub_checkpoint_summary")
        assert again is not None and again[0] == 4
    finally:
        await db.close()


async def test_traffic_totals_follow_inserts_and_pruning(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        async with db.transaction() as tx:
            for seq, status in ((1, "verified"), (2, "bad_signature"), (3, "verified")):
                row = store.TrafficRow(
                    seq, "alert", "lali.alert.asylum.WS", "WS", None, "asylum", "GREEN",
                    "routine", 100 * seq, 1, f"m{seq}", T0, None, status,
                )  # fmt: skip
                assert await store.insert_traffic(tx, row, T0 + timedelta(days=seq))
            assert not await store.insert_traffic(tx, row, T0)  # held already: not counted
        reader = Reader(db.path)
        assert await store.traffic_totals(reader) == store.TrafficTotals(3, 600, 1)
        stored = await reader.one("SELECT stored_at FROM hub_traffic WHERE stream_seq = 3")
        assert stored is not None and stored[0] == utc_now_text(T0 + timedelta(days=3))
        assert (
            await store.prune_traffic(db, timedelta(days=1), T0 + timedelta(days=3, hours=1)) == 2
        )
        assert await store.traffic_totals(reader) == store.TrafficTotals(1, 300, 0)
    finally:
        await db.close()


# Checkpoints of one member as (count, minute signed), in the order they arrive.
CHECKPOINT_CASES = [
    pytest.param([(1, 1), (5, 2), (9, 3)], id="counts only grow"),
    pytest.param([(10, 1), (30, 2), (20, 3), (40, 4)], id="went back, then grew past"),
    pytest.param([(10, 1), (30, 3), (20, 2)], id="arrived late, in order when signed"),
    pytest.param([(30, 1), (10, 2)], id="went back at the end"),
    pytest.param([(20, 3), (10, 5), (30, 1)], id="arrived late, went back"),
    pytest.param([(7, 1)], id="one"),
    pytest.param([], id="none"),
]


@pytest.mark.parametrize("arrivals", CHECKPOINT_CASES)
async def test_checkpoint_evidence_judges_like_every_checkpoint(
    tmp_path: Path, arrivals: list[tuple[int, int]]
) -> None:
    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        for count, minute in arrivals:  # one transaction each, as they arrive
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                    " VALUES ('WS', ?, ?, ?, x'00')",
                    (count, bytes([count]) * 32, utc_now_text(T0 + timedelta(minutes=minute))),
                )
        reader = Reader(db.path)
        every = [
            HeldCheckpoint(count, bytes([count]) * 32, T0 + timedelta(minutes=minute))
            for count, minute in arrivals
        ]
        digest = (await store.checkpoint_digests(reader, ["WS", "FJ"]))["WS"]
        assert digest.held == len(arrivals)
        full, summary = judge_checkpoints(every, 0, 50), judge_checkpoints(digest.evidence, 0, 50)
        assert summary.state == full.state
        assert summary.latest == full.latest
        assert [type(f) for f in summary.findings] == [type(f) for f in full.findings]
    finally:
        await db.close()


async def test_a_links_rows_follow_the_link(tmp_path: Path) -> None:
    def link(link_id: str, *alerts: tuple[str, str]) -> Link:
        return Link(
            link_id, "phone", "+1", "strong", "members",
            tuple(LinkedAlert(m, s, T0, m.upper()) for m, s in alerts), ("why",),
        )  # fmt: skip

    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        reader = Reader(db.path)

        async def rows() -> list[tuple[str, ...]]:
            held = await reader.all("SELECT link_id, message_id FROM hub_link_alerts ORDER BY 1, 2")
            members = await reader.all("SELECT link_id, sender, alerts FROM hub_link_senders")
            return [tuple(r) for r in held] + [tuple(map(str, r)) for r in members]

        await store.save_links(db, [link("a", ("m1", "WS"), ("m2", "FJ"))], T0)
        assert await rows() == [("a", "m1"), ("a", "m2"), ("a", "FJ", "1"), ("a", "WS", "1")]
        await store.save_links(
            db,
            [
                link("a", ("m1", "WS"), ("m2", "FJ"), ("m3", "WS")),
                link("b", ("m3", "WS"), ("m4", "WS")),
            ],
            T0,
        )
        assert (await rows())[:5] == [
            ("a", "m1"),
            ("a", "m2"),
            ("a", "m3"),
            ("b", "m3"),
            ("b", "m4"),
        ]
        # m1 left the link (b went): its row goes, the others stay, m5 and m6 come.
        again = link("a", ("m2", "FJ"), ("m3", "WS"), ("m5", "TO"), ("m6", "TO"))
        await store.save_links(db, [again], T0)
        assert sorted(await rows()) == [
            ("a", "FJ", "1"), ("a", "TO", "2"), ("a", "WS", "1"),
            ("a", "m2"), ("a", "m3"), ("a", "m5"), ("a", "m6"),
        ]  # fmt: skip
        assert await store.link_counts(reader, ["m3", "m4"]) == {"m3": 1}
    finally:
        await db.close()
