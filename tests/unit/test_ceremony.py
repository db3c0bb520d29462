"""The threshold signing ceremony: partial signatures made apart, merged, and every
command that verifies a directory holding it to the threshold a node would.

The pure helpers (``keys.verify``: ``sign_payload``, ``merge_signatures``) as a scenario
table, then the ``lali directory sign --partial``, ``merge``, ``show``, ``deploy
nats-config`` and ``audit verify`` commands through typer's runner.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing
import pytest
from typer.testing import CliRunner

from keys import Directory, Member, RootEntry, RootKey, save_root_key, verify_directory
from keys.verify import DIRECTORY_LABEL, merge_signatures, read_signed_file, sign_payload
from node.cli.main import app
from node.ops.natsconfig import new_user_nkey
from node.ops.provision import write_node_config
from node.ops.vectors import fixed_identities
from node.storage.database import Database
from schemas.errors import (
    DirectoryError,
    DirectorySignatureInvalid,
    LaliError,
    MalformedMessage,
)

NOW = datetime.now(UTC)
ROOTS = [RootKey(nacl.signing.SigningKey(bytes([n]) * 32)) for n in (1, 2, 3)]
STRANGER = RootKey(nacl.signing.SigningKey(bytes([9]) * 32))


def b64(root: RootKey) -> str:
    return base64.b64encode(bytes(root.verify_key)).decode("ascii")


def members() -> list[Member]:
    ids = fixed_identities()
    return [
        Member(
            code=code,
            name=f"member {code}",
            role="hub" if code == "XH" else "member",
            keys=ident.directory_keys(NOW - timedelta(days=1), NOW + timedelta(days=60)),
            nats_nkey=new_user_nkey()[1],
        )
        for code, ident in ids.items()
    ]


def directory(version: int = 4, threshold: int = 2) -> Directory:
    return Directory(
        version=version,
        issued_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(days=30),
        members=members(),
        roots=[RootEntry(kid=r.kid, public=b64(r)) for r in ROOTS],
        root_threshold=threshold,
    )


PAYLOAD = directory().model_dump_json().encode("utf-8")
OTHER = directory(version=5).model_dump_json().encode("utf-8")
PART = {n: sign_payload(PAYLOAD, [root]) for n, root in enumerate(ROOTS, start=1)}
TRUSTED = {r.kid: r.verify_key for r in ROOTS}


def tampered(data: bytes) -> bytes:
    wrapper = json.loads(data)
    sig = bytearray(base64.b64decode(wrapper["signatures"][0]["sig"]))
    sig[0] ^= 1
    wrapper["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode("ascii")
    return json.dumps(wrapper, separators=(",", ":")).encode("utf-8")


# --- the pure helpers ------------------------------------------------------------------


def test_a_partial_file_carries_the_payload_as_it_is_and_one_signature() -> None:
    taken_apart = read_signed_file(PART[1])
    assert taken_apart.payload == PAYLOAD
    assert [kid for kid, _ in taken_apart.signatures] == [ROOTS[0].kid]
    ROOTS[0].verify_key.verify(DIRECTORY_LABEL + PAYLOAD, taken_apart.signatures[0][1])


def test_signing_the_same_payload_twice_gives_the_same_file() -> None:
    # Ed25519 is deterministic, and the file is compact JSON in a fixed order.
    assert sign_payload(PAYLOAD, [ROOTS[0]]) == PART[1]


@dataclass(frozen=True)
class Row:
    files: tuple[bytes, ...]
    known: tuple[RootKey, ...] = ()
    error: type[LaliError] | None = None  # None: merged
    signers: tuple[str, ...] = ()


SCENARIOS = {
    "two partials": Row((PART[1], PART[2]), signers=(ROOTS[0].kid, ROOTS[1].kid)),
    "three partials, order kept": Row(
        (PART[3], PART[1], PART[2]), signers=(ROOTS[2].kid, ROOTS[0].kid, ROOTS[1].kid)
    ),
    "one file of two signatures and a partial": Row(
        (sign_payload(PAYLOAD, ROOTS[:2]), PART[3]), signers=tuple(r.kid for r in ROOTS)
    ),
    "different directories": Row((PART[1], sign_payload(OTHER, [ROOTS[1]])), error=DirectoryError),
    "the same partial twice": Row((PART[1], PART[1]), error=DirectoryError),
    "a key in two files": Row((sign_payload(PAYLOAD, ROOTS[:2]), PART[2]), error=DirectoryError),
    "a bad signature": Row((PART[1], tampered(PART[2])), error=DirectorySignatureInvalid),
    "a key neither declared nor given": Row(
        (PART[1], sign_payload(PAYLOAD, [STRANGER])), error=DirectorySignatureInvalid
    ),
    "a key given, not declared (an old root in a rotation)": Row(
        (PART[1], sign_payload(PAYLOAD, [STRANGER])),
        known=(STRANGER,),
        signers=(ROOTS[0].kid, STRANGER.kid),
    ),
    "not a signed file": Row((PART[1], b"{}"), error=MalformedMessage),
}


@pytest.mark.parametrize("row", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_merge_scenarios(row: Row) -> None:
    known = {r.kid: r.verify_key for r in row.known}
    if row.error is not None:
        with pytest.raises(row.error):
            merge_signatures(row.files, known)
        return
    merged = merge_signatures(row.files, known)
    taken_apart = read_signed_file(merged)
    assert taken_apart.payload == PAYLOAD
    assert tuple(kid for kid, _ in taken_apart.signatures) == row.signers


def test_two_partials_merged_meet_a_threshold_of_two_and_one_does_not() -> None:
    merged = merge_signatures([PART[1], PART[3]], {})
    assert verify_directory(merged, TRUSTED, NOW, threshold=2).version == 4
    with pytest.raises(DirectorySignatureInvalid):
        verify_directory(PART[1], TRUSTED, NOW, threshold=2)


# --- the commands ----------------------------------------------------------------------


def lali(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    """Three root key files (one per officer's machine) and a draft declaring them,
    threshold 2."""
    for n, root in enumerate(ROOTS, start=1):
        save_root_key(tmp_path / f"root-{n}.key", root)
    draft = {
        "version": 3,
        "members": [m.model_dump(mode="json") for m in members()],
        "roots": [{"kid": r.kid, "public": b64(r)} for r in ROOTS],
        "root_threshold": 2,
    }
    (tmp_path / "draft.json").write_text(json.dumps(draft), encoding="utf-8")
    return tmp_path


def ceremony(hub: Path) -> Path:
    """Officer 1 signs the draft, officer 3 signs officer 1's directory, merged."""
    code, out = lali(
        "directory", "sign", "--partial", "--draft", hub / "draft.json",
        "--root-key", hub / "root-1.key", "--out", hub / "part-1.json",
    )  # fmt: skip
    assert code == 0, out
    assert "directory version 4 signed by" in out and "partial: 1 signature" in out
    code, out = lali(
        "directory", "sign", "--partial", "--from", hub / "part-1.json",
        "--root-key", hub / "root-3.key", "--out", hub / "part-3.json",
    )  # fmt: skip
    assert code == 0, out
    assert "directory version 4 signed by" in out and "members: XH, WS, FJ, TO" in out
    code, out = lali(
        "directory", "merge", hub / "part-1.json", hub / "part-3.json", "--out", hub / "signed.json"
    )
    assert code == 0, out
    assert "2 signature(s)" in out and "threshold 2: met" in out
    return hub / "signed.json"


def test_sign_without_partial_refuses_to_fall_short_of_the_declared_threshold(hub: Path) -> None:
    code, out = lali(
        "directory", "sign", "--draft", hub / "draft.json",
        "--root-key", hub / "root-1.key", "--out", hub / "directory.json",
    )  # fmt: skip
    assert code == 2
    assert "error (policy): the directory declares 3 roots, threshold 2" in out
    assert not (hub / "directory.json").exists()
    assert json.loads((hub / "draft.json").read_text())["version"] == 3  # not consumed
    # With enough keys in one place, as before.
    code, out = lali(
        "directory", "sign", "--draft", hub / "draft.json", "--root-key", hub / "root-1.key",
        "--root-key", hub / "root-2.key", "--out", hub / "directory.json",
    )  # fmt: skip
    assert code == 0, out


def test_the_ceremony_signs_apart_and_merges(hub: Path) -> None:
    signed = ceremony(hub)
    merged = read_signed_file(signed.read_bytes())
    assert merged.payload == read_signed_file((hub / "part-1.json").read_bytes()).payload
    assert [kid for kid, _ in merged.signatures] == [ROOTS[0].kid, ROOTS[2].kid]
    assert json.loads((hub / "draft.json").read_text())["version"] == 4  # the first signer's
    assert verify_directory(signed.read_bytes(), TRUSTED, NOW, threshold=2).version == 4


def test_sign_from_a_file_that_is_not_a_directory_is_refused(hub: Path) -> None:
    (hub / "junk.json").write_text("{}", encoding="utf-8")
    code, out = lali(
        "directory", "sign", "--partial", "--from", hub / "junk.json",
        "--root-key", hub / "root-2.key", "--out", hub / "part-2.json",
    )  # fmt: skip
    assert code == 2 and "error (malformed)" in out
    code, out = lali(
        "directory", "sign", "--draft", hub / "draft.json", "--from", hub / "junk.json",
        "--root-key", hub / "root-2.key", "--out", hub / "part-2.json",
    )  # fmt: skip
    assert code == 2 and "exactly one of --draft or --from" in out


def test_merge_refuses_different_directories_and_repeated_keys(hub: Path) -> None:
    ceremony(hub)
    # Officer 2 signs a fresh directory from the draft instead of officer 1's file.
    code, out = lali(
        "directory", "sign", "--partial", "--draft", hub / "draft.json",
        "--root-key", hub / "root-2.key", "--out", hub / "part-2.json",
    )  # fmt: skip
    assert code == 0, out
    code, out = lali(
        "directory", "merge", hub / "part-1.json", hub / "part-2.json", "--out", hub / "m.json"
    )
    assert code == 2 and "error (directory): file 2 signs other bytes than file 1" in out
    code, out = lali(
        "directory", "merge", hub / "part-1.json", hub / "signed.json", "--out", hub / "m.json"
    )
    assert code == 2 and f"root key {ROOTS[0].kid} signed more than once" in out
    (hub / "bad.json").write_bytes(tampered((hub / "part-3.json").read_bytes()))
    code, out = lali(
        "directory", "merge", hub / "part-1.json", hub / "bad.json", "--out", hub / "m.json"
    )
    assert code == 2 and "error (directory_bad_signature)" in out
    assert not (hub / "m.json").exists()


def test_merge_warns_when_the_declared_threshold_is_not_met(hub: Path) -> None:
    ceremony(hub)
    code, out = lali("directory", "merge", hub / "part-1.json", "--out", hub / "m.json")
    assert code == 0, out
    assert "declared roots: 1 of 3 signed, threshold 2: NOT met" in out


ROOT_OPTIONS = [arg for r in ROOTS for arg in ("--root-public", b64(r))]


def test_show_holds_a_directory_to_the_threshold_it_declares(hub: Path) -> None:
    signed = ceremony(hub)
    code, out = lali("directory", "show", signed, *ROOT_OPTIONS)
    assert code == 0, out
    assert "signature ok" in out
    assert f"signed by {ROOTS[0].kid}, {ROOTS[2].kid} (threshold 1 of the given keys)" in out
    assert "declares 3 roots, threshold 2" in out
    # One officer's partial file is not a directory any node would take, whatever
    # --threshold says (it used to pass at threshold 1).
    code, out = lali("directory", "show", hub / "part-1.json", *ROOT_OPTIONS)
    assert code == 2 and "error (directory_bad_signature)" in out
    # ... and the operator's own threshold counts too.
    code, out = lali("directory", "show", signed, *ROOT_OPTIONS, "--threshold", "3")
    assert code == 2 and "error (directory_bad_signature)" in out


def test_a_directory_without_declared_roots_is_held_to_the_threshold_given(
    hub: Path,
) -> None:
    plain = directory().model_copy(update={"roots": [], "root_threshold": 1})
    data = sign_payload(plain.model_dump_json().encode("utf-8"), [ROOTS[0]])
    (hub / "plain.json").write_bytes(data)
    assert lali("directory", "show", hub / "plain.json", *ROOT_OPTIONS)[0] == 0
    code, out = lali("directory", "show", hub / "plain.json", *ROOT_OPTIONS, "--threshold", "2")
    assert code == 2 and "error (directory_bad_signature)" in out


def test_deploy_nats_config_holds_the_directory_to_its_threshold(hub: Path) -> None:
    signed = ceremony(hub)
    out_file = hub / "nats.conf"
    common = ["--root-public", b64(ROOTS[0]), "--out", out_file, "--tls-dir", hub]
    code, out = lali("deploy", "nats-config", "--directory", hub / "part-1.json", *common)
    assert code == 2 and "error (directory_bad_signature)" in out
    assert not out_file.exists()
    code, out = lali("deploy", "nats-config", "--directory", signed, *common)
    assert code == 0, out
    assert "4 users from directory v4" in out
    code, out = lali(
        "deploy", "nats-config", "--directory", signed, *common, "--threshold", "2"
    )  # one --root-public: a threshold of 2 cannot be met
    assert code == 2 and "error (config)" in out


def node_toml(hub: Path, directory_file: Path, threshold: int) -> Path:
    config = hub / f"node-{directory_file.stem}-{threshold}.toml"
    write_node_config(
        config,
        {
            "code": "FJ",
            "identity": "identity.key",
            "directory": str(directory_file),
            "root_keys": [b64(r) for r in ROOTS],
            "directory_threshold": threshold,
            "database": "lali.db",
        },
    )
    return config


def test_audit_verify_holds_the_directory_to_the_configured_threshold(hub: Path) -> None:
    signed = ceremony(hub)

    async def create() -> None:
        await (await Database.open(hub / "lali.db")).close()

    asyncio.run(create())
    code, out = lali("audit", "verify", "--offline", "--config", node_toml(hub, signed, 2))
    assert code == 0, out
    assert out.startswith("audit ok: 0 entries")
    # The same database, a directory signed by one officer only: refused, as a node would.
    code, out = lali(
        "audit", "verify", "--offline", "--config", node_toml(hub, hub / "part-1.json", 1)
    )
    assert code == 1 and "error (directory_bad_signature)" in out
    code, out = lali("audit", "verify", "--offline", "--config", node_toml(hub, signed, 3))
    assert code == 1 and "error (directory_bad_signature)" in out


def test_publish_refuses_a_directory_short_of_the_threshold_before_connecting(
    hub: Path,
) -> None:
    signed = ceremony(hub)
    # One officer's file: the threshold the directory declares refuses it.
    part = hub / "part-1.json"
    code, out = lali("directory", "publish", part, "--config", node_toml(hub, part, 1))
    assert code == 2 and "error (directory_bad_signature)" in out, out
    # The merged file, against directory_threshold = 3 in node.toml.
    code, out = lali("directory", "publish", signed, "--config", node_toml(hub, signed, 3))
    assert code == 2 and "error (directory_bad_signature)" in out, out
