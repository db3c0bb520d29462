"""Rotation of the directory's root keys as a scenario table (like python-tuf's
tests/test_updater_key_rotations.py): which signatures move the trust root, and which
are refused (THREATS.md row 14)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta

import pytest
from testkit import NOW, make_keyring

from keys import (
    Directory,
    RootEntry,
    RootKey,
    RootSet,
    sign_directory,
    verify_directory_update,
)
from schemas.errors import DirectoryError, DirectoryRollback

KEYS = {name: RootKey.generate() for name in "ABCDEFG"}
MEMBERS = make_keyring().directory.members


def root_set(names: str, threshold: int) -> RootSet:
    return RootSet({KEYS[n].kid: KEYS[n].verify_key for n in names}, threshold)


def directory(version: int, roots: str = "", threshold: int = 1) -> Directory:
    return Directory(
        version=version,
        issued_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(days=30),
        members=MEMBERS,
        roots=[
            RootEntry(kid=KEYS[n].kid, public=base64.b64encode(bytes(KEYS[n].verify_key)).decode())
            for n in roots
        ],
        root_threshold=threshold,
    )


def signed(d: Directory, signers: str) -> bytes:
    return sign_directory(d, [KEYS[n] for n in signers])


@dataclass(frozen=True)
class Row:
    declares: str  # roots the new directory names ("" = unchanged)
    threshold: int  # their threshold
    signers: str
    trusted_after: str | None  # roots trusted afterwards; None = refused


TRUSTED = root_set("ABC", 2)

ROWS = {
    "unchanged, 2 of 3": Row("", 1, "AB", "ABC"),
    "unchanged, 3 of 3": Row("", 1, "ABC", "ABC"),
    "unchanged, 1 of 3": Row("", 1, "A", None),
    "unchanged, only untrusted keys": Row("", 1, "DE", None),
    "same roots restated": Row("ABC", 2, "AC", "ABC"),
    "rotate all, old and new thresholds": Row("DEF", 2, "ABDE", "DEF"),
    "rotate all, new keys only": Row("DEF", 2, "DEF", None),
    "rotate all, old keys only": Row("DEF", 2, "ABC", None),
    "rotate all, new threshold short": Row("DEF", 2, "ABD", None),
    "replace one key, overlap signs both": Row("ABD", 2, "AB", "ABD"),
    "raise threshold, old threshold only": Row("ABC", 3, "AB", None),
    "raise threshold, all sign": Row("ABC", 3, "ABC", "ABC"),
    "shrink to one key": Row("A", 1, "AB", "A"),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_root_rotation_scenarios(row: Row) -> None:
    data = signed(directory(2, row.declares, row.threshold), row.signers)
    if row.trusted_after is None:
        with pytest.raises(DirectoryError):
            verify_directory_update(data, TRUSTED, NOW, min_version=1)
        return
    new_directory, trusted = verify_directory_update(data, TRUSTED, NOW, min_version=1)
    assert new_directory.version == 2
    expected = root_set(row.trusted_after, row.threshold if row.declares else 2)
    assert trusted.same_as(expected)


def test_a_sleeping_node_follows_two_rotations_in_order() -> None:
    v2 = signed(directory(2, "DEF", 2), "ABDE")  # ABC -> DEF
    v3 = signed(directory(3, "EFG", 2), "DEFG")  # DEF -> EFG
    _, after_v2 = verify_directory_update(v2, TRUSTED, NOW, min_version=1)
    d3, after_v3 = verify_directory_update(v3, after_v2, NOW, min_version=2)
    assert d3.version == 3 and after_v3.same_as(root_set("EFG", 2))


def test_a_gap_in_the_chain_is_refused() -> None:
    v3 = signed(directory(3, "EFG", 2), "DEFG")  # v2 never seen: ABC never signed it
    with pytest.raises(DirectoryError):
        verify_directory_update(v3, TRUSTED, NOW, min_version=1)


def test_rollback_across_a_rotation_is_refused() -> None:
    v2 = signed(directory(2, "DEF", 2), "ABDE")
    _, after_v2 = verify_directory_update(v2, TRUSTED, NOW, min_version=1)
    old = signed(directory(1), "DE")
    with pytest.raises(DirectoryRollback):
        verify_directory_update(old, after_v2, NOW, min_version=2)
