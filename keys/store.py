"""Key files on disk: identities and root keys, optionally passphrase-protected.

Plain file (mode 0600, JSON)::

    {"format": "lali-identity", "version": 1, "code": "WS",
     "sign": {"kid": "...", "seed": "<b64>"}, "enc": [{"kid": "...", "secret": "<b64>"}]}

With a passphrase the secrets move into ``sealed``: the whole plain document is
encrypted with ``nacl.secret.SecretBox`` under a key derived by Argon2id from the
passphrase and a random salt; the file keeps the code and key ids readable, and
records the KDF parameters. On load the readable part must match the sealed one and
every key id must match its key, so corruption and tampering are caught.

Files are written through :func:`keys.files.write_atomic` (mode 0600 from the first
instant, synced, moved into place); an existing key file is never replaced unless
``overwrite=True``.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import nacl.exceptions
import nacl.public
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.signing
import nacl.utils
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from keys.directory import decode_b64_canonical
from keys.files import write_atomic
from keys.identity import MAX_ENCRYPTION_KEYS, Identity, RootKey
from keys.ids import KID_PATTERN, key_id
from schemas.errors import KeyFileError

MAX_KEY_FILE_SIZE = 64 * 1024
SECRET_SIZE = 32
_PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters for passphrase-protected key files."""

    opslimit: int
    memlimit: int

    def __post_init__(self) -> None:
        # Bounded on both sides: too low is weak; too high (e.g. from a tampered
        # file) would exhaust memory or time on load.
        if not argon2id.OPSLIMIT_MIN <= self.opslimit <= argon2id.OPSLIMIT_SENSITIVE:
            raise ValueError("argon2id opslimit out of range")
        if not argon2id.MEMLIMIT_MIN <= self.memlimit <= argon2id.MEMLIMIT_SENSITIVE:
            raise ValueError("argon2id memlimit out of range")


MODERATE_KDF = KdfParams(argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)

_Kid = Annotated[str, StringConstraints(pattern=KID_PATTERN)]
_B64 = Annotated[str, StringConstraints(max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _SignEntry(_Strict):
    kid: _Kid
    seed: _B64 | None = None


class _EncEntry(_Strict):
    kid: _Kid
    secret: _B64 | None = None


class _Sealed(_Strict):
    kdf: Literal["argon2id"]
    opslimit: int
    memlimit: int
    salt: _B64
    cipher: Literal["xsalsa20poly1305"]
    box: Annotated[str, StringConstraints(max_length=MAX_KEY_FILE_SIZE)]


class _Doc(_Strict):
    sealed: _Sealed | None = None


class _IdentityDoc(_Doc):
    format: Literal["lali-identity"]
    version: Literal[1]
    code: Annotated[str, StringConstraints(max_length=8)]
    sign: _SignEntry
    enc: Annotated[list[_EncEntry], Field(min_length=1, max_length=MAX_ENCRYPTION_KEYS)]
    sign_retired: _SignEntry | None = None


class _RootDoc(_Doc):
    format: Literal["lali-root-key"]
    version: Literal[1]
    sign: _SignEntry


_DocT = TypeVar("_DocT", bound=_Doc)


# --- public API ------------------------------------------------------------------------


def save_identity(
    path: Path,
    identity: Identity,
    passphrase: bytes | None = None,
    *,
    overwrite: bool = False,
    kdf: KdfParams = MODERATE_KDF,
) -> None:
    """Write ``identity`` to ``path`` (mode 0600), sealed if a passphrase is given."""
    doc = _IdentityDoc(
        format="lali-identity",
        version=1,
        code=identity.code,
        sign=_SignEntry(kid=identity.sign_kid, seed=_b64(bytes(identity.signing_key))),
        enc=[
            _EncEntry(kid=key_id(bytes(k.public_key)), secret=_b64(bytes(k)))
            for k in identity.encryption_keys
        ],
        sign_retired=None
        if identity.retired_signing_key is None
        else _SignEntry(
            kid=key_id(bytes(identity.retired_signing_key.verify_key)),
            seed=_b64(bytes(identity.retired_signing_key)),
        ),
    )
    _save(path, doc, passphrase, overwrite=overwrite, kdf=kdf)


def load_identity(path: Path, passphrase: bytes | None = None) -> Identity:
    """Read an identity written by ``save_identity``; ``KeyFileError`` on any problem."""
    doc = _load(path, _IdentityDoc, passphrase)
    signing_key = _signing_key(doc.sign, path)
    enc_keys: list[nacl.public.PrivateKey] = []
    for entry in doc.enc:
        secret = _secret(entry.secret, path)
        private = nacl.public.PrivateKey(secret)
        if key_id(bytes(private.public_key)) != entry.kid:
            raise _corrupted(path, "an encryption key id does not match its key")
        enc_keys.append(private)
    retired = None if doc.sign_retired is None else _signing_key(doc.sign_retired, path)
    try:
        return Identity(doc.code, signing_key, tuple(enc_keys), retired_signing_key=retired)
    except ValueError as exc:
        raise KeyFileError(f"key file holds an invalid identity: {exc}", path=str(path)) from None


def save_root_key(
    path: Path,
    root: RootKey,
    passphrase: bytes | None = None,
    *,
    overwrite: bool = False,
    kdf: KdfParams = MODERATE_KDF,
) -> None:
    """Write a hub root key to ``path`` (mode 0600), sealed if a passphrase is given."""
    doc = _RootDoc(
        format="lali-root-key",
        version=1,
        sign=_SignEntry(kid=root.kid, seed=_b64(bytes(root.signing_key))),
    )
    _save(path, doc, passphrase, overwrite=overwrite, kdf=kdf)


def load_root_key(path: Path, passphrase: bytes | None = None) -> RootKey:
    """Read a root key written by ``save_root_key``; ``KeyFileError`` on any problem."""
    doc = _load(path, _RootDoc, passphrase)
    return RootKey(_signing_key(doc.sign, path))


# --- documents -------------------------------------------------------------------------


def _save(
    path: Path, doc: _Doc, passphrase: bytes | None, *, overwrite: bool, kdf: KdfParams
) -> None:
    path = Path(path)
    if passphrase is not None and not passphrase:
        raise ValueError("passphrase must not be empty; pass None for an unprotected file")
    # Fail fast, before the slow KDF; the atomic no-clobber link below still decides.
    if not overwrite and os.path.lexists(path):
        raise _exists(path)
    if passphrase is not None:
        doc = _seal(doc, passphrase, kdf)
    fields = doc.model_dump(mode="json", exclude_none=True)
    if "sealed" in fields:
        fields["sealed"] = fields.pop("sealed")  # readable fields first
    data = json.dumps(fields, indent=2).encode("utf-8") + b"\n"
    _write_private(path, data, overwrite=overwrite)


def _load(path: Path, model: type[_DocT], passphrase: bytes | None) -> _DocT:
    path = Path(path)
    doc = _parse(_read_private(path), model, path)
    if doc.sealed is None:
        if passphrase is not None:
            raise KeyFileError(
                "key file is not passphrase-protected but a passphrase was given",
                path=str(path),
            )
        return doc
    if passphrase is None:
        raise KeyFileError(
            "key file is passphrase-protected: a passphrase is needed", path=str(path)
        )
    inner = _parse(_unseal(doc.sealed, passphrase, path), model, path)
    if inner.sealed is not None:
        raise _corrupted(path, "sealed contents are sealed again")
    if _public_view(inner) != _public_view(doc):
        raise _corrupted(path, "readable fields do not match the sealed contents")
    return inner


def _parse(data: bytes, model: type[_DocT], path: Path) -> _DocT:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        where = ", ".join(
            ".".join(str(p) for p in err["loc"]) or "<root>"
            for err in exc.errors(include_input=False, include_url=False)[:5]
        )
        raise KeyFileError(
            f"key file is malformed or of an unknown format (at: {where})", path=str(path)
        ) from None


def _public_view(doc: _Doc) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in {"seed", "secret"}}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(doc.model_dump(mode="json", exclude_none=True, exclude={"sealed"}))


def _seal(doc: _DocT, passphrase: bytes, kdf: KdfParams) -> _DocT:
    salt = nacl.utils.random(argon2id.SALTBYTES)
    key = argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, kdf.opslimit, kdf.memlimit)
    box = nacl.secret.SecretBox(key).encrypt(doc.model_dump_json(exclude_none=True).encode())
    sealed = _Sealed(
        kdf="argon2id",
        opslimit=kdf.opslimit,
        memlimit=kdf.memlimit,
        salt=_b64(salt),
        cipher="xsalsa20poly1305",
        box=_b64(bytes(box)),
    )
    return type(doc).model_validate({**_public_view(doc), "sealed": sealed})


def _unseal(sealed: _Sealed, passphrase: bytes, path: Path) -> bytes:
    try:
        kdf = KdfParams(sealed.opslimit, sealed.memlimit)
    except ValueError:
        raise _corrupted(path, "key derivation parameters out of range") from None
    try:
        salt = decode_b64_canonical(sealed.salt)
        box = decode_b64_canonical(sealed.box)
    except ValueError:
        raise _corrupted(path, "sealed part is not valid base64") from None
    if len(salt) != argon2id.SALTBYTES:
        raise _corrupted(path, "salt has the wrong length")
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be bytes")
    key = argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, kdf.opslimit, kdf.memlimit)
    try:
        return nacl.secret.SecretBox(key).decrypt(box)
    except nacl.exceptions.CryptoError:
        raise KeyFileError("wrong passphrase or corrupted key file", path=str(path)) from None


# --- keys ------------------------------------------------------------------------------


def _signing_key(entry: _SignEntry, path: Path) -> nacl.signing.SigningKey:
    signing_key = nacl.signing.SigningKey(_secret(entry.seed, path))
    if key_id(bytes(signing_key.verify_key)) != entry.kid:
        raise _corrupted(path, "the signing key id does not match its key")
    return signing_key


def _secret(value: str | None, path: Path) -> bytes:
    if value is None:
        raise _corrupted(path, "a key entry has no secret")
    try:
        raw = decode_b64_canonical(value)
    except ValueError:
        raise _corrupted(path, "a secret is not valid base64") from None
    if len(raw) != SECRET_SIZE:
        raise _corrupted(path, "a secret has the wrong length")
    return raw


# --- files -----------------------------------------------------------------------------


def _read_private(path: Path) -> bytes:
    # O_NONBLOCK: opening a FIFO planted at the path must not hang the node.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}", path=str(path)) from None
    except OSError as exc:
        raise KeyFileError(f"cannot open key file: {exc.strerror}", path=str(path)) from None
    try:
        st = os.fstat(fd)  # of the file we opened, not whatever the path names now
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file is not a regular file: {path}", path=str(path))
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {mode:04o}); "
                f"fix it with: chmod 600 {path}",
                path=str(path),
                mode=f"{mode:04o}",
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_KEY_FILE_SIZE:
            chunk = os.read(fd, 8192)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_KEY_FILE_SIZE:
            raise KeyFileError("key file is too large to be a key file", path=str(path))
        return b"".join(chunks)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file: {exc.strerror}", path=str(path)) from None
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    try:
        write_atomic(path, data, _PRIVATE_MODE, exclusive=not overwrite)
    except FileExistsError:
        # Only the no-clobber link raises this: the key file appeared after the early check.
        raise _exists(path) from None
    except OSError as exc:
        raise KeyFileError(f"cannot write key file: {exc.strerror}", path=str(path)) from None


# --- helpers ---------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _corrupted(path: Path, detail: str) -> KeyFileError:
    return KeyFileError(f"key file is corrupted: {detail}", path=str(path))


def _exists(path: Path) -> KeyFileError:
    return KeyFileError(
        f"refusing to overwrite existing key file {path}; move it away first", path=str(path)
    )
