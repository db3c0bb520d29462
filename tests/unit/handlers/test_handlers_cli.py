"""`lali handlers list` and `lali handlers test` on a node.toml (no node running)."""

from __future__ import annotations

import json
from pathlib import Path

from handlerkit import recorded
from testkit import sample_alert
from typer.testing import CliRunner

from node.cli.main import app
from schemas.alert import alert_to_json
from schemas.enums import Tlp, Topic


def node_toml(tmp_path: Path) -> Path:
    config = tmp_path / "node.toml"
    config.write_text(
        f"""
code = "FJ"
identity = "identity.key"
directory = "directory.json"
root_keys = ["AAAA"]
database = "lali.db"
[handlers.rec]
type = "handlerkit:Recorder"
max_tlp = "AMBER"
settings = {{ path = "{tmp_path / "rec.log"}" }}
[handlers.ext]
type = "handlerkit:ExternalRecorder"
max_tlp = "RED"
settings = {{ path = "{tmp_path / "ext.log"}" }}
[[routes]]
name = "everything"
handlers = ["rec", "ext"]
"""
    )
    return config


def alert_file(tmp_path: Path, tlp: Tlp) -> Path:
    path = tmp_path / f"alert-{tlp.value}.json"
    path.write_bytes(alert_to_json(sample_alert(Topic.MARITIME).model_copy(update={"tlp": tlp})))
    return path


def test_list_shows_each_instance_s_effective_ceiling(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["handlers", "list", "-c", str(node_toml(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "receives up to AMBER" in lines["rec"]
    assert "receives up to GREEN" in lines["ext"]  # external: capped although RED is set
    assert "route everything" in result.output


def test_test_runs_the_route_under_the_same_policy(tmp_path: Path) -> None:
    config = str(node_toml(tmp_path))
    runner = CliRunner()
    green = runner.invoke(
        app, ["handlers", "test", "everything", str(alert_file(tmp_path, Tlp.GREEN)), "-c", config]
    )
    assert green.exit_code == 0, green.output
    assert "rec: ok" in green.output and "ext: ok" in green.output
    amber = runner.invoke(
        app, ["handlers", "test", "everything", str(alert_file(tmp_path, Tlp.AMBER)), "-c", config]
    )
    assert amber.exit_code == 0, amber.output
    assert "ext: refused by policy (AMBER above GREEN)" in amber.output
    assert [r[2] for r in recorded(tmp_path / "rec.log")] == ["GREEN", "AMBER"]
    assert [r[2] for r in recorded(tmp_path / "ext.log")] == ["GREEN"]
    audit_line = next(line for line in green.output.splitlines() if "audit recorded" in line)
    assert set(json.loads(audit_line.split("audit recorded ", 1)[1])) == {"line"}


def test_an_unknown_route_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "handlers",
            "test",
            "nope",
            str(alert_file(tmp_path, Tlp.GREEN)),
            "-c",
            str(node_toml(tmp_path)),
        ],
    )
    assert result.exit_code == 2
    assert "no route 'nope'" in result.output
    assert "(its routes: everything)" in result.output  # what to use instead
