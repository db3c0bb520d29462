"""The hub's pure parts: signed heartbeats, liveness, bulletin TLP rules, live events."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from testkit import NOW, make_keyring

from node.hub import store
from node.hub.bulletin import Cited, check_bulletin
from node.hub.events import QUEUE_SIZE, EventBus
from node.hub.liveness import Beat, Thresholds, next_change, status
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint
from node.protocol.heartbeat import HEARTBEAT_LEN, Heartbeat, make_heartbeat, verify_heartbeat
from node.storage.database import Database
from schemas.alert import Tlp, Topic
from schemas.errors import (
    BadSignature,
    KeyNotValid,
    MalformedMessage,
    PolicyViolation,
    SenderMismatch,
    UnknownKey,
)

# --- heartbeats ---------------------------------------------------------------------


def beat(code: str = "WS", **changes: object) -> Heartbeat:
    base = Heartbeat(code, NOW, NOW - timedelta(hours=1), timedelta(seconds=30), 42, 3)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_heartbeat_round_trip() -> None:
    ring = make_keyring()
    blob = make_heartbeat(ring.ids["WS"], beat(stopping=True))
    assert len(blob) == HEARTBEAT_LEN == 123
    assert verify_heartbeat(blob, ring.directory, "WS") == beat(stopping=True)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b[:-1], MalformedMessage),  # truncated
        (lambda b: b + b"\0", MalformedMessage),  # extended
        (lambda b: b"lali.receipt.v1\0" + b[16:], MalformedMessage),  # another kind's label
        (lambda b: b[:16] + b"FJ" + b[18:], SenderMismatch),  # claims another member
        (lambda b: b[:-64] + bytes(64), BadSignature),
        (lambda b: b[:50] + bytes([b[50] ^ 1]) + b[51:], BadSignature),  # a counter edited
        (lambda b: b[:58] + b"\x02" + b[59:], MalformedMessage),  # unknown flag
    ],
)
def test_heartbeat_tampering(mutate: object, error: type[Exception]) -> None:
    ring = make_keyring()
    blob = make_heartbeat(ring.ids["WS"], beat())
    assert callable(mutate)
    with pytest.raises(error):
        verify_heartbeat(mutate(blob), ring.directory, "WS")


def test_heartbeat_must_match_subject_and_key() -> None:
    ring = make_keyring()
    blob = make_heartbeat(ring.ids["WS"], beat())
    with pytest.raises(SenderMismatch):
        verify_heartbeat(blob, ring.directory, "FJ")  # published on FJ's subject
    with pytest.raises(UnknownKey):
        verify_heartbeat(blob, make_keyring().directory, "WS")  # a key outside the directory
    with pytest.raises(KeyNotValid):
        late = make_heartbeat(ring.ids["WS"], beat(at=NOW + timedelta(days=400)))
        verify_heartbeat(late, ring.directory, "WS")
    with pytest.raises(ValueError):
        make_heartbeat(ring.ids["WS"], beat("FJ"))


def test_a_checkpoint_is_not_a_heartbeat() -> None:
    ring = make_keyring()
    checkpoint = make_checkpoint(ring.ids["WS"], ChainHead(3, bytes(32)), NOW)
    with pytest.raises(MalformedMessage):
        verify_heartbeat(checkpoint, ring.directory, "WS")


# --- liveness -------------------------------------------------------------------------

S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("age_s", "stopping", "expected"),
    [
        (0, False, "online"),
        (15, False, "online"),  # 1.5 intervals of 10 s
        (16, False, "late"),
        (30, False, "late"),
        (31, False, "offline"),
        (3600, False, "offline"),
        (1, True, "stopped"),
        (3600, True, "stopped"),
    ],
)
def test_liveness(age_s: int, stopping: bool, expected: str) -> None:
    b = Beat(NOW - age_s * S, 10 * S, stopping)
    assert status(b, NOW) == expected


def test_liveness_edges() -> None:
    assert status(None, NOW) == "never"
    # A member declaring a silly interval cannot hide for days: clamped to an hour.
    assert status(Beat(NOW - 4 * timedelta(hours=1), timedelta(days=9), False), NOW) == "offline"
    b = Beat(NOW, 10 * S, False)
    assert next_change(b, NOW) == NOW + 15 * S
    assert next_change(b, NOW + 20 * S) == NOW + 30 * S
    assert next_change(b, NOW + 40 * S) is None
    assert status(Beat(NOW - 20 * S, 10 * S, False), NOW, Thresholds(3, 5)) == "online"


# --- bulletins: the TLP rules ----------------------------------------------------------


def cited(tlp: Tlp, sender: str = "WS") -> Cited:
    return Cited("01a22874-59f1-7bf9-bd6a-6861ff3261c9", sender, tlp, Topic.IDENTITY_FRAUD)


@pytest.mark.parametrize(
    ("tlp", "to", "cites", "refused"),
    [
        (Tlp.AMBER, ["WS", "FJ"], [cited(Tlp.GREEN)], None),
        (Tlp.GREEN, ["WS", "FJ"], [cited(Tlp.AMBER)], "TLP:AMBER or stricter"),
        (Tlp.CLEAR, ["WS"], [cited(Tlp.GREEN)], "TLP:GREEN or stricter"),
        (Tlp.RED, ["WS"], [cited(Tlp.RED)], None),
        (Tlp.RED, ["WS", "FJ"], [cited(Tlp.RED)], "only to WS, not FJ"),
        (Tlp.AMBER_STRICT, ["FJ"], [cited(Tlp.AMBER_STRICT)], "only to WS"),
        (Tlp.RED, ["FJ"], [cited(Tlp.AMBER), cited(Tlp.RED, "FJ")], None),
        (Tlp.AMBER, ["TO"], [], None),
    ],
)
def test_bulletin_rules(tlp: Tlp, to: list[str], cites: list[Cited], refused: str | None) -> None:
    if refused is None:
        check_bulletin(tlp, to, cites)
    else:
        with pytest.raises(PolicyViolation, match=refused):
            check_bulletin(tlp, to, cites)


# --- live events ------------------------------------------------------------------------


async def test_events_are_bounded_and_close() -> None:
    bus = EventBus()
    queue = bus.subscribe()
    assert queue is not None
    stream = bus.stream(queue, keepalive_s=60)
    assert await anext(stream) == "retry: 3000\n\n"
    for n in range(QUEUE_SIZE + 5):  # a tab that does not read: told to resync, no growth
        bus.publish("traffic", seq=n)
    assert queue.qsize() <= QUEUE_SIZE
    text = await anext(stream)
    assert text.startswith("event: ")
    bus.publish("link", id="abc", kind="document")
    bus.close()
    rest = [chunk async for chunk in stream]
    assert all("<" not in chunk for chunk in rest)
    assert bus.subscribe() is None


async def test_a_replayed_heartbeat_does_not_count(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "hub.db")
    try:
        await store.create_tables(db)
        first = beat()
        assert await store.record_heartbeat(db, first, NOW)
        assert not await store.record_heartbeat(db, first, NOW + 60 * S)  # the same again
        older = beat(at=NOW - 30 * S)
        assert not await store.record_heartbeat(db, older, NOW + 60 * S)
        assert await store.record_heartbeat(db, beat(at=NOW + 30 * S), NOW + 60 * S)
        # A restart (a later start time) counts even if the member's clock went back.
        assert await store.record_heartbeat(db, beat(at=NOW, started_at=NOW), NOW + 90 * S)
        row = await db.fetchone("SELECT beats, last_seen FROM hub_members WHERE member = 'WS'")
        assert row is not None and row[0] == 3
    finally:
        await db.close()
