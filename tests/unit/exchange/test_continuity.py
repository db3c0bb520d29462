"""A node's log against the newest checkpoint the hub holds: rows of (our head, our
hash at the checkpoint's count, the checkpoint) → verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.exchange.continuity import Continuity, judge
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import Checkpoint

A, B = b"\x0a" * 32, b"\x0b" * 32
AT = datetime(2026, 12, 1, tzinfo=UTC)


def ckpt(count: int, head: bytes) -> Checkpoint:
    return Checkpoint("FJ", count, head, AT)


@pytest.mark.parametrize(
    ("ours", "head_at_count", "checkpoint", "expected"),
    [
        (ChainHead(0, bytes(32)), None, None, Continuity.UNKNOWN),  # new node
        (ChainHead(10, A), A, ckpt(10, A), Continuity.SAME),  # exactly where the hub saw us
        (ChainHead(15, B), A, ckpt(10, A), Continuity.SAME),  # moved on since
        (ChainHead(7, B), None, ckpt(10, A), Continuity.BEHIND),  # an older backup
        (ChainHead(0, bytes(32)), None, ckpt(10, A), Continuity.BEHIND),  # a fresh database
        (ChainHead(10, B), B, ckpt(10, A), Continuity.FORKED),  # same count, other history
        (ChainHead(12, B), B, ckpt(10, A), Continuity.FORKED),  # rewritten, then grew
    ],
)
def test_verdicts(
    ours: ChainHead,
    head_at_count: bytes | None,
    checkpoint: Checkpoint | None,
    expected: Continuity,
) -> None:
    verdict = judge(ours, head_at_count, checkpoint)
    assert verdict.state is expected
    if expected in (Continuity.BEHIND, Continuity.FORKED):
        assert "refusing to run" in verdict.message()
        assert "docs/operations.md" in verdict.message()


def test_an_accepted_departure_runs_but_only_from_that_checkpoint() -> None:
    from node.exchange.continuity import accept_token

    behind = ckpt(10, A)
    token = accept_token(behind)
    assert judge(ChainHead(7, B), None, behind, token).state is Continuity.ACCEPTED
    # A newer checkpoint than the one accepted is judged afresh.
    assert judge(ChainHead(7, B), None, ckpt(11, B), token).state is Continuity.BEHIND
