"""Signed delivery receipts: bytes in, typed objects or typed errors out; time passed in.

A recipient, after committing an alert, signs a receipt naming the message, the original
sender, itself and the time it committed; the sender verifies it against the directory.
Layout (116 bytes, big-endian):

    LABEL "lali.receipt.v1\\0" (16) | message_id (16) | sender (2) | recipient (2)
    | sign_kid (8) | received_ms (8) | Ed25519 signature over all preceding bytes (64)
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import nacl.exceptions
from nacl.signing import VerifyKey

from keys.directory import Directory
from keys.identity import Identity
from node.protocol.wire import MAX_MS, from_ms, to_ms
from schemas.errors import (
    BadSignature,
    ClockSkew,
    KeyNotValid,
    KeyRevoked,
    MalformedMessage,
    SenderMismatch,
)

LABEL = b"lali.receipt.v1\x00"
_BODY = struct.Struct(">16s16s2s2s8sQ")
SIG_LEN = 64
RECEIPT_LEN = _BODY.size + SIG_LEN
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Receipt:
    message_id: str
    sender: str  # who sent the alert (and receives this receipt)
    recipient: str  # who received the alert and signed this receipt
    received_at: datetime
    sign_kid: str

    @property
    def receipt_id(self) -> str:
        """Our outbox key for it: one receipt per message and recipient. Never sent:
        its ``Nats-Msg-Id`` is hashed from its bytes (``node.protocol.msgid``)."""
        return f"rcpt-{self.message_id}-{self.recipient}"


def _code(raw: bytes) -> str:
    if not (raw.isascii() and raw.isalpha() and raw.isupper()):
        raise MalformedMessage("receipt names an invalid member code")
    return raw.decode("ascii")


def make_receipt(message_id: str, sender: str, me: Identity, received_at: datetime) -> bytes:
    body = _BODY.pack(
        LABEL,
        uuid.UUID(message_id).bytes,
        sender.encode("ascii"),
        me.code.encode("ascii"),
        bytes.fromhex(me.sign_kid),
        to_ms(received_at),
    )
    return body + me.signing_key.sign(body).signature


def verify_receipt(data: bytes, directory: Directory, now: datetime) -> Receipt:
    """1 exact size, 2 label and fields, 3 key owned by the recipient and valid at the
    receipt's time, 4 signature, 5 not from the future."""
    if len(data) != RECEIPT_LEN:
        raise MalformedMessage(f"a receipt is {RECEIPT_LEN} bytes, got {len(data)}")
    label, mid, sender, recipient, kid, ms = _BODY.unpack(data[: _BODY.size])
    if label != LABEL:
        raise MalformedMessage("not a Lali v1 receipt (label mismatch)")
    if ms > MAX_MS:
        raise MalformedMessage("receipt time out of range")
    receipt = Receipt(
        message_id=str(uuid.UUID(bytes=mid)),
        sender=_code(sender),
        recipient=_code(recipient),
        received_at=from_ms(ms),
        sign_kid=kid.hex(),
    )
    owner, key = directory.signing_key(receipt.sign_kid)
    if owner.code != receipt.recipient:
        raise SenderMismatch("receipt signed with another member's key")
    if not key.valid_at(receipt.received_at):
        raise KeyNotValid("receipt key not valid at the receipt's time")
    if key.revoked_by(now):
        raise KeyRevoked("receipt key has been revoked")
    try:
        VerifyKey(key.public_bytes()).verify(data[: _BODY.size], data[_BODY.size :])
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("receipt signature does not verify") from None
    if receipt.received_at > now + MAX_SKEW:
        raise ClockSkew("receipt time is in the future")
    return receipt
