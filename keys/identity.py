"""Private key material in memory: a member's identity and the hub's root key.

Nothing here touches the disk (that is ``keys.store``). Key objects are kept out of
``repr`` so that an identity logged by mistake does not print anything secret.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import nacl.public
import nacl.signing

from keys.directory import Directory, DirectoryKey, KeyUse, require_aware
from keys.ids import is_country_code, key_id

MAX_ENCRYPTION_KEYS = 64


def _public_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Identity:
    """A member's private keys: one signing key, and encryption keys newest first.

    ``encryption_keys[0]`` is the key peers seal to now; older keys are kept so that
    alerts sealed before a rotation can still be opened.
    """

    code: str
    signing_key: nacl.signing.SigningKey = field(repr=False)
    encryption_keys: tuple[nacl.public.PrivateKey, ...] = field(repr=False)
    # After a rotation: the previous signing key, used until the directory lists the
    # new one (see ``for_directory``).
    retired_signing_key: nacl.signing.SigningKey | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not is_country_code(self.code):
            raise ValueError("code must be an ISO 3166-1 alpha-2 code, e.g. 'WS'")
        if not isinstance(self.signing_key, nacl.signing.SigningKey):
            raise TypeError("signing_key must be a nacl.signing.SigningKey")
        if not isinstance(self.encryption_keys, tuple):
            raise TypeError("encryption_keys must be a tuple")
        if not 1 <= len(self.encryption_keys) <= MAX_ENCRYPTION_KEYS:
            raise ValueError(f"an identity holds 1 to {MAX_ENCRYPTION_KEYS} encryption keys")
        if not all(isinstance(k, nacl.public.PrivateKey) for k in self.encryption_keys):
            raise TypeError("encryption_keys must hold nacl.public.PrivateKey objects")
        kids = self.encryption_kids()
        if len(set(kids)) != len(kids):
            raise ValueError("encryption keys must be distinct")

    @classmethod
    def generate(cls, code: str) -> Identity:
        """A fresh identity with one signing key and one encryption key."""
        return cls(
            code=code,
            signing_key=nacl.signing.SigningKey.generate(),
            encryption_keys=(nacl.public.PrivateKey.generate(),),
        )

    @cached_property
    def sign_kid(self) -> str:
        """Key id of the signing (verify) key."""
        return key_id(bytes(self.signing_key.verify_key))

    @property
    def enc_kid(self) -> str:
        """Key id of the current encryption key."""
        return key_id(bytes(self.encryption_keys[0].public_key))

    def encryption_kids(self) -> tuple[str, ...]:
        """Key ids of all held encryption keys, current first."""
        return tuple(key_id(bytes(k.public_key)) for k in self.encryption_keys)

    def encryption_key(self, kid: str) -> nacl.public.PrivateKey:
        """The held encryption key with this id; ``KeyError`` if not held."""
        for k in self.encryption_keys:
            if key_id(bytes(k.public_key)) == kid:
                return k
        raise KeyError(kid)

    def rotate(self) -> Identity:
        """New signing and encryption keys; the old signing key is kept as retired (for
        the overlap) and every old encryption key stays readable."""
        keys = (nacl.public.PrivateKey.generate(), *self.encryption_keys)
        return Identity(
            self.code,
            nacl.signing.SigningKey.generate(),
            keys[:MAX_ENCRYPTION_KEYS],
            retired_signing_key=self.signing_key,
        )

    def for_directory(self, directory: Directory, now: datetime) -> Identity:
        """The keys to use now: those the directory lists as valid for us. Before the
        hub has published a rotation, that is still the retired signing key and the
        older encryption key; afterwards the new ones."""
        member = directory.member(self.code)
        listed = {k.kid for k in member.keys if k.valid_at(now) and not k.revoked_by(now)}
        signing = self.signing_key
        retired = self.retired_signing_key
        if (
            key_id(bytes(signing.verify_key)) not in listed
            and retired is not None
            and key_id(bytes(retired.verify_key)) in listed
        ):
            signing = retired
        enc_listed = [k.kid for k in member.keys if k.use is KeyUse.ENCRYPT and k.kid in listed]
        ordered = sorted(
            self.encryption_keys,
            key=lambda k: key_id(bytes(k.public_key)) not in enc_listed,
        )  # stable: the newest listed key first
        return Identity(self.code, signing, tuple(ordered), retired_signing_key=retired)

    def rotate_encryption_key(self) -> Identity:
        """A copy with a fresh current encryption key; the old ones stay readable."""
        keys = (nacl.public.PrivateKey.generate(), *self.encryption_keys)
        return Identity(self.code, self.signing_key, keys[:MAX_ENCRYPTION_KEYS])

    def directory_keys(self, not_before: datetime, not_after: datetime) -> list[DirectoryKey]:
        """Public entries for the directory: the signing key and the current encryption key.

        Older encryption keys are not listed: the hub keeps their earlier entries (with
        their own validity) while a rotation overlaps.
        """
        require_aware(not_before, "not_before")
        require_aware(not_after, "not_after")
        sign_pub = bytes(self.signing_key.verify_key)
        enc_pub = bytes(self.encryption_keys[0].public_key)
        return [
            DirectoryKey(
                kid=key_id(sign_pub),
                use=KeyUse.SIGN,
                public=_public_b64(sign_pub),
                not_before=not_before,
                not_after=not_after,
            ),
            DirectoryKey(
                kid=key_id(enc_pub),
                use=KeyUse.ENCRYPT,
                public=_public_b64(enc_pub),
                not_before=not_before,
                not_after=not_after,
            ),
        ]


@dataclass(frozen=True)
class RootKey:
    """One of the hub's directory-signing root keys."""

    signing_key: nacl.signing.SigningKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.signing_key, nacl.signing.SigningKey):
            raise TypeError("signing_key must be a nacl.signing.SigningKey")

    @classmethod
    def generate(cls) -> RootKey:
        """A fresh root key."""
        return cls(nacl.signing.SigningKey.generate())

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        """The public half, to hand to nodes as a trusted root."""
        return self.signing_key.verify_key

    @property
    def kid(self) -> str:
        """Key id of the public half."""
        return key_id(bytes(self.signing_key.verify_key))
