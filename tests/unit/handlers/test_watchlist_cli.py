"""``lali watchlist import`` and ``lali watchlist check``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from testkit import EXAMPLES
from typer.testing import CliRunner

from node.cli.watchlist_cmd import app
from node.handlers.builtin.watchlist_store import CSV_COLUMNS, load

EXAMPLE_LIST = EXAMPLES.parents[1] / "deploy" / "watchlist.example.csv"
HEADER = ",".join(CSV_COLUMNS)


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, *rows: str) -> Path:
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def test_import_writes_the_same_list_as_sqlite(tmp_path: Path) -> None:
    target = tmp_path / "watchlist.sqlite"
    code, out, _ = run("import", EXAMPLE_LIST, "--into", target)
    assert code == 0
    assert f"imported 10 entries (4 persons, 3 documents, 3 vessels) into {target}" in out
    assert load(target).rows == load(EXAMPLE_LIST).rows
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchlist.sqlite"]  # no temp left


def test_a_bad_row_is_reported_by_line_and_nothing_is_written(tmp_path: Path) -> None:
    source = write(
        tmp_path / "l.csv",
        "A,document,,,,,TN4827193,TON,,,,",
        "B,person,SECRETNAME,,,31/12/1980,,,,,,",
        "C,vessel,,,,,,,9218765,,,",
    )
    target = tmp_path / "watchlist.sqlite"
    code, out, err = run("import", source, "--into", target)
    assert code == 1
    assert "line 3: date_of_birth:" in err
    assert "1 bad row(s): nothing written" in err
    assert "SECRETNAME" not in out + err and "31/12/1980" not in out + err
    assert not target.exists()

    code, out, err = run("import", source, "--into", target, "--skip-bad-rows")
    assert code == 0
    assert "line 3: date_of_birth:" in err
    assert "skipped 1 bad row(s)" in out
    assert [e.id for e in load(target).entries] == ["A", "C"]


def test_import_replaces_an_existing_list(tmp_path: Path) -> None:
    target = tmp_path / "watchlist.sqlite"
    assert run("import", EXAMPLE_LIST, "--into", target)[0] == 0
    source = write(tmp_path / "new.csv", "ONLY,vessel,,,,,,,9218765,,,")
    assert run("import", source, "--into", target)[0] == 0
    assert [e.id for e in load(target).entries] == ["ONLY"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (f"{HEADER},colour\n", "unknown column(s) at position 13 of the header;"),
        ("id,family_name\n", "missing column(s) kind"),
        ("", "empty file"),
    ],
)
def test_a_bad_header_is_a_config_error(tmp_path: Path, text: str, error: str) -> None:
    source = tmp_path / "l.csv"
    source.write_text(text)
    code, _, err = run("import", source, "--into", tmp_path / "w.sqlite")
    assert (code, error in err) == (2, True)


def test_a_list_without_its_header_line_shows_no_value_from_it(tmp_path: Path) -> None:
    source = tmp_path / "l.csv"
    source.write_text("P1,person,NAWALU,,,1979-04-22,,,,,,\n")
    code, _, err = run("import", source, "--into", tmp_path / "w.sqlite")
    assert code == 2 and "is the header line missing?" in err
    assert "NAWALU" not in err and "1979" not in err and "P1" not in err


def test_import_of_a_sqlite_list_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "w.sqlite"
    assert run("import", EXAMPLE_LIST, "--into", target)[0] == 0
    code, _, err = run("import", target, "--into", tmp_path / "again.sqlite")
    assert code == 2 and "already a SQLite watch list" in err


def test_large_import_with_progress(tmp_path: Path) -> None:
    rows = [f"P{i},person,FAMILY{i},GIVEN,,,,,,,," for i in range(6_000)]
    source = write(tmp_path / "big.csv", *rows)
    code, out, _ = run("import", source, "--into", tmp_path / "big.sqlite")
    assert code == 0 and "imported 6000 entries (6000 persons" in out


def test_check_prints_hits_without_names_or_numbers(tmp_path: Path) -> None:
    alert = EXAMPLES / "valid" / "people_smuggling.json"
    code, out, err = run("check", alert, "--list", EXAMPLE_LIST)
    assert code == 0
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["WL-P-0002", "person"],
        ["WL-P-0001", "person"],
        ["WL-V-0001", "vessel"],
    ]
    assert "3 hit(s) against 10 entries" in err
    assert "NAWALU" not in out + err and "9218765" not in out + err


@pytest.mark.parametrize("command", ["import", "check"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and "Example: lali watchlist " + command in out
