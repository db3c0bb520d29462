"""Key ids and member codes: the short names the directory and envelopes use."""

from __future__ import annotations

import re

import nacl.encoding
import nacl.hash

from schemas.codes import ISO3166_ALPHA2

PUBLIC_KEY_SIZE = 32
KID_PATTERN = r"^[0-9a-f]{16}$"
COUNTRY_CODE_PATTERN = r"^[A-Z]{2}$"
# ISO 3166-1 leaves these for private use; the hub, not a country, takes one ("XH").
USER_ASSIGNED_ALPHA2: frozenset[str] = frozenset(
    ["AA", "ZZ"]
    + [f"Q{c}" for c in "MNOPQRSTUVWXYZ"]
    + [f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
)

_COUNTRY_CODE_RE = re.compile(r"[A-Z]{2}")


def key_id(public_key: bytes) -> str:
    """Return the key id of a raw 32-byte public key (Ed25519 or X25519).

    The id is the lowercase hex of the 8-byte BLAKE2b digest of the raw key: short
    enough to read aloud, long enough that two keys of one directory never collide
    by accident (the directory refuses duplicate ids anyway).
    """
    if not isinstance(public_key, bytes):
        raise TypeError("key_id() takes the raw public key bytes")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"a public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    digest = nacl.hash.blake2b(public_key, digest_size=8, encoder=nacl.encoding.HexEncoder)
    return digest.decode("ascii")


def is_assigned_country_code(code: str) -> bool:
    """True for an officially assigned ISO 3166-1 alpha-2 code ("WS", "FJ")."""
    return code in ISO3166_ALPHA2


def is_country_code(code: str) -> bool:
    """True for an assigned or a user-assigned ISO 3166-1 alpha-2 code ("WS", "XH")."""
    # fullmatch, not ``^...$``: Python's ``$`` also matches before a trailing newline.
    if _COUNTRY_CODE_RE.fullmatch(code) is None:
        return False
    return code in ISO3166_ALPHA2 or code in USER_ASSIGNED_ALPHA2
