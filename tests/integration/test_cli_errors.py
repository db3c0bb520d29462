"""No tracebacks: every command, given a bad file or a bad config, says one line.

A walk over the commands that read files an operator names (``send``, ``inbox``,
``status``, ``check``, ``watchlist import``/``check``, ``handlers test``, ``keys show``,
``node run`` up to its config, ``directory show``) with a missing file, a directory, a
file that is not UTF-8, an empty file and a config that is not UTF-8. Usage and config
errors exit 2, a failed check 1; the one line names the file; no "Traceback".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit import EXAMPLES
from typer.testing import CliRunner

from node.cli.main import app
from node.config import NodeSettings
from node.handlers.builtin.watchlist_store import CSV_COLUMNS
from node.ops.demo import add_watchlist
from node.ops.provision import write_node_config

ROOT = base64.b64encode(bytes(32)).decode()
ALERT = EXAMPLES / "valid" / "maritime.json"
WATCHLIST = EXAMPLES.parents[1] / "deploy" / "watchlist.example.csv"

Argv = Callable[[Path, Path], list[str]]  # (bad file, good config) -> arguments

# The bad file in the place of the file a command reads.
FILE_COMMANDS: dict[str, Argv] = {
    "check": lambda f, c: ["check", str(f)],
    "send": lambda f, c: ["send", str(f), "-c", str(c), "--to", "FJ"],
    "watchlist import": lambda f, c: ["watchlist", "import", str(f), "--into", f"{f}.sqlite"],
    "watchlist check": lambda f, c: ["watchlist", "check", str(f), "--list", str(WATCHLIST)],
    "handlers test": lambda f, c: ["handlers", "test", "check-everything", str(f), "-c", str(c)],
    "keys show": lambda f, c: ["keys", "show", str(f)],
    "directory show": lambda f, c: ["directory", "show", str(f), "--root-public", ROOT],
}
# The bad file in the place of node.toml.
CONFIG_COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "send": lambda c: ["send", str(ALERT), "-c", str(c), "--to", "FJ"],
    "inbox": lambda c: ["inbox", "-c", str(c)],
    "inbox --show": lambda c: ["inbox", "-c", str(c), "--show", "x"],
    "status": lambda c: ["status", "0193a5c2-7d1e-7a4b-9c3d-2f1e0a9b8c7d", "-c", str(c)],
    "node run": lambda c: ["node", "run", "-c", str(c)],
    "handlers test": lambda c: ["handlers", "test", "check-everything", str(ALERT), "-c", str(c)],
    "handlers list": lambda c: ["handlers", "list", "-c", str(c)],
}


def bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b"\xff\xfe\x00not text\x81")
    elif kind == "empty":
        path.write_bytes(b"")
    if path.is_file():
        path.chmod(0o600)  # `keys show` checks the mode before the content
    return path


def good_config(tmp_path: Path) -> Path:
    config = tmp_path / "node.toml"
    write_node_config(
        config,
        {
            "code": "WS",
            "identity": "ws.key",
            "directory": "directory.json",
            "root_keys": [ROOT],
            "database": "ws.sqlite",
        },
    )
    with config.open("a", encoding="utf-8") as f:
        f.write(
            '\n[handlers.watch]\ntype = "watchlist"\nmax_tlp = "RED"\n'
            f'settings = {{ path = "{WATCHLIST}" }}\n'
            '[[routes]]\nname = "check-everything"\nhandlers = ["watch"]\n'
        )
    return config


def run(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{argv}: {result.exception!r}"
    )
    return result.exit_code, result.output


def one_line_naming(output: str, path: Path) -> str:
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert str(path) in lines[0], output
    return lines[0]


KINDS = ["missing", "directory", "not-utf8", "empty"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_a_bad_file_is_one_line(tmp_path: Path, command: str, kind: str) -> None:
    path = bad_file(tmp_path, kind)
    code, output = run(FILE_COMMANDS[command](path, good_config(tmp_path)))
    one_line_naming(output, path)
    readable = kind in ("not-utf8", "empty")
    # Only `check` judges content as its answer; for the others bad input is a usage error.
    assert code == (1 if command == "check" and readable else 2), output


@pytest.mark.parametrize("kind", [*KINDS, "not-utf8-toml"])
@pytest.mark.parametrize("command", list(CONFIG_COMMANDS))
def test_a_bad_config_is_one_line(tmp_path: Path, command: str, kind: str) -> None:
    if kind == "not-utf8-toml":  # TOML syntax, but a byte that is not UTF-8
        path = tmp_path / "node.toml"
        path.write_bytes(b'code = "W\xe9"\n')
    else:
        path = bad_file(tmp_path, kind)
    code, output = run(CONFIG_COMMANDS[command](path))
    line = one_line_naming(output, path)
    assert code == 2
    assert line.startswith("error (config): ")


def test_an_alert_with_a_byte_order_mark_is_read_by_send_as_by_check(tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + ALERT.read_bytes())
    assert run(["check", str(bom)]) == (0, f"ok {bom}\n")
    # `send` gets past the alert to the (absent) identity key: the alert was read.
    code, output = run(["send", str(bom), "-c", str(good_config(tmp_path)), "--to", "FJ"])
    assert code == 2
    assert "schema_violation" not in output and "Traceback" not in output


def test_a_csv_row_with_too_few_cells_is_a_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    good = "P-1,person,TUILAGI,Sione,,1980-01-01,,,,,,"
    source.write_text(
        "\n".join((",".join(CSV_COLUMNS), good, "P-2,person,FALE")) + "\n", encoding="utf-8"
    )
    code, output = run(["watchlist", "import", str(source), "--into", str(tmp_path / "l.db")])
    assert code == 1
    assert "line 3: fewer cells than the header" in output
    assert "Traceback" not in output


def test_handlers_test_help_names_a_route_of_the_demo(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    write_node_config(
        config,
        {"code": "TO", "identity": "k", "directory": "d", "root_keys": [ROOT], "database": "db"},
    )
    assert add_watchlist(config)  # what `lali demo` gives its watching member
    routes = {route.name for route in NodeSettings.load(config).routes}
    code, output = run(["handlers", "test", "--help"])
    assert code == 0
    example = re.search(r"Example: lali handlers test (\S+) ", output)
    assert example is not None and example[1] in routes, output


def test_send_refuses_what_policy_refuses_before_any_node_or_network(tmp_path: Path) -> None:
    """An expired alert, or TLP:RED to 'all', is refused at once: the node (here its
    absent key file, offline a 10 s wait for the link) is never reached."""
    expired = tmp_path / "expired.json"
    data = json.loads(ALERT.read_text())
    data["observed_at"] = "2020-01-01T00:00:00Z"
    data["expires_at"] = "2020-01-02T00:00:00Z"
    expired.write_text(json.dumps(data))
    config = str(good_config(tmp_path))
    code, output = run(["send", str(expired), "-c", config, "--to", "FJ"])
    assert code == 2 and "(policy)" in output and "expired" in output, output
    assert "key" not in output.lower()  # refused before the node reads its key file
    code, output = run(["send", str(ALERT), "-c", config, "--to", "all", "--tlp", "RED"])
    assert code == 2 and "(policy)" in output, output
    assert "key" not in output.lower()
