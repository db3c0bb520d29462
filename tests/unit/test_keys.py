"""Key ids, identities and key files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.public
import nacl.pwhash.argon2id as argon2id
import nacl.signing
import pytest

from keys import Identity, KdfParams, KeyUse, RootKey, key_id
from keys.store import load_identity, load_root_key, save_identity, save_root_key
from schemas.errors import ConfigError, KeyFileError

# Tests pass the cheapest Argon2id parameters explicitly; production uses MODERATE.
FAST = KdfParams(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def fixed_identity(code: str = "WS", n: int = 1) -> Identity:
    return Identity(
        code,
        nacl.signing.SigningKey(bytes([n]) * 32),
        (nacl.public.PrivateKey(bytes([n + 100]) * 32),),
    )


def assert_same_identity(a: Identity, b: Identity) -> None:
    assert a.code == b.code
    assert bytes(a.signing_key) == bytes(b.signing_key)
    assert [bytes(k) for k in a.encryption_keys] == [bytes(k) for k in b.encryption_keys]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# --- key ids ---------------------------------------------------------------------------


def test_key_id_known_answers() -> None:
    assert key_id(bytes(32)) == "c50d124a8aaf41a1"
    assert key_id(bytes(range(32))) == "40f68f4ad24e575b"


def test_key_id_is_blake2b_64_of_the_raw_key() -> None:
    pub = bytes(nacl.signing.SigningKey(b"\x07" * 32).verify_key)
    assert key_id(pub) == hashlib.blake2b(pub, digest_size=8).hexdigest()
    assert len(key_id(pub)) == 16


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_key_id_refuses_wrong_length(bad: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        key_id(bad)


def test_key_id_refuses_key_objects() -> None:
    with pytest.raises(TypeError):
        key_id(nacl.signing.SigningKey.generate().verify_key)  # type: ignore[arg-type]


# --- identities ------------------------------------------------------------------------


def test_generate_identity() -> None:
    ident = Identity.generate("FJ")
    assert ident.code == "FJ"
    assert ident.sign_kid == key_id(bytes(ident.signing_key.verify_key))
    assert ident.enc_kid == key_id(bytes(ident.encryption_keys[0].public_key))
    assert ident.encryption_kids() == (ident.enc_kid,)
    assert ident.encryption_key(ident.enc_kid) is ident.encryption_keys[0]
    assert Identity.generate("FJ").sign_kid != ident.sign_kid


def test_unknown_encryption_kid_is_key_error() -> None:
    with pytest.raises(KeyError):
        fixed_identity().encryption_key("0000000000000000")


@pytest.mark.parametrize("code", ["ws", "WSM", "W", "W1", "WS\n", " WS", "", "ZX"])
def test_identity_refuses_bad_code(code: str) -> None:
    with pytest.raises(ValueError, match="alpha-2"):
        Identity.generate(code)


@pytest.mark.parametrize("code", ["WS", "XH", "ZZ"])
def test_identity_takes_assigned_and_user_assigned_codes(code: str) -> None:
    assert Identity.generate(code).code == code


def test_identity_needs_an_encryption_key() -> None:
    with pytest.raises(ValueError, match="encryption keys"):
        Identity("WS", nacl.signing.SigningKey.generate(), ())


def test_identity_repr_holds_no_key_material() -> None:
    ident = fixed_identity()
    text = repr(ident) + str(ident)
    for secret in (bytes(ident.signing_key), bytes(ident.encryption_keys[0])):
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text
    assert "WS" in text


def test_rotation_keeps_old_keys_readable() -> None:
    ident = fixed_identity()
    rotated = ident.rotate_encryption_key()
    assert rotated.enc_kid != ident.enc_kid
    assert rotated.encryption_kids() == (rotated.enc_kid, ident.enc_kid)
    assert bytes(rotated.encryption_key(ident.enc_kid)) == bytes(ident.encryption_keys[0])
    assert rotated.sign_kid == ident.sign_kid


def test_directory_keys() -> None:
    ident = fixed_identity()
    entries = ident.directory_keys(NOW, NOW + timedelta(days=90))
    assert [(e.use, e.kid) for e in entries] == [
        (KeyUse.SIGN, ident.sign_kid),
        (KeyUse.ENCRYPT, ident.enc_kid),
    ]
    assert entries[0].public_bytes() == bytes(ident.signing_key.verify_key)
    assert entries[1].public_bytes() == bytes(ident.encryption_keys[0].public_key)
    assert entries[0].verify_key() == ident.signing_key.verify_key
    assert entries[1].public_key() == ident.encryption_keys[0].public_key
    assert all(e.valid_at(NOW) and not e.valid_at(NOW + timedelta(days=90)) for e in entries)


def test_directory_keys_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fixed_identity().directory_keys(datetime(2025, 1, 1), NOW)


def test_root_key() -> None:
    root = RootKey.generate()
    assert root.kid == key_id(bytes(root.verify_key))
    assert root.verify_key == root.signing_key.verify_key
    assert bytes(root.signing_key).hex() not in repr(root)


# --- key files -------------------------------------------------------------------------


def test_plain_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    ident = fixed_identity().rotate_encryption_key()
    save_identity(path, ident)
    assert_same_identity(load_identity(path), ident)
    doc = json.loads(path.read_text())
    assert doc["format"] == "lali-identity"
    assert doc["version"] == 1
    assert doc["code"] == "WS"
    assert doc["sign"]["kid"] == ident.sign_kid
    assert [e["kid"] for e in doc["enc"]] == list(ident.encryption_kids())
    assert base64.b64decode(doc["sign"]["seed"]) == bytes(ident.signing_key)


def test_passphrase_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    ident = fixed_identity()
    save_identity(path, ident, b"correct horse", kdf=FAST)
    assert_same_identity(load_identity(path, b"correct horse"), ident)
    text = path.read_text()
    doc = json.loads(text)
    assert doc["sealed"]["kdf"] == "argon2id"
    assert (doc["sealed"]["opslimit"], doc["sealed"]["memlimit"]) == (FAST.opslimit, FAST.memlimit)
    assert doc["sign"] == {"kid": ident.sign_kid}  # readable id, no secret
    for secret in (bytes(ident.signing_key), bytes(ident.encryption_keys[0])):
        assert base64.b64encode(secret).decode() not in text


def test_root_key_roundtrip(tmp_path: Path) -> None:
    root = RootKey(nacl.signing.SigningKey(b"\x09" * 32))
    save_root_key(tmp_path / "plain.key", root)
    save_root_key(tmp_path / "sealed.key", root, b"pw", kdf=FAST)
    assert load_root_key(tmp_path / "plain.key").kid == root.kid
    loaded = load_root_key(tmp_path / "sealed.key", b"pw")
    assert bytes(loaded.signing_key) == bytes(root.signing_key)


def test_root_key_file_is_not_an_identity_file(tmp_path: Path) -> None:
    save_root_key(tmp_path / "root.key", RootKey.generate())
    with pytest.raises(KeyFileError, match="unknown format"):
        load_identity(tmp_path / "root.key")


@pytest.mark.parametrize("passphrase", [None, b"pw"])
def test_file_is_created_0600(tmp_path: Path, umask_022: None, passphrase: bytes | None) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), passphrase, kdf=FAST)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["ws.key"]  # no temporary file left behind


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_file_is_exactly_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        save_identity(tmp_path / "ws.key", fixed_identity())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "ws.key").st_mode) == 0o600


def test_file_is_created_exclusively_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The secret must never sit in a file others could open, even for an instant.
    real_open = os.open
    created: list[tuple[int, int]] = []

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if flags & os.O_CREAT:
            created.append((flags, mode))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", recording_open)
    save_identity(tmp_path / "ws.key", fixed_identity())
    assert len(created) == 1
    flags, mode = created[0]
    assert flags & os.O_EXCL
    assert mode == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_load_refuses_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600") as info:
        load_identity(path)
    assert str(path) in str(info.value)
    assert info.value.fields["path"] == str(path)
    assert isinstance(info.value, ConfigError)


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"right", kdf=FAST)
    with pytest.raises(KeyFileError) as info:
        load_identity(path, b"wrong")
    assert str(info.value) == "wrong passphrase or corrupted key file"
    assert info.value.fields == {"path": str(path)}


def test_str_passphrase_is_a_type_error_not_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"pw", kdf=FAST)
    with pytest.raises(TypeError, match="bytes"):
        load_identity(path, "pw")  # type: ignore[arg-type]


def test_protected_file_needs_a_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"pw", kdf=FAST)
    with pytest.raises(KeyFileError, match="passphrase is needed"):
        load_identity(path)


def test_passphrase_for_unprotected_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    with pytest.raises(KeyFileError, match="not passphrase-protected"):
        load_identity(path, b"pw")


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        save_identity(tmp_path / "ws.key", fixed_identity(), b"", kdf=FAST)
    assert not (tmp_path / "ws.key").exists()


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    first, second = fixed_identity(n=1), fixed_identity(n=2)
    save_identity(path, first)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="overwrite"):
        save_identity(path, second)
    assert path.read_bytes() == before
    save_identity(path, second, overwrite=True)
    assert_same_identity(load_identity(path), second)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["ws.key"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        load_identity(tmp_path / "absent.key")


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="regular file"):
        load_identity(tmp_path / "d")


def test_missing_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot write"):
        save_identity(tmp_path / "nope" / "ws.key", fixed_identity())


def _rewrite(path: Path, edit: dict[str, object] | None = None, raw: bytes | None = None) -> None:
    data = raw if raw is not None else json.dumps({**json.loads(path.read_text()), **(edit or {})})
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    path.chmod(0o600)


def test_corrupted_kid_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    ident = fixed_identity()
    save_identity(path, ident)
    doc = json.loads(path.read_text())
    _rewrite(path, {"sign": {**doc["sign"], "kid": "0123456789abcdef"}})
    with pytest.raises(KeyFileError, match="corrupted"):
        load_identity(path)


def test_swapped_secret_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    doc = json.loads(path.read_text())
    other = base64.b64encode(b"\x55" * 32).decode()
    _rewrite(path, {"enc": [{**doc["enc"][0], "secret": other}]})
    with pytest.raises(KeyFileError, match="does not match its key"):
        load_identity(path)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"format": "lali-identity", "version": 2}', b"\xff\xfe", b"null"],
)
def test_garbage_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    _rewrite(path, raw=raw)
    with pytest.raises(KeyFileError):
        load_identity(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    data = path.read_bytes()
    _rewrite(path, raw=data[: len(data) // 2])
    with pytest.raises(KeyFileError, match="malformed"):
        load_identity(path)


def test_flipped_ciphertext_byte(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"pw", kdf=FAST)
    doc = json.loads(path.read_text())
    box = bytearray(base64.b64decode(doc["sealed"]["box"]))
    box[-1] ^= 0x01
    _rewrite(path, {"sealed": {**doc["sealed"], "box": base64.b64encode(box).decode()}})
    with pytest.raises(KeyFileError, match="wrong passphrase or corrupted key file"):
        load_identity(path, b"pw")


def test_sealed_file_with_edited_readable_fields(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"pw", kdf=FAST)
    _rewrite(path, {"code": "FJ"})
    with pytest.raises(KeyFileError, match="do not match the sealed contents"):
        load_identity(path, b"pw")


@pytest.mark.parametrize(
    "field,value",
    [("opslimit", 0), ("memlimit", argon2id.MEMLIMIT_SENSITIVE * 2), ("memlimit", 1)],
)
def test_sealed_file_with_out_of_range_kdf(tmp_path: Path, field: str, value: int) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity(), b"pw", kdf=FAST)
    doc = json.loads(path.read_text())
    _rewrite(path, {"sealed": {**doc["sealed"], field: value}})
    with pytest.raises(KeyFileError, match="out of range"):
        load_identity(path, b"pw")


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "ws.key"
    save_identity(path, fixed_identity())
    _rewrite(path, raw=b" " * (64 * 1024 + 1))
    with pytest.raises(KeyFileError, match="too large"):
        load_identity(path)


def test_kdf_params_are_bounded() -> None:
    with pytest.raises(ValueError):
        KdfParams(argon2id.OPSLIMIT_MIN - 1, argon2id.MEMLIMIT_MIN)
    with pytest.raises(ValueError):
        KdfParams(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_SENSITIVE + 1)


def test_rotated_identity_keeps_its_retired_key_through_the_file(tmp_path: Path) -> None:
    from keys import load_identity as _load
    from keys import save_identity as _save

    first = Identity.generate("WS")
    rotated = first.rotate()
    assert rotated.sign_kid != first.sign_kid and rotated.enc_kid != first.enc_kid
    assert rotated.encryption_kids()[1] == first.enc_kid  # old key still held
    path = tmp_path / "ws.key"
    _save(path, rotated)
    again = _load(path)
    assert again.retired_signing_key is not None
    assert bytes(again.retired_signing_key) == bytes(first.signing_key)
    assert again.encryption_kids() == rotated.encryption_kids()
