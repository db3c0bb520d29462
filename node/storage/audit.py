"""Reading and verifying an audit log file (synchronous: used by the CLI and tests).

Writing happens through ``node.storage.database.Tx.audit`` inside the transaction that commits the
work the entry records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.protocol.chain import ChainHead, Entry, StoredEntry, verify_chain
from schemas.errors import AuditChainBroken, StorageError

_COLUMNS = "seq, at, kind, message_id, peer, topic, reason, detail, envelope, prev, hash"


def _connect_ro(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise StorageError(f"no audit database at {path}", path=str(path))
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}", path=str(path)) from exc
    # A damaged file can yield text that is not UTF-8 (in integrity_check's report, or
    # in a column): decode it with replacement so the damage is reported, not a crash.
    conn.text_factory = _lenient_text
    return conn


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _stored(row: tuple[Any, ...]) -> StoredEntry:
    seq, at, kind, mid, peer, topic, reason, detail, envelope, prev, digest = row
    entry = Entry(
        seq=int(str(seq)),
        at=str(at),
        kind=str(kind),
        message_id=None if mid is None else str(mid),
        peer=None if peer is None else str(peer),
        topic=None if topic is None else str(topic),
        reason=None if reason is None else str(reason),
        detail=None if detail is None else str(detail),
        envelope=None if envelope is None else bytes(envelope),
    )
    return StoredEntry(entry, bytes(prev), bytes(digest))


def _iter_entries(conn: sqlite3.Connection) -> Iterator[StoredEntry]:
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):  # noqa: S608
        yield _stored(row)


@dataclass(frozen=True)
class VerifyResult:
    count: int
    head: bytes


def verify_file(path: Path, checkpoints: Sequence[ChainHead] = ()) -> VerifyResult:
    """Integrity check, then the hash chain against the recorded head and any
    ``checkpoints`` (heads signed earlier and held elsewhere); raises on failure."""
    with closing(_connect_ro(path)) as conn:
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()
            if check is None or check[0] != "ok":
                raise StorageError(f"SQLite integrity check failed: {check}", path=str(path))
            head_row = conn.execute("SELECT count, head FROM audit_head WHERE id = 1").fetchone()
            if head_row is None:
                raise StorageError("the audit head record is missing", path=str(path))
            known = ChainHead(int(head_row[0]), bytes(head_row[1]))
            head = verify_chain(_iter_entries(conn), known, *checkpoints)
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # the latter: damaged text
            raise StorageError(f"reading {path} failed: {exc}", path=str(path)) from exc
    if head.count != known.count:
        raise AuditChainBroken(
            f"entries after {known.count} were added outside the log writer", seq=known.count + 1
        )
    return VerifyResult(head.count, head.head)


def list_entries(path: Path, *, limit: int = 50, kind: str | None = None) -> list[StoredEntry]:
    """The newest ``limit`` entries (optionally of one kind), oldest first."""
    with closing(_connect_ro(path)) as conn:
        sql = f"SELECT {_COLUMNS} FROM audit"  # noqa: S608
        params: tuple[object, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        sql += " ORDER BY seq DESC LIMIT ?"
        try:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"reading {path} failed: {exc}", path=str(path)) from exc
    return [_stored(r) for r in reversed(rows)]
