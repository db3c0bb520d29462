"""`lali demo` end to end, then `lali audit verify` against its audit databases."""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli.main import app
from node.ops.demo import run_demo

pytestmark = pytest.mark.integration

SUMMARY = re.compile(
    r"^demo: sent=(\d+) delivered=(\d+) verified=(\d+) rejected=0 watchlist_hits=(\d+) audit=ok$"
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio

    root = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    assert asyncio.run(run_demo(root, lines.append, timeout=60)) == 0, "\n".join(lines)
    match = SUMMARY.match(lines[-1])
    assert match, lines[-1]
    sent, delivered, verified, hits = map(int, match.groups())
    assert sent >= 8 and delivered == verified and delivered > sent
    assert hits >= 1  # the watch list at TO raised at least one automated hit
    assert any("matches WL-D-0001" in line for line in lines)  # the listed passport
    assert any("cannot read it (not addressed)" in line for line in lines)
    return root


def verify(db: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", str(db)])
    return result.exit_code, result.output


def tampered(demo_dir: Path, tmp_path: Path, *sql: str) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(demo_dir / "FJ" / "lali.db", db)
    with closing(sqlite3.connect(db)) as conn:
        # An attacker with file access simply drops the append-only triggers.
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        for statement in sql:
            conn.execute(statement)
        conn.commit()
    return db


def test_demo_audit_databases_verify(demo_dir: Path) -> None:
    for code in ("XH", "WS", "FJ", "TO"):
        code_, out = verify(demo_dir / code / "lali.db")
        assert code_ == 0, out
        assert out.startswith("audit ok:")


def test_triggers_refuse_edits_through_sqlite(demo_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    shutil.copy(demo_dir / "FJ" / "lali.db", db)
    with closing(sqlite3.connect(db)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE audit SET peer = 'XX' WHERE seq = 2")


@pytest.mark.parametrize(
    ("sql", "seq"),
    [
        (["UPDATE audit SET peer = 'ZZ' WHERE seq = 3"], 3),
        (["UPDATE audit SET envelope = x'00' WHERE seq = 2"], 2),
        (["DELETE FROM audit WHERE seq = 2"], 2),
        # Damage that leaves bytes that are not UTF-8 in a text column: a clear
        # failure, not a UnicodeDecodeError (found by the corrupted-database fault test).
        (["UPDATE audit SET kind = CAST(X'B3FF' AS TEXT) WHERE seq = 2"], 2),
        (["DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)"], None),
        (
            [
                "UPDATE audit SET seq = -1 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = -1",
            ],
            2,
        ),
    ],
    ids=["edit-peer", "edit-envelope", "delete-middle", "not-utf8", "delete-last", "swap"],
)
def test_audit_verify_fails_after_tampering(
    demo_dir: Path, tmp_path: Path, sql: list[str], seq: int | None
) -> None:
    code, out = verify(tampered(demo_dir, tmp_path, *sql))
    assert code == 1, out
    assert "audit_chain_broken" in out
    if seq is not None:
        assert f"entry {seq}" in out


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE inbox SET alert = replace(alert, '\"', ' \"') WHERE rowid = (SELECT MIN(rowid)"
        " FROM inbox)",
        "UPDATE inbox SET sender = 'ZZ' WHERE rowid = (SELECT MIN(rowid) FROM inbox)",
        "DELETE FROM inbox WHERE rowid = (SELECT MAX(rowid) FROM inbox)",
        "UPDATE inbox SET audit_seq = audit_seq + 1 WHERE rowid = (SELECT MIN(rowid) FROM inbox)",
    ],
    ids=["edit-alert", "edit-sender", "delete-row", "relink"],
)
def test_audit_verify_fails_after_the_inbox_is_tampered_with(
    demo_dir: Path, tmp_path: Path, sql: str
) -> None:
    """The inbox is covered by the chain: each row matches the digest its `received`
    entry recorded, and no received alert loses its row unnoticed."""
    code, out = verify(tampered(demo_dir, tmp_path, sql))
    assert code == 1, out
    assert "audit_chain_broken" in out
    assert "inbox row" in out
