"""The member directory: who is in the network, with which keys, for which topics.

These are the models only. A ``Directory`` object is trusted only when it came out of
``keys.verify.verify_directory``; building one by hand is for the hub and for tests.
The models are strict: unknown fields, wrong types, oversized strings, naive
datetimes, key ids that do not match their key and duplicate codes or key ids are
all refused.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

import nacl.public
import nacl.signing
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from keys.ids import (
    COUNTRY_CODE_PATTERN,
    KID_PATTERN,
    PUBLIC_KEY_SIZE,
    is_assigned_country_code,
    is_country_code,
    key_id,
)
from schemas.base import Timestamp, single_line
from schemas.enums import Topic
from schemas.errors import KeyNotValid, UnknownKey

ALL_TOPICS: tuple[str, ...] = tuple(topic.value for topic in Topic)

MAX_MEMBERS = 256
MAX_KEYS_PER_MEMBER = 16
# Integers beyond 2**53 do not survive a round trip through many JSON implementations.
MAX_VERSION = 2**53 - 1

Kid = Annotated[str, StringConstraints(pattern=KID_PATTERN)]
# One line, no control or bidi characters: names end up in logs and on terminals.
MemberName = Annotated[str, single_line(120)]
# Standard base64 of 32 bytes is exactly 44 characters.
PublicKeyB64 = Annotated[str, StringConstraints(min_length=44, max_length=44)]


def decode_b64_canonical(text: str) -> bytes:
    """Decode standard, padded base64, refusing every non-canonical spelling.

    ``base64.b64decode(validate=True)`` still accepts non-zero padding bits, so the
    same bytes could travel under several spellings; re-encoding closes that gap.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def require_aware(t: datetime, name: str = "time") -> None:
    """Refuse naive datetimes: comparing them with directory times is meaningless."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _country_code(value: str) -> str:
    if not is_country_code(value):
        raise ValueError("not an ISO 3166-1 alpha-2 code (assigned or user-assigned)")
    return value


# Assigned codes, plus the user-assigned ones (XA-XZ, QM-QZ, AA, ZZ) for the hub,
# which is not a country; ``Member`` keeps those away from national members.
MemberCode = Annotated[
    str, StringConstraints(pattern=COUNTRY_CODE_PATTERN), AfterValidator(_country_code)
]


class _Frozen(BaseModel):
    # Not model-wide strict, so that dicts read from JSON validate in Python mode too;
    # the lax spots that matter are closed per field (Strict ints, Timestamp refuses
    # numbers). No whitespace stripping: the trust root is never silently normalised.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    MEMBER = "member"
    HUB = "hub"


class KeyUse(StrEnum):
    SIGN = "sign"
    ENCRYPT = "encrypt"


class DirectoryKey(_Frozen):
    """One public key of a member, with what it is for and when it is valid."""

    kid: Kid
    use: KeyUse
    public: PublicKeyB64
    not_before: Timestamp
    not_after: Timestamp
    # Set when the key is compromised: refused for anything that reached the broker (or
    # us) at or after this time, whatever time the signer claims.
    revoked_at: Timestamp | None = None

    @field_validator("public")
    @classmethod
    def _public_is_a_key(cls, value: str) -> str:
        if len(decode_b64_canonical(value)) != PUBLIC_KEY_SIZE:
            raise ValueError(f"public key must be {PUBLIC_KEY_SIZE} bytes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if key_id(self.public_bytes()) != self.kid:
            raise ValueError("kid does not match the public key")
        if self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return base64.b64decode(self.public, validate=True)

    def valid_at(self, t: datetime) -> bool:
        """True if ``not_before <= t < not_after``."""
        require_aware(t, "t")
        return self.not_before <= t < self.not_after

    def revoked_by(self, t: datetime) -> bool:
        """True if the key was revoked at or before ``t``."""
        require_aware(t, "t")
        return self.revoked_at is not None and self.revoked_at <= t

    def verify_key(self) -> nacl.signing.VerifyKey:
        """The Ed25519 key of a SIGN entry."""
        if self.use is not KeyUse.SIGN:
            raise TypeError(f"key {self.kid} is an {self.use.value} key, not a signing key")
        return nacl.signing.VerifyKey(self.public_bytes())

    def public_key(self) -> nacl.public.PublicKey:
        """The X25519 key of an ENCRYPT entry."""
        if self.use is not KeyUse.ENCRYPT:
            raise TypeError(f"key {self.kid} is a {self.use.value} key, not an encryption key")
        return nacl.public.PublicKey(self.public_bytes())


class Member(_Frozen):
    """One participant of the network: a national node or the hub."""

    code: MemberCode
    name: MemberName
    role: Role
    keys: Annotated[list[DirectoryKey], Field(min_length=1, max_length=MAX_KEYS_PER_MEMBER)]
    topics: Annotated[list[str], Field(max_length=len(ALL_TOPICS))] = Field(
        default_factory=lambda: list(ALL_TOPICS)
    )
    # The member's NATS user nkey (public), from which `lali deploy nats-config` grants
    # it its own subjects only.
    nats_nkey: Annotated[str, StringConstraints(pattern=r"^U[A-Z2-7]{55}$")] | None = None

    @model_validator(mode="after")
    def _national_code(self) -> Self:
        if self.role is Role.MEMBER and not is_assigned_country_code(self.code):
            raise ValueError(
                "a national member needs an assigned ISO 3166-1 alpha-2 code;"
                " user-assigned codes are for the hub"
            )
        return self

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        if any(topic not in ALL_TOPICS for topic in value):
            raise ValueError(f"topics must be among {', '.join(ALL_TOPICS)}")
        if len(set(value)) != len(value):
            raise ValueError("topics must not repeat")
        return value


class RootEntry(_Frozen):
    """One root public key (role ``root``): together they sign the directory."""

    kid: Kid
    public: PublicKeyB64

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if key_id(base64.b64decode(self.public, validate=True)) != self.kid:
            raise ValueError("kid does not match the public key")
        return self

    def verify_key(self) -> nacl.signing.VerifyKey:
        return nacl.signing.VerifyKey(base64.b64decode(self.public, validate=True))


class Directory(_Frozen):
    """The signed list of members: the trust root every node works from."""

    version: Annotated[int, Strict(), Field(ge=1, le=MAX_VERSION)]
    issued_at: Timestamp
    expires_at: Timestamp
    members: Annotated[list[Member], Field(min_length=1, max_length=MAX_MEMBERS)]
    # The root keys (and how many must sign) that the *next* directory needs. Empty:
    # the roots stay those the node already trusts. A change of roots must be signed
    # by the old threshold and the new one (as python-tuf rotates root).
    roots: Annotated[list[RootEntry], Field(max_length=16)] = Field(default_factory=list)
    root_threshold: Annotated[int, Strict(), Field(ge=1, le=16)] = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be later than issued_at")
        codes = [m.code for m in self.members]
        if len(set(codes)) != len(codes):
            raise ValueError("member codes must be unique")
        # Unique across the whole directory, so a key id names exactly one key and
        # one member: a signature can never be attributed to the wrong member.
        kids = [k.kid for m in self.members for k in m.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("key ids must be unique across the directory")
        root_kids = [r.kid for r in self.roots]
        if len(set(root_kids)) != len(root_kids):
            raise ValueError("a root key is listed twice")
        if self.roots and self.root_threshold > len(self.roots):
            raise ValueError("root_threshold is higher than the number of roots")
        return self

    def member(self, code: str) -> Member:
        """The member with this code; ``UnknownKey`` if there is none."""
        for m in self.members:
            if m.code == code:
                return m
        raise UnknownKey("no such member in the directory", code=code[:8])

    def codes(self) -> list[str]:
        """Member codes in directory order."""
        return [m.code for m in self.members]

    def signing_key(self, kid: str) -> tuple[Member, DirectoryKey]:
        """The SIGN key with this id and its owner; ``UnknownKey`` if there is none."""
        return self._find(kid, KeyUse.SIGN)

    def encryption_key(self, kid: str) -> tuple[Member, DirectoryKey]:
        """The ENCRYPT key with this id and its owner; ``UnknownKey`` if there is none."""
        return self._find(kid, KeyUse.ENCRYPT)

    def current_encryption_key(self, code: str, at: datetime) -> DirectoryKey:
        """The member's ENCRYPT key to seal to at time ``at``.

        Of the keys valid at ``at``, the one with the latest ``not_before`` wins, so
        during a rotation overlap senders move to the new key as soon as it is valid.
        ``UnknownKey`` if the member is absent, ``KeyNotValid`` if no key is valid.
        """
        require_aware(at, "at")
        member = self.member(code)
        valid = [
            k
            for k in member.keys
            if k.use is KeyUse.ENCRYPT and k.valid_at(at) and not k.revoked_by(at)
        ]
        if not valid:
            raise KeyNotValid(
                "member has no encryption key valid at this time",
                code=code,
                at=at.isoformat(),
            )
        return max(valid, key=lambda k: (k.not_before, k.not_after, k.kid))

    def _find(self, kid: str, use: KeyUse) -> tuple[Member, DirectoryKey]:
        for m in self.members:
            for k in m.keys:
                if k.kid == kid and k.use is use:
                    return m, k
        raise UnknownKey(f"no {use.value} key with this id in the directory", kid=kid[:16])
