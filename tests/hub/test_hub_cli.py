"""`lali hub run`, `lali hub passwd` and `lali hub bulletin`."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from hubkit import start_server, write_hub_config
from typer.testing import CliRunner

from node.cli.main import app
from node.hub.auth import PasswordFile
from node.ops.provision import Network

pytestmark = pytest.mark.integration
LALI = Path(sys.executable).parent / "lali"


def test_passwd_sets_an_argon2id_hash(network: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_toml = write_hub_config(network)
    answers = iter(["a-long-enough-secret", "a-long-enough-secret", "short", "short"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    result = CliRunner().invoke(app, ["hub", "passwd", "--config", str(hub_toml), "--user", "ana"])
    assert result.exit_code == 0, result.output
    passwords = PasswordFile(network.root / "XH" / "console-passwd.json")
    account = passwords.verify("ana", "a-long-enough-secret")
    assert account is not None and not account.one_time
    assert passwords.verify("ana", "a-long-enough-secreT") is None
    result = CliRunner().invoke(app, ["hub", "passwd", "--config", str(hub_toml)])
    assert result.exit_code == 1 and "12 to 1024 characters" in result.output


def test_bulletin_from_the_command_line(network: Network, tmp_path: Path) -> None:
    hub_toml = write_hub_config(network)
    analysis = tmp_path / "analysis.txt"
    analysis.write_text("Three sightings of one vessel suggest a shuttle run.\n")
    base = ["hub", "bulletin", "--config", str(hub_toml), "--analysis-file", str(analysis)]
    result = CliRunner().invoke(app, [*base, "--to", "WS,FJ", "--title", "Shuttle run"])
    assert result.exit_code == 0, result.output
    message_id = result.stdout.strip().splitlines()[0]
    db = network.root / "XH" / "lali.db"
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT recipients, state FROM outbox WHERE message_id = ?", (message_id,)
        ).fetchone()
        kept = conn.execute(
            "SELECT title, alert FROM hub_bulletins WHERE message_id = ?", (message_id,)
        ).fetchone()
    assert row == ("WS,FJ", "published")
    assert kept[0] == "Shuttle run" and json.loads(kept[1])["payload"]["topic"] == "bulletin"
    unknown = "01a22874-59f1-7bf9-bd6a-6861ff3261c9"
    result = CliRunner().invoke(app, [*base, "--to", "WS", "--title", "t", "--ref", unknown])
    assert result.exit_code == 2 and "not an alert the hub holds" in result.output


async def test_hub_run_prints_a_one_time_login_and_stops_on_sigterm(tmp_path: Path) -> None:
    network, server = await start_server(tmp_path)
    hub_toml = write_hub_config(network)
    proc = await asyncio.create_subprocess_exec(
        str(LALI), "--log-json", "hub", "run", "--config", str(hub_toml),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        async with asyncio.timeout(60):
            while not any("console on" in line for line in lines):
                line = (await proc.stderr.readline()).decode()
                assert line, "\n".join(lines)
                lines.append(line)
        text = "".join(lines)
        # No terminal (a service): the one-time login goes to a 0600 file, not the log.
        first = network.root / "XH" / "console-passwd.json.first-login"
        assert f"one-time console login is in {first}" in text
        assert first.stat().st_mode & 0o777 == 0o600
        password = re.search(r"one-time password (\S+)", first.read_text())
        url = re.search(r"console on (http://127\.0\.0\.1:\d+)", text)
        assert password and url, text
        assert password.group(1) not in text
        async with httpx.AsyncClient(base_url=url.group(1)) as client:
            form = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            data = {"csrf": csrf.group(1), "user": "operator", "password": password.group(1)}
            login = await client.post("/login", data=data)
            assert login.headers["location"] == "/password"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.to_thread(server.stop)
