"""Crafting hostile input for the attack suite: every helper returns the bytes (and the
subject) that an outsider, a malicious member or a thief of a member's key could put
on the broker.

Pure: no I/O, no event loop, no clock of its own. ``Cast`` holds the members an
attacker may play (with their private keys, as a compromised member holds its own)
and the directory the target trusts; times are given relative to ``Cast.now``.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
)
from testkit import EXAMPLES, sample_alert

from keys import Directory, Identity, Member, RootKey, sign_directory
from node.protocol.envelope import (
    AEAD_NONCE,
    _tag,
    _wrap_nonce,
    encrypt_and_sign,
    key_commitment,
    seal,
)
from node.protocol.subjects import alert_subject
from node.protocol.wire import (
    HEADER_LEN,
    LABEL,
    SIG_LEN,
    TAG_LEN,
    WRAP_LEN,
    Header,
    Wrap,
    decode_frame,
    encode_frame,
    new_message_id,
)
from schemas.alert import Alert, Priority, Tlp, Topic, alert_to_json

# Where each part of an envelope starts (docs/wire-format.md, "Envelope" and "Header").
HEADER_AT = len(LABEL)
FIELD_AT = {
    "version": HEADER_AT + 0,
    "topic": HEADER_AT + 1,
    "tlp": HEADER_AT + 2,
    "priority": HEADER_AT + 3,
    "flags": HEADER_AT + 4,
    "sender": HEADER_AT + 5,
    "sign_kid": HEADER_AT + 7,
    "enc_kid": HEADER_AT + 15,
    "message_id": HEADER_AT + 23,
    "expires_ms": HEADER_AT + 39,
    "commitment": HEADER_AT + 47,
}
COUNT_AT = HEADER_AT + HEADER_LEN
WRAPS_AT = COUNT_AT + 1
WRAP_SIZE = TAG_LEN + WRAP_LEN


def ct_len_at(data: bytes) -> int:
    """Offset of the 4-byte ciphertext length of a well-formed envelope."""
    return WRAPS_AT + data[COUNT_AT] * WRAP_SIZE


def ciphertext_at(data: bytes) -> int:
    return ct_len_at(data) + 4


def signature_at(data: bytes) -> int:
    return len(data) - SIG_LEN


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    """``data`` with one bit flipped (``index`` may be negative)."""
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def header_of(data: bytes) -> Header:
    return Header.decode(decode_frame(data).header_bytes)


def sign_as(signer: Identity, signed: bytes) -> bytes:
    return signed + signer.signing_key.sign(signed).signature


def reframe(
    data: bytes,
    *,
    header: Header | None = None,
    wraps: Sequence[Wrap] | None = None,
    ciphertext: bytes | None = None,
    signer: Identity | None = None,
) -> bytes:
    """Rebuild an envelope with parts replaced. Without ``signer`` the original
    signature is kept (an outsider's edit); with one, the result is signed anew."""
    frame = decode_frame(data)
    signed = encode_frame(
        frame.header_bytes if header is None else header.encode(),
        list(frame.wraps if wraps is None else wraps),
        frame.ciphertext if ciphertext is None else ciphertext,
    )
    return sign_as(signer, signed) if signer is not None else signed + frame.signature


def compress(obj: Any) -> bytes:
    """Compact JSON of ``obj``, zlib-compressed: what ``seal`` puts under the AEAD."""
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode("utf-8"), 6)


def alert_json(topic: Topic) -> dict[str, Any]:
    """A valid alert of ``topic`` as a dict (no expiry), to be edited into a hostile one."""
    loaded: dict[str, Any] = json.loads(alert_to_json(sample_alert(topic)))
    return loaded


def example_json(kind: str, name: str) -> dict[str, Any]:
    """An example alert from ``schemas/examples/<kind>/<name>``, without its expiry (the
    examples expire in 2025; the header and the alert must agree on the expiry)."""
    loaded: dict[str, Any] = json.loads((EXAMPLES / kind / name).read_text(encoding="utf-8"))
    loaded.pop("expires_at", None)
    return loaded


@dataclass(frozen=True)
class Cast:
    """The members an attack can be played by, and the directory the target trusts."""

    ids: dict[str, Identity]
    directory: Directory
    now: datetime
    directory_file: bytes = b""  # the signed file the directory came from

    def public(self, code: str) -> bytes:
        """``code``'s current X25519 key, as a sender takes it from the directory."""
        return self.directory.current_encryption_key(code, self.now).public_bytes()

    def seal(
        self,
        sender: str,
        recipients: Sequence[str] = ("FJ",),
        topic: Topic = Topic.MARITIME,
        *,
        alert: Alert | None = None,
    ) -> tuple[Header, bytes]:
        """A genuine envelope, through ``seal`` and all its policy checks."""
        return seal(
            alert or sample_alert(topic),
            self.ids[sender],
            list(recipients),
            self.directory,
            self.now,
        )

    def subject(self, topic: Topic, sender: str) -> str:
        return alert_subject(topic, sender)

    def header(
        self,
        signer: str,
        content_key: bytes,
        *,
        topic: Topic = Topic.MARITIME,
        tlp: Tlp | None = None,
        priority: Priority | None = None,
        sender: str | None = None,
        sign_kid: str | None = None,
        enc_kid: str | None = None,
        at: timedelta = timedelta(0),
        expires_in: timedelta | None = None,
        message_id: str | None = None,
    ) -> Header:
        """A header as ``signer`` would write it, with any field overridden; ``at`` and
        ``expires_in`` are offsets from ``now`` (the expiry from the message time)."""
        me = self.ids[signer]
        sent = self.now + at
        example = sample_alert(topic)
        return Header(
            topic=topic,
            tlp=example.tlp if tlp is None else tlp,
            priority=example.priority if priority is None else priority,
            sender=me.code if sender is None else sender,
            sign_kid=me.sign_kid if sign_kid is None else sign_kid,
            enc_kid=me.enc_kid if enc_kid is None else enc_kid,
            message_id=message_id or new_message_id(sent, os.urandom(10)),
            expires_at=None if expires_in is None else sent + expires_in,
            commitment=key_commitment(content_key),
        )

    def forge(
        self,
        signer: str,
        body: bytes | None = None,
        *,
        recipients: Sequence[str] = ("FJ",),
        topic: Topic = Topic.MARITIME,
        **fields: Any,
    ) -> bytes:
        """An envelope signed with ``signer``'s real key, bypassing ``seal``'s policy
        checks: what a malicious member, or a thief of its key, can send. ``body`` is
        the compressed plaintext (default: a valid alert of ``topic``); ``fields``
        override header fields as in ``header``."""
        key = os.urandom(32)
        header = self.header(signer, key, topic=topic, **fields)
        if body is None:
            example = sample_alert(topic)
            if header.expires_at is not None:
                example = example.model_copy(update={"expires_at": header.expires_at})
            body = zlib.compress(alert_to_json(example), 6)
        publics = [self.public(code) for code in recipients]
        return encrypt_and_sign(header, body, key, self.ids[signer], publics)

    def forge_padded(
        self, signer: str, padded: bytes, *, recipients: Sequence[str] = ("FJ",)
    ) -> bytes:
        """Like ``forge``, but with a hand-made padded plaintext (length prefix and
        padding of the attacker's choosing), so the AEAD opens and the unpadding
        step sees exactly these bytes."""
        me = self.ids[signer]
        key = os.urandom(32)
        header = self.header(signer, key)
        header_bytes = header.encode()
        ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(
            padded, LABEL + header_bytes, AEAD_NONCE, key
        )
        secret = bytes(me.encryption_key(header.enc_kid))
        mid = header.message_id_bytes
        wraps = []
        for code in recipients:
            shared = crypto_box_beforenm(self.public(code), secret)
            sealed = crypto_box_easy_afternm(key, _wrap_nonce(shared, mid), shared)
            wraps.append(Wrap(_tag(shared, mid), sealed))
        wraps.sort(key=lambda w: w.tag)
        return sign_as(me, encode_frame(header_bytes, wraps, ciphertext))


def signed_directory_file(
    members: Sequence[Member],
    root: RootKey,
    *,
    version: int,
    issued_at: datetime,
    expires_at: datetime,
) -> bytes:
    """A directory file signed by ``root`` (genuine, or by a root nobody trusts)."""
    directory = Directory(
        version=version, issued_at=issued_at, expires_at=expires_at, members=list(members)
    )
    return sign_directory(directory, [root])
