"""Signed delivery receipts (pure): round trip and every way of breaking one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from testkit import NOW, make_keyring

from node.protocol.receipt import LABEL, RECEIPT_LEN, make_receipt, verify_receipt
from schemas.errors import (
    BadSignature,
    ClockSkew,
    MalformedMessage,
    SenderMismatch,
    UnknownKey,
    UntrustedMessage,
)

KR = make_keyring()
MID = "01a22800-0000-7000-8000-000000000001"
RECEIPT = make_receipt(MID, "WS", KR.ids["FJ"], NOW)


def test_round_trip() -> None:
    r = verify_receipt(RECEIPT, KR.directory, NOW)
    assert (r.message_id, r.sender, r.recipient, r.received_at) == (MID, "WS", "FJ", NOW)
    assert r.receipt_id == f"rcpt-{MID}-FJ"
    assert len(RECEIPT) == RECEIPT_LEN and RECEIPT.startswith(LABEL)


def test_every_single_bit_flip_is_rejected() -> None:
    accepted = []
    for bit in range(len(RECEIPT) * 8):
        data = bytearray(RECEIPT)
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            verify_receipt(bytes(data), KR.directory, NOW)
        except UntrustedMessage:
            continue
        accepted.append(bit)
    assert accepted == []


def test_wrong_sizes_and_labels() -> None:
    for data in (RECEIPT[:-1], RECEIPT + b"\x00", b"", b"lali.envelope.v1" + RECEIPT[16:]):
        with pytest.raises(MalformedMessage):
            verify_receipt(data, KR.directory, NOW)


def test_signed_by_someone_else_than_the_named_recipient() -> None:
    # TO signs a receipt that names FJ as recipient, using TO's key id.
    body = bytearray(make_receipt(MID, "WS", KR.ids["TO"], NOW))
    body[16 + 16 + 2 : 16 + 16 + 4] = b"FJ"
    unsigned = bytes(body[:-64])
    forged = unsigned + KR.ids["TO"].signing_key.sign(unsigned).signature
    with pytest.raises(SenderMismatch):
        verify_receipt(forged, KR.directory, NOW)


def test_unknown_signer_and_bad_signature() -> None:
    from keys import Identity

    with pytest.raises(UnknownKey):
        verify_receipt(make_receipt(MID, "WS", Identity.generate("FJ"), NOW), KR.directory, NOW)
    with pytest.raises(BadSignature):
        verify_receipt(RECEIPT[:-1] + bytes([RECEIPT[-1] ^ 1]), KR.directory, NOW)


def test_future_receipt_is_refused() -> None:
    with pytest.raises(ClockSkew):
        verify_receipt(RECEIPT, KR.directory, NOW - timedelta(hours=1))
