"""The compiled watch-list file: the SQLite database ``lali watchlist import`` builds and
the ``watchlist`` handler reads back.

This module owns the file's format (its tables and SQL) and translates library errors:
a file that is SQLite but not a watch list is a :class:`ConfigError` (the operator
pointed at the wrong file); ``OSError`` and ``sqlite3.Error`` are a
:class:`StorageError`. What an entry means, and the checks on its fields, belong to
``node.handlers.builtin.watchlist_store``; here a row is plain column values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path

from keys.files import atomic_path
from schemas.errors import ConfigError, StorageError

FORMAT, VERSION = "lali-watchlist", "1"
MODE = 0o600  # a watch list names people: readable by the node's user only

FIELDS = (
    "id",
    "kind",
    "family_name",
    "given_names",
    "aliases",
    "date_of_birth",
    "document_number",
    "issuing_state",
    "imo",
    "mmsi",
    "call_sign",
    "note",
)
"""An entry's columns in the ``entries`` table, after ``line``; ``aliases`` is a JSON list."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (
    line INTEGER NOT NULL,
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'document', 'vessel')),
    family_name TEXT, given_names TEXT, aliases TEXT NOT NULL DEFAULT '[]',
    date_of_birth TEXT, document_number TEXT, issuing_state TEXT,
    imo TEXT, mmsi TEXT, call_sign TEXT, note TEXT
);
"""
_COLUMNS = ",".join(("line", *FIELDS))
_INSERT_ENTRY = f"INSERT INTO entries ({_COLUMNS}) VALUES ({','.join('?' * (len(FIELDS) + 1))})"  # noqa: S608
_SELECT_ENTRIES = f"SELECT {_COLUMNS} FROM entries ORDER BY line"  # noqa: S608


def write_file(
    path: Path, rows: Iterable[Sequence[object]], *, source: str, imported_at: datetime
) -> int:
    """Build a watch list from ``rows`` (``line`` then :data:`FIELDS`, in that order) and
    put it at ``path`` atomically, mode 0600: a running node reads the old list or the
    new one, never half of either. Returns the number of entries written."""
    try:
        # The database is built in the temporary file itself; only a committed, closed
        # and fsynced file is renamed over the old list.
        with atomic_path(path, MODE) as tmp, closing(sqlite3.connect(tmp)) as db:
            db.executescript(_SCHEMA)
            db.executemany(_INSERT_ENTRY, rows)
            (count,) = db.execute("SELECT count(*) FROM entries").fetchone()
            meta = {"format": FORMAT, "version": VERSION, "source": source}
            meta |= {"imported_at": imported_at.isoformat(), "entries": str(count)}
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            db.commit()
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot write watch list {path}: {exc}") from exc
    return int(count)


def read_file(path: Path) -> Iterator[dict[str, object]]:
    """The entries of the watch list at ``path``, in line order, as column → value
    (``line`` and :data:`FIELDS`), one at a time. Raises :class:`ConfigError` if the
    file is not a watch list of this version."""
    # Its own connection rather than readonly.read_only(): that one puts the path into
    # the URI unescaped, and an operator may keep the list under a name with '#' or '?',
    # which cuts the URI short: SQLite would open (even create) another file, writable.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            db.row_factory = sqlite3.Row
            try:
                meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
            except sqlite3.DatabaseError as exc:  # no such table, or not a database at all
                raise ConfigError(f"{path}: not a Lali watch list") from exc
            if meta.get("format") != FORMAT or meta.get("version") != VERSION:
                raise ConfigError(f"{path}: not a Lali watch list of version {VERSION}")
            for row in db.execute(_SELECT_ENTRIES):
                yield dict(row)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read watch list {path}: {exc}") from exc
