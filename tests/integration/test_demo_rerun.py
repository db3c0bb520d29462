"""`lali demo --data-dir DIR` twice: the second run starts a clean network (the first
one moved aside, and said so), so `lali audit verify --config` passes on every node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli.main import app
from node.ops.demo import MEMBERS, run_demo

pytestmark = pytest.mark.integration


def demo(root: Path) -> list[str]:
    lines: list[str] = []
    assert asyncio.run(run_demo(root, lines.append, timeout=60)) == 0, "\n".join(lines)
    assert lines[-1].endswith("audit=ok"), lines[-1]
    return lines


def audit_verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", *args])
    return result.exit_code, result.output


def test_a_second_demo_in_the_same_data_dir_starts_a_clean_network(tmp_path: Path) -> None:
    root = tmp_path / "x"
    first = demo(root)
    assert not any("moved" in line for line in first)
    old_directory = (root / "directory.json").read_bytes()

    second = demo(root)
    moved = [line for line in second if "moved" in line]
    assert len(moved) == 1, "\n".join(second)
    aside = next(p for p in tmp_path.iterdir() if p.name.startswith("x.old-"))
    assert str(aside) in moved[0]
    # The first network is kept whole, beside the new one: nothing was deleted.
    assert (aside / "directory.json").read_bytes() == old_directory
    assert (root / "directory.json").read_bytes() != old_directory

    for spec in MEMBERS:
        code, out = audit_verify("--offline", "--config", str(root / spec.code / "node.toml"))
        assert code == 0, out
        assert "matches" in out and "warning" not in out, out
        # The old network still verifies against its own keys.
        code, out = audit_verify("--offline", "--config", str(aside / spec.code / "node.toml"))
        assert code == 0, out
    # And as from a shell after `make demo`: the demo's server is gone by now.
    code, out = audit_verify("--config", str(root / "FJ" / "node.toml"))
    assert code == 0, out
    assert "hub unreachable" in out


def test_a_directory_that_is_not_a_demo_network_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("not a demo\n")
    lines: list[str] = []
    assert asyncio.run(run_demo(root, lines.append, timeout=60)) == 2
    assert len(lines) == 1 and lines[0].startswith("demo: error (config):"), lines
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
