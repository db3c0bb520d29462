"""The member directory: models, lookups, and signed-file verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.public
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from keys import (
    DIRECTORY_LABEL,
    Directory,
    DirectoryKey,
    Identity,
    KeyUse,
    Member,
    Role,
    RootKey,
    key_id,
    sign_directory,
    verify_directory,
)
from keys.directory import ALL_TOPICS
from schemas.errors import (
    ConfigError,
    DirectoryError,
    DirectoryExpired,
    DirectoryRollback,
    DirectorySignatureInvalid,
    DirectoryUnsigned,
    KeyNotValid,
    MalformedMessage,
    OversizedMessage,
    UnknownKey,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ISSUED = NOW - timedelta(days=1)
EXPIRES = NOW + timedelta(days=7)
KEYS_FROM = NOW - timedelta(days=30)
KEYS_UNTIL = NOW + timedelta(days=335)


def identity(code: str, n: int) -> Identity:
    return Identity(
        code,
        nacl.signing.SigningKey(bytes([n]) * 32),
        (nacl.public.PrivateKey(bytes([n + 100]) * 32),),
    )


WS, FJ, HUB = identity("WS", 1), identity("FJ", 2), identity("XH", 3)
ROOTS = {name: RootKey(nacl.signing.SigningKey(bytes([n]) * 32)) for n, name in [
    (201, "r1"), (202, "r2"), (203, "r3"), (204, "u")
]}  # fmt: skip


def make_directory(version: int = 5, expires_at: datetime = EXPIRES) -> Directory:
    def member(ident: Identity, name: str, role: Role) -> Member:
        return Member(
            code=ident.code,
            name=name,
            role=role,
            keys=ident.directory_keys(KEYS_FROM, KEYS_UNTIL),
        )

    return Directory(
        version=version,
        issued_at=ISSUED,
        expires_at=expires_at,
        members=[
            member(WS, "Samoa", Role.MEMBER),
            member(FJ, "Fiji", Role.MEMBER),
            member(HUB, "Coordination centre", Role.HUB),
        ],
    )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def wrap(payload: bytes, sigs: list[tuple[str, bytes]], **extra: Any) -> bytes:
    doc = {
        "payloadType": "application/vnd.lali.directory+json",
        "payload": b64(payload),
        "signatures": [{"kid": kid, "sig": b64(sig)} for kid, sig in sigs],
        **extra,
    }
    return json.dumps(doc).encode()


def trusted(*names: str) -> dict[str, nacl.signing.VerifyKey]:
    return {ROOTS[n].kid: ROOTS[n].verify_key for n in names}


def sig(name: str, message: bytes) -> tuple[str, bytes]:
    root = ROOTS[name]
    return root.kid, root.signing_key.sign(message).signature


# --- models ----------------------------------------------------------------------------


def test_directory_roundtrips_through_json() -> None:
    directory = make_directory()
    assert Directory.model_validate_json(directory.model_dump_json()) == directory
    assert directory.codes() == ["WS", "FJ", "XH"]
    assert directory.members[0].topics == list(ALL_TOPICS)


def _valid_dict() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(make_directory().model_dump_json())
    return result


def _m0(d: dict[str, Any]) -> dict[str, Any]:
    member: dict[str, Any] = d["members"][0]
    return member


def _k0(d: dict[str, Any]) -> dict[str, Any]:
    key: dict[str, Any] = d["members"][0]["keys"][0]
    return key


def _noncanonical_public(d: dict[str, Any]) -> None:
    # Flip a padding bit of the last character: the same bytes, another spelling.
    public = _k0(d)["public"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    _k0(d)["public"] = public[:-2] + alphabet[alphabet.index(public[-2]) ^ 1] + "="


# name -> (mutation of a valid directory, fragment of the expected error)
BAD_DIRECTORIES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "extra top-level field": (lambda d: d.update(note="x"), "note\n  Extra inputs"),
    "extra member field": (lambda d: _m0(d).update(email="x"), "members.0.email"),
    "version 0": (lambda d: d.update(version=0), "greater than or equal to 1"),
    "version as string": (lambda d: d.update(version="5"), "valid integer"),
    "version as float": (lambda d: d.update(version=5.0), "valid integer"),
    "version as bool": (lambda d: d.update(version=True), "valid integer"),
    "time as a number": (lambda d: d.update(expires_at=1780000000), "not a number"),
    "version beyond 2**53": (lambda d: d.update(version=2**53), "less than or equal"),
    "naive expires_at": (lambda d: d.update(expires_at="2025-06-08T00:00:00"), "timezone"),
    "expires before issued": (
        lambda d: d.update(expires_at="2025-05-01T00:00:00Z"),
        "expires_at must be later",
    ),
    "no members": (lambda d: d.update(members=[]), "at least 1 item"),
    "lowercase code": (lambda d: _m0(d).update(code="ws"), "members.0.code"),
    "three-letter code": (lambda d: _m0(d).update(code="WSM"), "members.0.code"),
    "code with newline": (lambda d: _m0(d).update(code="WS\n"), "members.0.code"),
    "unassigned code": (lambda d: _m0(d).update(code="ZX"), "not an ISO 3166-1 alpha-2"),
    "national member with user-assigned code": (
        lambda d: _m0(d).update(code="XA"),
        "a national member needs an assigned",
    ),
    "name with bidi override": (lambda d: _m0(d).update(name="Sa\u202emoa"), "members.0.name"),
    "name on two lines": (lambda d: _m0(d).update(name="Sa\nmoa"), "members.0.name"),
    "empty name": (lambda d: _m0(d).update(name=""), "members.0.name"),
    "long name": (lambda d: _m0(d).update(name="x" * 121), "at most 120"),
    "control char in name": (lambda d: _m0(d).update(name="Sa\x1bmoa"), "members.0.name"),
    "unknown role": (lambda d: _m0(d).update(role="admin"), "members.0.role"),
    "no keys": (lambda d: _m0(d).update(keys=[]), "members.0.keys"),
    "17 keys": (
        lambda d: _m0(d).update(keys=[_k0(d)] * 17),
        "List should have at most 16 items",
    ),
    "unknown topic": (lambda d: _m0(d).update(topics=["fishing"]), "topics must be among"),
    "repeated topic": (
        lambda d: _m0(d).update(topics=["maritime", "maritime"]),
        "topics must not repeat",
    ),
    "duplicate code": (lambda d: d["members"][1].update(code="WS"), "codes must be unique"),
    "kid shared across members": (
        lambda d: d["members"][1]["keys"].append(_k0(d)),
        "key ids must be unique",
    ),
    "kid does not match key": (lambda d: _k0(d).update(kid="0" * 16), "kid does not match"),
    "uppercase kid": (lambda d: _k0(d).update(kid=_k0(d)["kid"].upper()), "keys.0.kid"),
    "unknown key use": (lambda d: _k0(d).update(use="auth"), "keys.0.use"),
    "public key 31 bytes": (lambda d: _k0(d).update(public=b64(bytes(31))), "keys.0.public"),
    "public key not base64": (
        lambda d: _k0(d).update(public="-" + _k0(d)["public"][1:]),
        "not valid base64",
    ),
    "public key non-canonical base64": (_noncanonical_public, "not canonical base64"),
    "not_after equals not_before": (
        lambda d: _k0(d).update(not_after=_k0(d)["not_before"]),
        "not_after must be later",
    ),
}


@pytest.mark.parametrize(("mutate", "error"), BAD_DIRECTORIES.values(), ids=BAD_DIRECTORIES.keys())
def test_invalid_directory_is_refused(mutate: Callable[[dict[str, Any]], None], error: str) -> None:
    d = _valid_dict()
    Directory.model_validate_json(json.dumps(d))  # the control: valid before the mutation
    mutate(d)
    with pytest.raises(ValidationError) as info:
        Directory.model_validate_json(json.dumps(d))
    assert error in str(info.value)


def test_hub_may_use_a_user_assigned_code() -> None:
    assert make_directory().member("XH").role is Role.HUB


def test_model_validate_takes_dicts_read_from_json() -> None:
    # The CLI edits drafts as JSON dicts; Python-mode validation must accept them.
    assert Directory.model_validate(_valid_dict()) == make_directory()


def test_models_are_frozen() -> None:
    directory = make_directory()
    with pytest.raises(ValidationError):
        directory.version = 99  # type: ignore[misc]


def test_lookups() -> None:
    directory = make_directory()
    assert directory.member("FJ").name == "Fiji"
    member, key = directory.signing_key(WS.sign_kid)
    assert (member.code, key.use) == ("WS", KeyUse.SIGN)
    member, key = directory.encryption_key(FJ.enc_kid)
    assert (member.code, key.public_bytes()) == ("FJ", bytes(FJ.encryption_keys[0].public_key))
    assert directory.current_encryption_key("WS", NOW).kid == WS.enc_kid


def test_lookup_failures() -> None:
    directory = make_directory()
    with pytest.raises(UnknownKey):
        directory.member("TO")
    with pytest.raises(UnknownKey):
        directory.signing_key(WS.enc_kid)  # right kid, wrong use
    with pytest.raises(UnknownKey):
        directory.encryption_key(WS.sign_kid)
    with pytest.raises(UnknownKey):
        directory.current_encryption_key("TO", NOW)
    with pytest.raises(KeyNotValid):
        directory.current_encryption_key("WS", KEYS_UNTIL)
    with pytest.raises(KeyNotValid):
        directory.current_encryption_key("WS", KEYS_FROM - timedelta(microseconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        directory.current_encryption_key("WS", datetime(2025, 6, 1))


def test_current_encryption_key_follows_rotation_overlap() -> None:
    rotated = WS.rotate_encryption_key()
    old = WS.directory_keys(KEYS_FROM, NOW + timedelta(days=10))
    new = rotated.directory_keys(NOW, KEYS_UNTIL)[1]
    member = Member(code="WS", name="Samoa", role=Role.MEMBER, keys=[*old, new])
    directory = make_directory().model_copy(update={"members": [member]})
    assert directory.current_encryption_key("WS", NOW - timedelta(seconds=1)).kid == WS.enc_kid
    assert directory.current_encryption_key("WS", NOW).kid == rotated.enc_kid  # overlap
    assert directory.current_encryption_key("WS", NOW + timedelta(days=20)).kid == rotated.enc_kid


def test_valid_at_bounds() -> None:
    key = WS.directory_keys(KEYS_FROM, KEYS_UNTIL)[0]
    assert key.valid_at(KEYS_FROM)
    assert not key.valid_at(KEYS_UNTIL)
    assert not key.valid_at(KEYS_FROM - timedelta(microseconds=1))


def test_key_helpers_refuse_the_wrong_use() -> None:
    sign_key, enc_key = WS.directory_keys(KEYS_FROM, KEYS_UNTIL)
    with pytest.raises(TypeError):
        sign_key.public_key()
    with pytest.raises(TypeError):
        enc_key.verify_key()
    assert isinstance(DirectoryKey.model_validate_json(sign_key.model_dump_json()), DirectoryKey)


# --- verification: scenario table ------------------------------------------------------


@dataclass(frozen=True)
class Sig:
    key: str
    how: str = "ok"  # ok | other_bytes | envelope_label | no_label


@dataclass(frozen=True)
class Case:
    expected: type[Exception] | None = None
    trusted: tuple[str, ...] = ("r1",)
    threshold: int = 1
    sigs: tuple[Sig, ...] = (Sig("r1"),)
    version: int = 5
    min_version: int = 0
    now: datetime = NOW
    flip_payload_bit: bool = False


CASES: dict[str, Case] = {
    "valid": Case(),
    "unsigned": Case(DirectoryUnsigned, sigs=()),
    "signed by an untrusted key": Case(DirectorySignatureInvalid, sigs=(Sig("u"),)),
    "untrusted signature is ignored": Case(sigs=(Sig("u"), Sig("r1"))),
    "signature over other bytes": Case(DirectorySignatureInvalid, sigs=(Sig("r1", "other_bytes"),)),
    "flipped payload bit": Case(DirectorySignatureInvalid, flip_payload_bit=True),
    "envelope label": Case(DirectorySignatureInvalid, sigs=(Sig("r1", "envelope_label"),)),
    "no label": Case(DirectorySignatureInvalid, sigs=(Sig("r1", "no_label"),)),
    "bad trusted signature beside a good one": Case(
        DirectorySignatureInvalid,
        trusted=("r1", "r2"),
        sigs=(Sig("r1"), Sig("r2", "other_bytes")),
    ),
    "expired": Case(DirectoryExpired, now=EXPIRES),
    "expired long ago": Case(DirectoryExpired, now=EXPIRES + timedelta(days=400)),
    "last instant before expiry": Case(now=EXPIRES - timedelta(microseconds=1)),
    "rollback": Case(DirectoryRollback, version=4, min_version=5),
    "equal version": Case(version=5, min_version=5),
    "newer version": Case(version=6, min_version=5),
    "2 of 3, one valid": Case(
        DirectorySignatureInvalid, trusted=("r1", "r2", "r3"), threshold=2, sigs=(Sig("r1"),)
    ),
    "2 of 3, two valid": Case(trusted=("r1", "r2", "r3"), threshold=2, sigs=(Sig("r1"), Sig("r3"))),
    "2 of 3, three valid": Case(
        trusted=("r1", "r2", "r3"), threshold=2, sigs=(Sig("r1"), Sig("r2"), Sig("r3"))
    ),
    "2 of 3, one valid plus untrusted": Case(
        DirectorySignatureInvalid,
        trusted=("r1", "r2", "r3"),
        threshold=2,
        sigs=(Sig("r1"), Sig("u")),
    ),
    "same root twice": Case(
        MalformedMessage, trusted=("r1", "r2"), threshold=2, sigs=(Sig("r1"), Sig("r1"))
    ),
    "threshold 0 fails closed": Case(ValueError, threshold=0),
    "negative threshold": Case(ValueError, threshold=-1),
    "no trusted roots": Case(ConfigError, trusted=()),
    "threshold above root count": Case(ConfigError, trusted=("r1",), threshold=2),
}


def build(case: Case) -> bytes:
    payload = make_directory(version=case.version).model_dump_json().encode()
    messages = {
        "ok": DIRECTORY_LABEL + payload,
        "other_bytes": DIRECTORY_LABEL + make_directory(version=99).model_dump_json().encode(),
        "envelope_label": b"lali.envelope.v1\x00" + payload,
        "no_label": payload,
    }
    sigs = [sig(s.key, messages[s.how]) for s in case.sigs]
    if case.flip_payload_bit:
        flipped = bytearray(payload)
        flipped[payload.index(b"Samoa")] ^= 0x01  # "Samoa" -> "Ramoa"
        payload = bytes(flipped)
    return wrap(payload, sigs)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_verify_scenarios(case: Case) -> None:
    data = build(case)
    roots = trusted(*case.trusted)

    def run() -> Directory:
        return verify_directory(
            data, roots, case.now, threshold=case.threshold, min_version=case.min_version
        )

    if case.expected is None:
        assert run() == make_directory(version=case.version)
    else:
        with pytest.raises(case.expected):
            run()


def test_sign_directory_verifies_with_all_roots() -> None:
    directory = make_directory()
    data = sign_directory(directory, [ROOTS["r1"], ROOTS["r2"]])
    assert verify_directory(data, trusted("r1", "r2"), NOW, threshold=2) == directory
    wrapper = json.loads(data)
    payload = base64.b64decode(wrapper["payload"])
    assert payload == directory.model_dump_json().encode()
    # Independently: each signature is plain Ed25519 over LABEL + payload.
    for entry, name in zip(wrapper["signatures"], ["r1", "r2"], strict=True):
        assert entry["kid"] == ROOTS[name].kid
        ROOTS[name].verify_key.verify(DIRECTORY_LABEL + payload, base64.b64decode(entry["sig"]))


def test_sign_directory_refuses_no_roots_and_repeats() -> None:
    with pytest.raises(ValueError):
        sign_directory(make_directory(), [])
    with pytest.raises(ValueError):
        sign_directory(make_directory(), [ROOTS["r1"], ROOTS["r1"]])


def test_naive_now_is_refused() -> None:
    data = sign_directory(make_directory(), [ROOTS["r1"]])
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_directory(data, trusted("r1"), datetime(2025, 6, 1))


def test_trusted_root_under_a_wrong_kid_is_a_config_error() -> None:
    # Otherwise one key listed under two ids would count twice toward a threshold.
    data = sign_directory(make_directory(), [ROOTS["r1"]])
    roots = {ROOTS["r1"].kid: ROOTS["r1"].verify_key, "0" * 16: ROOTS["r1"].verify_key}
    with pytest.raises(ConfigError):
        verify_directory(data, roots, NOW, threshold=2)


# --- verification: the wrapper ---------------------------------------------------------

SIGNED = sign_directory(make_directory(), [ROOTS["r1"]])
PAYLOAD = make_directory().model_dump_json().encode()
GOOD_SIG = sig("r1", DIRECTORY_LABEL + PAYLOAD)


def test_oversized() -> None:
    with pytest.raises(OversizedMessage):
        verify_directory(SIGNED, trusted("r1"), NOW, max_size=len(SIGNED) - 1)
    assert verify_directory(SIGNED, trusted("r1"), NOW, max_size=len(SIGNED))
    with pytest.raises(OversizedMessage):
        verify_directory(b" " * ((1 << 20) + 1), trusted("r1"), NOW)


def _replace_sig(data: bytes, new: str) -> bytes:
    doc = json.loads(data)
    doc["signatures"][0]["sig"] = new
    return json.dumps(doc).encode()


MALFORMED: dict[str, bytes] = {
    "not JSON": b"not json",
    "empty": b"",
    "truncated": SIGNED[:-1],
    "JSON array": b"[]",
    "not UTF-8": b'{"payloadType": "\xff"}',
    "UTF-8 BOM": b"\xef\xbb\xbf" + SIGNED,
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "NaN": SIGNED[:-1] + b',"x":NaN}',
    "duplicate key": SIGNED[:-1] + b',"payload":"e30="}',
    "extra field": wrap(PAYLOAD, [GOOD_SIG], note="hi"),
    "wrong payloadType": json.dumps(
        {**json.loads(SIGNED), "payloadType": "application/vnd.lali.envelope+json"}
    ).encode(),
    "payload not base64": json.dumps({**json.loads(SIGNED), "payload": "!!!"}).encode(),
    "payload urlsafe base64": json.dumps({**json.loads(SIGNED), "payload": "ab-_"}).encode(),
    "payload base64 without padding": json.dumps({**json.loads(SIGNED), "payload": "YQ"}).encode(),
    "payload non-canonical base64": json.dumps({**json.loads(SIGNED), "payload": "YR=="}).encode(),
    "signatures not a list": json.dumps({**json.loads(SIGNED), "signatures": {}}).encode(),
    "signature missing kid": json.dumps(
        {**json.loads(SIGNED), "signatures": [{"sig": ""}]}
    ).encode(),
    "signature 66 bytes": _replace_sig(SIGNED, b64(bytes(66))),
    "signature 65 bytes": _replace_sig(SIGNED, b64(bytes(65))),
    "signature 63 bytes": _replace_sig(SIGNED, b64(bytes(63))),
    "kid uppercase": wrap(PAYLOAD, [(GOOD_SIG[0].upper(), GOOD_SIG[1])]),
    "too many signatures": wrap(PAYLOAD, [(f"{i:016x}", bytes(64)) for i in range(33)]),
    "signed payload is not JSON": wrap(b"xx", [sig("r1", DIRECTORY_LABEL + b"xx")]),
    "signed payload with duplicate key": wrap(
        PAYLOAD[:-1] + b',"version":5}',
        [sig("r1", DIRECTORY_LABEL + PAYLOAD[:-1] + b',"version":5}')],
    ),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        verify_directory(data, trusted("r1"), NOW)


def test_signed_payload_violating_the_schema_names_fields_not_values() -> None:
    d = _valid_dict()
    d["members"][0]["name"] = "SECRET-VALUE\x07"
    payload = json.dumps(d).encode()
    data = wrap(payload, [sig("r1", DIRECTORY_LABEL + payload)])
    with pytest.raises(DirectoryError) as info:
        verify_directory(data, trusted("r1"), NOW)
    assert type(info.value) is DirectoryError
    assert "members.0.name" in str(info.value)
    assert "SECRET-VALUE" not in str(info.value) + repr(info.value.fields)


def test_unsigned_wins_over_unparsable_payload() -> None:
    # Nothing about the payload is looked at before a signature is checked.
    with pytest.raises(DirectoryUnsigned):
        verify_directory(wrap(b"garbage", []), trusted("r1"), NOW)
    with pytest.raises(DirectorySignatureInvalid):
        verify_directory(wrap(b"garbage", [sig("u", b"garbage")]), trusted("r1"), NOW)


# --- verification: properties ----------------------------------------------------------

WRAPPER = json.loads(SIGNED)
SIG_BYTES = base64.b64decode(WRAPPER["signatures"][0]["sig"])
REJECTIONS = (DirectoryError, MalformedMessage)


@settings(max_examples=400)
@given(
    target=st.sampled_from(["payload", "sig"]),
    position=st.integers(min_value=0),
    xor=st.integers(min_value=1, max_value=255),
)
def test_any_byte_change_in_payload_or_signature_is_rejected(
    target: str, position: int, xor: int
) -> None:
    payload, signature = bytearray(PAYLOAD), bytearray(SIG_BYTES)
    victim = payload if target == "payload" else signature
    victim[position % len(victim)] ^= xor
    data = wrap(bytes(payload), [(ROOTS["r1"].kid, bytes(signature))])
    with pytest.raises(DirectorySignatureInvalid):
        verify_directory(data, trusted("r1"), NOW)


@settings(max_examples=400)
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_any_byte_change_in_the_file_is_rejected_or_neutral(position: int, value: int) -> None:
    data = bytearray(SIGNED)
    position %= len(data)
    if data[position] == value:
        value ^= 0x01
    data[position] = value
    try:
        result = verify_directory(bytes(data), trusted("r1"), NOW)
    except REJECTIONS:
        return
    # Accepted only if the change did not alter meaning (e.g. JSON whitespace).
    assert result == make_directory()
    assert json.loads(bytes(data)) == WRAPPER


def test_key_id_binding_in_directory() -> None:
    key = WS.directory_keys(KEYS_FROM, KEYS_UNTIL)[0]
    assert key.kid == key_id(key.public_bytes())
