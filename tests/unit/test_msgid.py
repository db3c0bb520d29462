"""The ``Nats-Msg-Id`` of what Lali publishes (pure): a hash of the exact subject and
bytes, so that nobody without the message can take its id first
(``docs/wire-format.md``, "NATS")."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from testkit import NOW, make_keyring

from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint
from node.protocol.msgid import LABEL, family, nats_msg_id
from node.protocol.receipt import make_receipt
from node.protocol.subjects import (
    alert_subject,
    checkpoint_subject,
    dead_letter_subject,
    receipt_subject,
)
from schemas.alert import Topic

KR = make_keyring()
MID = "01a22800-0000-7000-8000-000000000001"
RECEIPT = make_receipt(MID, "WS", KR.ids["FJ"], NOW)
SUBJECTS = {
    "alert": alert_subject(Topic.MARITIME, "WS"),
    "receipt": receipt_subject("WS", "FJ"),
    "checkpoint": checkpoint_subject("FJ"),
    "dead": dead_letter_subject("WS"),
}
FORM = re.compile(r"(alert|receipt|checkpoint|dead)-[0-9a-f]{32}")


def test_known_answers() -> None:
    # The examples of docs/wire-format.md ("Nats-Msg-Id"): another implementation (and
    # a later refactoring) can check itself against them.
    assert LABEL == b"lali.msgid.v1\x00"
    assert nats_msg_id("lali.receipt.WS.FJ", b"") == "receipt-c2d5b7f5d6ab857e2e5a0e74e607fc4b"
    assert (
        nats_msg_id("lali.alert.maritime.WS", b"lali.envelope.v1")
        == "alert-95df77e9d57c61a751ffeb7036814dd3"
    )
    assert nats_msg_id("lali.checkpoint.FJ", b"") == "checkpoint-79cf8d6a8298e994d55395d18fbb339d"
    assert nats_msg_id("lali.dead.WS", b"\x00") == "dead-97b14c62d0b5f60bf9d6ae6d39ccde2f"


def test_the_hash_input_is_label_subject_length_subject_and_bytes() -> None:
    subject = SUBJECTS["receipt"]
    encoded = subject.encode("ascii")
    expected = hashlib.blake2b(
        LABEL + len(encoded).to_bytes(2, "big") + encoded + RECEIPT, digest_size=16
    ).hexdigest()
    assert nats_msg_id(subject, RECEIPT) == f"receipt-{expected}"


def test_deterministic_so_a_retry_keeps_its_id() -> None:
    assert nats_msg_id(SUBJECTS["receipt"], RECEIPT) == nats_msg_id(
        SUBJECTS["receipt"], bytes(RECEIPT)
    )
    # Ed25519 is deterministic: the same receipt signed again has the same bytes, so
    # the same id (the outbox keeps the bytes anyway).
    assert make_receipt(MID, "WS", KR.ids["FJ"], NOW) == RECEIPT
    blob = make_checkpoint(KR.ids["FJ"], ChainHead(7, b"\x01" * 32), NOW)
    assert blob == make_checkpoint(KR.ids["FJ"], ChainHead(7, b"\x01" * 32), NOW)


def test_the_same_bytes_get_another_id_in_each_family() -> None:
    ids = {name: nats_msg_id(subject, RECEIPT) for name, subject in SUBJECTS.items()}
    assert len(set(ids.values())) == len(ids)
    for name, mid in ids.items():
        assert FORM.fullmatch(mid) and mid.startswith(f"{name}-")
        assert family(SUBJECTS[name]) == name


def test_pinned_to_the_exact_subject_not_only_its_family() -> None:
    # Junk on WS's own dead-letter subject can never take FJ's dead-letter id, nor
    # a receipt's on another member's receipt subject.
    assert nats_msg_id("lali.dead.WS", RECEIPT) != nats_msg_id("lali.dead.FJ", RECEIPT)
    assert nats_msg_id("lali.receipt.WS.FJ", RECEIPT) != nats_msg_id("lali.receipt.WS.TO", RECEIPT)
    # The subject's length is hashed: moving a byte across the boundary changes the id.
    assert nats_msg_id("lali.dead.WS", b"X") != nats_msg_id("lali.dead.WSX", b"")


def test_not_the_old_predictable_forms() -> None:
    blob = make_checkpoint(KR.ids["FJ"], ChainHead(7, b"\x01" * 32), NOW)
    assert nats_msg_id(SUBJECTS["receipt"], RECEIPT) != f"rcpt-{MID}-FJ"
    assert nats_msg_id(SUBJECTS["checkpoint"], blob) != "ckpt-FJ-7"


def test_one_bit_flipped_anywhere_in_a_receipt_changes_the_id() -> None:
    ids = {nats_msg_id(SUBJECTS["receipt"], RECEIPT)}
    for bit in range(len(RECEIPT) * 8):
        flipped = bytearray(RECEIPT)
        flipped[bit // 8] ^= 1 << (bit % 8)
        ids.add(nats_msg_id(SUBJECTS["receipt"], bytes(flipped)))
    assert len(ids) == len(RECEIPT) * 8 + 1  # every one distinct


@given(st.binary(max_size=512), st.integers(min_value=0))
def test_one_bit_flipped_in_any_message(data: bytes, where: int) -> None:
    if not data:
        data = b"\x00"
    at = where % (len(data) * 8)
    flipped = bytearray(data)
    flipped[at // 8] ^= 1 << (at % 8)
    subject = SUBJECTS["alert"]
    assert nats_msg_id(subject, bytes(flipped)) != nats_msg_id(subject, data)
    assert FORM.fullmatch(nats_msg_id(subject, data))


@pytest.mark.parametrize(
    "subject",
    [
        "lali.heartbeat.WS",  # core NATS only, never in the stream
        "lali.alert",
        "lali.dead.",
        "other.alert.maritime.WS",
        "lali.dead.WŚ",
        "",
    ],
)
def test_a_subject_lali_does_not_publish_to_the_stream_is_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        nats_msg_id(subject, b"x")
