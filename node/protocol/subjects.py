"""NATS subject names. Subjects carry topic and sender so that server permissions can
stop a member from publishing as another (``lali.alert.<topic>.<SENDER>``)."""

from __future__ import annotations

from schemas.alert import Topic
from schemas.errors import MalformedMessage

ALERT_PREFIX = "lali.alert"
RECEIPT_PREFIX = "lali.receipt"
DEAD_PREFIX = "lali.dead"
CHECKPOINT_PREFIX = "lali.checkpoint"
STREAM_SUBJECTS = [
    f"{ALERT_PREFIX}.>",
    f"{RECEIPT_PREFIX}.>",
    f"{DEAD_PREFIX}.>",
    f"{CHECKPOINT_PREFIX}.>",
]


HEARTBEAT_PREFIX = "lali.heartbeat"  # core NATS only: not in the stream


def heartbeat_subject(member: str) -> str:
    return f"{HEARTBEAT_PREFIX}.{member}"


def heartbeat_member(subject: str) -> str | None:
    """The member code a heartbeat subject names, or None if it is not one."""
    parts = subject.split(".")
    if len(parts) != 3 or f"{parts[0]}.{parts[1]}" != HEARTBEAT_PREFIX:
        return None
    return parts[2]


def checkpoint_subject(member: str) -> str:
    return f"{CHECKPOINT_PREFIX}.{member}"


def is_checkpoint_subject(subject: str) -> bool:
    return subject.startswith(CHECKPOINT_PREFIX + ".")


def dead_letter_subject(me: str) -> str:
    """Where a node copies what it rejected, for the operator (nobody consumes it)."""
    return f"{DEAD_PREFIX}.{me}"


def alert_subject(topic: Topic, sender: str) -> str:
    return f"{ALERT_PREFIX}.{topic.value}.{sender}"


def topic_filter(topic: Topic) -> str:
    return f"{ALERT_PREFIX}.{topic.value}.*"


def receipt_subject(sender: str, recipient: str) -> str:
    """Receipts go to the alert's sender; the publishing recipient's code comes last,
    as with alerts, so one permission rule covers both."""
    return f"{RECEIPT_PREFIX}.{sender}.{recipient}"


def receipt_filter(me: str) -> str:
    return f"{RECEIPT_PREFIX}.{me}.*"


def is_receipt_subject(subject: str) -> bool:
    return subject.startswith(RECEIPT_PREFIX + ".")


def parse_receipt_subject(subject: str) -> tuple[str, str]:
    parts = subject.split(".")
    if len(parts) != 4 or ".".join(parts[:2]) != RECEIPT_PREFIX:
        raise MalformedMessage("not a receipt subject", subject=subject)
    for code in parts[2:]:
        if not (len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()):
            raise MalformedMessage("receipt subject names an invalid code", subject=subject)
    return parts[2], parts[3]


def parse_alert_subject(subject: str) -> tuple[Topic, str]:
    parts = subject.split(".")
    if len(parts) != 4 or ".".join(parts[:2]) != ALERT_PREFIX:
        raise MalformedMessage("not an alert subject", subject=subject)
    try:
        topic = Topic(parts[2])
    except ValueError:
        raise MalformedMessage("unknown topic in subject", subject=subject) from None
    sender = parts[3]
    if not (len(sender) == 2 and sender.isascii() and sender.isalpha() and sender.isupper()):
        raise MalformedMessage("subject sender is not a country code", subject=subject)
    return topic, sender
