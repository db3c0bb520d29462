"""``lali check``: every valid example passes, every invalid one fails, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit import EXAMPLES
from typer.testing import CliRunner

from node.cli.main import app

VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))


def check(*args: str | Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["check", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output.splitlines()


def test_every_valid_example_can_be_sent() -> None:
    code, lines = check(*VALID)
    assert code == 0, lines
    assert lines == [f"ok {path}" for path in VALID]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_every_invalid_example_fails_with_one_line(path: Path) -> None:
    code, lines = check(path)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: error (schema_violation): alert does not match")


def test_valid_examples_do_not_expire_for_decades() -> None:
    # `lali send` refuses an expired alert; the examples must stay sendable.
    for path in VALID:
        expires = json.loads(path.read_text(encoding="utf-8")).get("expires_at")
        if expires is not None:
            assert datetime.fromisoformat(expires) > datetime(2090, 1, 1, tzinfo=UTC), path


def test_expired_and_policy_refusals_use_the_messages_of_send(tmp_path: Path) -> None:
    alert = json.loads((EXAMPLES / "valid" / "maritime.json").read_text(encoding="utf-8"))
    alert["expires_at"] = "2025-07-23T18:00:00+13:00"
    expired = tmp_path / "expired.json"
    expired.write_text(json.dumps(alert), encoding="utf-8")
    code, lines = check(expired)
    assert (code, lines) == (1, [f"{expired}: error (policy): the alert has already expired"])

    maritime = EXAMPLES / "valid" / "maritime.json"
    code, lines = check("--to", "all", "--tlp", "RED", maritime)
    assert code == 1
    assert lines == [f"{maritime}: error (policy): TLP:RED needs named recipients, not 'all'"]
    assert check("--to", "FJ,to", "--tlp", "RED", maritime) == (0, [f"ok {maritime}"])
    code, lines = check("--topic", "asylum", maritime)
    assert (code, lines[0]) == (
        1,
        f"{maritime}: error (schema_violation): --topic asylum but the alert is maritime",
    )


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "valid" / "maritime.json").read_bytes())
    assert check(bom) == (0, [f"ok {bom}"])


def test_an_unreadable_file_is_a_usage_error_and_the_others_are_still_checked(
    tmp_path: Path,
) -> None:
    missing, valid, invalid = tmp_path / "missing.json", VALID[0], INVALID[0]
    code, lines = check(valid, missing, invalid)
    assert code == 2
    assert lines[0] == f"ok {valid}"
    assert (
        lines[1] == f"{missing}: error (unreadable): cannot read {missing}:"
        " No such file or directory"
    )
    assert lines[2].startswith(f"{invalid}: error (schema_violation)")


def test_help_names_an_example_that_works() -> None:
    result = CliRunner().invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    assert "lali check schemas/examples/valid/*.json" in result.output
