"""The hub's judgements on members' checkpoints and heartbeats, as scenario rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from testkit import NOW

from node.hub.checks import (
    AuditState,
    BeatMark,
    CheckpointWentBack,
    ConflictingHeads,
    Finding,
    HeartbeatBehind,
    HeldCheckpoint,
    heartbeat_is_newer,
    judge_checkpoints,
)

MIN = timedelta(minutes=1)


def held(*counts: int, head: bytes | None = None) -> list[HeldCheckpoint]:
    """Checkpoints signed a minute apart, in the order given, each with its own head
    unless ``head`` is given."""
    return [
        HeldCheckpoint(count, head or bytes([i]) * 32, NOW + i * MIN)
        for i, count in enumerate(counts)
    ]


# --- checkpoints -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checkpoints", "conflicts", "beat_count", "state", "findings"),
    [
        # Nothing held yet: nothing to compare a heartbeat with.
        ([], 0, None, AuditState.NONE, []),
        ([], 0, 5, AuditState.NONE, []),
        # A log that only grows, and a heartbeat at or past the latest checkpoint.
        (held(10), 0, None, AuditState.OK, []),
        (held(10, 20, 30), 0, 30, AuditState.OK, []),
        (held(10, 20, 30), 0, 45, AuditState.OK, []),
        # The same checkpoint held twice is no conflict.
        (held(10, 10, head=b"h" * 32), 0, 10, AuditState.OK, []),
        # A log restored from a backup or cut short: fewer entries than signed before.
        (held(10, 20), 0, 15, AuditState.ALARM, [HeartbeatBehind(15, 20)]),
        (held(10, 20), 0, 0, AuditState.ALARM, [HeartbeatBehind(0, 20)]),
        (held(10, 30, 20), 0, None, AuditState.ALARM, [CheckpointWentBack(30, 20)]),
        # Two heads for one count: refused ones (from the audit log), or two held.
        (held(10), 1, 10, AuditState.ALARM, [ConflictingHeads(1)]),
        ([], 2, None, AuditState.ALARM, [ConflictingHeads(2)]),
        (held(10, 10), 0, None, AuditState.ALARM, [ConflictingHeads(1)]),
        (held(10, 10), 1, None, AuditState.ALARM, [ConflictingHeads(2)]),
        # Everything at once, in a fixed order.
        (
            held(10, 30, 20),
            3,
            12,
            AuditState.ALARM,
            [ConflictingHeads(3), CheckpointWentBack(30, 20), HeartbeatBehind(12, 30)],
        ),
    ],
)
def test_judge_checkpoints(
    checkpoints: list[HeldCheckpoint],
    conflicts: int,
    beat_count: int | None,
    state: AuditState,
    findings: list[Finding],
) -> None:
    verdict = judge_checkpoints(checkpoints, conflicts, beat_count)
    assert verdict.state is state
    assert list(verdict.findings) == findings


def test_signing_order_not_argument_order_decides_going_back() -> None:
    signed = held(10, 30, 20)  # 20 was signed after 30: the log went back
    verdict = judge_checkpoints(list(reversed(signed)), 0, None)
    assert verdict.findings == (CheckpointWentBack(30, 20),)
    grown = held(10, 20, 30)  # given newest first, but signed in growing order
    assert judge_checkpoints(list(reversed(grown)), 0, None).state is AuditState.OK


def test_the_latest_checkpoint_is_the_one_with_most_entries() -> None:
    verdict = judge_checkpoints(held(10, 30, 20), 0, None)
    assert verdict.latest is not None and verdict.latest.count == 30
    assert judge_checkpoints([], 0, None).latest is None


def test_findings_explain_themselves() -> None:
    assert ConflictingHeads(2).text() == "2 conflicting checkpoint(s): two heads for one count"
    assert CheckpointWentBack(30, 20).text() == (
        "a later checkpoint has fewer entries than an earlier one"
    )
    assert HeartbeatBehind(15, 20).text() == (
        "its heartbeat reports 15 entries, fewer than checkpoint 20"
    )


# --- heartbeats ------------------------------------------------------------------------

RUN = NOW - timedelta(hours=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("held_mark", "beat", "counts"),
    [
        (None, BeatMark(RUN, NOW), True),  # the first heartbeat
        (BeatMark(RUN, NOW), BeatMark(RUN, NOW + 30 * S), True),  # the next one
        (BeatMark(RUN, NOW), BeatMark(RUN, NOW), False),  # the same again: a replay
        (BeatMark(RUN, NOW), BeatMark(RUN, NOW - 30 * S), False),  # an older one
        # A restart counts even if the member's clock went back ...
        (BeatMark(RUN, NOW), BeatMark(RUN + S, NOW - 30 * S), True),
        # ... but a heartbeat from an earlier run does not, however late it says it is.
        (BeatMark(RUN, NOW), BeatMark(RUN - S, NOW + 30 * S), False),
    ],
)
def test_heartbeat_is_newer(held_mark: BeatMark | None, beat: BeatMark, counts: bool) -> None:
    assert heartbeat_is_newer(held_mark, beat) is counts
