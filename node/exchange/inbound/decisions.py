"""What the inbound pipeline decides about a delivered message, and the shapes that
carry it between the pipeline (``inbound``), the batch commit (``inbox``) and the
consumer loop."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog

from node.protocol.envelope import Opened
from schemas.errors import ClockSkew, KeyNotValid, LaliError, UnknownKey, UntrustedMessage

log = structlog.get_logger("lali.inbound")


class InternalError(LaliError):
    """A bug of ours met this message; it is kept in the audit log for the operator."""

    reason = "internal_error"


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # committed to audit and inbox: ack
    DUPLICATE = "duplicate"  # already committed earlier: ack
    NOT_ADDRESSED = "not_addressed"  # valid but not for us: ack, count
    OWN = "own"  # our own alert coming back: ack
    REJECTED = "rejected"  # untrusted: audited, then term
    DEFER = "defer"  # may be fine later (key not yet known, clock skew): nak with backoff
    RETRY = "retry"  # our side cannot commit (storage, stale directory): hold and retry


class Recorded(StrEnum):
    """What became of a signed record (a receipt, a checkpoint) taken from the stream."""

    RECORDED = "recorded"  # verified and stored: ack
    DUPLICATE = "duplicate"  # stored before: ack
    REJECTED = "rejected"  # untrusted: audited, then term
    CONFLICT = "conflict"  # a checkpoint contradicting one held: audited as evidence, ack
    STALE = "stale"  # a checkpoint older than the newest held: audited as evidence, ack
    RETRY = "retry"  # our side cannot commit: hold and retry


# Failures that a newer directory or a corrected clock can cure: deferred, not rejected,
# until the last allowed delivery.
TRANSIENT: tuple[type[UntrustedMessage], ...] = (UnknownKey, KeyNotValid, ClockSkew)
REJECT_KEEP = 64 * 1024  # raw bytes of a rejected message kept in the audit log


@dataclass(frozen=True)
class Delivered:
    """One message as the broker delivered it."""

    subject: str
    data: bytes
    final: bool = True  # the broker will not deliver it again
    received_at: datetime | None = None  # when the broker stored it
    # Which stream message it is (a redelivery has the same one); None when it did
    # not come from the stream, so that a redelivery cannot be told from a replay.
    stream_seq: int | None = None


@dataclass(frozen=True)
class Rejection:
    """Stage one found the message untrusted; it is audited with the batch, in order."""

    error: LaliError
    at: datetime | None


@dataclass(frozen=True)
class Deferral:
    """Stage one found a failure that time or a newer directory may cure, and the broker
    will deliver the message again: audited at the first deferral of that stream
    message (not at each redelivery), then nakked."""

    error: UntrustedMessage


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message_id: str | None = None
    sender: str | None = None
    reason: str | None = None


Listener = Callable[[Decision, Opened | None], None]


def internal_error(exc: Exception) -> Rejection:
    # A bug of ours must not stop intake. Log where, not what: the message of an
    # arbitrary exception could carry content.
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    log.error(
        "inbound_internal_error",
        error_type=type(exc).__name__,
        where=f"{frame.filename}:{frame.lineno}",
    )
    return Rejection(InternalError(f"internal error: {type(exc).__name__}"), None)


def rejected(subject: str, exc: LaliError) -> Decision:
    log.warning("alert_rejected", reason=exc.reason, error=exc.message, subject=subject)
    return Decision(Outcome.REJECTED, reason=exc.reason)
