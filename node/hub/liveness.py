"""Member liveness from heartbeats: pure, times passed in.

A member is *online* while its heartbeats arrive on time, *late* after
``late_after`` missed intervals, *offline* after ``offline_after``; *stopped* when its
last heartbeat said it was shutting down cleanly; *never* before its first heartbeat.
The interval is the one the member declares in its heartbeats, clamped to a sane range
so that a wrong setting cannot hide an outage for days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STATUSES = ("online", "late", "offline", "stopped", "never")
MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True)
class Beat:
    """The last heartbeat the hub holds for a member."""

    last_seen: datetime  # our clock when the last heartbeat arrived
    interval: timedelta
    stopping: bool


@dataclass(frozen=True)
class Thresholds:
    """After how many missed intervals a member is late, then offline."""

    late_after: float = 1.5
    offline_after: float = 3.0


def status(beat: Beat | None, now: datetime, t: Thresholds = Thresholds()) -> str:
    """One of ``STATUSES`` for a member whose last heartbeat is ``beat``, at ``now``."""
    if beat is None:
        return "never"
    if beat.stopping:
        return "stopped"
    interval = min(max(beat.interval, MIN_INTERVAL), MAX_INTERVAL)
    age = now - beat.last_seen
    if age <= interval * t.late_after:
        return "online"
    if age <= interval * t.offline_after:
        return "late"
    return "offline"


def next_change(beat: Beat | None, now: datetime, t: Thresholds = Thresholds()) -> datetime | None:
    """When ``status`` will next change if no heartbeat comes (None: it will not)."""
    if beat is None or beat.stopping:
        return None
    interval = min(max(beat.interval, MIN_INTERVAL), MAX_INTERVAL)
    for factor in (t.late_after, t.offline_after):
        at = beat.last_seen + interval * factor
        if at > now:
            return at
    return None
