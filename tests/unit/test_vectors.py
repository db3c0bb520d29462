"""The committed envelope test vectors: sealing reproduces them, opening accepts them."""

from __future__ import annotations

import json

from node.ops.vectors import VECTORS_FILE, build, check


def test_committed_vectors_are_current() -> None:
    committed = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    # Sealing with the recorded randomness must reproduce every envelope bit for bit.
    assert build() == committed, "envelope format drifted: run `python -m node.ops.vectors`"


def test_committed_vectors_open_and_negatives_fail() -> None:
    vectors = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    assert len(vectors["positive"]) >= 3 and len(vectors["negative"]) >= 5
    check(vectors)
