"""Reading and verifying an audit log file (synchronous: used by the CLI and tests).

Writing happens through ``node.storage.database.Tx.audit`` inside the transaction that commits the
work the entry records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from node.protocol.chain import ChainHead, Entry, StoredEntry, inbox_digest, verify_chain
from node.storage.readonly import Row, Snapshot, read_only
from schemas.errors import AuditChainBroken, StorageError

_COLUMNS = "seq, at, kind, message_id, peer, topic, reason, detail, envelope, prev, hash"


@contextmanager
def _open(path: Path) -> Iterator[Snapshot]:
    # Checked here rather than by read_only so the message says an audit log is missing.
    if not path.exists():
        raise StorageError(f"no audit database at {path}", path=str(path))
    with read_only(path, must_exist=False) as snap:
        yield snap


def _stored(row: Row) -> StoredEntry:
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


def _iter_entries(snap: Snapshot) -> Iterator[StoredEntry]:
    for row in snap.iterate(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):  # noqa: S608
        yield _stored(row)


@dataclass(frozen=True)
class VerifyResult:
    count: int
    head: bytes


def verify_file(path: Path, checkpoints: Sequence[ChainHead] = ()) -> VerifyResult:
    """Integrity check, then the hash chain against the recorded head and any
    ``checkpoints`` (heads signed earlier and held elsewhere); raises on failure."""
    with _open(path) as snap:
        check = snap.one("PRAGMA integrity_check")
        if check is None or check[0] != "ok":
            report = None if check is None else tuple(check)
            raise StorageError(f"SQLite integrity check failed: {report}", path=str(path))
        head_row = snap.one("SELECT count, head FROM audit_head WHERE id = 1")
        if head_row is None:
            raise StorageError("the audit head record is missing", path=str(path))
        known = ChainHead(int(head_row[0]), bytes(head_row[1]))
        head = verify_chain(_iter_entries(snap), known, *checkpoints)
        if snap.has_table("inbox"):
            _verify_inbox(snap)
    if head.count != known.count:
        raise AuditChainBroken(
            f"entries after {known.count} were added outside the log writer", seq=known.count + 1
        )
    return VerifyResult(head.count, head.head)


def _verify_inbox(snap: Snapshot) -> None:
    """The inbox is covered by the chain: each row must match the digest its
    ``received`` entry recorded, and no such entry may have lost its row. Messages
    name the alert by id only: never its content."""
    for row in snap.iterate(
        "SELECT i.message_id, i.received_at, i.sender, i.topic, i.tlp, i.priority, i.alert,"
        " i.audit_seq, a.kind, a.message_id, a.detail"
        " FROM inbox i LEFT JOIN audit a ON a.seq = i.audit_seq"
    ):
        mid, seq, kind, entry_mid, detail = str(row[0]), int(row[7]), row[8], row[9], row[10]
        if kind != "received" or entry_mid != mid:
            raise AuditChainBroken(
                f"the inbox row of {mid} names audit entry {seq}, which did not receive it",
                seq=seq,
            )
        recorded = _detail(detail).get("inbox")
        content = tuple(str(v) for v in row[:7])
        if recorded is not None and recorded != inbox_digest(*content):
            raise AuditChainBroken(
                f"the inbox row of {mid} was changed after it was received (entry {seq})",
                seq=seq,
            )
    missing = snap.one(
        "SELECT a.seq, a.message_id FROM audit a LEFT JOIN inbox i ON i.audit_seq = a.seq"
        " WHERE a.kind = 'received' AND i.message_id IS NULL ORDER BY a.seq LIMIT 1"
    )
    if missing is not None:
        seq = int(missing[0])
        raise AuditChainBroken(
            f"the inbox row of {missing[1]} (received at entry {seq}) was deleted", seq=seq
        )


def _detail(text: object) -> dict[str, object]:
    try:
        value = json.loads(str(text)) if text is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def list_entries(path: Path, *, limit: int = 50, kind: str | None = None) -> list[StoredEntry]:
    """The newest ``limit`` entries (optionally of one kind), oldest first."""
    sql = f"SELECT {_COLUMNS} FROM audit"  # noqa: S608
    params: tuple[object, ...] = ()
    if kind is not None:
        sql += " WHERE kind = ?"
        params = (kind,)
    sql += " ORDER BY seq DESC LIMIT ?"
    with _open(path) as snap:
        rows = snap.all(sql, (*params, limit))
    return [_stored(r) for r in reversed(rows)]
