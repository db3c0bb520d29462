"""Known-answer test vectors for the v1 envelope (``schemas/vectors/envelope-v1.json``).

Everything is derived from fixed seeds: keys, the directory, the time and the random
bytes that ``seal`` consumes (in order: 32-byte content key, then 10 random
bytes of the message id). Another implementation can rebuild each envelope bit for bit
and must reject each negative vector with the error named.

Regenerate with ``python -m node.ops.vectors`` (only when the format version changes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

import schemas
from keys import Directory, Identity, Member, Role, RootKey, sign_directory, verify_directory
from node.protocol.envelope import open_envelope, seal
from node.protocol.wire import decode_frame
from schemas.alert import Topic, alert_to_json, parse_alert
from schemas.errors import UntrustedMessage

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
VECTORS_FILE = Path(schemas.__file__).resolve().parent / "vectors" / "envelope-v1.json"
CODES = ("XH", "WS", "FJ", "TO")


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"lali test vector " + label.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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


def fixed_identities() -> dict[str, Identity]:
    return {
        code: Identity(
            code,
            nacl.signing.SigningKey(_seed(f"{code} sign")),
            (nacl.public.PrivateKey(_seed(f"{code} enc")),),
        )
        for code in CODES
    }


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


def build() -> dict[str, Any]:
    ids = fixed_identities()
    root = RootKey(nacl.signing.SigningKey(_seed("root")))
    directory, signed_directory = fixed_directory(ids, root)
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
    return {
        "format": "lali-envelope-vectors",
        "version": 1,
        "now": NOW.isoformat(),
        "root_public": _b64(bytes(root.verify_key)),
        "directory": _b64(signed_directory),
        "keys": {
            code: {
                "sign_seed": _seed(f"{code} sign").hex(),
                "enc_secret": _seed(f"{code} enc").hex(),
                "sign_kid": ident.sign_kid,
                "enc_kid": ident.enc_kid,
            }
            for code, ident in ids.items()
        },
        "positive": positive,
        "negative": [
            {"name": n, "envelope": _b64(data), "error": err, "open_as": "FJ"}
            for n, data, err in negative
        ],
    }


def _flip_ciphertext(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x80
    return bytes(out)


def check(vectors: dict[str, Any]) -> None:
    """Open every positive vector as each recipient; reject every negative one."""
    ids = fixed_identities()
    root = RootKey(nacl.signing.SigningKey(_seed("root")))
    directory = verify_directory(
        base64.b64decode(vectors["directory"]), {root.kid: root.verify_key}, NOW
    )
    for case in vectors["positive"]:
        envelope = base64.b64decode(case["envelope"])
        for code in case["recipients"]:
            opened = open_envelope(envelope, ids[code], directory, NOW)
            assert alert_to_json(opened.alert) == case["plaintext"].encode("utf-8")
    for case in vectors["negative"]:
        try:
            open_envelope(base64.b64decode(case["envelope"]), ids["FJ"], directory, NOW)
        except UntrustedMessage as exc:
            assert exc.reason == case["error"], (case["name"], exc.reason)
        else:
            raise AssertionError(f"negative vector accepted: {case['name']}")


def main() -> None:
    vectors = build()
    check(vectors)
    VECTORS_FILE.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_FILE.write_text(json.dumps(vectors, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {VECTORS_FILE}\n")


if __name__ == "__main__":
    main()
