"""Known-answer test vectors for the v1 wire format (``schemas/vectors/*.json``).

Two files, both specified field by field in ``docs/wire-format.md`` ("Test vectors"):

- ``envelope-v1.json``: sealed envelopes (``positive``: ``seal`` reproduces them bit for
  bit from the recorded random bytes), envelopes every receiver must accept
  (``accept``: time boundaries, lenient framing) and envelopes every receiver must
  reject with the error named (``negative``: one or more per rejection reason).
- ``blobs-v1.json``: the other signed blobs (receipt, checkpoint, heartbeat) and the
  signed member directory, each with positive and negative vectors.

Everything is derived from fixed seeds: keys, directories, times and the random bytes
that ``seal`` consumes (in order: 32-byte content key, then 10 random bytes of the
message id). Hostile envelopes are built by ``_forge``, a second implementation of
sealing written from the specification (``build`` checks that it reproduces ``seal``).

Regenerate with ``python -m node.ops.vectors``. Vectors already published never change
(``tests/unit/test_vectors.py`` checks the committed files); new ones are appended.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
)

import schemas
from keys import (
    Directory,
    DirectoryKey,
    Identity,
    KeyUse,
    Member,
    Role,
    RootEntry,
    RootKey,
    sign_directory,
    verify_directory,
)
from keys.ids import key_id
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint, verify_checkpoint
from node.protocol.envelope import key_commitment, open_envelope, seal
from node.protocol.heartbeat import Heartbeat, make_heartbeat, verify_heartbeat
from node.protocol.receipt import make_receipt, verify_receipt
from node.protocol.subjects import heartbeat_member, parse_alert_subject, parse_receipt_subject
from node.protocol.wire import (
    LABEL,
    MAX_MS,
    Header,
    Wrap,
    decode_frame,
    encode_frame,
    from_ms,
    new_message_id,
    pad,
    to_ms,
)
from schemas.alert import Alert, Priority, Tlp, Topic, alert_to_json, parse_alert
from schemas.errors import LaliError, NotAddressed, SenderMismatch, UntrustedMessage

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
VECTORS_DIR = Path(schemas.__file__).resolve().parent / "vectors"
VECTORS_FILE = VECTORS_DIR / "envelope-v1.json"
BLOBS_FILE = VECTORS_DIR / "blobs-v1.json"
CODES = ("XH", "WS", "FJ", "TO")
MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"lali test vector " + label.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(t: datetime) -> str:
    return t.isoformat()


def fixed_random(label: str) -> tuple[Callable[[int], bytes], list[bytes]]:
    """A deterministic byte source (SHA-256 in counter mode) that records its output."""
    drawn: list[bytes] = []
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(_seed(label) + counter.to_bytes(4, "big")).digest()
            counter += 1
        drawn.append(out[:n])
        return out[:n]

    return rng, drawn


def replayed_random(recorded: Sequence[str]) -> Callable[[int], bytes]:
    """The byte source a vector recorded (hex strings), handed out in order."""
    queue = [bytes.fromhex(h) for h in recorded]

    def rng(n: int) -> bytes:
        out = queue.pop(0)
        if len(out) != n:
            raise AssertionError(f"vector recorded {len(out)} random bytes, seal asked for {n}")
        return out

    return rng


def fixed_identities() -> dict[str, Identity]:
    return {
        code: Identity(
            code,
            nacl.signing.SigningKey(_seed(f"{code} sign")),
            (nacl.public.PrivateKey(_seed(f"{code} enc")),),
        )
        for code in CODES
    }


def _root() -> RootKey:
    return RootKey(nacl.signing.SigningKey(_seed("root")))


def signed_directory(
    ids: dict[str, Identity],
    root: RootKey,
    now: datetime,
    valid_for: timedelta,
    topics: dict[str, list[str]] | None = None,
) -> tuple[Directory, bytes]:
    """A verified directory of ``ids`` (``XH`` is the hub) and its signed bytes."""
    members = [
        Member(
            code=code,
            name=f"test member {code}",
            role=Role.HUB if code == "XH" else Role.MEMBER,
            keys=ident.directory_keys(now - timedelta(days=1), now + valid_for),
            topics=(topics or {}).get(code, [t.value for t in Topic]),
        )
        for code, ident in ids.items()
    ]
    directory = Directory(
        version=1, issued_at=now - timedelta(days=1), expires_at=now + valid_for, members=members
    )
    signed = sign_directory(directory, [root])
    return verify_directory(signed, {root.kid: root.verify_key}, now), signed


def fixed_directory(ids: dict[str, Identity], root: RootKey) -> tuple[Directory, bytes]:
    return signed_directory(ids, root, NOW, timedelta(days=365))


def _example(name: str) -> bytes:
    path = Path(schemas.__file__).resolve().parent / "examples" / "valid" / name
    alert = parse_alert(path.read_bytes()).model_copy(update={"expires_at": None})
    return alert_to_json(alert)


# --- the extra keys and directories some vectors use ---------------------------------


def _enc_entry(secret: nacl.public.PrivateKey, start: datetime, end: datetime) -> DirectoryKey:
    public = bytes(secret.public_key)
    return DirectoryKey(
        kid=key_id(public),
        use=KeyUse.ENCRYPT,
        public=_b64(public),
        not_before=start,
        not_after=end,
    )


def _rotated() -> dict[str, nacl.public.PrivateKey]:
    """WS's and FJ's encryption keys after a rotation (``extra_keys`` in the file)."""
    return {code: nacl.public.PrivateKey(_seed(f"{code} enc 2")) for code in ("WS", "FJ")}


ROTATED_FROM = NOW - timedelta(hours=1)  # the new encryption keys' not_before
OLD_KEYS_UNTIL = NOW + timedelta(days=7)  # the old encryption keys' not_after (overlap)
REVOKED_AT = NOW - timedelta(hours=1)  # WS's signing key in the "revoked" directory
LOW_ORDER_POINT = bytes(32)  # an X25519 public key libsodium refuses to use


def _member(
    code: str, ident: Identity, keys: list[DirectoryKey] | None = None, **changes: Any
) -> Member:
    entries = keys if keys is not None else ident.directory_keys(NOW - DAY, NOW + 365 * DAY)
    return Member(
        code=code,
        name=f"test member {code}",
        role=Role.HUB if code == "XH" else Role.MEMBER,
        keys=entries,
        topics=changes.get("topics", [t.value for t in Topic]),
    )


def _extra_directories(ids: dict[str, Identity], root: RootKey) -> dict[str, bytes]:
    """Signed directories for the vectors that need keys other than the fixed ones."""
    rotated = _rotated()
    members: dict[str, list[Member]] = {}

    # After a rotation: WS and FJ list their old encryption key (until the overlap
    # ends) and a new one (from an hour ago); the newest valid not_before wins.
    rotation = []
    for code, ident in ids.items():
        keys = ident.directory_keys(NOW - DAY, NOW + 365 * DAY)
        if code in rotated:
            sign_entry, old_enc = keys
            keys = [
                sign_entry,
                old_enc.model_copy(update={"not_after": OLD_KEYS_UNTIL}),
                _enc_entry(rotated[code], ROTATED_FROM, NOW + 365 * DAY),
            ]
        rotation.append(_member(code, ident, keys))
    members["rotation"] = rotation

    # WS's signing key was revoked an hour ago.
    revoked = []
    for code, ident in ids.items():
        keys = ident.directory_keys(NOW - DAY, NOW + 365 * DAY)
        if code == "WS":
            keys = [keys[0].model_copy(update={"revoked_at": REVOKED_AT}), keys[1]]
        revoked.append(_member(code, ident, keys))
    members["revoked"] = revoked

    # WS may send on every topic but maritime.
    members["restricted_topics"] = [
        _member(
            code,
            ident,
            topics=[t.value for t in Topic if not (code == "WS" and t is Topic.MARITIME)],
        )
        for code, ident in ids.items()
    ]

    # WS's encryption key is a low-order X25519 point (no shared secret exists with it).
    low = []
    for code, ident in ids.items():
        keys = ident.directory_keys(NOW - DAY, NOW + 365 * DAY)
        if code == "WS":
            keys = [
                keys[0],
                DirectoryKey(
                    kid=key_id(LOW_ORDER_POINT),
                    use=KeyUse.ENCRYPT,
                    public=_b64(LOW_ORDER_POINT),
                    not_before=NOW - DAY,
                    not_after=NOW + 365 * DAY,
                ),
            ]
        low.append(_member(code, ident, keys))
    members["low_order_key"] = low

    out: dict[str, bytes] = {}
    for version, (name, listed) in enumerate(members.items(), start=2):
        directory = Directory(
            version=version,
            issued_at=NOW - DAY,
            expires_at=NOW + 365 * DAY,
            members=listed,
        )
        out[name] = sign_directory(directory, [root])
    return out


# --- a second sealing implementation, from the specification, for hostile envelopes --


def _wrap(content_key: bytes, secret: bytes, public: bytes, mid: bytes) -> Wrap:
    shared = crypto_box_beforenm(public, secret)
    tag = hashlib.blake2b(b"lali.tag.v1" + mid, key=shared, digest_size=12).digest()
    nonce = hashlib.blake2b(b"lali.wrap.v1" + mid, key=shared, digest_size=24).digest()
    return Wrap(tag, crypto_box_easy_afternm(content_key, nonce, shared))


@dataclasses.dataclass(frozen=True)
class Forge:
    """What to build; every field left alone gives exactly what ``seal`` would."""

    plaintext: bytes  # the alert JSON (its topic, TLP, priority and expiry go in the header)
    sender: str = "WS"
    to: tuple[str, ...] = ("FJ", "TO")
    at: datetime = NOW
    sign_key: nacl.signing.SigningKey | None = None  # default: the sender's
    enc_key: nacl.public.PrivateKey | None = None  # default: the sender's (enc_kid from it)
    recipient_keys: Mapping[str, bytes] | None = None  # X25519 publics, default: fixed keys
    header: Mapping[str, Any] | None = None  # Header fields to change after the fact
    body: bytes | None = None  # instead of Z(plaintext)
    padded: bytes | None = None  # instead of pad(body)
    commit_to_other_key: bool = False
    random_wraps: bool = False  # wraps of random bytes (no key agreement possible)
    edit_wraps: Callable[[list[Wrap], dict[str, bytes]], list[Wrap]] | None = None
    edit_ciphertext: Callable[[bytes], bytes] | None = None


def _forge(name: str, f: Forge, ids: Mapping[str, Identity]) -> bytes:
    """Seal as the specification says (random bytes drawn as ``seal`` draws them)."""
    rng, _ = fixed_random(name)
    alert = _header_source(f.plaintext)
    content_key = rng(32)
    mid = new_message_id(f.at, rng(10))
    sender = ids[f.sender]
    sign_key = f.sign_key or sender.signing_key
    enc_key = f.enc_key or sender.encryption_keys[0]
    committed = rng(32) if f.commit_to_other_key else content_key
    header = Header(
        topic=alert["topic"],
        tlp=alert["tlp"],
        priority=alert["priority"],
        sender=f.sender,
        sign_kid=key_id(bytes(sign_key.verify_key)),
        enc_kid=key_id(bytes(enc_key.public_key)),
        message_id=mid,
        expires_at=alert["expires_at"],
        commitment=key_commitment(committed),
    )
    header = dataclasses.replace(header, **(f.header or {}))
    header_bytes = header.encode()
    body = zlib.compress(f.plaintext, 6) if f.body is None else f.body
    padded = pad(body) if f.padded is None else f.padded
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(
        padded, LABEL + header_bytes, bytes(24), content_key
    )
    if f.edit_ciphertext is not None:
        ciphertext = f.edit_ciphertext(ciphertext)
    publics = dict(f.recipient_keys or {})
    for code in f.to:
        publics.setdefault(code, bytes(ids[code].encryption_keys[0].public_key))
    raw = header.message_id_bytes
    tags: dict[str, bytes] = {}
    wraps: list[Wrap] = []
    for code in f.to:
        if f.random_wraps:
            wrap = Wrap(rng(12), rng(48))
        else:
            wrap = _wrap(content_key, bytes(enc_key), publics[code], raw)
        tags[code] = wrap.tag
        wraps.append(wrap)
    wraps.sort(key=lambda w: w.tag)
    if f.edit_wraps is not None:
        wraps = f.edit_wraps(wraps, tags)
    signed = encode_frame(header_bytes, wraps, ciphertext)
    return signed + sign_key.sign(signed).signature


def _header_source(plaintext: bytes) -> dict[str, Any]:
    """Topic, TLP, priority and expiry of an alert JSON (the maritime example's when
    the JSON is deliberately not an alert)."""
    try:
        alert: Alert = parse_alert(plaintext)
    except LaliError:
        alert = parse_alert(_example("maritime.json"))
    return {
        "topic": alert.topic,
        "tlp": alert.tlp,
        "priority": alert.priority,
        "expires_at": alert.expires_at,
    }


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def _put(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def _flip_ciphertext(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x80
    return bytes(out)


# --- the envelope vectors --------------------------------------------------------------

HEADER_AT = 16  # the header follows the 16-byte label
EXPIRY = NOW + DAY + timedelta(microseconds=123_456)  # sub-millisecond on purpose


def _with_expiry(plaintext: bytes, expires_at: datetime) -> bytes:
    return alert_to_json(parse_alert(plaintext).model_copy(update={"expires_at": expires_at}))


def build() -> dict[str, Any]:
    ids = fixed_identities()
    root = _root()
    directory, signed_directory = fixed_directory(ids, root)
    extra = _extra_directories(ids, root)
    rotated = _rotated()
    cases = [
        ("maritime WS to FJ and TO", "maritime.json", "WS", ["FJ", "TO"]),
        ("identity fraud FJ to XH", "identity_fraud.json", "FJ", ["XH"]),
        ("bulletin XH to WS, FJ, TO", "bulletin.json", "XH", ["WS", "FJ", "TO"]),
    ]
    positive: list[dict[str, Any]] = []
    for name, example, sender, recipients in cases:
        plaintext = _example(example)
        rng, drawn = fixed_random(name)
        header, envelope = seal(
            parse_alert(plaintext), ids[sender], recipients, directory, NOW, rng=rng
        )
        positive.append(
            {
                "name": name,
                "sender": sender,
                "recipients": recipients,
                "not_recipients": [c for c in CODES if c not in recipients and c != sender],
                "plaintext": plaintext.decode("utf-8"),
                "random": [d.hex() for d in drawn],
                "message_id": header.message_id,
                "envelope": _b64(envelope),
            }
        )
    base = base64.b64decode(positive[0]["envelope"])
    frame = decode_frame(base)
    sig_flip = bytearray(base)
    sig_flip[-1] ^= 0x01
    header_flip = bytearray(base)
    header_flip[16 + 1] ^= 0x01  # topic code
    negative = [
        ("signature bit flipped", bytes(sig_flip), "bad_signature"),
        ("topic code changed", bytes(header_flip), "bad_signature"),
        ("truncated by one byte", base[:-1], "malformed"),
        ("one byte appended", base + b"\x00", "malformed"),
        ("wrong label", b"lali.receipt.v01" + base[16:], "malformed"),
        ("ciphertext bit flipped", _flip_ciphertext(base, len(frame.signed) - 1), "bad_signature"),
    ]
    negatives = [
        {"name": n, "envelope": _b64(data), "error": err, "open_as": "FJ"}
        for n, data, err in negative
    ]

    # Vectors added since the first six: positive ones sealed by ``seal``, then the
    # acceptance boundaries and a negative vector for every rejection reason.
    maritime = _example("maritime.json")
    context = _Context(ids, directory, {k: _verify(v, root) for k, v in extra.items()}, rotated)
    positive += _more_positive(context, maritime)
    expiring = base64.b64decode(positive[3]["envelope"])
    negatives += _more_negative(context, base, expiring, maritime)
    accept = _accept(context, base, expiring, maritime)
    _check_forge_matches_seal(ids, positive[0], base)
    return {
        "format": "lali-envelope-vectors",
        "version": 1,
        "now": NOW.isoformat(),
        "root_public": _b64(bytes(root.verify_key)),
        "directory": _b64(signed_directory),
        "keys": _keys(ids),
        "positive": positive,
        "negative": negatives,
        "extra_keys": {
            key_id(bytes(secret.public_key)): {
                "member": code,
                "use": "encrypt",
                "secret": _seed(f"{code} enc 2").hex(),
            }
            for code, secret in rotated.items()
        },
        "directories": {name: _b64(data) for name, data in extra.items()},
        "accept": accept,
    }


def _keys(ids: Mapping[str, Identity]) -> dict[str, dict[str, str]]:
    return {
        code: {
            "sign_seed": _seed(f"{code} sign").hex(),
            "enc_secret": _seed(f"{code} enc").hex(),
            "sign_kid": ident.sign_kid,
            "enc_kid": ident.enc_kid,
        }
        for code, ident in ids.items()
    }


def _verify(data: bytes, root: RootKey, now: datetime = NOW) -> Directory:
    return verify_directory(data, {root.kid: root.verify_key}, now)


@dataclasses.dataclass(frozen=True)
class _Context:
    ids: dict[str, Identity]
    directory: Directory
    directories: dict[str, Directory]
    rotated: dict[str, nacl.public.PrivateKey]

    def holding(self, code: str, *kids: str) -> Identity:
        """``code``'s identity holding the encryption keys ``kids`` (current first)."""
        ident = self.ids[code]
        pool = {key_id(bytes(k.public_key)): k for k in ident.encryption_keys}
        pool.update({key_id(bytes(k.public_key)): k for k in self.rotated.values()})
        return Identity(code, ident.signing_key, tuple(pool[k] for k in kids))

    def old_kid(self, code: str) -> str:
        return self.ids[code].enc_kid

    def new_kid(self, code: str) -> str:
        return key_id(bytes(self.rotated[code].public_key))


def _more_positive(c: _Context, maritime: bytes) -> list[dict[str, Any]]:
    """Expiry, rotation and key-validity boundaries; each reproducible with ``seal``."""
    rows: list[dict[str, Any]] = []
    specs: list[tuple[str, bytes, str, list[str], datetime, datetime | None, str | None]] = [
        (
            "maritime WS to FJ with an expiry (sub-millisecond)",
            _with_expiry(maritime, EXPIRY),
            "WS",
            ["FJ"],
            NOW,
            None,
            None,
        ),
        (
            "after a rotation: WS to FJ and TO, two valid encryption keys each",
            maritime,
            "WS",
            ["FJ", "TO"],
            NOW,
            None,
            "rotation",
        ),
        (
            "sealed before the rotation to FJ's old key, opened after it",
            maritime,
            "WS",
            ["FJ", "TO"],
            NOW - timedelta(hours=2),
            NOW,
            "rotation",
        ),
        (
            "TO signs at its signing key's not_before",
            _example("people_smuggling.json"),
            "TO",
            ["FJ"],
            NOW - DAY,
            NOW,
            None,
        ),
    ]
    for name, plaintext, sender, recipients, at, open_at, ref in specs:
        directory = c.directories[ref] if ref else c.directory
        enc_keys: dict[str, list[str]] = {}
        if ref == "rotation":
            # The sender's current key is the newest it holds that the directory lists
            # as valid at the time of sealing; a recipient holds old and new.
            sender_keys = (
                [c.new_kid("WS"), c.old_kid("WS")]
                if at >= ROTATED_FROM
                else [c.old_kid("WS"), c.new_kid("WS")]
            )
            enc_keys = {"WS": sender_keys, "FJ": [c.new_kid("FJ"), c.old_kid("FJ")]}
        sender_id = c.holding(sender, *enc_keys[sender]) if sender in enc_keys else c.ids[sender]
        rng, drawn = fixed_random(name)
        header, envelope = seal(
            parse_alert(plaintext), sender_id, recipients, directory, at, rng=rng
        )
        row: dict[str, Any] = {
            "name": name,
            "sender": sender,
            "recipients": recipients,
            "not_recipients": [x for x in CODES if x not in recipients and x != sender],
            "plaintext": plaintext.decode("utf-8"),
            "random": [d.hex() for d in drawn],
            "message_id": header.message_id,
            "envelope": _b64(envelope),
        }
        if at != NOW:
            row["now"] = _iso(at)
        if open_at is not None:
            row["open_at"] = _iso(open_at)
        if ref:
            row["directory_ref"] = ref
        if enc_keys:
            row["enc_keys"] = enc_keys
        rows.append(row)
    return rows


def _case(name: str, envelope: bytes, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "envelope": _b64(envelope)}
    if "error" in fields:
        row["error"] = fields.pop("error")
    row["open_as"] = fields.pop("open_as", "FJ")
    for key in ("now", "received_at"):
        if key in fields:
            row[key] = _iso(fields.pop(key))
    row.update(fields)
    return row


def _more_negative(
    c: _Context, base: bytes, expiring: bytes, maritime: bytes
) -> list[dict[str, Any]]:
    """At least one envelope for every reason ``verify`` and ``open_envelope`` raise."""
    ids = c.ids
    h = HEADER_AT
    count_at = h + 71
    frame = decode_frame(base)
    outsider_sign = nacl.signing.SigningKey(_seed("outsider sign"))
    outsider_enc = nacl.public.PrivateKey(_seed("outsider enc"))
    fj_new = bytes(c.rotated["FJ"].public_key)

    def forge(name: str, f: Forge) -> bytes:
        return _forge(name, f, ids)

    def corrupt_fj_wrap(wraps: list[Wrap], tags: dict[str, bytes]) -> list[Wrap]:
        return [Wrap(w.tag, _flip(w.sealed_key, 0)) if w.tag == tags["FJ"] else w for w in wraps]

    def bad_copy_first(wraps: list[Wrap], tags: dict[str, bytes]) -> list[Wrap]:
        ours = next(w for w in wraps if w.tag == tags["FJ"])
        return [Wrap(ours.tag, _flip(ours.sealed_key, 0)), *wraps]

    short_ct = encode_frame(frame.header_bytes, list(frame.wraps), bytes(8)) + bytes(64)
    body = zlib.compress(maritime, 6)
    padded = pad(body)
    rows = [
        # 1. Size, before anything is parsed.
        _case(
            "one byte over 256 KiB (the first envelope, then zero bytes)",
            base,
            error="oversized",
            append_zero_bytes=256 * 1024 + 1 - len(base),
        ),
        # 2. Framing and header fields: no signature is checked before these.
        _case("header version 2", _put(base, h, b"\x02"), error="malformed"),
        _case("reserved flags set", _put(base, h + 4, b"\x01"), error="malformed"),
        _case("topic code 8 (no such topic)", _put(base, h + 1, b"\x08"), error="malformed"),
        _case("sender in lower case", _put(base, h + 5, b"ws"), error="malformed"),
        _case(
            "message id with UUID version 4",
            _put(base, h + 23 + 6, bytes([0x40 | (base[h + 23 + 6] & 0x0F)])),
            error="malformed",
        ),
        _case(
            "expires_ms beyond 9999-12-31",
            _put(base, h + 39, (MAX_MS + 1).to_bytes(8, "big")),
            error="malformed",
        ),
        _case("wrap count 0", _put(base, count_at, b"\x00"), error="malformed"),
        _case("ciphertext shorter than its 16-byte tag", short_ct, error="malformed"),
        _case(
            "subject with an unknown topic",
            base,
            error="malformed",
            subject="lali.alert.smuggling.WS",
        ),
        # 3. The signing key.
        _case(
            "signing key not in the directory",
            forge("signing key not in the directory", Forge(maritime, sign_key=outsider_sign)),
            error="unknown_key",
        ),
        _case(
            "signed 1 ms before the signing key's not_before",
            forge("signed before not_before", Forge(maritime, at=NOW - DAY - MS)),
            error="key_not_valid",
        ),
        _case(
            "signing key revoked before the message reached the broker",
            seal(
                parse_alert(maritime),
                ids["WS"],
                ["FJ", "TO"],
                c.directories["revoked"],
                NOW - timedelta(hours=2),
                rng=fixed_random("revoked")[0],
            )[1],
            error="key_revoked",
            directory_ref="revoked",
        ),
        # 5. Identity (after a valid signature).
        _case(
            "signing key belongs to another member than the header's sender",
            forge("sender FJ, WS's key", Forge(maritime, header={"sender": "FJ"})),
            error="sender_mismatch",
        ),
        _case(
            "subject names another sender",
            base,
            error="sender_mismatch",
            subject="lali.alert.maritime.FJ",
        ),
        _case(
            "subject names another topic",
            base,
            error="sender_mismatch",
            subject="lali.alert.asylum.WS",
        ),
        _case(
            "topic not among the sender's topics in the directory",
            base,
            error="sender_mismatch",
            directory_ref="restricted_topics",
        ),
        _case(
            "bulletin from a member that is not the hub",
            forge("bulletin from WS", Forge(_example("bulletin.json"))),
            error="sender_mismatch",
        ),
        # 6. Time.
        _case(
            "older than 14 days by 1 ms",
            base,
            error="expired",
            now=NOW + timedelta(days=14) + MS,
        ),
        _case(
            "expires_ms reached",
            expiring,
            error="expired",
            now=from_ms(to_ms(EXPIRY)),
        ),
        _case(
            "more than 5 minutes ahead by 1 ms",
            base,
            error="clock_skew",
            now=NOW - timedelta(minutes=5) - MS,
        ),
        # 7. The sender's encryption key and our wrap.
        _case(
            "enc_kid not in the directory",
            forge("enc key not in the directory", Forge(maritime, enc_key=outsider_enc)),
            error="unknown_key",
        ),
        _case(
            "enc_kid names the sender's signing key",
            forge(
                "enc_kid is a signing key",
                Forge(maritime, header={"enc_kid": ids["WS"].sign_kid}),
            ),
            error="unknown_key",
        ),
        _case(
            "enc_kid names another member's encryption key",
            forge(
                "enc_kid of TO", Forge(maritime, to=("FJ",), enc_key=ids["TO"].encryption_keys[0])
            ),
            error="sender_mismatch",
        ),
        _case(
            "sender's encryption key not yet valid at sent_at",
            forge(
                "enc key before its not_before",
                Forge(
                    maritime,
                    at=NOW - timedelta(hours=2),
                    enc_key=c.rotated["WS"],
                ),
            ),
            error="key_not_valid",
            directory_ref="rotation",
        ),
        _case(
            "sender's encryption key at exactly its not_after",
            forge(
                "enc key at its not_after",
                Forge(maritime, at=OLD_KEYS_UNTIL, recipient_keys={"FJ": fj_new}),
            ),
            error="key_not_valid",
            now=OLD_KEYS_UNTIL,
            directory_ref="rotation",
            enc_keys={"FJ": [c.new_kid("FJ"), c.old_kid("FJ")]},
        ),
        _case(
            "sender's encryption key is a low-order point",
            forge(
                "low-order sender key",
                Forge(
                    maritime,
                    header={"enc_kid": key_id(LOW_ORDER_POINT)},
                    random_wraps=True,
                ),
            ),
            error="decryption_failed",
            directory_ref="low_order_key",
        ),
        _case(
            "our tag matches but the wrap does not open",
            forge("wrap does not open", Forge(maritime, edit_wraps=corrupt_fj_wrap)),
            error="decryption_failed",
        ),
        _case(
            "two wraps carry our tag and the first does not open",
            forge("duplicate tag, bad first", Forge(maritime, edit_wraps=bad_copy_first)),
            error="decryption_failed",
        ),
        _case(
            "content key does not match the header's commitment",
            forge("commitment mismatch", Forge(maritime, commit_to_other_key=True)),
            error="decryption_failed",
        ),
        # 8. Decryption.
        _case(
            "ciphertext altered and re-signed by the sender",
            forge("aead fails", Forge(maritime, edit_ciphertext=lambda ct: _flip(ct, 0))),
            error="decryption_failed",
        ),
        # 9. Padding, inflation, parsing, cross-checks with the header.
        _case(
            "non-zero padding byte",
            forge("non-zero padding", Forge(maritime, padded=padded[:-1] + b"\x01")),
            error="malformed",
        ),
        _case(
            "length prefix beyond the plaintext",
            forge(
                "length prefix too long",
                Forge(maritime, padded=(len(padded) - 3).to_bytes(4, "big") + padded[4:]),
            ),
            error="malformed",
        ),
        _case(
            "padded plaintext shorter than its 4-byte length prefix",
            forge("padded under 4 bytes", Forge(maritime, padded=b"\x00\x00\x00")),
            error="malformed",
        ),
        _case(
            "body is not a zlib stream",
            forge("not zlib", Forge(maritime, body=b"this is not a zlib stream")),
            error="malformed",
        ),
        _case(
            "bytes after the end of the zlib stream",
            forge("zlib trailing bytes", Forge(maritime, body=body + b"\x00")),
            error="malformed",
        ),
        _case(
            "zlib stream cut short",
            forge("zlib cut short", Forge(maritime, body=body[:-4])),
            error="malformed",
        ),
        _case(
            "inflates beyond 64 KiB",
            forge(
                "zlib bomb",
                Forge(maritime, body=zlib.compress(b" " * (64 * 1024 + 1), 9)),
            ),
            error="decompression_limit",
        ),
        _case(
            "JSON that is not an alert",
            forge("not an alert", Forge(b"{}")),
            error="schema_violation",
        ),
        _case(
            "alert JSON repeats a key",
            forge("duplicate key", Forge(b'{"title":"x",' + maritime[1:])),
            error="schema_violation",
        ),
        _case(
            "header TLP differs from the alert's",
            forge("tlp differs", Forge(maritime, header={"tlp": Tlp.AMBER})),
            error="schema_violation",
        ),
        _case(
            "header priority differs from the alert's",
            forge("priority differs", Forge(maritime, header={"priority": Priority.FLASH})),
            error="schema_violation",
        ),
        _case(
            "header expiry 1 ms later than the alert's",
            forge(
                "expiry differs",
                Forge(
                    _with_expiry(maritime, EXPIRY),
                    header={"expires_at": from_ms(to_ms(EXPIRY) + 1)},
                ),
            ),
            error="schema_violation",
        ),
        _case(
            "alert has an expiry, the header none",
            forge(
                "expiry missing in header",
                Forge(_with_expiry(maritime, EXPIRY), header={"expires_at": None}),
            ),
            error="schema_violation",
        ),
    ]
    return rows


def _accept(c: _Context, base: bytes, expiring: bytes, maritime: bytes) -> list[dict[str, Any]]:
    """Envelopes a receiver must open: boundaries of the time checks, and framing that
    ``seal`` never produces but the format allows."""
    ids = c.ids
    expiring_json = _with_expiry(maritime, EXPIRY).decode("utf-8")
    text = maritime.decode("utf-8")
    padded = pad(zlib.compress(maritime, 6))

    def forge(name: str, f: Forge) -> bytes:
        return _forge(name, f, ids)

    def good_copy_first(wraps: list[Wrap], tags: dict[str, bytes]) -> list[Wrap]:
        ours = next(w for w in wraps if w.tag == tags["FJ"])
        return [ours, Wrap(ours.tag, _flip(ours.sealed_key, 0)), *wraps]

    def unsorted(wraps: list[Wrap], tags: dict[str, bytes]) -> list[Wrap]:
        return list(reversed(wraps))

    revoked_envelope = seal(
        parse_alert(maritime),
        ids["WS"],
        ["FJ", "TO"],
        c.directories["revoked"],
        NOW - timedelta(hours=2),
        rng=fixed_random("revoked")[0],
    )[1]
    return [
        _case(
            "on the subject of its sender and topic",
            base,
            subject="lali.alert.maritime.WS",
            plaintext=text,
        ),
        _case("exactly 14 days old", base, now=NOW + timedelta(days=14), plaintext=text),
        _case("exactly 5 minutes ahead", base, now=NOW - timedelta(minutes=5), plaintext=text),
        _case(
            "1 ms before expires_ms",
            expiring,
            now=from_ms(to_ms(EXPIRY) - 1),
            plaintext=expiring_json,
        ),
        _case(
            "revoked signing key, stored by the broker before the revocation",
            revoked_envelope,
            received_at=REVOKED_AT - MS,
            directory_ref="revoked",
            plaintext=text,
        ),
        _case(
            "wraps not sorted by tag",
            forge("unsorted wraps", Forge(maritime, to=("FJ", "TO", "XH"), edit_wraps=unsorted)),
            plaintext=text,
        ),
        _case(
            "two wraps carry our tag and the first opens",
            forge("duplicate tag, good first", Forge(maritime, edit_wraps=good_copy_first)),
            plaintext=text,
        ),
        _case(
            "zero padding beyond the Padmé length",
            forge("over-long padding", Forge(maritime, padded=padded + bytes(1024))),
            plaintext=text,
        ),
    ]


def _check_forge_matches_seal(
    ids: Mapping[str, Identity], vector: Mapping[str, Any], envelope: bytes
) -> None:
    """The specification-only implementation agrees with ``seal`` bit for bit."""
    if _forge(vector["name"], Forge(vector["plaintext"].encode("utf-8")), ids) != envelope:
        raise AssertionError("_forge no longer reproduces seal: the two implementations differ")


# --- the other signed blobs ------------------------------------------------------------

MID = "01a2272d-2600-77db-af9e-54b3307ed011"  # the first positive envelope's message id
HEAD = hashlib.sha256(b"lali test vector audit head").digest()


def _resigned(body: bytes, key: nacl.signing.SigningKey) -> bytes:
    return body + key.sign(body).signature


def build_blobs() -> dict[str, Any]:
    ids = fixed_identities()
    root = _root()
    _, signed = fixed_directory(ids, root)
    extra = _extra_directories(ids, root)
    outsider = nacl.signing.SigningKey(_seed("outsider sign"))
    ws, fj = ids["WS"], ids["FJ"]
    fj_as_outsider = Identity("FJ", outsider, fj.encryption_keys)

    # Receipts: FJ received WS's alert.
    receipt = make_receipt(MID, "WS", fj, NOW)
    body = receipt[:-64]
    receipts = {
        "positive": [
            {
                "name": "FJ received WS's alert",
                "message_id": MID,
                "sender": "WS",
                "recipient": "FJ",
                "received_at": _iso(NOW),
                "subject": "lali.receipt.WS.FJ",
                "blob": _b64(receipt),
            }
        ],
        "negative": [
            _blob("one byte short", receipt[:-1], "malformed"),
            _blob(
                "checkpoint label",
                _resigned(b"lali.checkpt.v1\x00" + body[16:], fj.signing_key),
                "malformed",
            ),
            _blob(
                "received_ms beyond 9999-12-31",
                _resigned(_put(body, 44, (MAX_MS + 1).to_bytes(8, "big")), fj.signing_key),
                "malformed",
            ),
            _blob(
                "recipient code in lower case",
                _resigned(_put(body, 34, b"fj"), fj.signing_key),
                "malformed",
            ),
            _blob(
                "signing key not in the directory",
                make_receipt(MID, "WS", fj_as_outsider, NOW),
                "unknown_key",
            ),
            _blob(
                "signed with another member's key",
                _resigned(
                    _put(make_receipt(MID, "WS", ids["TO"], NOW)[:-64], 34, b"FJ"),
                    ids["TO"].signing_key,
                ),
                "sender_mismatch",
            ),
            _blob(
                "received 1 ms before the key's not_before",
                make_receipt(MID, "WS", fj, NOW - DAY - MS),
                "key_not_valid",
            ),
            _blob(
                "key revoked (judged at the verifier's now)",
                make_receipt(MID, "TO", ws, NOW - timedelta(hours=2)),
                "key_revoked",
                directory_ref="revoked",
            ),
            _blob("signature bit flipped", _flip(receipt, len(receipt) - 1), "bad_signature"),
            _blob(
                "received_ms more than 5 minutes ahead by 1 ms",
                make_receipt(MID, "WS", fj, NOW + timedelta(minutes=5) + MS),
                "clock_skew",
            ),
            _blob(
                "subject names another recipient",
                receipt,
                "sender_mismatch",
                subject="lali.receipt.WS.TO",
            ),
            _blob("subject with three tokens", receipt, "malformed", subject="lali.receipt.WS"),
        ],
    }

    # Checkpoints: FJ's audit head.
    head = ChainHead(339, HEAD)
    checkpoint = make_checkpoint(fj, head, NOW)
    cbody = checkpoint[:-64]
    checkpoints = {
        "positive": [
            {
                "name": "FJ's audit head at entry 339",
                "member": "FJ",
                "count": head.count,
                "head": head.head.hex(),
                "at": _iso(NOW),
                "subject": "lali.checkpoint.FJ",
                "blob": _b64(checkpoint),
            }
        ],
        "negative": [
            _blob("one byte appended", checkpoint + b"\x00", "malformed"),
            _blob(
                "receipt label",
                _resigned(b"lali.receipt.v1\x00" + cbody[16:], fj.signing_key),
                "malformed",
            ),
            _blob(
                "member code in lower case",
                _resigned(_put(cbody, 16, b"fj"), fj.signing_key),
                "malformed",
            ),
            _blob(
                "at_ms beyond 9999-12-31",
                _resigned(_put(cbody, 66, (MAX_MS + 1).to_bytes(8, "big")), fj.signing_key),
                "malformed",
            ),
            _blob(
                "signing key not in the directory",
                make_checkpoint(fj_as_outsider, head, NOW),
                "unknown_key",
            ),
            _blob(
                "signed with another member's key",
                _resigned(_put(make_checkpoint(ws, head, NOW)[:-64], 16, b"FJ"), ws.signing_key),
                "sender_mismatch",
            ),
            _blob(
                "at 1 ms before the key's not_before",
                make_checkpoint(fj, head, NOW - DAY - MS),
                "key_not_valid",
            ),
            _blob(
                "signed at its key's revocation time",
                make_checkpoint(ws, head, REVOKED_AT),
                "key_revoked",
                directory_ref="revoked",
            ),
            _blob("signature bit flipped", _flip(checkpoint, len(checkpoint) - 1), "bad_signature"),
        ],
    }

    # Heartbeats: FJ is alive.
    beat = Heartbeat(
        member="FJ",
        at=NOW,
        started_at=NOW - timedelta(hours=3),
        interval=timedelta(seconds=5),
        audit_count=339,
        outbox_depth=2,
    )
    heartbeat = make_heartbeat(fj, beat)
    stopping = make_heartbeat(fj, dataclasses.replace(beat, stopping=True))
    hbody = heartbeat[:-64]
    heartbeats = {
        "positive": [
            _beat("FJ is alive", beat, heartbeat),
            _beat(
                "FJ's last heartbeat before a clean stop",
                dataclasses.replace(beat, stopping=True),
                stopping,
            ),
        ],
        "negative": [
            _blob("one byte short", heartbeat[:-1], "malformed"),
            _blob(
                "checkpoint label",
                _resigned(b"lali.checkpt.v1\x00" + hbody[16:], fj.signing_key),
                "malformed",
            ),
            _blob(
                "unknown flag bit",
                _resigned(_put(hbody, 58, b"\x02"), fj.signing_key),
                "malformed",
            ),
            _blob(
                "at_ms beyond 9999-12-31",
                _resigned(_put(hbody, 26, (MAX_MS + 1).to_bytes(8, "big")), fj.signing_key),
                "malformed",
            ),
            _blob(
                "member code in lower case",
                _resigned(_put(hbody, 16, b"fj"), fj.signing_key),
                "malformed",
            ),
            _blob(
                "subject names another member",
                heartbeat,
                "sender_mismatch",
                subject="lali.heartbeat.TO",
            ),
            _blob(
                "signing key not in the directory",
                make_heartbeat(fj_as_outsider, beat),
                "unknown_key",
            ),
            _blob(
                "signed with another member's key",
                _resigned(
                    _put(
                        make_heartbeat(ws, dataclasses.replace(beat, member="WS"))[:-64], 16, b"FJ"
                    ),
                    ws.signing_key,
                ),
                "sender_mismatch",
            ),
            _blob(
                "at 1 ms before the key's not_before",
                make_heartbeat(fj, dataclasses.replace(beat, at=NOW - DAY - MS)),
                "key_not_valid",
            ),
            _blob(
                "key revoked at or before the heartbeat's own time",
                make_heartbeat(ws, dataclasses.replace(beat, member="WS", at=REVOKED_AT)),
                "key_not_valid",
                directory_ref="revoked",
            ),
            _blob("signature bit flipped", _flip(heartbeat, len(heartbeat) - 1), "bad_signature"),
        ],
    }
    return {
        "format": "lali-blob-vectors",
        "version": 1,
        "now": NOW.isoformat(),
        "root_public": _b64(bytes(root.verify_key)),
        "directory": _b64(signed),
        "directories": {"revoked": _b64(extra["revoked"])},
        "keys": _keys(ids),
        "receipt": receipts,
        "checkpoint": checkpoints,
        "heartbeat": heartbeats,
        "signed_directory": _directory_vectors(),
    }


def _blob(name: str, data: bytes, error: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "blob": _b64(data), "error": error, **fields}


def _beat(name: str, beat: Heartbeat, blob: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "member": beat.member,
        "at": _iso(beat.at),
        "started_at": _iso(beat.started_at),
        "interval_ms": beat.interval // MS,
        "audit_count": beat.audit_count,
        "outbox_depth": beat.outbox_depth,
        "stopping": beat.stopping,
        "subject": f"lali.heartbeat.{beat.member}",
        "blob": _b64(blob),
    }


# --- the signed directory --------------------------------------------------------------


def _directory_roots() -> list[RootKey]:
    return [RootKey(nacl.signing.SigningKey(_seed(f"root {n}"))) for n in (1, 2, 3)]


def _small_directory(version: int, roots: Sequence[RootKey], **changes: Any) -> Directory:
    hub = fixed_identities()["XH"]
    return Directory(
        version=version,
        issued_at=changes.get("issued_at", NOW - DAY),
        expires_at=changes.get("expires_at", NOW + 30 * DAY),
        members=[_member("XH", hub)],
        roots=[RootEntry(kid=r.kid, public=_b64(bytes(r.verify_key))) for r in roots],
        root_threshold=2,
    )


def _rewrap(data: bytes, **changes: Any) -> bytes:
    wrapper = json.loads(data)
    wrapper.update(changes)
    return json.dumps(wrapper, separators=(",", ":")).encode("utf-8")


def _directory_vectors() -> dict[str, Any]:
    """A directory of one member signed by roots 1 and 2 of three, threshold 2."""
    r1, r2, r3 = _directory_roots()
    good = sign_directory(_small_directory(7, [r1, r2, r3]), [r1, r2])
    wrapper = json.loads(good)
    sig1, sig2 = wrapper["signatures"]
    payload = base64.b64decode(wrapper["payload"])
    stranger = RootKey(nacl.signing.SigningKey(_seed("root stranger")))
    stranger_sig = {
        "kid": stranger.kid,
        "sig": _b64(stranger.signing_key.sign(b"lali.directory.v1\x00" + payload).signature),
    }
    bad_sig2 = {**sig2, "sig": _b64(_flip(base64.b64decode(sig2["sig"]), 0))}
    # Standard base64 of the same payload with a non-zero padding bit: same bytes, another text.
    text = wrapper["payload"]
    last = text.rstrip("=")[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sloppy = text.rstrip("=")[:-1] + alphabet[alphabet.index(last) + 1] + "=" * text.count("=")
    expired = sign_directory(
        _small_directory(7, [r1, r2, r3], issued_at=NOW - 31 * DAY, expires_at=NOW), [r1, r2]
    )
    not_a_directory = b'{"version":7}'
    unparsable = _rewrap(
        good,
        payload=_b64(not_a_directory),
        signatures=[
            {
                "kid": r.kid,
                "sig": _b64(
                    r.signing_key.sign(b"lali.directory.v1\x00" + not_a_directory).signature
                ),
            }
            for r in (r1, r2)
        ],
    )
    return {
        "roots": {r.kid: _b64(bytes(r.verify_key)) for r in (r1, r2, r3)},
        "threshold": 2,
        "positive": [
            {"name": "roots 1 and 2 of three sign, threshold 2", "file": good.decode("ascii")},
            {
                "name": "an unknown key's signature is ignored",
                "file": _rewrap(good, signatures=[sig1, stranger_sig, sig2]).decode("ascii"),
            },
        ],
        "negative": [
            _file("no signatures", _rewrap(good, signatures=[]), "directory_unsigned"),
            _file(
                "one valid signature, threshold 2",
                _rewrap(good, signatures=[sig1]),
                "directory_bad_signature",
            ),
            _file(
                "one valid signature and one from an unknown key",
                _rewrap(good, signatures=[sig1, stranger_sig]),
                "directory_bad_signature",
            ),
            _file(
                "a bad signature from a trusted key",
                _rewrap(good, signatures=[sig1, bad_sig2]),
                "directory_bad_signature",
            ),
            _file(
                "the same key id twice",
                _rewrap(good, signatures=[sig1, sig1]),
                "malformed",
            ),
            _file("payload in non-canonical base64", _rewrap(good, payload=sloppy), "malformed"),
            _file(
                "another payloadType",
                _rewrap(good, payloadType="application/json"),
                "malformed",
            ),
            _file(
                "one byte over 1 MiB (the first file, then zero bytes)",
                good,
                "oversized",
                append_zero_bytes=(1 << 20) + 1 - len(good),
            ),
            _file("expired at now", expired, "directory_expired"),
            _file("older than the newest accepted", good, "directory_rollback", min_version=8),
            _file("signed payload is not a directory", unparsable, "directory"),
        ],
    }


def _file(name: str, data: bytes, error: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "file": data.decode("ascii"), "error": error, **fields}


# --- checking a vectors file, as another implementation would ---------------------------


def _time(value: str | None, default: datetime) -> datetime:
    return default if value is None else datetime.fromisoformat(value)


class _Keys:
    """The identities and directories a vectors file describes."""

    def __init__(self, vectors: Mapping[str, Any]) -> None:
        self.now = datetime.fromisoformat(vectors["now"])
        root_public = base64.b64decode(vectors["root_public"])
        self.roots = {key_id(root_public): nacl.signing.VerifyKey(root_public)}
        self.signed = {None: vectors["directory"], **vectors.get("directories", {})}
        self.keys = vectors["keys"]
        secrets = {k["enc_kid"]: k["enc_secret"] for k in self.keys.values() if "enc_kid" in k}
        secrets.update({kid: k["secret"] for kid, k in vectors.get("extra_keys", {}).items()})
        self.secrets = secrets

    def directory(self, ref: str | None) -> Directory:
        return verify_directory(base64.b64decode(self.signed[ref]), self.roots, self.now)

    def identity(self, code: str, enc_keys: Mapping[str, list[str]] | None = None) -> Identity:
        entry = self.keys[code]
        kids = (enc_keys or {}).get(code, [entry["enc_kid"]])
        return Identity(
            code,
            nacl.signing.SigningKey(bytes.fromhex(entry["sign_seed"])),
            tuple(nacl.public.PrivateKey(bytes.fromhex(self.secrets[k])) for k in kids),
        )


def open_case(vectors: Mapping[str, Any], case: Mapping[str, Any]) -> bytes:
    """Open a negative or accept vector as the receiving node does; the alert JSON."""
    k = _Keys(vectors)
    data = base64.b64decode(case["envelope"]) + bytes(case.get("append_zero_bytes", 0))
    subject_topic: Topic | None = None
    subject_sender: str | None = None
    if "subject" in case:
        subject_topic, subject_sender = parse_alert_subject(case["subject"])
    opened = open_envelope(
        data,
        k.identity(case["open_as"], case.get("enc_keys")),
        k.directory(case.get("directory_ref")),
        _time(case.get("now"), k.now),
        subject_sender=subject_sender,
        subject_topic=subject_topic,
        received_at=None if "received_at" not in case else _time(case["received_at"], k.now),
    )
    return alert_to_json(opened.alert)


def check(vectors: dict[str, Any]) -> None:
    """Reseal every positive vector from its recorded random bytes and open it as each
    recipient; open every accept vector; reject every negative one with its reason."""
    k = _Keys(vectors)
    for case in vectors["positive"]:
        envelope = base64.b64decode(case["envelope"])
        directory = k.directory(case.get("directory_ref"))
        enc_keys = case.get("enc_keys")
        sealed_at = _time(case.get("now"), k.now)
        header, again = seal(
            parse_alert(case["plaintext"]),
            k.identity(case["sender"], enc_keys),
            case["recipients"],
            directory,
            sealed_at,
            rng=replayed_random(case["random"]),
        )
        assert again == envelope, case["name"]
        assert header.message_id == case["message_id"], case["name"]
        open_at = _time(case.get("open_at"), sealed_at)
        for code in case["recipients"]:
            opened = open_envelope(envelope, k.identity(code, enc_keys), directory, open_at)
            assert alert_to_json(opened.alert) == case["plaintext"].encode("utf-8")
        for code in case["not_recipients"]:
            try:
                open_envelope(envelope, k.identity(code, enc_keys), directory, open_at)
            except NotAddressed:
                continue
            raise AssertionError(f"{code} opened {case['name']}")
    for case in vectors.get("accept", []):
        assert open_case(vectors, case) == case["plaintext"].encode("utf-8"), case["name"]
    for case in vectors["negative"]:
        try:
            open_case(vectors, case)
        except UntrustedMessage as exc:
            assert exc.reason == case["error"], (case["name"], exc.reason)
        else:
            raise AssertionError(f"negative vector accepted: {case['name']}")


def verify_blob(vectors: Mapping[str, Any], kind: str, case: Mapping[str, Any]) -> Any:
    """Verify one receipt, checkpoint or heartbeat vector as the receiving node does."""
    k = _Keys(vectors)
    data = base64.b64decode(case["blob"])
    directory = k.directory(case.get("directory_ref"))
    now = _time(case.get("now"), k.now)
    subject = case.get("subject")
    if kind == "receipt":
        receipt = verify_receipt(data, directory, now)
        if subject is not None and parse_receipt_subject(subject) != (
            receipt.sender,
            receipt.recipient,
        ):
            raise SenderMismatch("receipt subject and receipt disagree")
        return receipt
    if kind == "checkpoint":
        return verify_checkpoint(data, directory)
    if kind == "heartbeat":
        return verify_heartbeat(
            data, directory, None if subject is None else heartbeat_member(subject)
        )
    raise ValueError(kind)


def check_blobs(vectors: dict[str, Any]) -> None:
    """Every positive blob is reproduced and verifies; every negative one fails."""
    k = _Keys(vectors)
    for kind in ("receipt", "checkpoint", "heartbeat"):
        for case in vectors[kind]["positive"]:
            verified = verify_blob(vectors, kind, case)
            again = _remake(kind, case, k)
            assert again == base64.b64decode(case["blob"]), case["name"]
            for name in ("message_id", "sender", "recipient", "member", "count"):
                if name in case:
                    assert getattr(verified, name) == case[name], (case["name"], name)
        for case in vectors[kind]["negative"]:
            try:
                verify_blob(vectors, kind, case)
            except UntrustedMessage as exc:
                assert exc.reason == case["error"], (kind, case["name"], exc.reason)
            else:
                raise AssertionError(f"negative {kind} vector accepted: {case['name']}")
    section = vectors["signed_directory"]
    for case in section["positive"]:
        open_directory(section, case, k.now)
    for case in section["negative"]:
        try:
            open_directory(section, case, k.now)
        except UntrustedMessage as exc:
            assert exc.reason == case["error"], ("directory", case["name"], exc.reason)
        else:
            raise AssertionError(f"negative directory vector accepted: {case['name']}")


def open_directory(section: Mapping[str, Any], case: Mapping[str, Any], now: datetime) -> Directory:
    roots = {
        kid: nacl.signing.VerifyKey(base64.b64decode(public))
        for kid, public in section["roots"].items()
    }
    return verify_directory(
        case["file"].encode("ascii") + bytes(case.get("append_zero_bytes", 0)),
        roots,
        now,
        threshold=section["threshold"],
        min_version=case.get("min_version", 0),
    )


def _remake(kind: str, case: Mapping[str, Any], k: _Keys) -> bytes:
    if kind == "receipt":
        me = k.identity(case["recipient"])
        return make_receipt(
            case["message_id"], case["sender"], me, datetime.fromisoformat(case["received_at"])
        )
    if kind == "checkpoint":
        head = ChainHead(case["count"], bytes.fromhex(case["head"]))
        return make_checkpoint(k.identity(case["member"]), head, datetime.fromisoformat(case["at"]))
    beat = Heartbeat(
        member=case["member"],
        at=datetime.fromisoformat(case["at"]),
        started_at=datetime.fromisoformat(case["started_at"]),
        interval=case["interval_ms"] * MS,
        audit_count=case["audit_count"],
        outbox_depth=case["outbox_depth"],
        stopping=case["stopping"],
    )
    return make_heartbeat(k.identity(case["member"]), beat)


def main() -> None:
    for path, vectors, checker in (
        (VECTORS_FILE, build(), check),
        (BLOBS_FILE, build_blobs(), check_blobs),
    ):
        checker(vectors)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(vectors, indent=2) + "\n", encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
