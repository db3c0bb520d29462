"""Audit hash-chain arithmetic (pure): edits, deletions, swaps and truncation."""

from __future__ import annotations

import dataclasses

import pytest

from node.protocol.chain import GENESIS, ChainHead, Entry, StoredEntry, entry_hash, verify_chain
from schemas.errors import AuditChainBroken


def build(n: int) -> list[StoredEntry]:
    out: list[StoredEntry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        entry = Entry(
            seq=seq,
            at=f"2026-11-29T12:00:{seq:02d}.000+00:00",
            kind="received" if seq % 2 else "sent",
            message_id=f"m{seq}",
            peer="FJ",
            topic="maritime",
            envelope=bytes([seq]) * 10,
        )
        digest = entry_hash(prev, entry)
        out.append(StoredEntry(entry, prev, digest))
        prev = digest
    return out


CHAIN = build(6)
HEAD = ChainHead(6, CHAIN[-1].hash)


def test_intact_chain_verifies() -> None:
    assert verify_chain(CHAIN, HEAD) == HEAD
    assert verify_chain([]) == ChainHead(0, GENESIS)


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize(
    "change",
    [
        {"kind": "rejected"},
        {"peer": "TO"},
        {"message_id": None},
        {"envelope": b"other"},
        {"at": "2026-11-29T13:00:00.000+00:00"},
        {"detail": ""},
    ],
)
def test_any_edit_is_detected_at_that_entry(index: int, change: dict[str, object]) -> None:
    chain = list(CHAIN)
    stored = chain[index]
    chain[index] = dataclasses.replace(stored, entry=dataclasses.replace(stored.entry, **change))
    with pytest.raises(AuditChainBroken) as err:
        verify_chain(chain, HEAD)
    assert err.value.seq == index + 1


@pytest.mark.parametrize("index", range(5))
def test_deleting_an_entry_is_detected(index: int) -> None:
    chain = CHAIN[:index] + CHAIN[index + 1 :]
    with pytest.raises(AuditChainBroken) as err:
        verify_chain(chain, HEAD)
    assert err.value.seq == index + 1


def test_deleting_the_last_entry_is_caught_by_the_recorded_head() -> None:
    verify_chain(CHAIN[:-1])  # on its own a shorter chain is consistent ...
    with pytest.raises(AuditChainBroken, match="missing from the end"):
        verify_chain(CHAIN[:-1], HEAD)  # ... but not against a head recorded elsewhere


def test_swapping_two_entries_is_detected() -> None:
    chain = list(CHAIN)
    a, b = chain[1], chain[3]
    # Swap contents but keep each row's seq, as an attacker editing rows would.
    chain[1] = StoredEntry(dataclasses.replace(b.entry, seq=2), b.prev, b.hash)
    chain[3] = StoredEntry(dataclasses.replace(a.entry, seq=4), a.prev, a.hash)
    with pytest.raises(AuditChainBroken) as err:
        verify_chain(chain, HEAD)
    assert err.value.seq == 2


def test_rewritten_chain_differs_from_a_known_head() -> None:
    rebuilt = build(6)
    rebuilt_alt = [
        StoredEntry(dataclasses.replace(s.entry, peer="TO"), s.prev, s.hash) for s in rebuilt
    ]
    assert rebuilt == CHAIN  # deterministic
    prev = GENESIS
    consistent = []
    for s in rebuilt_alt:  # a consistent rewrite of history, every hash recomputed
        digest = entry_hash(prev, s.entry)
        consistent.append(StoredEntry(s.entry, prev, digest))
        prev = digest
    verify_chain(consistent)
    with pytest.raises(AuditChainBroken, match="rewritten"):
        verify_chain(consistent, ChainHead(3, CHAIN[2].hash))


def test_fields_are_length_prefixed_not_concatenated() -> None:
    a = Entry(seq=1, at="x", kind="ab", message_id="c")
    b = Entry(seq=1, at="x", kind="a", message_id="bc")
    assert entry_hash(GENESIS, a) != entry_hash(GENESIS, b)
    assert entry_hash(GENESIS, Entry(1, "x", "k", peer="")) != entry_hash(
        GENESIS, Entry(1, "x", "k", peer=None)
    )
