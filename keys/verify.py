"""Signing and verifying the member directory: the pure core of Lali's trust root.

Bytes and an explicit ``now`` go in; a ``Directory`` comes out or a typed error is
raised. No I/O, no clock, no logging: the caller decides what a failure means.

Signed file (DSSE-like)::

    {"payloadType": "application/vnd.lali.directory+json",
     "payload": b64(payload),
     "signatures": [{"kid": "<16 hex>", "sig": b64(64-byte Ed25519 signature)}]}

Each signature covers ``DIRECTORY_LABEL + payload``; ``payload`` is the exact JSON of
the ``Directory``, verified as received and only then parsed.

For a threshold ceremony each root key signs the same payload on its own machine
(``sign_payload``) and ``merge_signatures`` joins the partial files.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import nacl.exceptions
import nacl.signing
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from keys.directory import Directory, decode_b64_canonical, require_aware
from keys.identity import RootKey
from keys.ids import KID_PATTERN, key_id
from schemas.errors import (
    ConfigError,
    DirectoryError,
    DirectoryExpired,
    DirectoryRollback,
    DirectorySignatureInvalid,
    DirectoryUnsigned,
    MalformedMessage,
    OversizedMessage,
)

DIRECTORY_LABEL = b"lali.directory.v1\x00"
DIRECTORY_PAYLOAD_TYPE = "application/vnd.lali.directory+json"
MAX_DIRECTORY_SIZE = 1 << 20
# Caps the verification work an attacker can ask for with one file.
MAX_SIGNATURES = 32
SIGNATURE_SIZE = 64


class _Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kid: Annotated[str, StringConstraints(pattern=KID_PATTERN)]
    sig: Annotated[str, StringConstraints(min_length=88, max_length=88)]


class _SignedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # camelCase: the field name on the wire, as in DSSE.
    payloadType: Literal["application/vnd.lali.directory+json"]
    payload: str
    signatures: Annotated[list[_Signature], Field(max_length=MAX_SIGNATURES)]


def sign_directory(directory: Directory, roots: Sequence[RootKey]) -> bytes:
    """Serialise ``directory`` and sign it with every root key; return the file bytes."""
    return sign_payload(directory.model_dump_json().encode("utf-8"), roots)


def sign_payload(payload: bytes, roots: Sequence[RootKey]) -> bytes:
    """A directory file carrying ``payload`` as it is and the signatures of ``roots``
    over ``DIRECTORY_LABEL + payload``, and no others.

    With one root key this is a *partial* signature of a threshold ceremony: each
    officer signs the same payload on their own machine, and ``merge_signatures`` puts
    the files together.
    """
    if not roots:
        raise ValueError("signing a directory needs at least one root key")
    kids = [root.kid for root in roots]
    if len(set(kids)) != len(kids):
        raise ValueError("the same root key was given twice")
    signed = DIRECTORY_LABEL + payload
    return DirectoryFile(
        payload, tuple((root.kid, root.signing_key.sign(signed).signature) for root in roots)
    ).encode()


def verify_directory(
    data: bytes,
    trusted_roots: Mapping[str, nacl.signing.VerifyKey],
    now: datetime,
    *,
    threshold: int = 1,
    min_version: int = 0,
    max_size: int = MAX_DIRECTORY_SIZE,
) -> Directory:
    """Verify a signed directory file and return the directory it carries.

    0. Check the caller's policy: ``threshold >= 1`` (``ValueError``), aware ``now``
       (``ValueError``), at least ``threshold`` trusted roots, each under its own key
       id (``ConfigError``). A bad policy fails closed, never "accept anything".
    1. Size cap before anything else (``OversizedMessage``).
    2. Parse the wrapper strictly: UTF-8 JSON, no duplicate keys, the exact fields,
       the right payloadType, canonical base64, 64-byte signatures, no key id twice
       (``MalformedMessage``).
    3. No signatures at all: ``DirectoryUnsigned``.
    4. Verify each signature from a trusted key id over ``DIRECTORY_LABEL + payload``.
       Signatures from unknown key ids are ignored and not counted; a bad signature
       from a trusted key id is ``DirectorySignatureInvalid``. Fewer than
       ``threshold`` distinct valid trusted signatures: ``DirectorySignatureInvalid``.
    5. Only then parse the payload (``MalformedMessage`` / ``DirectoryError``, naming
       field locations, never values).
    6. ``expires_at <= now``: ``DirectoryExpired``.
    7. ``version < min_version``: ``DirectoryRollback`` (an equal version is accepted).
    """
    # 0. The caller's policy.
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    require_aware(now, "now")
    _check_roots(trusted_roots, threshold)

    # 1-2. Size cap, then the wrapper.
    taken_apart = read_signed_file(data, max_size=max_size)

    # 3. Unsigned.
    if not taken_apart.signatures:
        raise DirectoryUnsigned("directory carries no signature")

    # 4. Signatures, counted by distinct trusted key id.
    valid = set(taken_apart.signers(trusted_roots))
    if len(valid) < threshold:
        raise DirectorySignatureInvalid(
            "not enough valid signatures from trusted root keys",
            valid=len(valid),
            threshold=threshold,
        )

    # 5. Parse the verified payload.
    directory = _parse_payload(taken_apart.payload)

    # 6. Expiry.
    if directory.expires_at <= now:
        raise DirectoryExpired(
            "directory has expired",
            expires_at=directory.expires_at.isoformat(),
            now=now.isoformat(),
            version=directory.version,
        )

    # 7. Rollback.
    if directory.version < min_version:
        raise DirectoryRollback(
            "directory is older than the one already trusted",
            version=directory.version,
            min_version=min_version,
        )
    return directory


def _check_roots(trusted_roots: Mapping[str, nacl.signing.VerifyKey], threshold: int) -> None:
    if not trusted_roots:
        raise ConfigError("no trusted root keys configured for directory verification")
    for kid, verify_key in trusted_roots.items():
        if not isinstance(verify_key, nacl.signing.VerifyKey):
            raise TypeError("trusted roots must map key ids to nacl.signing.VerifyKey")
        # A key listed under a made-up id could be counted twice toward the threshold.
        if key_id(bytes(verify_key)) != kid:
            raise ConfigError("trusted root key id does not match its key", kid=kid)
    if threshold > len(trusted_roots):
        raise ConfigError(
            "threshold is higher than the number of trusted root keys",
            threshold=threshold,
            roots=len(trusted_roots),
        )


@dataclass(frozen=True)
class DirectoryFile:
    """A signed directory file taken apart: the payload bytes and the signatures (key
    id, 64 bytes), in file order. Nothing in it is verified."""

    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]

    def encode(self) -> bytes:
        """The file: compact JSON, fields in the order ``sign_directory`` writes them."""
        wrapper = {
            "payloadType": DIRECTORY_PAYLOAD_TYPE,
            "payload": _b64(self.payload),
            "signatures": [{"kid": kid, "sig": _b64(sig)} for kid, sig in self.signatures],
        }
        return json.dumps(wrapper, separators=(",", ":")).encode("utf-8")

    def unverified_directory(self) -> Directory:
        """The payload parsed as a directory, for a person to read before signing it.
        Not trusted: no signature has been checked."""
        return _parse_payload(self.payload)

    def signers(self, keys: Mapping[str, nacl.signing.VerifyKey]) -> list[str]:
        """The key ids, among ``keys``, whose signature verifies, in file order.

        A bad signature from one of ``keys`` is ``DirectorySignatureInvalid`` (as in
        ``verify_directory``); signatures from other key ids are left out.
        """
        signed = DIRECTORY_LABEL + self.payload
        valid = []
        for kid, sig in self.signatures:
            verify_key = keys.get(kid)
            if verify_key is None:
                continue
            try:
                verify_key.verify(signed, sig)
            except nacl.exceptions.BadSignatureError as exc:
                raise DirectorySignatureInvalid(
                    "bad directory signature from a trusted root key", kid=kid
                ) from exc
            valid.append(kid)
        return valid


def read_signed_file(data: bytes, *, max_size: int = MAX_DIRECTORY_SIZE) -> DirectoryFile:
    """Steps 1 and 2 of ``verify_directory``: the size cap (``OversizedMessage``), then
    the wrapper, strictly (``MalformedMessage``: UTF-8 JSON without duplicate keys, the
    exact fields, the right payloadType, canonical base64, 64-byte signatures, no key
    id twice). Verifies nothing."""
    if len(data) > max_size:
        raise OversizedMessage(
            "signed directory is larger than the limit", size=len(data), limit=max_size
        )
    wrapper = _parse_wrapper(data)
    payload = _b64_field(wrapper.payload, "payload")
    signatures: list[tuple[str, bytes]] = []
    for index, entry in enumerate(wrapper.signatures):
        sig = _b64_field(entry.sig, f"signatures.{index}.sig")
        if len(sig) != SIGNATURE_SIZE:
            raise MalformedMessage("signature has the wrong length", loc=f"signatures.{index}")
        signatures.append((entry.kid, sig))
    kids = [kid for kid, _ in signatures]
    if len(set(kids)) != len(kids):
        raise MalformedMessage("signed directory lists a key id twice")
    return DirectoryFile(payload, tuple(signatures))


def merge_signatures(
    files: Sequence[bytes], known_roots: Mapping[str, nacl.signing.VerifyKey]
) -> bytes:
    """Put the signatures of several files over one directory into one file.

    For a threshold ceremony: each root key signs on its own machine
    (``sign_payload``), and the partial files are merged here.

    1. Take each file apart (``read_signed_file``: ``OversizedMessage``,
       ``MalformedMessage``).
    2. Every file must carry the same payload, byte for byte: signatures over other
       bytes sign another directory (``DirectoryError``).
    3. No key id may sign twice, in one file or across files (``DirectoryError``).
    4. Every signature must verify under its key, taken from ``known_roots`` or from
       the roots the payload itself declares; a key id found in neither cannot be
       checked and is refused, as is a bad signature (``DirectorySignatureInvalid``).
    5. At most ``MAX_SIGNATURES`` in all (``DirectoryError``).

    Returns the merged file: the payload and every signature, in the order given.
    Whether they meet a threshold is for ``verify_directory`` (and the nodes) to say.
    """
    if not files:
        raise ValueError("nothing to merge")
    # 1. Each file apart.
    parts = [read_signed_file(data) for data in files]
    # 2. One payload.
    payload = parts[0].payload
    for index, part in enumerate(parts[1:], start=2):
        if part.payload != payload:
            raise DirectoryError(
                f"file {index} signs other bytes than file 1: they are not the same directory",
                file=index,
            )
    # 3. No key twice.
    signatures = [signature for part in parts for signature in part.signatures]
    kids = [kid for kid, _ in signatures]
    repeated = sorted({kid for kid in kids if kids.count(kid) > 1})
    if repeated:
        raise DirectoryError(f"root key {repeated[0]} signed more than once", kid=repeated[0])
    # 4. Every signature checked.
    keys = dict(known_roots)
    keys.update({r.kid: r.verify_key() for r in parts[0].unverified_directory().roots})
    unknown = [kid for kid in kids if kid not in keys]
    if unknown:
        raise DirectorySignatureInvalid(
            "cannot check a signature: its key is neither a root the directory declares"
            " nor one given",
            kid=unknown[0],
        )
    merged = DirectoryFile(payload, tuple(signatures))
    merged.signers(keys)
    # 5. Within the limit a verifier accepts.
    if len(signatures) > MAX_SIGNATURES:
        raise DirectoryError(f"more than {MAX_SIGNATURES} signatures", count=len(signatures))
    return merged.encode()


def _parse_wrapper(data: bytes) -> _SignedFile:
    try:
        raw = _strict_json(data)
    except ValueError as exc:
        raise MalformedMessage(f"signed directory is not valid JSON: {exc}") from None
    try:
        return _SignedFile.model_validate(raw)
    except ValidationError as exc:
        raise MalformedMessage(
            "signed directory wrapper is malformed: " + _locations(exc), errors=_errors(exc)
        ) from None


def _parse_payload(payload: bytes) -> Directory:
    try:
        _strict_json(payload)
    except ValueError as exc:
        raise MalformedMessage(f"directory payload is not valid JSON: {exc}") from None
    try:
        return Directory.model_validate_json(payload)
    except ValidationError as exc:
        raise DirectoryError(
            "signed directory does not satisfy the schema: " + _locations(exc),
            errors=_errors(exc),
        ) from None


def _strict_json(data: bytes) -> Any:
    """``json.loads`` that refuses what other parsers might read differently.

    Raises ``ValueError`` (only) on invalid UTF-8, duplicate keys, NaN/Infinity and
    nesting too deep to parse.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at offset {exc.pos}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key in JSON object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _b64_field(text: str, where: str) -> bytes:
    try:
        return decode_b64_canonical(text)
    except ValueError as exc:
        raise MalformedMessage(f"{where}: {exc}", loc=where) from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    """Field locations and error types only: never the offending values."""
    return [
        {"loc": ".".join(str(part) for part in err["loc"]), "type": err["type"]}
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _locations(exc: ValidationError) -> str:
    return ", ".join(f"{e['loc'] or '<root>'} ({e['type']})" for e in _errors(exc)[:5])


@dataclass(frozen=True)
class RootSet:
    """The root keys a node trusts for the next directory, and their threshold."""

    keys: Mapping[str, nacl.signing.VerifyKey]
    threshold: int

    @classmethod
    def of(cls, directory: Directory) -> RootSet | None:
        """The roots a directory declares for its successors (None: unchanged)."""
        if not directory.roots:
            return None
        return cls({r.kid: r.verify_key() for r in directory.roots}, directory.root_threshold)

    def same_as(self, other: RootSet) -> bool:
        return set(self.keys) == set(other.keys) and self.threshold == other.threshold


def verify_directory_update(
    data: bytes, trusted: RootSet, now: datetime, *, min_version: int = 0
) -> tuple[Directory, RootSet]:
    """One step of the trust chain: verify ``data`` against the roots trusted now and,
    if it names new roots, against those too; return it and the roots to trust next.

    1. The old threshold of the old roots must sign (``verify_directory``).
    2. If the directory declares a different root set, that set's threshold must
       also have signed it: a rotation needs both, so neither a stolen old key nor a
       new key alone can move the trust root.
    """
    directory = verify_directory(
        data, trusted.keys, now, threshold=trusted.threshold, min_version=min_version
    )
    declared = RootSet.of(directory)
    if declared is None or declared.same_as(trusted):
        return directory, trusted
    verify_directory(
        data, declared.keys, now, threshold=declared.threshold, min_version=min_version
    )
    return directory, declared
