"""NATS subject names. Subjects carry topic and sender so that server permissions can
stop a member from publishing as another (``lali.alert.<topic>.<SENDER>``)."""

from __future__ import annotations

from schemas.alert import Topic
from schemas.errors import MalformedMessage

ALERT_PREFIX = "lali.alert"
STREAM_SUBJECTS = [f"{ALERT_PREFIX}.>"]


def alert_subject(topic: Topic, sender: str) -> str:
    return f"{ALERT_PREFIX}.{topic.value}.{sender}"


def topic_filter(topic: Topic) -> str:
    return f"{ALERT_PREFIX}.{topic.value}.*"


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
