"""The import contracts (pyproject's [tool.importlinter]) hold, and breaking one fails.

``make test`` runs ``lint-imports`` on the tree; these tests show that the contracts
would catch the drift they exist for, on a copy of the packages with one bad import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    for package in ("node", "keys", "schemas"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, before the installed (editable) project.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def _add_import(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    text = path.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text, f"{module} has no anchor line to insert after"
    path.write_text(text.replace(anchor, f"{anchor}\n{line}  # noqa\n", 1))


def test_the_tree_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("node.protocol.wire", "import nats", "node.protocol.wire -> nats"),
        ("node.protocol.envelope", "import asyncio", "node.protocol.envelope -> asyncio"),
        ("keys.verify", "import structlog", "keys.verify -> structlog"),
        ("node.exchange.outbound", "import sqlite3", "node.exchange.outbound -> sqlite3"),
        ("node.exchange.trust", "import node.runtime", "node.exchange.trust -> node.runtime"),
        ("node.protocol.chain", "import node.storage.database", "node.protocol.chain ->"),
        ("schemas.alert", "import keys", "schemas.alert -> keys"),
        ("node.hub.correlate", "import node.cli.main", "node.hub.correlate -> node.cli.main"),
    ],
)
def test_a_forbidden_import_breaks_the_build(
    tmp_path: Path, module: str, line: str, expected: str
) -> None:
    tree = _copy(tmp_path)
    _add_import(tree, module, line)
    result = _lint(tree)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout
