"""One alert, readable: persons, documents, vessels and movements as tables, a
document's MRZ as lines in a monospace block, times in UTC with the machine-readable
time beside them, and nothing flattened into JSON paths."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from consolekit import App, console_app, logged_in
from testkit import example_alerts, make_keyring

from node.hub import store
from node.hub.console import alertview
from node.hub.console.display import time_tag
from node.protocol.wire import new_message_id
from node.storage.database import Database, utc_now_text
from schemas.alert import parse_alert

EXAMPLES = ("identity_fraud.json", "maritime.json", "human_trafficking.json", "bulletin.json")
MRZ = [
    "P<TONFINAU<<SIOSAIA<MOSESE<<<<<<<<<<<<<<<<<<",
    "TN48271932TON8703145M2906117<<<<<<<<<<<<<<<8",
]


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example_alerts()[name])
    return data


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[App, dict[str, str]]]:
    """A hub whose inbox holds the schema's example alerts; their ids by file name."""
    db = await Database.open(tmp_path / "hub.db")
    await store.create_tables(db)
    ids = {}
    async with db.transaction() as tx:
        for n, name in enumerate(EXAMPLES):
            data = example(name)
            mid = new_message_id(datetime(2025, 3, 14, 9, 30, n, tzinfo=UTC), bytes([n]) * 10)
            entry = await tx.audit("received", message_id=mid, peer="TO", topic="x")
            await tx.execute(
                "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
                " audit_seq) VALUES (?, ?, 'TO', ?, ?, ?, ?, ?)",
                (
                    mid,
                    utc_now_text(datetime(2025, 3, 14, 9, 31, n, tzinfo=UTC)),
                    data["payload"]["topic"],
                    data["tlp"],
                    data["priority"],
                    json.dumps(data),
                    entry.entry.seq,
                ),
            )
            ids[name] = mid
    await db.close()
    async with console_app(tmp_path / "hub.db", make_keyring().directory, tmp_path) as app:
        await logged_in(app)
        yield app, ids


def test_a_payload_is_laid_out_in_tables() -> None:
    fraud = alertview.layout(parse_alert(json.dumps(example("identity_fraud.json"))))
    (doc,) = fraud.documents
    assert (doc["number"], doc["issuing_state"], doc["status"]) == ("TN4827193", "TON", "stolen")
    assert doc["mrz"] == MRZ
    assert [p["family_name"] for p in fraud.persons] == ["FINAU", "UNKNOWN"]
    assert fraud.persons[0]["date_of_birth"] == "1987-03-14"
    assert fraud.movements[0]["port"] == "NZAKL"
    assert ("Fraud type", "lost or stolen in use") in fraud.facts
    assert fraud.texts[0][0] == "Modus operandi"
    ship = alertview.layout(parse_alert(json.dumps(example("maritime.json"))))
    assert ship.vessels[0]["imo"] == "9074729" and ship.vessels[0]["eta"]
    assert ("Position", "-15.2041, -173.5512") in ship.facts
    assert ("Persons on board", "1874") in ship.facts
    trafficking = alertview.layout(parse_alert(json.dumps(example("human_trafficking.json"))))
    assert {p["list"] for p in trafficking.persons} <= {"Victims", "Suspects"}
    bulletin = alertview.layout(parse_alert(json.dumps(example("bulletin.json"))))
    assert bulletin.cited and bulletin.texts[0][0] == "Analysis"


def test_times_are_utc_with_a_machine_readable_twin() -> None:
    tag = str(time_tag("2025-03-14T22:30:00+13:00"))
    assert tag == '<time datetime="2025-03-14T09:30:00.000Z">2025-03-14 09:30:00 UTC</time>'
    assert 'data-local="inline"' in str(time_tag("2025-03-14T09:30:00+00:00", inline=True))
    assert str(time_tag(None)) == ""


async def test_the_alert_page_shows_tables_and_the_mrz_in_monospace(
    app: tuple[App, dict[str, str]],
) -> None:
    client, ids = app[0].client, app[1]
    page = (await client.get(f"/alerts/{ids['identity_fraud.json']}")).text
    for table in ("persons", "documents", "movements", "facts"):
        assert f'id="{table}"' in page, table
    block = re.search(r'<pre class="mrz"[^>]*>(.*?)</pre>', page, re.S)
    assert block is not None and block.group(1).replace("&lt;", "<") == "\n".join(MRZ)
    assert "documents[0]" not in page and "persons[1]" not in page  # no JSON paths
    assert '<time datetime="2025-03-14T09:30:00.000Z" data-local="inline">' in page
    assert 'href="/alerts?q=doc%3ATN4827193"' in page  # every document is a search
    assert f'href="/bulletins?ref={ids["identity_fraud.json"]}"' in page
    css = (await client.get("/static/console.css")).text
    rule = re.search(r"pre\.mrz \{([^}]*)\}", css)
    assert rule is not None
    assert "monospace" in rule.group(1) and "overflow-x: auto" in rule.group(1)
    ship = (await client.get(f"/alerts/{ids['maritime.json']}")).text
    vessels = re.search(r'<table class="grid" id="vessels">(.*?)</table>', ship, re.S)
    assert (
        vessels is not None
        and "9074729" in vessels.group(1)
        and "CORAL MERIDIAN" in vessels.group(1)
    )
    bulletin = (await client.get(f"/alerts/{ids['bulletin.json']}")).text
    assert "Cited alerts" in bulletin


async def test_pages_carry_no_inline_script(app: tuple[App, dict[str, str]]) -> None:
    client, ids = app[0].client, app[1]
    for path in ("/alerts", f"/alerts/{ids['maritime.json']}", "/traffic", "/correlations"):
        response = await client.get(path)
        assert response.status_code == 200
        scripts = re.findall(r"<script\b[^>]*>", response.text)
        assert scripts == ['<script src="/static/console.js" defer>']
        assert not re.search(r"<[a-z]+\s[^>]*\son[a-z]+=", response.text)  # no handlers
        assert "script-src 'self'" in response.headers["content-security-policy"]
