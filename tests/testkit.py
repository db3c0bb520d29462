"""In-memory identities and a verified directory for pure-logic tests (no files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import schemas
from keys import Directory, Identity, RootKey
from node.ops.vectors import signed_directory
from schemas.alert import Alert, Topic, parse_alert

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass
class Keyring:
    root: RootKey
    ids: dict[str, Identity]
    directory: Directory


def make_keyring(
    codes: tuple[str, ...] = ("XH", "WS", "FJ", "TO"),
    now: datetime = NOW,
    topics: dict[str, list[str]] | None = None,
) -> Keyring:
    root = RootKey.generate()
    ids = {code: Identity.generate(code) for code in codes}
    directory, _ = signed_directory(ids, root, now, timedelta(days=30), topics)
    return Keyring(root, ids, directory)


EXAMPLES = Path(schemas.__file__).resolve().parent / "examples"


def example_alerts(kind: str = "valid") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((EXAMPLES / kind).glob("*.json"))}


def sample_alert(topic: Topic) -> Alert:
    """The first valid example of ``topic``, without an expiry (tests choose their time)."""
    for data in example_alerts().values():
        alert = parse_alert(data)
        if alert.topic is topic:
            return alert.model_copy(update={"expires_at": None})
    raise LookupError(f"no valid example for {topic.value}")
