"""Seal and open alert envelopes: bytes in, typed objects or typed errors out.

No I/O and no clock reads: the caller passes ``now`` and, for test vectors, the source
of randomness. ``docs/wire-format.md`` specifies the format this module implements.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
    crypto_box_open_easy_afternm,
)
from nacl.signing import VerifyKey

from keys.directory import Directory, Member, Role
from keys.identity import Identity
from keys.ids import key_id
from node.protocol.wire import (
    LABEL,
    MAX_MS,
    MAX_RECIPIENTS,
    TAG_LEN,
    Frame,
    Header,
    Wrap,
    decode_frame,
    encode_frame,
    new_message_id,
    pad,
    to_ms,
    unpad,
)
from schemas.alert import Alert, Topic, alert_to_json, parse_alert
from schemas.errors import (
    BadSignature,
    ClockSkew,
    DecompressionBomb,
    DecryptionFailed,
    KeyNotValid,
    KeyRevoked,
    MalformedMessage,
    MessageExpired,
    NotAddressed,
    OversizedMessage,
    PolicyViolation,
    SchemaViolation,
    SenderMismatch,
)

MAX_ENVELOPE = 256 * 1024  # bytes on the wire; checked before anything else
MAX_PLAINTEXT = 64 * 1024  # alert JSON, before compression and after decompression
MAX_SKEW = timedelta(minutes=5)
# A key is judged at the message's own time; bounding the age bounds how far back a
# holder of an expired key could date a forgery (revocation proper: the trust issue).
MAX_AGE = timedelta(days=14)

Random = Callable[[int], bytes]


@dataclass(frozen=True)
class Verified:
    """An envelope whose signature and sender identity have been checked."""

    header: Header
    frame: Frame


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted and schema-valid alert."""

    header: Header
    alert: Alert
    raw: bytes


# The content key is fresh for every message and used for one encryption only, so the
# AEAD nonce can be fixed; per-pair values are derived from the unique message id.
AEAD_NONCE = bytes(24)


def key_commitment(content_key: bytes) -> bytes:
    """Binds the signed header to one content key, so that no two recipients can be
    given different keys (and so different plaintexts) under one signature."""
    return hashlib.blake2b(b"lali.commit.v1", key=content_key, digest_size=24).digest()


# Caches of pure functions of public or private key bytes (same results, computed once per
# key or key pair instead of per message). A cached box key is as sensitive as the
# secret key already held in this process; entries of rotated keys age out.
@functools.lru_cache(maxsize=1024)
def _kid(public: bytes) -> str:
    return key_id(public)


@functools.lru_cache(maxsize=4096)
def _box_key(public: bytes, secret: bytes) -> bytes:
    """The X25519 box key of a pair (``crypto_box_beforenm``); raises for a key
    libsodium refuses (nothing is cached then)."""
    return crypto_box_beforenm(public, secret)


@functools.lru_cache(maxsize=1024)
def _verify_key(public: bytes) -> VerifyKey:
    return VerifyKey(public)


def _sender_kids(sender: Identity) -> tuple[str, str]:
    """``sender.sign_kid`` and ``sender.enc_kid``, from the cache."""
    return _kid(bytes(sender.signing_key.verify_key)), _kid(
        bytes(sender.encryption_keys[0].public_key)
    )


def _tag(shared: bytes, message_id: bytes) -> bytes:
    return hashlib.blake2b(b"lali.tag.v1" + message_id, key=shared, digest_size=TAG_LEN).digest()


def _wrap_nonce(shared: bytes, message_id: bytes) -> bytes:
    return hashlib.blake2b(b"lali.wrap.v1" + message_id, key=shared, digest_size=24).digest()


def check_expiry(alert: Alert, now: datetime) -> None:
    """``PolicyViolation`` if ``alert`` has expired at ``now`` or expires later than the
    header can say. ``seal`` runs it; ``lali check`` runs it offline, for the same
    answer."""
    if alert.expires_at is not None and alert.expires_at <= now:
        raise PolicyViolation("the alert has already expired")
    if alert.expires_at is not None and to_ms(alert.expires_at) > MAX_MS:
        # The header cannot carry it: every receiver would reject the envelope.
        raise PolicyViolation("the alert expires after 9999-12-31T23:59:59.999Z")


def seal(
    alert: Alert,
    sender: Identity,
    recipients: Sequence[str],
    directory: Directory,
    now: datetime,
    *,
    rng: Random = nacl.utils.random,
) -> tuple[Header, bytes]:
    """Encrypt ``alert`` for ``recipients`` (member codes) and sign it as ``sender``.

    Only keys that the verified ``directory`` lists are used, so nobody on the path can
    add a recipient. Returns the header and the envelope bytes.
    """
    # 1. Recipients: named, distinct, not the sender, within the wire limit.
    if not recipients:
        raise PolicyViolation("an alert needs at least one recipient")
    if len(set(recipients)) != len(recipients):
        raise PolicyViolation("recipient listed twice")
    if sender.code in recipients:
        raise PolicyViolation("the sender cannot be its own recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise PolicyViolation(f"at most {MAX_RECIPIENTS} recipients")
    check_expiry(alert, now)
    # 2. Our own keys must be the ones the directory holds for us, valid now.
    sign_kid, enc_kid = _sender_kids(sender)
    owner, sign_entry = directory.signing_key(sign_kid)
    enc_owner, enc_entry = directory.encryption_key(enc_kid)
    if owner.code != sender.code or enc_owner.code != sender.code:
        raise SenderMismatch("our keys are listed for another member", sender=sender.code)
    if not (sign_entry.valid_at(now) and enc_entry.valid_at(now)):
        raise KeyNotValid("our keys are not valid now", sender=sender.code)
    if sign_entry.revoked_by(now) or enc_entry.revoked_by(now):
        raise KeyRevoked("our keys have been revoked: rotate them", sender=sender.code)
    try:
        check_may_send(owner, alert.topic)
    except SenderMismatch as exc:
        raise PolicyViolation(str(exc)) from None
    recipient_keys = [directory.current_encryption_key(code, now) for code in recipients]
    # 3. Compress, pad and encrypt the plaintext under a fresh content key.
    plaintext = alert_to_json(alert)
    if len(plaintext) > MAX_PLAINTEXT:
        raise PolicyViolation(f"alert JSON over {MAX_PLAINTEXT} bytes")
    content_key = rng(32)
    header = Header(
        topic=alert.topic,
        tlp=alert.tlp,
        priority=alert.priority,
        sender=sender.code,
        sign_kid=sign_kid,
        enc_kid=enc_kid,
        message_id=new_message_id(now, rng(10)),
        expires_at=alert.expires_at,
        commitment=key_commitment(content_key),
    )
    return header, encrypt_and_sign(
        header,
        zlib.compress(plaintext, 6),
        content_key,
        sender,
        [entry.public_bytes() for entry in recipient_keys],
    )


def encrypt_and_sign(
    header: Header,
    body: bytes,
    content_key: bytes,
    sender: Identity,
    recipient_publics: Sequence[bytes],
) -> bytes:
    """Steps 3-5 of sealing: ``body`` is the compressed alert. Policy checks are the
    caller's (``seal``); tests call this directly to build hostile envelopes."""
    header_bytes = header.encode()
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(body), LABEL + header_bytes, AEAD_NONCE, content_key
    )
    # 4. Wrap the content key for each recipient with a box from our X25519 key; the
    #    keyed tag lets a recipient find its wrap without naming anyone in clear.
    held = [k for k in sender.encryption_keys if _kid(bytes(k.public_key)) == header.enc_kid]
    if not held:
        raise KeyError(header.enc_kid)  # as Identity.encryption_key: not a key we hold
    secret = bytes(held[0])
    mid = header.message_id_bytes
    wraps = []
    for public in recipient_publics:
        try:
            shared = _box_key(public, secret)
        except (nacl.exceptions.CryptoError, RuntimeError):
            raise PolicyViolation("a recipient's encryption key is unusable") from None
        sealed = crypto_box_easy_afternm(content_key, _wrap_nonce(shared, mid), shared)
        wraps.append(Wrap(_tag(shared, mid), sealed))
    wraps.sort(key=lambda w: w.tag)  # order reveals nothing about who is who
    # 5. One signature over every byte that travels before it.
    signed = encode_frame(header_bytes, wraps, ciphertext)
    return signed + sender.signing_key.sign(signed).signature


def check_may_send(member: Member, topic: Topic) -> None:
    """The directory says which topics a member may send; bulletins are the hub's."""
    if topic.value not in member.topics:
        raise SenderMismatch("sender may not send on this topic", topic=topic.value)
    if topic is Topic.BULLETIN and member.role is not Role.HUB:
        raise SenderMismatch("only the hub sends bulletins", sender=member.code)


def verify(
    data: bytes,
    directory: Directory,
    now: datetime,
    *,
    subject_sender: str | None = None,
    subject_topic: Topic | None = None,
    max_size: int = MAX_ENVELOPE,
    max_age: timedelta = MAX_AGE,
    received_at: datetime | None = None,
) -> Verified:
    """Check size, framing, signature and sender identity; no key but public ones.

    A relay or the hub can run this on envelopes it cannot decrypt.
    """
    # 1. Size cap before any parsing.
    if len(data) > max_size:
        raise OversizedMessage(f"envelope of {len(data)} bytes exceeds {max_size}")
    # 2. Framing: every length must add up; nothing is trusted yet.
    frame = decode_frame(data)
    header = Header.decode(frame.header_bytes)
    # 3. The signing key must be in the directory and valid when the message was sent.
    owner, key = directory.signing_key(header.sign_kid)
    sent_at = header.sent_at
    if not key.valid_at(sent_at):
        raise KeyNotValid("signing key not valid at the message time", kid=header.sign_kid)
    # Revocation is judged by when the message reached the broker (``received_at``, a
    # time the signer cannot choose), or by now: never by the claimed send time.
    if key.revoked_by(now if received_at is None else min(received_at, now)):
        raise KeyRevoked("signing key has been revoked", kid=header.sign_kid)
    # 4. The signature over the exact bytes received.
    try:
        _verify_key(key.public_bytes()).verify(frame.signed, frame.signature)
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("envelope signature does not verify", kid=header.sign_kid) from None
    # 5. Identity: key owner, declared sender and NATS subject must agree.
    if owner.code != header.sender:
        raise SenderMismatch("signing key belongs to another member", sender=header.sender)
    if subject_sender is not None and subject_sender != header.sender:
        raise SenderMismatch("subject names another sender", sender=header.sender)
    if subject_topic is not None and subject_topic != header.topic:
        raise SenderMismatch("subject names another topic", topic=header.topic.value)
    check_may_send(owner, header.topic)
    # 6. Time: not from the future, not too old to judge the key by, not expired.
    if sent_at < now - max_age:
        raise MessageExpired("message is older than the maximum age", message_id=header.message_id)
    if sent_at > now + MAX_SKEW:
        skew = (sent_at - now).total_seconds()
        raise ClockSkew("message time is in the future", skew_s=round(skew))
    if header.expires_at is not None and header.expires_at <= now:
        raise MessageExpired("alert has expired", message_id=header.message_id)
    return Verified(header, frame)


def open_envelope(
    data: bytes,
    me: Identity,
    directory: Directory,
    now: datetime,
    *,
    subject_sender: str | None = None,
    subject_topic: Topic | None = None,
    max_size: int = MAX_ENVELOPE,
    received_at: datetime | None = None,
) -> Opened:
    """Verify, then decrypt, decompress (capped) and validate an envelope for ``me``."""
    verified = verify(
        data,
        directory,
        now,
        subject_sender=subject_sender,
        subject_topic=subject_topic,
        max_size=max_size,
        received_at=received_at,
    )
    return decrypt_verified(verified, me, directory)


def decrypt_verified(verified: Verified, me: Identity, directory: Directory) -> Opened:
    """Steps 7-9 of opening, for an envelope that ``verify`` has already accepted."""
    header, frame = verified.header, verified.frame
    # 7. Find our wrap: the sender's box key must also be the sender's own.
    enc_owner, enc_key = directory.encryption_key(header.enc_kid)
    if enc_owner.code != header.sender:
        raise SenderMismatch("encryption key belongs to another member", sender=header.sender)
    if not enc_key.valid_at(header.sent_at):
        raise KeyNotValid("sender encryption key not valid at the message time")
    content_key = _unwrap(frame.wraps, me, enc_key.public_bytes(), header.message_id_bytes)
    if not hmac.compare_digest(key_commitment(content_key), header.commitment):
        raise DecryptionFailed("content key does not match the header's commitment")
    # 8. Decrypt with the header as associated data.
    try:
        padded = crypto_aead_xchacha20poly1305_ietf_decrypt(
            frame.ciphertext, LABEL + frame.header_bytes, AEAD_NONCE, content_key
        )
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("ciphertext does not authenticate") from None
    # 9. Decompress with a hard cap, then parse and cross-check with the header. Rules
    #    about time (a date of birth not in the future) are judged at the signed send
    #    time: what was valid when sealed opens the same way whenever it is opened.
    alert = parse_alert(_inflate(unpad(padded)), now=header.sent_at)
    if (alert.topic, alert.tlp, alert.priority) != (header.topic, header.tlp, header.priority):
        raise SchemaViolation("alert topic, TLP or priority differ from the signed header")
    alert_expiry = None if alert.expires_at is None else to_ms(alert.expires_at)
    header_expiry = None if header.expires_at is None else to_ms(header.expires_at)
    if alert_expiry != header_expiry:
        raise SchemaViolation("alert expiry differs from the signed header")
    return Opened(header, alert, frame.signed + frame.signature)


def _unwrap(wraps: Sequence[Wrap], me: Identity, sender_public: bytes, mid: bytes) -> bytes:
    for held in me.encryption_keys:
        try:
            shared = _box_key(sender_public, bytes(held))
        except (nacl.exceptions.CryptoError, RuntimeError):
            # libsodium refuses low-order public keys: no shared secret exists.
            raise DecryptionFailed("the sender's encryption key is unusable") from None
        tag = _tag(shared, mid)
        for wrap in wraps:
            if wrap.tag != tag:
                continue
            try:
                return crypto_box_open_easy_afternm(
                    wrap.sealed_key, _wrap_nonce(shared, mid), shared
                )
            except nacl.exceptions.CryptoError:
                raise DecryptionFailed("our key wrap does not authenticate") from None
    raise NotAddressed("this member is not a recipient")


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, MAX_PLAINTEXT)
    except zlib.error:
        raise MalformedMessage("plaintext is not valid zlib data") from None
    if inflater.unconsumed_tail:
        raise DecompressionBomb(f"alert inflates beyond {MAX_PLAINTEXT} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedMessage("plaintext is not exactly one complete zlib stream")
    return out
