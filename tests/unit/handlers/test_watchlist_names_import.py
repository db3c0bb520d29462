"""Names that cannot match, and the watch-list handler on names in every script:
``lali watchlist import`` warns about rows whose names transliterate to nothing (by line,
never by value), the handler logs them by line, and hits a Chinese name in an alert."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from structlog.testing import capture_logs
from testkit import EXAMPLES
from typer.testing import CliRunner

from node.cli.watchlist_cmd import app
from node.handlers.base import Context, Hit, Item
from node.handlers.builtin.watchlist import WatchlistHandler
from node.handlers.builtin.watchlist_core import (
    Entry,
    MatchRules,
    WatchList,
    unmatchable_names,
)
from node.handlers.builtin.watchlist_store import CSV_COLUMNS, entry_from_fields
from schemas.alert import Alert, parse_alert

RULES = MatchRules()


def person_entry(id: str, family: str, given: str = "", **more: str) -> Entry:
    fields = {"id": id, "kind": "person", "family_name": family, "given_names": given}
    return entry_from_fields({**fields, **more})


def test_a_list_counts_the_entries_whose_names_cannot_match() -> None:
    entries = [
        person_entry("P1", "???"),
        person_entry("P2", "UNKNOWN", "FNU"),
        person_entry("P3", "李伟明"),
    ]
    assert WatchList(entries).unmatchable == ["P1", "P2"]


def test_unmatchable_names_says_which_names_without_their_values() -> None:
    entry = person_entry("P1", "李伟明", aliases="???;Li Weiming;N/A")
    assert unmatchable_names(entry) == ["alias 1", "alias 3"]
    assert unmatchable_names(person_entry("P2", "#", "!")) == ["name"]
    vessel = entry_from_fields({"id": "V", "kind": "vessel", "imo": "9218765"})
    assert unmatchable_names(vessel) == []


# --- the handler and the import --------------------------------------------------------------


def write_list(path: Path, *rows: dict[str, str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def smuggling_alert(*persons: dict[str, object]) -> Alert:
    data = json.loads((EXAMPLES / "valid" / "people_smuggling.json").read_text("utf-8"))
    data["payload"]["persons"] = list(persons)
    return parse_alert(json.dumps(data).encode())


async def test_the_handler_hits_a_chinese_name_in_an_alert(tmp_path: Path) -> None:
    path = write_list(
        tmp_path / "l.csv",
        {"id": "WL-1", "kind": "person", "family_name": "李", "given_names": "伟明"},
        {"id": "WL-2", "kind": "person", "family_name": "ОРЛОВ", "given_names": "ОЛЕГ"},
    )
    handler = WatchlistHandler(path, RULES)
    raised: list[Hit] = []

    async def raise_hit(hit: Hit) -> Hit:
        raised.append(hit)
        return hit

    async def audit(action: str, detail: object) -> None:
        pass

    alert = smuggling_alert(
        {"family_name": "李伟明", "role": "facilitator"},
        {"family_name": "Orlov", "given_names": "Oleg", "role": "master"},
    )
    now = datetime(2026, 3, 1, tzinfo=UTC)
    message_id = "01951b7a-3c22-7e10-8a4f-0b6d2e9c5a11"
    item = Item("alert", message_id, "TO", alert.topic, alert.tlp, alert.priority, now, alert)
    with capture_logs():
        await handler(item, Context("FJ", "wl", "all", 1, now, audit, raise_hit))
    assert sorted(h.list_entry for h in raised) == ["WL-1", "WL-2"]
    await handler.aclose()


async def test_the_handler_logs_unmatchable_rows_by_line_only(tmp_path: Path) -> None:
    path = write_list(
        tmp_path / "l.csv",
        {"id": "A", "kind": "person", "family_name": "李伟明"},
        {"id": "B", "kind": "person", "family_name": "‽‽"},
    )
    handler = WatchlistHandler(path, RULES)
    with capture_logs() as logs:
        await handler.current()
    [warning] = [e for e in logs if e["event"] == "watchlist_unmatchable_names"]
    assert (warning["count"], warning["lines"]) == (1, [3])
    assert "‽" not in repr(logs) and "李" not in repr(logs)
    await handler.aclose()


def test_import_warns_about_names_that_transliterate_to_nothing(tmp_path: Path) -> None:
    source = write_list(
        tmp_path / "l.csv",
        {"id": "A", "kind": "person", "family_name": "李伟明"},
        {"id": "B", "kind": "person", "family_name": "‽‽", "given_names": "#1"},
        {"id": "C", "kind": "person", "family_name": "محمد", "aliases": "Mohammed;???"},
        {"id": "D", "kind": "person", "family_name": "UNKNOWN", "given_names": "FNU"},
        {"id": "E", "kind": "vessel", "imo": "9218765"},
    )
    target = tmp_path / "l.sqlite"
    result = CliRunner().invoke(app, ["import", str(source), "--into", str(target)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "line 3: warning: nothing to match on in the name after transliteration"
        " (no letters, or only placeholders such as UNKNOWN)",
        "line 4: warning: nothing to match on in the alias 2 after transliteration"
        " (no letters, or only placeholders such as UNKNOWN)",
        "line 5: warning: nothing to match on in the name after transliteration"
        " (no letters, or only placeholders such as UNKNOWN)",
    ]
    for value in ("‽", "#1", "???", "Mohammed", "محمد", "李伟明", "FNU"):
        assert value not in result.output + result.stderr
    # A warning, not an error: every row is written.
    assert "imported 5 entries (4 persons, 0 documents, 1 vessels)" in result.stdout
