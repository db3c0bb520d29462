"""`lali audit verify --config` across key changes: each checkpoint is held to the key
that signed it, valid at the checkpoint's own time, so a rotation does not break the
check; a key pruned from the directory or revoked before a checkpoint's time makes
that checkpoint a warning, and the check fails only if no checkpoint is left."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keys import Directory, DirectoryKey, Identity, Member, Role, RootKey, sign_directory
from node.cli.main import app
from node.ops.provision import write_node_config
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint
from node.storage.database import Database, utc_now_text

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)
START = NOW - 20 * DAY  # the old key's not_before
ROTATED = NOW - 10 * DAY  # the new key's not_before; the old one stays for an overlap
OVERLAP_END = ROTATED + 7 * DAY  # the old key's not_after
ROOT = RootKey.generate()
OLD = Identity.generate("FJ")
NEW = OLD.rotate()


@dataclass(frozen=True)
class Row:
    """A directory (which of FJ's keys it lists, and any revocation of the old one),
    checkpoints signed as (identity, days before now), the expected outcome."""

    listed: tuple[str, ...]  # "old", "new"
    old_revoked_days_ago: float | None
    signed: tuple[tuple[str, float], ...]
    exit_code: int
    matches: int = 0
    warnings: int = 0
    error: str = ""


ROWS = {
    # A checkpoint made before the rotation verifies after it: the old key is still
    # listed, valid at the checkpoint's time (though not now).
    "before-and-after-rotation": Row(("old", "new"), None, (("old", 15), ("new", 1)), 0, 2),
    "only-before-rotation": Row(("old", "new"), None, (("old", 15),), 0, 1),
    # Signed by the old key after its overlap ended: the node should not have.
    "old-key-after-its-not-after": Row(
        ("old", "new"), None, (("old", 1),), 1, error="key_not_valid"
    ),
    # The old key pruned from the directory: its checkpoint is named, not failed on ...
    "old-key-pruned": Row(("new",), None, (("old", 15), ("new", 1)), 0, 1, warnings=1),
    # ... unless nothing is left to hold the log to.
    "only-pruned-keys": Row(("new",), None, (("old", 15),), 1, warnings=1, error="unknown_key"),
    # Revoked after the checkpoint: it was made while the key was good.
    "revoked-after-checkpoint": Row(("old", "new"), 12, (("old", 15), ("new", 1)), 0, 2),
    # Made by the old key after its revocation: not evidence.
    "made-after-revocation": Row(("old", "new"), 14, (("old", 13), ("new", 1)), 0, 1, warnings=1),
    "only-made-after-revocation": Row(
        ("old", "new"), 14, (("old", 13),), 1, warnings=1, error="key_revoked"
    ),
}


def directory(listed: tuple[str, ...], old_revoked: datetime | None) -> bytes:
    keys: list[DirectoryKey] = []
    if "old" in listed:
        old = OLD.directory_keys(START, OVERLAP_END)
        keys += [k.model_copy(update={"revoked_at": old_revoked}) for k in old]
    if "new" in listed:
        keys += NEW.directory_keys(ROTATED, NOW + 300 * DAY)
    hub = Identity.generate("XH")
    members = [
        Member(code="FJ", name="Fiji", role=Role.MEMBER, keys=keys),
        Member(
            code="XH",
            name="Hub",
            role=Role.HUB,
            keys=hub.directory_keys(START, NOW + 300 * DAY),
        ),
    ]
    signed = Directory(version=3, issued_at=NOW - DAY, expires_at=NOW + 30 * DAY, members=members)
    return sign_directory(signed, [ROOT])


async def database(path: Path, signed: tuple[tuple[str, float], ...]) -> None:
    """An audit log with one entry per checkpoint, each checkpoint signing the head."""
    db = await Database.open(path)
    try:
        for who, days_ago in signed:
            async with db.transaction() as tx:
                stored = await tx.audit("directory", reason="test")
            at = NOW - timedelta(days=days_ago)
            head = ChainHead(stored.entry.seq, stored.hash)
            blob = make_checkpoint(OLD if who == "old" else NEW, head, at)
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                    " VALUES (?, ?, ?, ?, ?)",
                    ("FJ", head.count, head.head, utc_now_text(at), blob),
                )
    finally:
        await db.close()


def node(tmp_path: Path, row: Row) -> Path:
    revoked = None
    if row.old_revoked_days_ago is not None:
        revoked = NOW - timedelta(days=row.old_revoked_days_ago)
    (tmp_path / "directory.json").write_bytes(directory(row.listed, revoked))
    asyncio.run(database(tmp_path / "lali.db", row.signed))
    config = tmp_path / "node.toml"
    write_node_config(
        config,
        {
            "code": "FJ",
            "identity": "identity.key",
            "directory": "directory.json",
            "root_keys": [base64.b64encode(bytes(ROOT.verify_key)).decode("ascii")],
            "database": "lali.db",
            "nats_url": "nats://127.0.0.1:1",
        },
    )
    return config


def audit_verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--offline", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_checkpoints_are_held_to_the_key_valid_when_they_were_made(
    tmp_path: Path, row: Row
) -> None:
    code, out = audit_verify("--config", str(node(tmp_path, row)))
    assert code == row.exit_code, out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == row.warnings, out
    if row.exit_code == 0:
        assert f"matches {row.matches} signed checkpoint(s)" in out, out
    else:
        assert f"error ({row.error})" in out, out
    for line in warnings:  # each names the checkpoint and why it was left out
        assert f"our checkpoint 1 of {len(row.signed)} in the database" in line, line
        assert OLD.sign_kid in line or "revocation" in line, line


def test_a_missing_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = node(tmp_path, ROWS["before-and-after-rotation"])
    (tmp_path / "lali.db").unlink()
    for args in (("--config", str(config)), ("--db", str(tmp_path / "lali.db"))):
        code, out = audit_verify(*args)
        assert code == 2, out
        assert out.splitlines() == [f"error (storage): no audit database at {tmp_path}/lali.db"]


def test_a_missing_directory_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = node(tmp_path, ROWS["before-and-after-rotation"])
    (tmp_path / "directory.json").unlink()
    code, out = audit_verify("--config", str(config))
    assert code == 2, out
    assert len(out.splitlines()) == 1 and out.startswith("error (config): cannot read"), out
