"""The operator's manual flow, end to end, with the installed ``lali`` command.

Everything runs as real subprocesses, as an operator would type it (see
docs/operations.md): member identities and the hub's signed directory, node.toml files,
a running node, ``lali send``, ``lali inbox`` and ``lali audit``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import schemas
from node.ops.natsserver import NatsServer
from node.ops.provision import write_node_config

pytestmark = pytest.mark.integration

LALI = Path(sys.executable).parent / "lali"
EXAMPLE = Path(schemas.__file__).resolve().parent / "examples" / "valid" / "maritime.json"
MESSAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
INBOX_DEADLINE_S = 30.0  # how long FJ's node may take to receive the alert
STOP_TIMEOUT_S = 30.0  # TimeoutStopSec of deploy/systemd/lali-node.service
FJ_PASSPHRASE = "kava at dawn, Suva harbour"
ROOT_PASSPHRASE = "hub root: kept offline"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LALI_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LALI_")}
    env.update(extra)
    return env


def lali(
    command: str, *args: str | Path, env: dict[str, str] | None = None, **options: str | Path
) -> subprocess.CompletedProcess[str]:
    """Run ``lali <command> --option value ... args``; ``foo_bar=`` becomes ``--foo-bar``."""
    argv = [str(LALI), *command.split()]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return subprocess.run(
        [*argv, *map(str, args)],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_for_inbox(config: Path, message_id: str) -> str:
    """Bounded poll of `lali inbox`: the delivery happens in another process (the node),
    which gives this one no event to wait on."""
    deadline = time.monotonic() + INBOX_DEADLINE_S
    while True:
        listing = ok(lali("inbox", config=config))
        if message_id in listing:
            return listing
        if time.monotonic() > deadline:
            pytest.fail(f"{message_id} not in the inbox after {INBOX_DEADLINE_S}s: {listing}")
        time.sleep(0.25)


def current_alert(tmp_path: Path) -> tuple[Path, str]:
    """The maritime example with its expiry moved a week ahead (the flow does not
    depend on the example's own date; `lali send` refuses an expired alert)."""
    alert = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    alert["expires_at"] = (datetime.now(UTC) + timedelta(days=7)).isoformat(timespec="seconds")
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert, indent=2), encoding="utf-8")
    return path, str(alert["title"])


def test_operator_flow_with_the_lali_command(tmp_path: Path, nats_server: NatsServer) -> None:
    fj_env = clean_env(LALI_PASSPHRASE=FJ_PASSPHRASE)

    # 1. Each member creates its identity; FJ protects its key file with a passphrase.
    homes = {code: tmp_path / code for code in ("WS", "FJ", "XH")}
    for code, home in homes.items():
        home.mkdir()
        key, public = home / "identity.key", tmp_path / f"{code}.pub.json"
        env = fj_env if code == "FJ" else None
        out = ok(lali("keys init", code=code, out=key, public_out=public, env=env))
        assert f"created {key} for {code}" in out
        assert mode(key) == 0o600
        assert json.loads(public.read_text(encoding="utf-8"))["code"] == code
    fj_key = homes["FJ"] / "identity.key"
    no_passphrase = lali("keys show", fj_key)
    assert no_passphrase.returncode == 2
    assert "error (key_file): key file is passphrase-protected" in no_passphrase.stderr
    assert "member FJ" in ok(lali("keys show", fj_key, env=fj_env))

    # 2. The hub creates its root key (passphrase from a file) and signs the directory.
    hub = tmp_path / "hub"
    hub.mkdir()
    pass_file = hub / "root.pass"
    pass_file.write_text(ROOT_PASSPHRASE + "\n", encoding="utf-8")
    draft, root_key, directory = hub / "draft.json", hub / "root.key", tmp_path / "directory.json"
    out = ok(lali("directory init", root_key=root_key, draft=draft, passphrase_file=pass_file))
    root_public = out.strip().splitlines()[-1]
    assert mode(root_key) == 0o600
    members = [("XH", "hub", "Regional hub"), ("WS", "member", "Samoa"), ("FJ", "member", "Fiji")]
    for code, role, name in members:
        public = tmp_path / f"{code}.pub.json"
        out = ok(lali("directory add", draft=draft, public=public, name=name, role=role))
        assert f"{code} ({name}, {role})" in out
    signing = {"root_key": root_key, "passphrase_file": pass_file}
    out = ok(lali("directory sign", draft=draft, out=directory, **signing))
    assert out.startswith("directory version 1 signed by ")
    shown = ok(lali("directory show", directory, root_public=root_public))
    assert "directory version 1" in shown and "signature ok" in shown
    for code, role, name in members:
        assert re.search(rf"^  {code}  {role}\s+{name}$", shown, re.MULTILINE), shown

    # 3. Each member writes its node.toml, and so does the hub.
    configs: dict[str, Path] = {}
    for code in ("WS", "FJ", "XH"):
        configs[code] = homes[code] / "node.toml"
        write_node_config(
            configs[code],
            {
                "code": code,
                "identity": "identity.key",
                "directory": "../directory.json",
                "root_keys": [root_public],
                "database": "lali.db",
                "nats_url": nats_server.url,
                "nats_tls_ca": str(nats_server.tls.ca),
            },
        )
    ws, fj = configs["WS"], configs["FJ"]

    # 4. The hub makes the stream and the members' consumers (what its node does as it
    #    starts; members may only bind to theirs). FJ's node runs; WS sends with
    #    `lali send` alone (its node is not running).
    assert "configured 3 consumers" in ok(lali("deploy consumers", config=configs["XH"]))
    node_log = tmp_path / "fj-node.log"
    with node_log.open("wb") as log:
        fj_node = subprocess.Popen(
            [str(LALI), "--log-json", "node", "run", "--config", str(fj)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=fj_env,
        )
    try:
        alert_file, title = current_alert(tmp_path)
        sent = lali("send", alert_file, config=ws, to="FJ", topic="maritime")
        message_id = ok(sent).strip()
        assert MESSAGE_ID.match(message_id), sent.stdout
        assert "published: maritime to FJ" in sent.stderr

        listing = wait_for_inbox(fj, message_id)
        assert re.search(rf"\sWS\s+maritime\s+GREEN\s+urgent\s+new\s+{message_id}$", listing)

        # 5. SIGTERM: the node drains and exits 0, promptly.
        stop_started = time.monotonic()
        fj_node.send_signal(signal.SIGTERM)
        returncode = fj_node.wait(timeout=2 * STOP_TIMEOUT_S)
        stop_took = time.monotonic() - stop_started
    finally:
        if fj_node.poll() is None:
            fj_node.kill()
            fj_node.wait()
    node_output = node_log.read_text(encoding="utf-8")
    assert returncode == 0, node_output
    assert '"event": "node_closed"' in node_output
    # Within the unit's TimeoutStopSec, after which systemd would kill it.
    assert stop_took < STOP_TIMEOUT_S, node_output

    # 6. The audit log verifies and records the reception; the inbox shows the alert.
    assert ok(lali("audit verify", config=fj)).startswith("audit ok: ")
    received = ok(lali("audit list", config=fj, kind="received"))
    assert re.search(rf"\sreceived\s+{message_id}\s+WS\s+maritime\s", received), received
    shown_alert = json.loads(ok(lali("inbox", config=fj, show=message_id)))
    assert shown_alert["title"] == title
    assert shown_alert["payload"]["vessel"]["name"] == "CORAL MERIDIAN"

    # 7. Handling rules hold before anything is committed: TLP:RED needs named recipients.
    refused = lali("send", alert_file, config=ws, to="all", tlp="RED")
    assert refused.returncode == 2
    assert "error (policy): TLP:RED needs named recipients, not 'all'" in refused.stderr
    assert refused.stdout == ""
    sent_entries = ok(lali("audit list", config=ws, kind="sent"))
    assert len(sent_entries.splitlines()) == 1 and message_id in sent_entries
