"""The watchlist handler: matching rules (pure), list files, reload, and the hits it raises."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs
from testkit import EXAMPLES, example_alerts

import node.handlers.builtin.watchlist as watchlist_module
from node.handlers.base import Context, HandlerEnv, HandlerError, Hit, Item
from node.handlers.builtin.watchlist import WatchlistHandler, WatchlistSettings
from node.handlers.builtin.watchlist_core import (
    Entry,
    MatchRules,
    WatchList,
    name_keys,
    name_score,
)
from node.handlers.builtin.watchlist_store import (
    CSV_COLUMNS,
    entry_from_fields,
    load,
    read_csv,
    write_sqlite,
)
from schemas.alert import Alert, parse_alert
from schemas.domain import Person, TravelDocument, Vessel
from schemas.entities import Entities, extract

REPO = EXAMPLES.parents[1]
EXAMPLE_LIST = REPO / "deploy" / "watchlist.example.csv"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RULES = MatchRules()


def entry(id: str, kind: str, **fields: Any) -> Entry:
    return entry_from_fields({"id": id, "kind": kind, **fields})


def person(family: str, given: str = "", dob: str | None = None, **more: Any) -> Person:
    return Person(family_name=family, given_names=given, date_of_birth=dob, **more)


def persons(*people: Person) -> Entities:
    return Entities(persons=list(people))


# --- documents and vessels: exact ----------------------------------------------------------

LIST = WatchList(
    [
        entry("D1", "document", document_number="TN4827193", issuing_state="TON"),
        entry("D2", "document", document_number="DE-123 456", issuing_state="D"),
        entry("V1", "vessel", imo="9218765"),
        entry("V2", "vessel", mmsi="503123450"),
        entry("V3", "vessel", call_sign="c6xy7"),
        entry(
            "P1",
            "person",
            family_name="ALRASHID",
            given_names="MUHAMMAD",
            date_of_birth="1980-01-01",
            aliases="ABU YUSUF",
        ),
        entry("P2", "person", family_name="PRAKASH", given_names="ROHIT"),
    ]
)


def test_exact_passport_match_normalises_the_number() -> None:
    doc = TravelDocument(kind="passport", number="tn 482-7193", issuing_state="TON")
    [match] = LIST.match(Entities(documents=[doc]), RULES)
    assert (match.entry_id, match.entity, match.score) == ("D1", "document", 100.0)
    assert match.fields == ("document_number", "issuing_state")


def test_issuing_state_mismatch_is_no_hit() -> None:
    doc = TravelDocument(kind="passport", number="TN4827193", issuing_state="WSM")
    assert LIST.match(Entities(documents=[doc]), RULES) == []


def test_germany_is_d_or_deu() -> None:
    doc = TravelDocument(kind="passport", number="DE123456", issuing_state="DEU")
    assert [m.entry_id for m in LIST.match(Entities(documents=[doc]), RULES)] == ["D2"]


@pytest.mark.parametrize(
    ("vessel", "expected"),
    [
        (Vessel(name="KAIVITI STAR", imo="9218765"), ("V1", ("imo",))),
        (Vessel(name="SOUTHERN DRIFT", mmsi="503123450"), ("V2", ("mmsi",))),
        (Vessel(name="CORAL MERIDIAN", call_sign="C6XY7"), ("V3", ("call_sign",))),
        (Vessel(name="KAIVITI STAR", imo="9074729", mmsi="311000517"), None),
    ],
    ids=["imo", "mmsi", "call_sign", "other-ids"],
)
def test_vessel_identifiers(vessel: Vessel, expected: tuple[str, tuple[str, ...]] | None) -> None:
    matches = LIST.match(Entities(vessels=[vessel]), RULES)
    assert [(m.entry_id, m.fields) for m in matches] == ([expected] if expected else [])


def test_vessel_names_every_identifier_that_agreed() -> None:
    wl = WatchList([entry("V", "vessel", imo="9218765", mmsi="520100345", call_sign="3DBK7")])
    vessel = Vessel(name="X", imo="9218765", mmsi="520100345", call_sign="ZZZ99")
    [match] = wl.match(Entities(vessels=[vessel]), RULES)
    assert match.fields == ("imo", "mmsi")


# --- persons: fuzzy, with the date of birth ---------------------------------------------------


def test_name_keys_join_particles_and_fold_transliterations() -> None:
    assert name_keys("Mohammed Al-Rashid")[0] == "alrashid mohammed"
    assert name_keys("Mohammed Al-Rashid")[1] == name_keys("Muhammad Alrashid")[1]
    assert name_keys("UNKNOWN") == ("", "")


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("Mohammed Al-Rashid", "Muhammad Alrashid", 94.1),
        ("Youssef Khaled", "Yusuf Khalid", 88.5),
        ("Ali Hassan", "Ali Hussein", 88.1),
        ("Sione Tupou", "Tupou, Sione", 100.0),
        ("Mohammed Al-Rashid", "John Smith", 31.5),
    ],
)
def test_name_scores_quoted_in_the_docs(a: str, b: str, score: float) -> None:
    assert name_score(name_keys(a), name_keys(b)) == pytest.approx(score, abs=0.05)


@dataclass(frozen=True)
class Case:
    alert: Person
    expected: tuple[str, ...] | None  # the matched fields of P1, or no match
    rules: MatchRules = field(default_factory=MatchRules)


PERSON_CASES = {
    "transliteration+dob": Case(
        person("Al-Rashid", "Mohammed", "1980-01-01"), ("name", "date_of_birth")
    ),
    "transliteration, no dob": Case(person("Al Rashid", "Mohammed"), ("name",)),
    "dob mismatch rules out": Case(person("AL-RASHID", "MUHAMMAD", "1980-01-02"), None),
    "require dob, alert has none": Case(
        person("ALRASHID", "MUHAMMAD"), None, MatchRules(require_dob_match=True)
    ),
    "require dob, equal": Case(
        person("Alrashid", "Muhammed", "1980-01-01"),
        ("name", "date_of_birth"),
        MatchRules(require_dob_match=True),
    ),
    "alias in the list": Case(person("Yusuf", "Abu", "1980-01-01"), ("alias", "date_of_birth")),
    "alias in the alert": Case(person("Smith", "John", aliases=["Muhamad Al Rasheed"]), ("alias",)),
    "unrelated": Case(person("Smith", "John", "1980-01-01"), None),
    "near but not close": Case(person("Al-Hashimi", "Mahmoud"), None),
    "threshold raised": Case(person("Al Rashid", "Mohammed"), None, MatchRules(97)),
    "placeholder name": Case(person("UNKNOWN"), None),
}


@pytest.mark.parametrize("case", PERSON_CASES.values(), ids=PERSON_CASES.keys())
def test_person_rules(case: Case) -> None:
    found = [m for m in LIST.match(persons(case.alert), case.rules) if m.entry_id == "P1"]
    assert [m.fields for m in found] == ([case.expected] if case.expected else [])
    for m in found:
        assert case.rules.person_threshold <= m.score <= 100


def test_matching_dob_raises_the_score() -> None:
    [with_dob] = LIST.match(persons(person("Al Rashid", "Mohammed", "1980-01-01")), RULES)
    [without] = LIST.match(persons(person("Al Rashid", "Mohammed")), RULES)
    assert with_dob.score == pytest.approx(without.score + (100 - without.score) / 2)


def test_one_match_per_entry_the_best() -> None:
    alert = persons(person("Prakash", "Rohit"), person("Prakash", "Rohitt"))
    [match] = LIST.match(alert, RULES)
    assert (match.entry_id, match.score) == ("P2", 100.0)


def test_same_birthday_found_among_many_look_alikes() -> None:
    # 300 near-identical names born on other days must not crowd out the one born that
    # day, even with room for only 5 candidates per key.
    crowd = [
        entry(
            f"X{i}",
            "person",
            family_name="ALRASHID",
            given_names=f"MUHAMMAD {'I' * (i % 3)}",
            date_of_birth=date(1960 + i % 40, 1 + i % 12, 1 + i % 28).isoformat(),
        )
        for i in range(300)
        if date(1960 + i % 40, 1 + i % 12, 1 + i % 28) != date(1975, 5, 5)
    ]
    target = entry(
        "T", "person", family_name="AL RASHEED", given_names="MOHAMAD", date_of_birth="1975-05-05"
    )
    wl = WatchList([*crowd, target])
    found = wl.match(
        persons(person("Alrashid", "Muhammad", "1975-05-05")), MatchRules(88, False, 5)
    )
    assert [m.entry_id for m in found] == ["T"]


def test_large_list_finds_the_planted_entries() -> None:
    bulk = [
        entry(f"P{i}", "person", family_name=f"FAMILY{i:06d}", given_names="GIVEN")
        for i in range(20_000)
    ]
    planted = entry("HIT", "person", family_name="TUPOU-FIFITA", given_names="SIONE")
    wl = WatchList([*bulk, planted, entry("V", "vessel", imo="9218765")])
    alert = Entities(
        persons=[person("Tupou Fifita", "Sione")], vessels=[Vessel(name="K", imo="9218765")]
    )
    assert [m.entry_id for m in wl.match(alert, RULES)] == ["HIT", "V"]


# --- entries and files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "person", "family_name": "X", "imo": "9218765"}, "must not set imo"),
        ({"kind": "person"}, "needs family_name"),
        ({"kind": "document", "document_number": "AB123"}, "needs document_number and"),
        ({"kind": "vessel"}, "needs imo, mmsi or call_sign"),
        ({"kind": "vessel", "imo": "9218766"}, "imo: IMO number check digit"),
        ({"kind": "person", "family_name": "X", "date_of_birth": "1/2/1980"}, "date_of_birth"),
        ({"kind": "ship", "imo": "9218765"}, "kind"),
    ],
)
def test_entry_validation_names_the_field_not_the_value(fields: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        entry_from_fields({"id": "E1", **fields})
    assert "9218766" not in str(info.value) and "1/2/1980" not in str(info.value)


def write_csv(path: Path, *rows: str, header: str = ",".join(CSV_COLUMNS)) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def test_csv_bad_rows_are_reported_by_line_and_good_rows_kept(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "list.csv",
        "A,document,,,,,TN4827193,TON,,,,",
        "B,person,,,,,,,,,,",  # no family name
        "A,vessel,,,,,,,9218765,,,",  # id used on line 2
        "C,vessel,,,,,,,9218765,,,,extra",
    )
    with capture_logs():
        loaded = read_csv(path)
    assert [e.id for e in loaded.entries] == ["A"]
    assert [(b.line, b.error.split(":")[0]) for b in loaded.bad_rows] == [
        (3, "a person entry needs family_name"),
        (4, "id"),
        (5, "more cells than the header"),
    ]
    assert "line 2" in loaded.bad_rows[1].error


def test_csv_and_sqlite_give_the_same_matches(tmp_path: Path) -> None:
    csv_loaded = load(EXAMPLE_LIST)
    assert not csv_loaded.bad_rows
    db = tmp_path / "list.sqlite"
    write_sqlite(db, csv_loaded.rows, source="example", imported_at=NOW)
    sqlite_loaded = load(db)
    assert sqlite_loaded.rows == csv_loaded.rows
    from_csv, from_sqlite = WatchList(csv_loaded.entries), WatchList(sqlite_loaded.entries)
    results = {
        name: from_csv.match(extract(parse_alert(data)), RULES)
        for name, data in example_alerts().items()
    }
    for name, data in example_alerts().items():
        assert from_sqlite.match(extract(parse_alert(data)), RULES) == results[name]
    # the demo list matches at least one passport and one vessel of the examples
    entities = {m.entity for found in results.values() for m in found}
    assert {"document", "vessel", "person"} <= entities


# --- the handler --------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A fake of the runner's side of :class:`Context`: records what the handler does."""

    hits: list[Hit] = field(default_factory=list)
    audits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def raise_hit(self, hit: Hit) -> Hit:
        hit = replace(hit, hit_id=len(self.hits) + 1)
        self.hits.append(hit)
        return hit

    async def audit(self, action: str, detail: Any) -> None:
        self.audits.append((action, dict(detail)))

    def context(self) -> Context:
        return Context("FJ", "wl", "all", 1, NOW, self.audit, self.raise_hit)


def item(alert: Alert, kind: str = "alert", hit: Hit | None = None) -> Item:
    return Item(
        kind,
        "01951b7a-3c22-7e10-8a4f-0b6d2e9c5a11",
        "TO",
        alert.topic,
        alert.tlp,
        alert.priority,
        NOW,
        alert,
        hit,
    )


def example(name: str) -> Alert:
    return parse_alert((EXAMPLES / "valid" / name).read_bytes())


def handler_for(path: Path, **settings: Any) -> WatchlistHandler:
    env = HandlerEnv(code="FJ", config_dir=path.parent, state_dir=path.parent / "state")
    return WatchlistHandler.from_settings({"path": path.name, **settings}, env)


async def test_hits_are_raised_and_the_check_audited_without_content(tmp_path: Path) -> None:
    handler = handler_for(write_csv(tmp_path / "l.csv", "WL-7,document,,,,,TN4827193,TON,,,,"))
    rec = Recorder()
    await handler(item(example("identity_fraud.json")), rec.context())
    assert rec.hits == [Hit("WL-7", "document", 100.0, ("document_number", "issuing_state"), 1)]
    [(action, detail)] = rec.audits
    assert action == "watchlist_checked"
    assert detail == {
        "persons": 2,
        "documents": 1,
        "vessels": 0,
        "list_entries": 1,
        "hits": 1,
        "hit_ids": [1],
    }
    await handler.aclose()


async def test_hit_items_are_ignored(tmp_path: Path) -> None:
    handler = handler_for(write_csv(tmp_path / "l.csv", "WL-7,document,,,,,TN4827193,TON,,,,"))
    rec = Recorder()
    hit = Hit("WL-7", "document", 100.0, ("document_number",), 1)
    await handler(item(example("identity_fraud.json"), "hit", hit), rec.context())
    assert (rec.hits, rec.audits) == ([], [])


async def test_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", "OLD,document,,,,,TN4827193,TON,,,,")
    handler = handler_for(path)
    rec = Recorder()
    alert = item(example("identity_fraud.json"))
    await handler(alert, rec.context())
    old = os.stat(path)
    write_csv(path, "NEW,document,,,,,TN4827193,TON,,,,")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
    await handler(alert, rec.context())
    assert [h.list_entry for h in rec.hits] == ["OLD", "NEW"]
    unchanged = await handler.current()
    assert unchanged is await handler.current()  # no change, no reload


@pytest.mark.parametrize(
    ("contents", "error"),
    [(None, "cannot be read"), ("", "empty file"), ("B,person,,,,,,,,,,", "no valid entries")],
    ids=["missing", "empty", "only-bad-rows"],
)
async def test_unusable_list_fails_closed(tmp_path: Path, contents: str | None, error: str) -> None:
    path = tmp_path / "l.csv"
    if contents is not None:
        path.write_text(contents and f"{','.join(CSV_COLUMNS)}\n{contents}\n")
    handler = handler_for(path)
    rec = Recorder()
    with capture_logs(), pytest.raises(HandlerError, match=error):
        await handler(item(example("identity_fraud.json")), rec.context())
    assert rec.audits == []


async def test_a_cancelled_call_does_not_waste_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release, calls = threading.Event(), threading.Event(), []
    real_build = watchlist_module._build

    def slow_build(path: Path) -> WatchList:
        calls.append(path)
        entered.set()
        release.wait(timeout=10)
        return real_build(path)

    monkeypatch.setattr(watchlist_module, "_build", slow_build)
    handler = handler_for(write_csv(tmp_path / "l.csv", "A,vessel,,,,,,,9218765,,,"))
    first = asyncio.ensure_future(handler.current())
    assert await asyncio.to_thread(entered.wait, 10)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    with capture_logs():
        assert len(await handler.current()) == 1
    assert len(calls) == 1


async def test_closed_handler_refuses_work_and_close_is_idempotent(tmp_path: Path) -> None:
    handler = handler_for(write_csv(tmp_path / "l.csv", "A,vessel,,,,,,,9218765,,,"))
    await handler.aclose()
    await handler.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await handler(item(example("maritime.json")), Recorder().context())


def test_settings_resolve_the_path_and_refuse_nonsense(tmp_path: Path) -> None:
    handler = handler_for(tmp_path / "l.csv", person_threshold=92, require_dob_match=True)
    assert handler.path == tmp_path / "l.csv"
    assert handler.rules == MatchRules(92.0, True, 100)
    for bad in ({"path": "l.csv", "person_threshold": 30}, {"path": "l.csv", "colour": "red"}):
        with pytest.raises(ValidationError):
            WatchlistSettings.model_validate(bad)
    assert WatchlistHandler.spec.name == "watchlist" and not WatchlistHandler.spec.external


def test_logs_carry_counts_not_content(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "l.csv",
        "A,document,,,,,TN4827193,TON,,,,",
        "B,person,SECRETNAME,,,1/1/1980,,,,,,",
    )
    with capture_logs() as logs:
        watchlist_module._build(path)
    assert {log["event"] for log in logs} == {"watchlist_bad_rows", "watchlist_loaded"}
    text = json.dumps(logs, default=str)
    assert "SECRETNAME" not in text and "TN4827193" not in text
