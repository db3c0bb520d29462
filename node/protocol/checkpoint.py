"""Signed audit checkpoints: bytes in, typed objects or typed errors out; time passed in.

A node signs the head of its audit chain (entry count, head hash, time) and publishes
it; whoever holds a checkpoint can later prove that the log was cut short, restored
from an old backup, or rewritten. Layout (138 bytes, big-endian):

    LABEL "lali.checkpt.v1\\0" (16) | member (2) | sign_kid (8) | count (8) | head (32)
    | at_ms (8) | Ed25519 signature over all preceding bytes (64)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

import nacl.exceptions
from nacl.signing import VerifyKey

from keys.directory import Directory
from keys.identity import Identity
from node.protocol.chain import ChainHead
from node.protocol.wire import MAX_MS, from_ms, to_ms
from schemas.errors import (
    BadSignature,
    KeyNotValid,
    KeyRevoked,
    MalformedMessage,
    SenderMismatch,
)

LABEL = b"lali.checkpt.v1\x00"
_BODY = struct.Struct(">16s2s8sQ32sQ")
CHECKPOINT_LEN = _BODY.size + 64


@dataclass(frozen=True)
class Checkpoint:
    member: str
    count: int
    head: bytes
    at: datetime

    @property
    def chain_head(self) -> ChainHead:
        return ChainHead(self.count, self.head)

    @property
    def checkpoint_id(self) -> str:
        return f"ckpt-{self.member}-{self.count}"


def make_checkpoint(me: Identity, head: ChainHead, at: datetime) -> bytes:
    body = _BODY.pack(
        LABEL,
        me.code.encode("ascii"),
        bytes.fromhex(me.sign_kid),
        head.count,
        head.head,
        to_ms(at),
    )
    return body + me.signing_key.sign(body).signature


def checkpoint_signer(data: bytes) -> str:
    """The key id a checkpoint names (hex), read without verifying anything: for
    messages about a checkpoint that could not be verified."""
    start = len(LABEL) + 2
    return data[start : start + 8].hex()


def verify_checkpoint(data: bytes, directory: Directory) -> Checkpoint:
    """1 exact size, 2 label and fields, 3 key owned by the member, valid and not
    revoked at the checkpoint's time, 4 signature."""
    if len(data) != CHECKPOINT_LEN:
        raise MalformedMessage(f"a checkpoint is {CHECKPOINT_LEN} bytes, got {len(data)}")
    label, member, kid, count, head, ms = _BODY.unpack(data[: _BODY.size])
    if label != LABEL:
        raise MalformedMessage("not a Lali v1 checkpoint (label mismatch)")
    if ms > MAX_MS or not (member.isascii() and member.isalpha() and member.isupper()):
        raise MalformedMessage("checkpoint fields out of range")
    checkpoint = Checkpoint(member.decode("ascii"), count, head, from_ms(ms))
    owner, key = directory.signing_key(kid.hex())
    if owner.code != checkpoint.member:
        raise SenderMismatch("checkpoint signed with another member's key")
    if not key.valid_at(checkpoint.at):
        raise KeyNotValid("checkpoint key not valid at the checkpoint's time")
    if key.revoked_by(checkpoint.at):
        raise KeyRevoked(f"checkpoint signed by key {key.kid}, revoked at or before its time")
    try:
        VerifyKey(key.public_bytes()).verify(data[: _BODY.size], data[_BODY.size :])
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("checkpoint signature does not verify") from None
    return checkpoint
