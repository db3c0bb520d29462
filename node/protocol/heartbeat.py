"""Signed heartbeats: every node says "alive" to the hub every few seconds.

A heartbeat travels on core NATS (``lali.heartbeat.<CODE>``), not in the stream: it is
only worth something now, and a node that cannot reach the broker is what it reports.
It is signed like every other blob (own label), so the hub can trust the counters in
it (audit entries, outbox depth) as the member's own statement. Layout (123 bytes,
big-endian):

    LABEL "lali.heartbt.v1\\0" (16) | member (2) | sign_kid (8) | at_ms (8)
    | started_ms (8) | interval_ms (4) | audit_count (8) | outbox_depth (4) | flags (1)
    | Ed25519 signature over all preceding bytes (64)

``flags`` bit 0: the node is stopping (its last heartbeat before a clean shutdown).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

import nacl.exceptions
from nacl.signing import VerifyKey

from keys.directory import Directory
from keys.identity import Identity
from node.protocol.wire import MAX_MS, from_ms, to_ms
from schemas.errors import (
    BadSignature,
    KeyNotValid,
    MalformedMessage,
    SenderMismatch,
)

LABEL = b"lali.heartbt.v1\x00"
_BODY = struct.Struct(">16s2s8sQQIQIB")
HEARTBEAT_LEN = _BODY.size + 64
STOPPING = 0x01
_MAX_U32 = 2**32 - 1


@dataclass(frozen=True)
class Heartbeat:
    member: str
    at: datetime  # the member's clock when it signed
    started_at: datetime  # when the node started (a restart shows as a new value)
    interval: timedelta  # how often the member promises to beat
    audit_count: int  # entries in the member's audit log
    outbox_depth: int  # alerts, receipts and checkpoints waiting to go out
    stopping: bool = False


def make_heartbeat(me: Identity, beat: Heartbeat) -> bytes:
    if beat.member != me.code:
        raise ValueError("a heartbeat is signed by the member it speaks for")
    body = _BODY.pack(
        LABEL,
        me.code.encode("ascii"),
        bytes.fromhex(me.sign_kid),
        to_ms(beat.at),
        to_ms(beat.started_at),
        min(_MAX_U32, beat.interval // timedelta(milliseconds=1)),
        beat.audit_count,
        min(_MAX_U32, beat.outbox_depth),
        STOPPING if beat.stopping else 0,
    )
    return body + me.signing_key.sign(body).signature


def verify_heartbeat(data: bytes, directory: Directory, subject_member: str | None) -> Heartbeat:
    """1 exact size, 2 label and fields, 3 key owned by the member (and the subject's
    member) and valid at the heartbeat's time, 4 signature."""
    if len(data) != HEARTBEAT_LEN:
        raise MalformedMessage(f"a heartbeat is {HEARTBEAT_LEN} bytes, got {len(data)}")
    label, member, kid, at_ms, started_ms, interval_ms, count, depth, flags = _BODY.unpack(
        data[: _BODY.size]
    )
    if label != LABEL:
        raise MalformedMessage("not a Lali v1 heartbeat (label mismatch)")
    if max(at_ms, started_ms) > MAX_MS or flags & ~STOPPING:
        raise MalformedMessage("heartbeat fields out of range")
    if not (member.isascii() and member.isalpha() and member.isupper()):
        raise MalformedMessage("heartbeat names an invalid member code")
    beat = Heartbeat(
        member=member.decode("ascii"),
        at=from_ms(at_ms),
        started_at=from_ms(started_ms),
        interval=timedelta(milliseconds=interval_ms),
        audit_count=count,
        outbox_depth=depth,
        stopping=bool(flags & STOPPING),
    )
    if subject_member is not None and subject_member != beat.member:
        raise SenderMismatch("heartbeat subject names another member")
    owner, key = directory.signing_key(kid.hex())
    if owner.code != beat.member:
        raise SenderMismatch("heartbeat signed with another member's key")
    if not key.valid_at(beat.at) or key.revoked_by(beat.at):
        raise KeyNotValid("heartbeat key not valid at the heartbeat's time")
    try:
        VerifyKey(key.public_bytes()).verify(data[: _BODY.size], data[_BODY.size :])
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("heartbeat signature does not verify") from None
    return beat
