"""Search and filters on the console's lists, over a small year of traffic
(``consolekit.small_year``: 5,000 alerts from 20 members): the search box finds an
alert by each kind of key, every filter keeps exactly the rows it names (checked
against SQL written out here), and the query string is read strictly."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from consolekit import FIXED_END, App, console_app, logged_in, small_year, walk

from node.hub import store
from node.hub.console import search
from node.storage.readonly import Reader, read_only

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    return small_year(tmp_path_factory.mktemp("year"))


@pytest.fixture
async def app(year: tuple[Path, Any], tmp_path: Path) -> AsyncIterator[App]:
    db, built = year
    async with console_app(db, built.keyring.directory, tmp_path, clock=FIXED_END) as app:
        await logged_in(app)
        yield app


def sql(db: Path, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """The oracle: rows of ``query``, SQL written out in each test (with its own fixed
    conditions, hence the f-strings)."""
    with read_only(db) as snap:
        return [tuple(r) for r in snap.all(query, params)]


def inbox(db: Path) -> dict[str, dict[str, Any]]:
    """Every inbox alert's JSON, by message id."""
    return {mid: json.loads(text) for mid, text in sql(db, "SELECT message_id, alert FROM inbox")}


def persons(alert: dict[str, Any]) -> list[dict[str, Any]]:
    p = alert["payload"]
    return [*p.get("persons", []), *p.get("victims", []), *p.get("suspects", [])]


def vessels(alert: dict[str, Any]) -> list[dict[str, Any]]:
    p = alert["payload"]
    return [p["vessel"], *p.get("vessels", [])] if "vessel" in p else p.get("vessels", [])


def first(alerts: dict[str, dict[str, Any]], test: Any) -> tuple[str, Any]:
    """The first alert (in id order) for which ``test`` gives a value, and the value."""
    for mid in sorted(alerts):
        value = test(alerts[mid])
        if value:
            return mid, value
    raise AssertionError("the fixture has no such alert")


async def found(app: App, q: str) -> set[str]:
    ids = await walk(app, f"/alerts?n=200&q={q}")
    assert len(ids) == len(set(ids))
    return set(ids)


# --- the search box, one key at a time ---------------------------------------------------


async def test_search_finds_a_document_number(app: App, year: tuple[Path, Any]) -> None:
    alerts = inbox(year[0])
    mid, number = first(alerts, lambda a: a["payload"].get("documents", [{}])[0].get("number"))
    expected = {m for m, a in alerts.items() if number in json.dumps(a)}
    assert mid in expected
    # Any case, with the spaces and hyphens people type, with or without "doc:".
    typed = f"{number[:2].lower()} {number[2:5]}-{number[5:]}"
    for q in (number, f"doc:{typed}", f"passport:{number.lower()}"):
        assert await found(app, q) == expected, q


async def test_search_finds_a_vessel_by_imo_mmsi_and_name(app: App, year: tuple[Path, Any]) -> None:
    alerts = inbox(year[0])
    mid, vessel = first(alerts, lambda a: next((v for v in vessels(a) if "imo" in v), None))
    for key in ("imo", "mmsi"):
        expected = {
            m for m, a in alerts.items() if any(v.get(key) == vessel[key] for v in vessels(a))
        }
        assert mid in expected
        assert await found(app, vessel[key]) >= expected
        assert await found(app, f"{key}:{vessel[key]}") >= expected
    named = {m for m, a in alerts.items() if any(v["name"] == vessel["name"] for v in vessels(a))}
    by_name = await found(app, f"vessel:{vessel['name'].lower()}")
    assert mid in by_name and named <= by_name
    assert all(vessel["name"] in json.dumps(alerts[m]) for m in by_name)


async def test_search_finds_a_person_by_name_in_either_order(
    app: App, year: tuple[Path, Any]
) -> None:
    alerts = inbox(year[0])

    def named(a: dict[str, Any]) -> dict[str, Any] | None:
        return next((p for p in persons(a) if " " not in p.get("given_names", "-")), None)

    _, person = first(alerts, named)
    given, family = person["given_names"], person["family_name"]
    expected = {
        m
        for m, a in alerts.items()
        if any(p.get("given_names") == given and p["family_name"] == family for p in persons(a))
    }
    for q in (f"{given} {family}", f"person:{family.lower()}, {given.title()}"):
        results = await found(app, q)
        assert expected <= results, q
        for m in results:  # and nothing else: both words in one name of each alert
            text = json.dumps(alerts[m]).lower()
            assert given.lower() in text and family.lower() in text
    by_family = await found(app, f"name:{family}")
    assert expected <= by_family
    assert all(family in json.dumps(alerts[m]) for m in by_family)


async def test_search_finds_a_phone_number_whole_or_local(app: App, year: tuple[Path, Any]) -> None:
    alerts = inbox(year[0])
    _, phone = first(alerts, lambda a: re.search(r"\+\d+ \d{3} \d{4}", a["contact"]))
    number = phone.group(0)
    expected = {m for m, a in alerts.items() if number in a["summary"] + a["contact"]}
    digits = number.replace("+", "").replace(" ", "")
    assert await found(app, f"phone:{number}") == expected
    assert await found(app, digits) >= expected
    assert await found(app, f"phone:{digits[-7:-4]} {digits[-4:]}") >= expected


async def test_search_finds_a_message_id_from_its_start(app: App, year: tuple[Path, Any]) -> None:
    mid = sorted(inbox(year[0]))[100]
    assert await found(app, mid) == {mid}
    assert mid in await found(app, mid[:13])
    assert mid in await found(app, f"id:{mid[:8]}")
    assert await found(app, "id:zz") == set()


async def test_search_combines_with_filters(app: App, year: tuple[Path, Any]) -> None:
    db = year[0]
    alerts = inbox(db)
    _, family = first(alerts, lambda a: next((p["family_name"] for p in persons(a)), None))
    meta = {r[0]: r[1:] for r in sql(db, "SELECT message_id, sender, tlp FROM inbox")}
    everything = await found(app, f"name:{family}")
    sender = meta[sorted(everything)[0]][0]
    narrowed = await found(app, f"name:{family} from:{sender}")
    assert narrowed == {m for m in everything if meta[m][0] == sender}
    page = await app.client.get(f"/alerts?q=name:{family}&sender={sender}&tlp=GREEN")
    assert set(re.findall(r'data-tlp="([^"]+)"', page.text)) <= {"GREEN"}


# --- filters on every list ---------------------------------------------------------------


async def all_rows(page: Any, reader: Reader, q: Any, key: str) -> list[Any]:
    """Every row of a store list, a page of 300 at a time; the keys, checked in order."""
    rows, window = [], store.Window(300)
    while True:
        got = await page(reader, q, window)
        rows += [r[key] for r in got.rows]
        if got.older is None:
            return rows
        window = store.Window(300, before=got.older)


TRAFFIC_CASES = [
    (store.TrafficQuery(), "kind = 'alert'"),
    (store.TrafficQuery(kind="receipt"), "kind = 'receipt'"),
    (store.TrafficQuery(kind="all"), "1"),
    (store.TrafficQuery(sender="FJ"), "kind = 'alert' AND sender = 'FJ'"),
    (store.TrafficQuery(topic="asylum"), "kind = 'alert' AND topic = 'asylum'"),
    (store.TrafficQuery(tlp="RED"), "kind = 'alert' AND tlp = 'RED'"),
    (store.TrafficQuery(priority="flash"), "kind = 'alert' AND priority = 'flash'"),
    (store.TrafficQuery(kind="all", status="rejected"), "status != 'verified'"),
    (
        store.TrafficQuery(sender="NZ", topic="maritime", tlp="AMBER"),
        "kind = 'alert' AND sender = 'NZ' AND topic = 'maritime' AND tlp = 'AMBER'",
    ),
    (
        store.TrafficQuery(
            kind="receipt",
            since=FIXED_END - timedelta(days=40),
            until=FIXED_END - timedelta(days=9),
        ),
        "kind = 'receipt' AND stored_at >= '2026-10-20T12:00:00.000+00:00'"
        " AND stored_at < '2026-11-20T12:00:00.000+00:00'",
    ),
]


@pytest.mark.parametrize(("q", "where"), TRAFFIC_CASES)
async def test_traffic_filters_keep_exactly_their_rows(
    year: tuple[Path, Any], q: store.TrafficQuery, where: str
) -> None:
    db = year[0]
    got = await all_rows(store.traffic_page, Reader(db), q, "stream_seq")
    expected = sql(
        db,
        f"SELECT stream_seq FROM hub_traffic WHERE {where} ORDER BY stored_at, stream_seq",  # noqa: S608
    )
    assert got == [r[0] for r in reversed(expected)]


ALERT_CASES = [
    ("sender", "WS"),
    ("topic", "maritime"),
    ("tlp", "AMBER+STRICT"),
    ("priority", "urgent"),
]


@pytest.mark.parametrize(("column", "value"), ALERT_CASES)
async def test_alert_filters_keep_exactly_their_rows(
    app: App, year: tuple[Path, Any], column: str, value: str
) -> None:
    db = year[0]
    expected = sql(
        db,
        f"SELECT message_id FROM inbox WHERE {column} = ? ORDER BY received_at DESC,"  # noqa: S608
        " message_id DESC",
        (value,),
    )
    q = store.AlertQuery(**{column: value})
    assert await all_rows(store.alerts_page, Reader(db), q, "message_id") == [
        r[0] for r in expected
    ]
    page = await app.client.get(f"/alerts?{column}={value.replace('+', '%2B')}")
    assert set(re.findall(rf'data-{column}="([^"]+)"', page.text)) == {value}
    assert f'<option value="{value}" selected>' in page.text


async def test_alert_time_range_and_link_filters(year: tuple[Path, Any]) -> None:
    db = year[0]
    since, until = FIXED_END - timedelta(days=60), FIXED_END - timedelta(days=30)
    q = store.AlertQuery(since=since, until=until)
    got = await all_rows(store.alerts_page, Reader(db), q, "received_at")
    count = sql(
        db,
        "SELECT COUNT(*) FROM inbox WHERE received_at >= ? AND received_at < ?",
        (since.isoformat(timespec="milliseconds"), until.isoformat(timespec="milliseconds")),
    )[0][0]
    assert len(got) == count > 0
    assert all(since.isoformat() <= t < until.isoformat() for t in got)
    (link, size), *_ = sql(db, "SELECT id, count FROM hub_links ORDER BY count DESC")
    members = await all_rows(
        store.alerts_page, Reader(db), store.AlertQuery(link=link), "message_id"
    )
    assert sorted(members) == sorted(
        r[0] for r in sql(db, "SELECT message_id FROM hub_link_alerts WHERE link_id = ?", (link,))
    )
    assert len(members) == size


LINK_CASES = [
    (store.LinkQuery(), "1"),
    (store.LinkQuery(strengths=("strong", "medium")), "strength != 'weak'"),
    (
        store.LinkQuery(kind="person", strengths=("medium",)),
        "kind = 'person' AND strength = 'medium'",
    ),
    (store.LinkQuery(rule="recurrence"), "rule = 'recurrence'"),
    (
        store.LinkQuery(sender="TO"),
        "id IN (SELECT link_id FROM hub_link_alerts WHERE sender = 'TO')",
    ),
]


@pytest.mark.parametrize(("q", "where"), LINK_CASES)
async def test_link_filters_keep_exactly_their_rows(
    year: tuple[Path, Any], q: store.LinkQuery, where: str
) -> None:
    db = year[0]
    expected = sql(db, f"SELECT id FROM hub_links WHERE {where} ORDER BY updated_at DESC, id DESC")  # noqa: S608
    assert await all_rows(store.links_page, Reader(db), q, "id") == [r[0] for r in expected]


async def test_link_search_and_the_links_of_an_alert(app: App, year: tuple[Path, Any]) -> None:
    db = year[0]
    (link, key, alert), *_ = sql(
        db,
        "SELECT l.id, l.keys, a.message_id FROM hub_links l JOIN hub_link_alerts a"
        " ON a.link_id = l.id WHERE l.kind = 'document' ORDER BY l.count DESC",
    )
    number = json.loads(key)[0].split("|")[1]
    page = await app.client.get(f"/correlations?weak=1&q={number}")
    assert f'data-link="{link}"' in page.text
    of_alert = await walk(app, f"/correlations?alert={alert}&weak=1&n=200", "data-link")
    assert sorted(of_alert) == sorted(
        r[0] for r in sql(db, "SELECT link_id FROM hub_link_alerts WHERE message_id = ?", (alert,))
    )
    hidden = await app.client.get("/correlations")
    assert "weak link(s)" in hidden.text and 'class="pill weak"' not in hidden.text


async def test_bulletin_filters(app: App, year: tuple[Path, Any]) -> None:
    db = year[0]
    for params, where in (
        ("tlp=AMBER", "tlp = 'AMBER'"),
        ("recipient=FJ", "(',' || recipients || ',') LIKE '%,FJ,%'"),
        ("priority=urgent&q=analysis", "priority = 'urgent' AND title LIKE '%analysis%'"),
    ):
        expected = sql(db, f"SELECT message_id FROM hub_bulletins WHERE {where}")  # noqa: S608
        got = await walk(app, f"/bulletins?n=200&{params}")
        assert sorted(got) == sorted(r[0] for r in expected) and expected, params


# --- the query string, read strictly -----------------------------------------------------


def test_the_search_box_sets_filters_and_the_kind(year: tuple[Path, Any]) -> None:
    directory = year[1].keyring.directory
    q, view = search.alerts_request(
        {"q": "person:sione tupou from:ws tlp:amber+strict since:7d", "topic": "maritime"},
        directory,
        FIXED_END,
    )
    assert q.search == store.Search("sione tupou", "person")
    assert (q.sender, q.tlp, q.topic) == ("WS", "AMBER+STRICT", "maritime")
    assert q.since == FIXED_END - timedelta(days=7) and q.until is None
    assert view.notes == []
    q, view = search.alerts_request(
        {"q": "from:XX 01a22874-59f1", "tlp": "PURPLE", "until": "2025-03-14", "n": "100"},
        directory,
        FIXED_END,
    )
    assert q.sender is None and q.tlp is None and q.message_id == "01a22874-59f1"
    assert q.until is not None and q.until.isoformat() == "2025-03-15T00:00:00+00:00"
    assert view.window.limit == 100
    assert sorted(view.notes) == ["sender: no such value (XX)", "tlp: no such value (PURPLE)"]
    q, view = search.alerts_request({"q": "x", "before": "1' OR 1=1"}, directory, FIXED_END)
    assert view.window == store.Window(50) and "not valid" in view.notes[-1]
    assert "at least two" in view.notes[0]


def test_page_positions_travel_as_keys(year: tuple[Path, Any]) -> None:
    directory = year[1].keyring.directory
    key = ("2026-03-14T09:30:00.123+00:00", 4711)
    _, view = search.traffic_request(
        {"before": search.cursor(key) or "", "sender": "FJ"}, directory, FIXED_END
    )
    assert view.window.before == key
    older = view.pager(store.Page([], older=key, newer=key))
    assert older["older"] == "/traffic?before=2026-03-14T09%3A30%3A00.123%2B00%3A00~4711&sender=FJ"
    assert older["newest"] == "/traffic?sender=FJ"


async def test_unknown_filter_values_never_reach_sql(app: App) -> None:
    response = await app.client.get("/traffic?sender=WS&topic=x'%20OR%201=1&kind=alert")
    assert response.status_code == 200
    assert '<option value="WS" selected>' in response.text
    assert "topic: no such value" in response.text
    with pytest.raises(ValueError, match="no such traffic kind"):
        store.TrafficQuery(kind="1=1; --").kind and await store.traffic_page(
            Reader(Path("/nonexistent")), store.TrafficQuery(kind="1=1; --"), store.Window()
        )
