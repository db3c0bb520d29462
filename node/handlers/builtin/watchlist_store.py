"""Watch-list files: CSV (what operators keep) and SQLite (what ``lali watchlist import``
writes, through :mod:`node.storage.watchlist`). A file that is missing or is not a watch
list is a :class:`ConfigError`; an I/O failure is a :class:`StorageError`.

A bad row never stops a load: it is reported as a :class:`BadRow` (line number and
which field is wrong, never the value) and the good rows are kept.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from node.handlers.builtin.watchlist_core import Entry
from node.storage import watchlist as watchlist_file
from schemas.errors import ConfigError, StorageError

__all__ = [
    "CSV_COLUMNS",
    "BadRow",
    "Loaded",
    "entry_from_fields",
    "load",
    "read_csv",
    "read_sqlite",
    "write_sqlite",
]

CSV_COLUMNS = watchlist_file.FIELDS
"""The CSV header (any order; only ``id`` and ``kind`` are required columns): an
entry's fields, named as the compiled SQLite list names them."""
ALIAS_SEPARATOR = ";"
SQLITE_MAGIC = b"SQLite format 3\x00"
PROGRESS_EVERY = 1000

Progress = Callable[[int], None]  # called with the number of rows read so far


@dataclass(frozen=True)
class BadRow:
    line: int  # the CSV line the row ends on (for SQLite: the line it was imported from)
    error: str  # the field and what is wrong with it; never the value


@dataclass(frozen=True)
class Loaded:
    rows: list[tuple[int, Entry]]  # (line, entry)
    bad_rows: list[BadRow]

    @property
    def entries(self) -> list[Entry]:
        return [entry for _, entry in self.rows]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def entry_from_fields(fields: Mapping[str, object], now: datetime | None = None) -> Entry:
    """An :class:`Entry` from one row; empty cells are absent, ``aliases`` may be a
    ``;``-separated string. Raises ``ValueError`` naming the fields, not the values.
    ``now``: the time an import judges dates at (a date of birth not in the future)."""
    data: dict[str, object] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        if value not in ("", None, []):
            data[key] = value
    aliases = data.get("aliases")
    if isinstance(aliases, str):
        data["aliases"] = [a.strip() for a in aliases.split(ALIAS_SEPARATOR) if a.strip()]
    try:
        return Entry.model_validate(data, context=None if now is None else {"now": now})
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None


class _Rows:
    """Collects good and bad rows; refuses a second use of an id."""

    def __init__(self, progress: Progress | None, now: datetime | None = None) -> None:
        self._now = now
        self.rows: list[tuple[int, Entry]] = []
        self.bad: list[BadRow] = []
        self._first_line: dict[str, int] = {}
        self._progress = progress

    def add(self, line: int, fields: Mapping[str, object]) -> None:
        try:
            entry = entry_from_fields(fields, self._now)
        except ValueError as exc:
            self.bad.append(BadRow(line, str(exc)))
        else:
            first = self._first_line.setdefault(entry.id, line)
            if first != line:
                self.bad.append(BadRow(line, f"id: already used on line {first}"))
            else:
                self.rows.append((line, entry))
        done = len(self.rows) + len(self.bad)
        if self._progress is not None and done % PROGRESS_EVERY == 0:
            self._progress(done)

    def loaded(self) -> Loaded:
        if self._progress is not None:
            self._progress(len(self.rows) + len(self.bad))
        return Loaded(self.rows, self.bad)


def _check_header(path: Path, header: list[str] | None) -> None:
    if not header:
        raise ConfigError(f"{path}: empty file, expected the header {','.join(CSV_COLUMNS)}")
    unknown = [n for n, name in enumerate(header, 1) if name not in CSV_COLUMNS]
    if unknown:
        # Positions, not names: in a file without its header line the "names" are the
        # first row's data, and errors never show values from the list.
        where = ", ".join(str(n) for n in unknown)
        hint = " (is the header line missing?)" if len(unknown) == len(header) else ""
        raise ConfigError(
            f"{path}: unknown column(s) at position {where} of the header{hint};"
            f" known columns: {','.join(CSV_COLUMNS)}"
        )
    if len(set(header)) != len(header):
        raise ConfigError(f"{path}: a column appears twice in the header")
    missing = [c for c in ("id", "kind") if c not in header]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")


def read_csv(
    path: Path, progress: Progress | None = None, *, now: datetime | None = None
) -> Loaded:
    """Read a CSV watch list (UTF-8, a byte-order mark is allowed). ``now``: the time an
    import judges its dates at (``lali watchlist import`` passes its clock)."""
    rows = _Rows(progress, now)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, restkey="\x00extra")
            _check_header(path, list(reader.fieldnames or []))
            for record in reader:
                if "\x00extra" in record:
                    rows.bad.append(BadRow(reader.line_num, "more cells than the header"))
                    continue
                if None in record.values():  # DictReader's fill for missing cells
                    rows.bad.append(BadRow(reader.line_num, "fewer cells than the header"))
                    continue
                rows.add(reader.line_num, record)
    except FileNotFoundError as exc:
        raise ConfigError(f"watch list {path} not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except csv.Error as exc:
        raise ConfigError(f"{path}: not readable as CSV: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read watch list {path}: {exc.strerror}") from exc
    return rows.loaded()


def _sqlite_row(line: int, entry: Entry) -> tuple[object, ...]:
    data = entry.model_dump(mode="json")
    data["aliases"] = json.dumps(data["aliases"])
    return (line, *(data[c] for c in CSV_COLUMNS))


def write_sqlite(
    path: Path, rows: Iterable[tuple[int, Entry]], *, source: str, imported_at: datetime
) -> int:
    """Write a SQLite watch list atomically (a temporary file beside ``path``, fsync,
    rename), mode 0600. Returns the number of entries written."""
    return watchlist_file.write_file(
        path,
        (_sqlite_row(line, entry) for line, entry in rows),
        source=source,
        imported_at=imported_at,
    )


def _aliases(column: object) -> object:
    # The file may have been edited since import: only JSON text (or nothing) is read.
    if not column:
        return []
    if not isinstance(column, str | bytes):
        raise ValueError("aliases is not JSON text")
    return json.loads(column)


def read_sqlite(path: Path, progress: Progress | None = None) -> Loaded:
    """Read a SQLite watch list, validating every row again (it may have been edited)."""
    rows = _Rows(progress)
    for fields in watchlist_file.read_file(path):
        line = int(str(fields.pop("line")))
        try:
            fields["aliases"] = _aliases(fields["aliases"])
        except ValueError:
            rows.bad.append(BadRow(line, "aliases: not a JSON list"))
            continue
        rows.add(line, fields)
    return rows.loaded()


def load(path: Path, progress: Progress | None = None) -> Loaded:
    """Read a watch list, SQLite or CSV by its first bytes (not its name)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError as exc:
        raise ConfigError(f"watch list {path} not found") from exc
    except OSError as exc:
        raise StorageError(f"cannot read watch list {path}: {exc.strerror}") from exc
    return read_sqlite(path, progress) if head == SQLITE_MAGIC else read_csv(path, progress)
