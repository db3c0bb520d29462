"""Hash-chain arithmetic of the audit log: pure functions, no database.

Each entry's hash covers a domain label, the previous entry's hash and every field of
the entry (the envelope by its SHA-256), each length-prefixed so that no two different
entries encode alike. Editing, deleting, inserting or reordering any entry changes every
hash after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.errors import AuditChainBroken

LABEL = b"lali.audit.v1\x00"
GENESIS = bytes(32)
_NONE = b"\xff\xff\xff\xff"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    kind: str
    message_id: str | None = None
    peer: str | None = None
    topic: str | None = None
    reason: str | None = None
    detail: str | None = None
    envelope: bytes | None = None


@dataclass(frozen=True)
class StoredEntry:
    entry: Entry
    prev: bytes
    hash: bytes


def _field(value: str | bytes | None) -> bytes:
    if value is None:
        return _NONE
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return len(raw).to_bytes(4, "big") + raw


def entry_hash(prev: bytes, entry: Entry) -> bytes:
    envelope_digest = None if entry.envelope is None else hashlib.sha256(entry.envelope).digest()
    h = hashlib.sha256(LABEL)
    h.update(prev)
    h.update(entry.seq.to_bytes(8, "big"))
    for value in (
        entry.at,
        entry.kind,
        entry.message_id,
        entry.peer,
        entry.topic,
        entry.reason,
        entry.detail,
        envelope_digest,
    ):
        h.update(_field(value))
    return h.digest()


@dataclass(frozen=True)
class ChainHead:
    count: int
    head: bytes


def verify_chain(entries: Iterable[StoredEntry], known: ChainHead | None = None) -> ChainHead:
    """Recompute the chain; raise ``AuditChainBroken`` naming the first bad entry.

    ``known`` is a head recorded elsewhere (the head row, a checkpoint): the chain must
    contain it, so a log that was cut short or rebuilt is caught.
    """
    prev = GENESIS
    count = 0
    for stored in entries:
        seq = stored.entry.seq
        if seq != count + 1:
            raise AuditChainBroken(
                f"entry {count + 1} is missing (next entry found is {seq})", seq=count + 1
            )
        if stored.prev != prev:
            raise AuditChainBroken(
                f"entry {seq}: link to the previous entry is broken "
                "(an entry before it was deleted, inserted or reordered)",
                seq=seq,
            )
        if entry_hash(prev, stored.entry) != stored.hash:
            raise AuditChainBroken(f"entry {seq}: contents do not match its hash", seq=seq)
        if known is not None and seq == known.count and stored.hash != known.head:
            raise AuditChainBroken(
                f"entry {seq}: differs from the recorded head (the log was rewritten)", seq=seq
            )
        prev = stored.hash
        count = seq
    if known is not None and count < known.count:
        raise AuditChainBroken(
            f"entries {count + 1}..{known.count} are missing from the end", seq=count + 1
        )
    return ChainHead(count, prev)
