"""Exports: CSV of every list and STIX 2.1 of alerts hold exactly what the console
shows with the same filters, nothing the hub cannot open, and no cell a spreadsheet
would run as a formula."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from consolekit import FIXED_END, App, console_app, copy_database, logged_in, small_year
from testkit import example_alerts

from node.handlers.builtin.stix_bundle import TLP_MARKING_IDS
from node.hub import store
from node.hub.console import export
from node.hub.correlate import mentions
from node.protocol.wire import new_message_id
from node.storage.database import Database, utc_now_text
from node.storage.readonly import read_only
from schemas.alert import Tlp, parse_alert

FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "-2+3", "@cmd")


@pytest.fixture
async def app(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> AsyncIterator[App]:
    source, year = small_year(tmp_path_factory.mktemp("year"))
    db = copy_database(source, tmp_path / "hub.db")
    await hostile_rows(db)
    async with console_app(db, year.keyring.directory, tmp_path, clock=FIXED_END) as app:
        await logged_in(app)
        yield app


HOSTILE = new_message_id(FIXED_END, b"\x01" * 10)


async def hostile_rows(path: Path) -> None:
    """An alert for the hub, a link and a bulletin whose text begins like formulas."""
    alert = json.loads(example_alerts()["identity_fraud.json"])
    alert |= {"title": FORMULAS[0], "summary": FORMULAS[1], "contact": FORMULAS[3]}
    alert["payload"]["modus_operandi"] = FORMULAS[2]
    text = parse_alert(json.dumps(alert)).model_dump_json(exclude_none=True)
    now = utc_now_text(FIXED_END)
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            entry = await tx.audit(
                "received", message_id=HOSTILE, peer="TO", topic="identity_fraud"
            )
            await tx.execute(
                "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
                " audit_seq) VALUES (?, ?, 'TO', 'identity_fraud', 'GREEN', 'urgent', ?, ?)",
                (HOSTILE, now, text, entry.entry.seq),
            )
        # As the correlation index would: its entities and search terms.
        found = mentions(parse_alert(text))
        await store.store_mentions(db, HOSTILE, "TO", FIXED_END, found, FIXED_END)
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO hub_links (id, kind, label, strength, rule, alerts, reasons, keys,"
                " count, first_seen, updated_at) VALUES ('ffffffffffffffff', 'phone', ?,"
                " 'strong', 'members', '[]', ?, '[]', 2, ?, ?)",
                (FORMULAS[3], json.dumps([FORMULAS[0]]), now, now),
            )
            await tx.execute(
                "INSERT INTO hub_bulletins (message_id, created_at, title, tlp, priority,"
                " recipients, alert, links) VALUES (?, ?, ?, 'GREEN', 'routine', 'WS', '{}', '[]')",
                (new_message_id(FIXED_END, b"\x02" * 10), now, FORMULAS[2]),
            )
    finally:
        await db.close()


def sql(app: App, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with read_only(app.hub.reader.path) as snap:
        return [tuple(r) for r in snap.all(query, params)]


def some_document(app: App) -> str:
    """A document number a few alerts name (a STIX export costs ~10 ms an alert)."""
    (number,), *_ = sql(
        app,
        "SELECT term FROM hub_terms WHERE kind = 'document' GROUP BY term"
        " HAVING COUNT(*) BETWEEN 3 AND 12 ORDER BY term",
    )
    return str(number)


async def download(app: App, url: str, kind: str = "text/csv") -> str:
    response = await app.client.get(url)
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["content-disposition"].startswith('attachment; filename="lali-')
    assert "script-src 'self'" in response.headers["content-security-policy"]
    return response.text


def table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def assert_defused(records: list[dict[str, str]]) -> None:
    for record in records:
        for value in record.values():
            assert not value.startswith(export.FORMULA_START), value


def test_a_cell_that_looks_like_a_formula_is_quoted() -> None:
    for text in (*FORMULAS, "\tx", "\rx"):
        assert export.cell(text) == "'" + text
    assert export.cell("+679 912 3456") == "'+679 912 3456"
    assert (export.cell(-3), export.cell(2.5), export.cell(None)) == (-3, 2.5, "")
    assert export.cell("TUPOU, Sione") == "TUPOU, Sione"
    assert export.csv_line(["=1+1", 7]) == b"'=1+1,7\r\n"


async def test_the_alerts_csv_holds_the_inbox_and_nothing_else(app: App) -> None:
    header, records = table(await download(app, "/alerts/export.csv"))
    assert tuple(header) == export.ALERT_COLUMNS
    inbox = {r[0] for r in sql(app, "SELECT message_id FROM inbox")}
    assert [r["message_id"] for r in records] == [
        r[0]
        for r in sql(app, "SELECT message_id FROM inbox ORDER BY received_at DESC, message_id DESC")
    ]
    not_ours = {
        r[0]
        for r in sql(app, "SELECT message_id FROM hub_traffic WHERE kind = 'alert'")
        if r[0] not in inbox
    }
    assert not_ours and not not_ours & {r["message_id"] for r in records}
    hostile = next(r for r in records if r["message_id"] == HOSTILE)
    assert (hostile["title"], hostile["summary"]) == ("'" + FORMULAS[0], "'" + FORMULAS[1])
    assert "TN4827193" in hostile["documents"] and "FINAU" in hostile["persons"]
    assert_defused(records)


async def test_the_alerts_csv_follows_the_filters(app: App) -> None:
    number = some_document(app)
    _, records = table(await download(app, f"/alerts/export.csv?q=doc:{number}&tlp=AMBER"))
    expected = sql(
        app,
        "SELECT message_id FROM inbox WHERE tlp = 'AMBER' AND message_id IN"
        " (SELECT message_id FROM hub_terms WHERE kind = 'document' AND term = ?)",
        (number,),
    )
    assert sorted(r["message_id"] for r in records) == sorted(r[0] for r in expected)
    assert {r["tlp"] for r in records} <= {"AMBER"}


async def test_the_traffic_csv_is_metadata_only(app: App) -> None:
    header, records = table(await download(app, "/traffic/export.csv?sender=WS&kind=all"))
    assert tuple(header) == export.TRAFFIC_COLUMNS
    assert not {"title", "summary", "documents", "persons"} & set(header)
    assert len(records) == sql(app, "SELECT COUNT(*) FROM hub_traffic WHERE sender = 'WS'")[0][0]
    assert {r["sender"] for r in records} == {"WS"}
    alerts = [r for r in records if r["kind"] == "alert" and r["status"] == "verified"]
    assert alerts and all(r["receipts"].isdigit() for r in alerts)


async def test_links_and_bulletins_csv_are_defused(app: App) -> None:
    _, links = table(await download(app, "/correlations/export.csv?weak=1"))
    assert len(links) == sql(app, "SELECT COUNT(*) FROM hub_links")[0][0]
    hostile = next(r for r in links if r["link_id"] == "ffffffffffffffff")
    assert (hostile["label"], hostile["reasons"]) == ("'" + FORMULAS[3], "'" + FORMULAS[0])
    some = next(r for r in links if int(r["alerts"]) > 2)
    assert len(some["message_ids"].split()) == int(some["alerts"])
    assert_defused(links)
    _, bulletins = table(await download(app, "/bulletins/export.csv"))
    assert len(bulletins) == sql(app, "SELECT COUNT(*) FROM hub_bulletins")[0][0]
    assert "'" + FORMULAS[2] in {r["title"] for r in bulletins}
    assert_defused(bulletins)


async def test_the_stix_bundle_holds_the_alerts_that_match(app: App) -> None:
    number = some_document(app)
    text = await download(app, f"/alerts/export.stix.json?q={number}", "application/stix+json")
    bundle = json.loads(text)
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    ids = [o["id"] for o in bundle["objects"]]
    assert len(ids) == len(set(ids)), "a shared object twice"
    reports = {
        o["external_references"][0]["external_id"]: o
        for o in bundle["objects"]
        if o["type"] == "report"
    }
    expected = dict(
        sql(
            app,
            "SELECT message_id, tlp FROM inbox WHERE message_id IN"
            " (SELECT message_id FROM hub_terms WHERE kind = 'document' AND term = ?)",
            (number,),
        )
    )
    assert set(reports) == set(expected) and len(expected) > 1
    for mid, report in reports.items():
        assert report["object_marking_refs"] == [TLP_MARKING_IDS[Tlp(expected[mid])]]
        assert set(report["object_refs"]) <= set(ids)


async def test_one_alert_as_stix_and_only_if_the_hub_holds_it(app: App) -> None:
    bundle = json.loads(
        await download(app, f"/alerts/{HOSTILE}/stix.json", "application/stix+json")
    )
    (report,) = [o for o in bundle["objects"] if o["type"] == "report"]
    assert report["name"] == FORMULAS[0]  # JSON is data: nothing to defuse
    documents = [o for o in bundle["objects"] if o["type"] == "lali-travel-document"]
    assert documents[0]["number"] == "TN4827193"
    (elsewhere,), *_ = sql(
        app,
        "SELECT message_id FROM hub_traffic WHERE kind = 'alert' AND message_id IS NOT NULL"
        " AND message_id NOT IN (SELECT message_id FROM inbox)",
    )
    assert (await app.client.get(f"/alerts/{elsewhere}/stix.json")).status_code == 404
    assert (await app.client.get(f"/alerts/{elsewhere}")).status_code == 404
    assert (await app.client.get("/alerts/not-an-id/stix.json")).status_code == 404
