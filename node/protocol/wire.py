"""Byte layout of the v1 envelope: header, framing, padding, message ids.

Pure functions over bytes; ``docs/wire-format.md`` is the specification and
``schemas/vectors/envelope-v1.json`` holds the known-answer vectors. Parsing is strict:
every length is checked against the bytes actually present and any trailing or missing
byte is an error, so exactly one byte string decodes to a given envelope.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.alert import Priority, Tlp, Topic
from schemas.errors import MalformedMessage

LABEL = b"lali.envelope.v1"  # 16 bytes; every signed blob kind has its own label
VERSION = 1
TAG_LEN = 12  # keyed recipient tag
WRAP_LEN = 48  # box(content key 32 bytes) = 32 + 16 MAC
SIG_LEN = 64
AEAD_TAG_LEN = 16
MAX_RECIPIENTS = 255

_HEADER = struct.Struct(">BBBBB2s8s8s16sQ24s")
HEADER_LEN = _HEADER.size  # 71
_TOPICS = list(Topic)
_TLPS = list(Tlp)
_PRIORITIES = list(Priority)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last time Python can hold


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise TypeError("naive datetime: pass an aware UTC time")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def new_message_id(now: datetime, random10: bytes) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    if len(random10) != 10:
        raise ValueError("need exactly 10 random bytes")
    ms = to_ms(now)
    if not 0 <= ms <= MAX_MS:
        raise ValueError("time outside the UUIDv7 range")
    raw = bytearray(ms.to_bytes(6, "big") + random10)
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def message_time(message_id: str) -> datetime:
    """The millisecond timestamp embedded in a UUIDv7 message id."""
    return from_ms(int.from_bytes(uuid.UUID(message_id).bytes[:6], "big"))


@dataclass(frozen=True)
class Header:
    """The clear-text, signed and AEAD-bound header of an envelope."""

    topic: Topic
    tlp: Tlp
    priority: Priority
    sender: str
    sign_kid: str
    enc_kid: str
    message_id: str
    expires_at: datetime | None
    commitment: bytes  # commits the envelope to one content key (see key_commitment)
    version: int = VERSION

    @property
    def message_id_bytes(self) -> bytes:
        return uuid.UUID(self.message_id).bytes

    @property
    def sent_at(self) -> datetime:
        return message_time(self.message_id)

    def encode(self) -> bytes:
        expires = 0 if self.expires_at is None else to_ms(self.expires_at)
        return _HEADER.pack(
            self.version,
            _TOPICS.index(self.topic),
            _TLPS.index(self.tlp),
            _PRIORITIES.index(self.priority),
            0,  # flags: reserved, must be zero in v1
            self.sender.encode("ascii"),
            bytes.fromhex(self.sign_kid),
            bytes.fromhex(self.enc_kid),
            uuid.UUID(self.message_id).bytes,
            expires,
            self.commitment,
        )

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        if len(raw) != HEADER_LEN:
            raise MalformedMessage("header has the wrong length")
        ver, topic, tlp, prio, flags, sender, skid, ekid, mid, exp, commit = _HEADER.unpack(raw)
        if ver != VERSION:
            raise MalformedMessage(f"unsupported envelope version {ver}")
        if flags != 0:
            raise MalformedMessage("reserved header flags are set")
        if topic >= len(_TOPICS) or tlp >= len(_TLPS) or prio >= len(_PRIORITIES):
            raise MalformedMessage("unknown topic, TLP or priority code")
        if not (sender.isascii() and sender.isalpha() and sender.isupper()):
            raise MalformedMessage("sender is not an upper-case country code")
        if exp > MAX_MS or int.from_bytes(mid[:6], "big") > MAX_MS:
            raise MalformedMessage("a time in the header is out of range")
        message_uuid = uuid.UUID(bytes=mid)
        if message_uuid.version != 7 or message_uuid.variant != uuid.RFC_4122:
            raise MalformedMessage("message id is not a UUIDv7")
        return cls(
            topic=_TOPICS[topic],
            tlp=_TLPS[tlp],
            priority=_PRIORITIES[prio],
            sender=sender.decode("ascii"),
            sign_kid=skid.hex(),
            enc_kid=ekid.hex(),
            message_id=str(message_uuid),
            expires_at=None if exp == 0 else from_ms(exp),
            commitment=commit,
        )


@dataclass(frozen=True)
class Wrap:
    tag: bytes
    sealed_key: bytes


@dataclass(frozen=True)
class Frame:
    """An envelope split into its parts; nothing in it is trusted yet."""

    header_bytes: bytes
    wraps: tuple[Wrap, ...]
    ciphertext: bytes
    signed: bytes  # every byte before the signature
    signature: bytes


def encode_frame(header_bytes: bytes, wraps: list[Wrap], ciphertext: bytes) -> bytes:
    """Everything that gets signed: label, header, wraps, ciphertext (no signature)."""
    if not 1 <= len(wraps) <= MAX_RECIPIENTS:
        raise ValueError("between 1 and 255 recipients")
    parts = [LABEL, header_bytes, bytes([len(wraps)])]
    parts.extend(w.tag + w.sealed_key for w in wraps)
    parts.append(len(ciphertext).to_bytes(4, "big"))
    parts.append(ciphertext)
    return b"".join(parts)


def decode_frame(data: bytes) -> Frame:
    """Split envelope bytes; raises MalformedMessage unless every length adds up."""
    pos = len(LABEL)
    if data[:pos] != LABEL:
        raise MalformedMessage("not a Lali v1 envelope (label mismatch)")
    if len(data) < pos + HEADER_LEN + 1:
        raise MalformedMessage("envelope truncated in the header")
    header_bytes = data[pos : pos + HEADER_LEN]
    pos += HEADER_LEN
    count = data[pos]
    pos += 1
    if count == 0:
        raise MalformedMessage("envelope has no recipients")
    wrap_size = TAG_LEN + WRAP_LEN
    wraps_end = pos + count * wrap_size
    if len(data) < wraps_end + 4:
        raise MalformedMessage("envelope truncated in the recipient list")
    wraps = tuple(
        Wrap(data[i : i + TAG_LEN], data[i + TAG_LEN : i + wrap_size])
        for i in range(pos, wraps_end, wrap_size)
    )
    ct_len = int.from_bytes(data[wraps_end : wraps_end + 4], "big")
    ct_start = wraps_end + 4
    if ct_len < AEAD_TAG_LEN or len(data) != ct_start + ct_len + SIG_LEN:
        raise MalformedMessage("envelope length does not match its framing")
    end = ct_start + ct_len
    return Frame(header_bytes, wraps, data[ct_start:end], data[:end], data[end:])


def padme(length: int) -> int:
    """Padmé padding (PURBs, Nikitin et al. 2019): leaks O(log log n) bits of length."""
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


MIN_PADDED = 256


def pad(body: bytes) -> bytes:
    """Length-prefix ``body`` and zero-fill to the Padmé bucket (at least 256 bytes)."""
    inner = len(body).to_bytes(4, "big") + body
    target = max(MIN_PADDED, padme(len(inner)))
    return inner + bytes(target - len(inner))


def unpad(padded: bytes) -> bytes:
    if len(padded) < 4:
        raise MalformedMessage("padded plaintext too short")
    size = int.from_bytes(padded[:4], "big")
    if size > len(padded) - 4:
        raise MalformedMessage("padding length prefix exceeds the plaintext")
    if any(padded[4 + size :]):
        raise MalformedMessage("non-zero padding")
    return padded[4 : 4 + size]
