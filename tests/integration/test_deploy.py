"""The files in ``deploy/``: they load, the real nats-server accepts them, and the
single-server configuration enforces what its comments promise (TLS for every client;
a member publishes only as itself and reaches only its own consumer)."""

from __future__ import annotations

import asyncio
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from natskit import (
    deploy_tls,
    example_nkey,
    nats_config_test,
    new_user_nkey,
    replace_once,
    tls_connect,
    tls_context,
    with_tls_dir,
)
from nodekit import accepted, start_node
from testkit import sample_alert

from keys import Role
from node.config import NodeSettings
from node.exchange.trust import parse_root_keys
from node.ops.natsserver import NatsServer
from node.ops.provision import MemberSpec, Network, provision
from node.ops.tls import TlsDir
from node.runtime import Node
from schemas.alert import Topic
from schemas.errors import ConfigError, TransportError

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SINGLE = DEPLOY / "nats" / "single.conf"
CODES = ("XH", "WS", "FJ", "TO")


# --- node.example.toml ----------------------------------------------------------------


def test_node_example_loads_with_production_paths() -> None:
    settings = NodeSettings.load(DEPLOY / "node.example.toml")
    assert settings.identity == Path("/etc/lali/identity.key")
    assert settings.directory == Path("/etc/lali/directory.json")
    assert settings.database == Path("/var/lib/lali/lali.db")
    assert settings.nats_nkey_seed_file == Path("/etc/lali/nats-user.nk")
    assert settings.nats_url.startswith("tls://")
    assert settings.nats_tls_ca == Path("/etc/lali/tls/ca.pem")
    assert set(settings.topics) == set(Topic)


def test_node_example_documents_every_setting() -> None:
    text = (DEPLOY / "node.example.toml").read_text(encoding="utf-8")
    for name in NodeSettings.model_fields:
        # Set, or shown commented out with the value to use, under a comment.
        match = re.search(rf"^# .*\n(# )?{name} = ", text, re.MULTILINE)
        assert match, f"{name} is not documented in node.example.toml"


def test_node_example_root_key_placeholder_fails_closed() -> None:
    settings = NodeSettings.load(DEPLOY / "node.example.toml")
    with pytest.raises(ConfigError):
        parse_root_keys(settings.root_keys)


# --- nats/single.conf: the server's own configuration check ---------------------------


def test_single_conf_passes_the_server_config_check(tmp_path: Path) -> None:
    # The check opens the TLS files the config names: those of `lali deploy tls`.
    text = with_tls_dir(SINGLE.read_text(encoding="utf-8"), deploy_tls(tmp_path / "tls"))
    conf = tmp_path / "single.conf"
    conf.write_text(
        replace_once(text, '"/var/lib/nats"', f'"{tmp_path / "store"}"'), encoding="utf-8"
    )
    result = nats_config_test(conf)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_single_conf_config_check_catches_a_broken_file(tmp_path: Path) -> None:
    # The check above means something: a damaged durability setting fails it.
    text = with_tls_dir(SINGLE.read_text(encoding="utf-8"), deploy_tls(tmp_path / "tls"))
    conf = tmp_path / "broken.conf"
    conf.write_text(
        replace_once(text, "sync_interval: always", "sync_interval: sometimes"), encoding="utf-8"
    )
    result = nats_config_test(conf)
    assert result.returncode != 0
    assert "sync_interval" in result.stderr


def test_single_conf_requires_tls_with_the_files_lali_deploy_tls_writes(tmp_path: Path) -> None:
    text = SINGLE.read_text(encoding="utf-8")
    block = re.search(r"^tls \{\n(.*?)^\}\n", text, re.MULTILINE | re.DOTALL)
    assert block is not None, "single.conf has no (enabled) tls block"
    settings = dict(re.findall(r"^  (\w+):\s+(\S+)$", block.group(1), re.MULTILINE))
    tls = TlsDir(Path("/etc/nats/tls"))
    assert settings == {
        "cert_file": f'"{tls.server_cert}"',
        "key_file": f'"{tls.server_key}"',
        "ca_file": f'"{tls.ca}"',
        "handshake_first": "true",
        "timeout": "5",
    }
    # Without the files the server refuses to start: TLS cannot be skipped by accident.
    conf = tmp_path / "single.conf"
    conf.write_text(replace_once(text, '"/var/lib/nats"', f'"{tmp_path}"'), encoding="utf-8")
    result = nats_config_test(conf)
    assert result.returncode != 0
    assert "server.pem" in result.stderr


# --- nats/single.conf: the permissions, on a running server ---------------------------


@dataclass
class Violations:
    """Errors the server reports asynchronously to one raw client connection."""

    seen: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc))
        self.changed.set()

    async def wait_for(self, subject: str, timeout: float = 10.0, kind: str = "publish") -> None:
        wanted = f'permissions violation for {kind} to "{subject}"'.lower()
        try:
            async with asyncio.timeout(timeout):
                while not any(wanted in s.lower() for s in self.seen):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            pytest.fail(f"the server did not refuse a publish to {subject}; errors: {self.seen}")


@dataclass
class SecuredNetwork:
    server: NatsServer
    network: Network
    seeds: dict[str, Path]


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[SecuredNetwork]:
    """single.conf on a real server (fresh nkeys, loopback ports) and a provisioned
    network whose node.toml files name each member's nkey seed file."""
    text = SINGLE.read_text(encoding="utf-8")
    tls = deploy_tls(tmp_path / "tls")
    conf = with_tls_dir(replace_once(text, 'http: "127.0.0.1:8222"', 'http: "127.0.0.1:-1"'), tls)
    # NatsServer passes the store directory as -sd; the file may not name one too.
    conf = replace_once(conf, '  store_dir: "/var/lib/nats"\n', "")
    keys = {code: new_user_nkey() for code in CODES}
    for code, (_, public) in keys.items():
        conf = replace_once(conf, example_nkey(text, code), public)
    conf_path = tmp_path / "single.conf"
    conf_path.write_text(conf, encoding="utf-8")
    server = NatsServer(
        tmp_path / "nats", config_file=conf_path, tls=tls.server, tls_in_config=True
    )
    await asyncio.to_thread(server.start)
    try:
        members = [MemberSpec("XH", "Regional hub", Role.HUB)]
        members += [MemberSpec(code, f"member {code}") for code in CODES[1:]]
        network = provision(
            tmp_path / "net", members, server.url, datetime.now(UTC), tls_ca=server.tls.ca
        )
        seeds: dict[str, Path] = {}
        for code, (seed, _) in keys.items():
            # node.toml already names nats.seed; put the key single.conf knows there.
            seeds[code] = network.root / code / "nats.seed"
            seeds[code].write_bytes(seed + b"\n")
            seeds[code].chmod(stat.S_IRUSR | stat.S_IWUSR)
        yield SecuredNetwork(server, network, seeds)
    finally:
        await asyncio.to_thread(server.stop)


async def connect_as(server: NatsServer, code: str, seed: Path, violations: Violations) -> Client:
    return await tls_connect(
        server.url,
        server.tls.ca,
        nkeys_seed=str(seed),
        inbox_prefix=f"_INBOX_{code}",
        error_cb=violations.on_error,
        allow_reconnect=False,
    )


@pytest.mark.integration
async def test_single_conf_refuses_a_client_without_a_known_nkey(
    secured: SecuredNetwork,
) -> None:
    violations = Violations()
    client = Client()  # not nats.connect(): on failure it would drop an open socket
    try:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await client.connect(
                secured.server.url,
                tls=tls_context(secured.server.tls.ca),
                tls_handshake_first=True,
                error_cb=violations.on_error,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=5,
            )
    finally:
        await client.close()


@pytest.mark.integration
async def test_single_conf_members_publish_only_as_themselves(
    secured: SecuredNetwork,
) -> None:
    violations = Violations()
    ws = await connect_as(secured.server, "WS", secured.seeds["WS"], violations)
    nodes: list[Node] = []
    try:
        # 1. A member cannot create the stream: only the hub can.
        # (A JetStream request would just time out; the server's error says why.)
        await ws.publish("$JS.API.STREAM.CREATE.LALI_ALERTS", b"{}", reply=ws.new_inbox())
        await violations.wait_for("$JS.API.STREAM.CREATE.LALI_ALERTS")

        # 2. With its own nkey, each node runs: the hub first, creating the stream.
        for code in ("XH", "WS"):
            nodes.append((await start_node(secured.network, code))[0])
        fj, fj_watcher = await start_node(secured.network, "FJ")
        nodes.append(fj)
        receipt_back = asyncio.Event()
        nodes[1].receipt_listeners.append(
            lambda d: receipt_back.set() if d.outcome == "recorded" else None
        )
        result = await nodes[1].send(sample_alert(Topic.MARITIME), ["FJ"])
        assert result.state == "published"
        await fj_watcher.wait(accepted(result.message_id))
        await asyncio.wait_for(receipt_back.wait(), 20)  # FJ's receipt is in the stream

        # 3. WS cannot publish as FJ, nor pull from or ack on FJ's consumer.
        for subject in (
            "lali.alert.maritime.FJ",
            "lali.receipt.XH.FJ",
            "$JS.API.CONSUMER.MSG.NEXT.LALI_ALERTS.node-FJ",
            "$JS.API.CONSUMER.CREATE.LALI_ALERTS.node-FJ",
            "$JS.ACK.LALI_ALERTS.node-FJ.1.1.1.0.0",
        ):
            await ws.publish(subject, b"{}", reply=ws.new_inbox())
            await violations.wait_for(subject)

        # 3b. ...nor read FJ's replies (pulled envelopes, acks) on FJ's inbox prefix.
        await ws.subscribe("_INBOX_FJ.>")
        await violations.wait_for("_INBOX_FJ.>", kind="subscription")

        # 4. ...so the stream holds only what WS and FJ sent as themselves.
        xh = await connect_as(secured.server, "XH", secured.seeds["XH"], Violations())
        try:
            info = await xh.jetstream().stream_info("LALI_ALERTS", subjects_filter=">")
        finally:
            await xh.close()
        subjects = info.state.subjects or {}
        # The alert WS sent as itself and FJ's receipt; besides them only the nodes' own
        # checkpoints (each signs its head at start), each on its own subject.
        assert {s: n for s, n in subjects.items() if not s.startswith("lali.checkpoint.")} == {
            "lali.alert.maritime.WS": 1,
            "lali.receipt.WS.FJ": 1,
        }
        assert set(subjects) - {"lali.alert.maritime.WS", "lali.receipt.WS.FJ"} <= {
            "lali.checkpoint.WS",
            "lali.checkpoint.FJ",
            "lali.checkpoint.XH",
        }
        assert fj_watcher.decisions[-1].message_id == result.message_id
    finally:
        await ws.close()
        for node in reversed(nodes):
            await node.aclose()


# --- systemd units --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", ["lali-node.service", "nats-server.service"])
def test_systemd_unit_verifies(tmp_path: Path, unit: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    # The units name the production virtualenv; point them at this one so that
    # systemd-analyze can check the executables too.
    text = text.replace("/opt/lali/venv/bin", str(Path(sys.executable).parent))
    variants = {unit: text}
    if unit == "lali-node.service":
        # The commented passphrase-credential variant must be valid when enabled.
        enabled = re.sub(r"^#(LoadCredential=|ExecStart=)", r"\1", text, flags=re.MULTILINE)
        assert enabled.count("ExecStart=") == 3
        variants["lali-node-credential.service"] = enabled
    for name, body in variants.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        result = subprocess.run(
            ["systemd-analyze", "verify", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_lali_node_unit_runs_the_node_as_specified() -> None:
    text = (DEPLOY / "systemd" / "lali-node.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["Type"] == "simple"
    assert settings["User"] == "lali"
    assert settings["ExecStart"].endswith("lali --log-json node run --config /etc/lali/node.toml")
    assert settings["ReadWritePaths"] == "/var/lib/lali"
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "PrivateTmp": "true",
        "KillSignal": "SIGTERM",
        "TimeoutStopSec": "30",
        "Restart": "on-failure",
    }.items():
        assert settings[key] == value, key


@pytest.mark.integration
async def test_single_conf_lets_the_hub_publish_and_members_follow_the_directory(
    secured: SecuredNetwork,
) -> None:
    from datetime import timedelta

    from keys import Directory, load_root_key, sign_directory, verify_directory
    from node.exchange.directory_feed import publish_directory
    from node.exchange.trust import parse_root_keys

    nodes: list[Node] = []
    try:
        for code in ("XH", "WS", "FJ"):
            nodes.append((await start_node(secured.network, code))[0])
        switched = asyncio.Event()
        nodes[2].trust.listeners.append(lambda d: switched.set() if d.version == 2 else None)
        now = datetime.now(UTC)
        current = verify_directory(
            secured.network.directory.read_bytes(),
            parse_root_keys([secured.network.root_public_b64]),
            now,
        )
        v2 = Directory(
            version=2,
            issued_at=now,
            expires_at=now + timedelta(days=30),
            members=current.members,
        )
        data = sign_directory(v2, [load_root_key(secured.network.root_key)])
        await publish_directory(nodes[0].transport, data)  # XH, with its own nkey
        await asyncio.wait_for(switched.wait(), 20)
        assert nodes[2].trust.directory.version == 2
        with pytest.raises(TransportError):  # a member cannot publish a directory
            await publish_directory(nodes[1].transport, data)
    finally:
        await asyncio.gather(*(n.aclose() for n in nodes))
