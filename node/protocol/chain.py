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


def verify_chain(entries: Iterable[StoredEntry], *knowns: ChainHead) -> ChainHead:
    """Recompute the chain; raise ``AuditChainBroken`` naming the first bad entry.

    ``knowns`` are heads recorded elsewhere (the head row, signed checkpoints held by
    the hub): the chain must contain each, so a log that was cut short, restored from
    an old backup or rebuilt is caught.
    """
    at = {k.count: k.head for k in knowns}
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
        if seq in at and stored.hash != at[seq]:
            raise AuditChainBroken(
                f"entry {seq}: differs from a recorded head (the log was rewritten)", seq=seq
            )
        prev = stored.hash
        count = seq
    furthest = max(at, default=0)
    if count < furthest:
        raise AuditChainBroken(
            f"entries {count + 1}..{furthest} are missing from the end"
            " (cut short, or an old backup restored)",
            seq=count + 1,
        )
    return ChainHead(count, prev)


INBOX_LABEL = b"lali.inbox.v1\x00"


def inbox_digest(
    message_id: str,
    received_at: str,
    sender: str,
    topic: str,
    tlp: str,
    priority: str,
    alert: str,
) -> str:
    """The digest of an inbox row's content (every column but its state), recorded in
    the ``received`` audit entry's detail as ``"inbox"``: the chain then covers the row,
    so an edited row no longer matches its entry (and a deleted one is missed)."""
    h = hashlib.sha256(INBOX_LABEL)
    for value in (message_id, received_at, sender, topic, tlp, priority, alert):
        h.update(_field(value))
    return h.hexdigest()
