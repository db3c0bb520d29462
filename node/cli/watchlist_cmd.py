"""``lali watchlist``: import a CSV watch list into SQLite; check an alert against it."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from node.cli.common import Unreadable, fail, read_alert_file
from node.handlers.builtin.watchlist_core import Entry, MatchRules, WatchList, unmatchable_names
from node.handlers.builtin.watchlist_store import (
    CSV_COLUMNS,
    SQLITE_MAGIC,
    BadRow,
    load,
    read_csv,
    write_sqlite,
)
from schemas.alert import parse_alert
from schemas.entities import extract
from schemas.errors import ConfigError, LaliError

app = typer.Typer(
    help="The national watch list that the `watchlist` handler checks inbound alerts against.",
    no_args_is_help=True,
)

SHOW_BAD_ROWS = 100
PROGRESS_FROM_ROWS = 5_000  # smaller lists load in well under a second: no bar


def _count_rows(path: Path) -> int:
    with path.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(0, lines - 1)


def _report_bad_rows(bad_rows: list[BadRow]) -> None:
    for bad in bad_rows[:SHOW_BAD_ROWS]:
        typer.secho(f"line {bad.line}: {bad.error}", fg=typer.colors.YELLOW, err=True)
    if len(bad_rows) > SHOW_BAD_ROWS:
        typer.secho(f"... and {len(bad_rows) - SHOW_BAD_ROWS} more bad rows", err=True)


def _report_unmatchable(rows: list[tuple[int, Entry]]) -> None:
    """One line per row whose names transliterate to nothing (no letters, or only
    placeholders): such a row is kept but can never match by that name. Never the
    name itself."""
    found = [(line, names) for line, entry in rows if (names := unmatchable_names(entry))]
    for line, names in found[:SHOW_BAD_ROWS]:
        typer.secho(
            f"line {line}: warning: nothing to match on in the {' and '.join(names)} after"
            " transliteration (no letters, or only placeholders such as UNKNOWN)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if len(found) > SHOW_BAD_ROWS:
        typer.secho(
            f"... and {len(found) - SHOW_BAD_ROWS} more rows with names that cannot match",
            err=True,
        )


def _counts(list_: WatchList) -> str:
    c = list_.counts
    return f"{c['person']} persons, {c['document']} documents, {c['vessel']} vessels"


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help=f"CSV watch list with the header {','.join(CSV_COLUMNS)}")
    ],
    into: Annotated[Path, typer.Option(help="SQLite watch list to write (replaced atomically)")],
    skip_bad_rows: Annotated[
        bool, typer.Option(help="write the good rows even when some rows are bad")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Validate a CSV watch list and write it as SQLite for the `watchlist` handler.

    Every bad row is reported with its line number and the field that is wrong (never
    its value). If any row is bad nothing is written, unless --skip-bad-rows. A person
    row whose name (or an alias) transliterates to nothing (no letters, only
    placeholders) is imported with a warning naming its line: it can never match by it. The target
    is replaced atomically (mode 0600), so a running node never reads half a list; it
    picks the new list up on its next alert.

    Example: lali watchlist import national-list.csv --into /etc/lali/watchlist.sqlite
    """
    try:
        with file.open("rb") as f:
            if f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                raise ConfigError(f"{file} is already a SQLite watch list")
        total = _count_rows(file)
    except OSError as exc:
        raise fail(Unreadable(f"cannot read {file}: {exc.strerror}")) from exc
    except LaliError as exc:
        raise fail(exc) from exc
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet or total < PROGRESS_FROM_ROWS,
    )
    try:
        with progress:
            reading = progress.add_task(f"reading {file.name}", total=total)
            loaded = read_csv(
                file,
                lambda done: progress.update(reading, completed=done),
                now=datetime.now(UTC),
            )
            _report_bad_rows(loaded.bad_rows)
            _report_unmatchable(loaded.rows)
            if loaded.bad_rows and not skip_bad_rows:
                typer.secho(
                    f"{len(loaded.bad_rows)} bad row(s): nothing written"
                    " (fix them, or use --skip-bad-rows)",
                    fg=typer.colors.RED,
                    err=True,
                )
                raise typer.Exit(1)
            if not loaded.rows:
                typer.secho("no valid entries: nothing written", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            writing = progress.add_task(f"writing {into.name}", total=len(loaded.rows))

            def rows() -> Iterator[tuple[int, Entry]]:
                for n, row in enumerate(loaded.rows, 1):
                    if n % 1000 == 0:
                        progress.update(writing, completed=n)
                    yield row

            count = write_sqlite(into, rows(), source=file.name, imported_at=datetime.now(UTC))
            progress.update(writing, completed=count)
    except LaliError as exc:
        raise fail(exc) from exc
    summary = _counts(WatchList(loaded.entries))
    typer.echo(f"imported {count} entries ({summary}) into {into}")
    if loaded.bad_rows:
        typer.echo(f"skipped {len(loaded.bad_rows)} bad row(s)")


@app.command("check")
def check(
    alert_file: Annotated[Path, typer.Argument(help="alert JSON (see schemas/examples)")],
    list_path: Annotated[
        Path, typer.Option("--list", help="watch list: CSV, or SQLite from `import`")
    ],
    person_threshold: Annotated[
        float, typer.Option(min=50, max=100, help="score (0-100) a person match needs")
    ] = 88.0,
    require_dob_match: Annotated[
        bool, typer.Option(help="match persons only on equal dates of birth")
    ] = False,
) -> None:
    """Match one alert file against a watch list and print the hits.

    Uses the same rules as the `watchlist` handler. Prints each hit's entry id, entity,
    score and matched fields; never a name or number from the alert or the list.

    Example: lali watchlist check schemas/examples/valid/maritime.json \\
        --list deploy/watchlist.example.csv
    """
    try:
        alert = parse_alert(read_alert_file(alert_file), now=datetime.now(UTC))
    except LaliError as exc:
        raise fail(exc, about=alert_file) from exc
    try:
        loaded = load(list_path)
    except LaliError as exc:
        raise fail(exc, about=list_path) from exc
    if loaded.bad_rows:
        typer.secho(
            f"the list has {len(loaded.bad_rows)} bad row(s), ignored"
            f" (first on line {loaded.bad_rows[0].line})",
            fg=typer.colors.YELLOW,
            err=True,
        )
    watchlist = WatchList(loaded.entries)
    matches = watchlist.match(
        extract(alert), MatchRules(person_threshold, require_dob_match=require_dob_match)
    )
    for m in matches:
        typer.echo(f"{m.entry_id}\t{m.entity}\t{m.score:.1f}\t{','.join(m.fields)}")
    typer.echo(f"{len(matches)} hit(s) against {len(watchlist)} entries", err=True)
