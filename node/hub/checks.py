"""The hub's security judgements on what members report about themselves. Pure: rows
in, typed verdicts out; no I/O, no clock.

An audit chain only grows, so everything a member signs about its own log must agree
with everything it signed before:

- ``judge_checkpoints``: the checkpoints the hub holds for one member. An alarm when two
  heads were signed for one count (the log forked or was rewritten), when a later
  checkpoint has fewer entries than an earlier one, or when the member's heartbeat
  reports fewer entries than its latest checkpoint (a log restored from a backup or
  cut short).
- ``heartbeat_is_newer``: whether a verified heartbeat may replace the one held. A
  replayed heartbeat (e.g. by a compromised broker) must not keep a dead member
  online, so only a later run of the member, or a later beat of the same run, counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum


@dataclass(frozen=True)
class HeldCheckpoint:
    """A signed checkpoint of a member's audit head, as the hub holds it."""

    count: int
    head: bytes
    at: datetime  # when the member signed it


@dataclass(frozen=True)
class ConflictingHeads:
    """Two different heads were signed for one count, ``times`` times."""

    times: int

    def text(self) -> str:
        """The operator's explanation."""
        return f"{self.times} conflicting checkpoint(s): two heads for one count"


@dataclass(frozen=True)
class CheckpointWentBack:
    """A checkpoint signed later has fewer entries than one signed before it."""

    earlier: int
    later: int

    def text(self) -> str:
        """The operator's explanation."""
        return "a later checkpoint has fewer entries than an earlier one"


@dataclass(frozen=True)
class HeartbeatBehind:
    """The member's heartbeat reports fewer entries than its latest checkpoint."""

    beat_count: int
    checkpoint_count: int

    def text(self) -> str:
        """The operator's explanation."""
        return (
            f"its heartbeat reports {self.beat_count} entries,"
            f" fewer than checkpoint {self.checkpoint_count}"
        )


Finding = ConflictingHeads | CheckpointWentBack | HeartbeatBehind


class AuditState(Enum):
    """A member's audit log as its checkpoints show it."""

    NONE = "none"  # no checkpoint held yet
    OK = "ok"  # every checkpoint and heartbeat agrees
    ALARM = "alarm"  # at least one finding


@dataclass(frozen=True)
class CheckpointVerdict:
    """What the checkpoints held for one member say about its log."""

    state: AuditState
    latest: HeldCheckpoint | None  # the one with the most entries
    findings: tuple[Finding, ...]


def judge_checkpoints(
    held: Sequence[HeldCheckpoint], conflicts: int, beat_count: int | None
) -> CheckpointVerdict:
    """Judge one member's log from the checkpoints held for it.

    ``conflicts`` counts the checkpoints refused because the hub already held another
    head for the same count (recorded as evidence in the hub's audit log);
    ``beat_count`` is the audit count in the member's latest heartbeat, if any.

    1. Conflicting heads: those refused, plus any two held for one count.
    2. Going back: in signing order, a checkpoint with fewer entries than its predecessor.
    3. Heartbeat behind: the heartbeat's count below the latest checkpoint's.
    """
    ordered = sorted(held, key=lambda c: c.at)
    latest = max(ordered, key=lambda c: c.count) if ordered else None
    findings: list[Finding] = []
    heads: dict[int, set[bytes]] = {}
    for c in ordered:
        heads.setdefault(c.count, set()).add(c.head)
    forks = sum(len(h) - 1 for h in heads.values())
    if conflicts + forks:
        findings.append(ConflictingHeads(conflicts + forks))
    back = next(((a, b) for a, b in itertools.pairwise(ordered) if b.count < a.count), None)
    if back is not None:
        findings.append(CheckpointWentBack(back[0].count, back[1].count))
    if latest is not None and beat_count is not None and beat_count < latest.count:
        findings.append(HeartbeatBehind(beat_count, latest.count))
    if findings:
        state = AuditState.ALARM
    else:
        state = AuditState.OK if latest is not None else AuditState.NONE
    return CheckpointVerdict(state, latest, tuple(findings))


@dataclass(frozen=True)
class BeatMark:
    """The heartbeat the hub holds for a member: when its run started, when it beat."""

    started_at: datetime
    at: datetime


def heartbeat_is_newer(held: BeatMark | None, beat: BeatMark) -> bool:
    """True if a verified heartbeat ``beat`` may replace ``held`` (None: none held yet):
    a later run of the member, or a later beat of the same run. Anything else is a
    replay (or a reordering) and must not count."""
    if held is None:
        return True
    if beat.started_at != held.started_at:
        return beat.started_at > held.started_at
    return beat.at > held.at
