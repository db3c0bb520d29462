"""The nats-server config generated from the directory (`lali deploy nats-config`, and
the demo's embedded server): members publish only as themselves (THREATS.md row 32)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from natskit import deploy_tls, tls_connect
from nodekit import accepted, start_node
from testkit import sample_alert
from typer.testing import CliRunner

from keys import Role
from node.cli.main import app
from node.ops.natsconfig import member_permissions, render_nats_config
from node.ops.natsserver import NatsServer, nats_server_binary
from node.ops.provision import MemberSpec, Network, provision_keys, write_node_configs
from node.ops.tls import nats_tls_block
from schemas.alert import Topic
from schemas.errors import ConfigError

pytestmark = pytest.mark.integration

MEMBERS = [
    MemberSpec("XH", "hub", __import__("keys").Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
]


@pytest.fixture
async def generated(tmp_path: Path) -> AsyncIterator[tuple[Network, NatsServer]]:
    network = provision_keys(
        tmp_path / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(days=30)
    )
    conf = tmp_path / "nats.conf"
    conf.write_text(render_nats_config(network.members, store_dir=None, listen=None))
    server = NatsServer(tmp_path / "nats", config_file=conf)
    await asyncio.to_thread(server.start)
    try:
        write_node_configs(network, server.url, tls_ca=server.tls.ca)
        yield network, server
    finally:
        await asyncio.to_thread(server.stop)


async def test_members_publish_only_as_themselves(
    generated: tuple[Network, NatsServer],
) -> None:
    network, server = generated
    xh, _ = await start_node(network, "XH")  # the hub creates the stream
    ws, _ = await start_node(network, "WS")
    fj, fj_watch = await start_node(network, "FJ")
    errors: list[str] = []
    seen = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())
        seen.set()

    raw = await tls_connect(
        server.url,
        server.tls.ca,
        nkeys_seed=str(network.root / "WS" / "nats.seed"),
        inbox_prefix="_INBOX_WS",
        error_cb=on_error,
        allow_reconnect=False,
    )
    try:
        result = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
        await fj_watch.wait(accepted(result.message_id))
        for subject in (
            "lali.alert.maritime.FJ",
            "lali.receipt.WS.FJ",
            "$JS.API.STREAM.DELETE.LALI_ALERTS",
            "$JS.API.CONSUMER.MSG.NEXT.LALI_ALERTS.node-FJ",
            "$KV.lali_directory.current",
            # its own consumer is the hub's to configure (docs/security.md §5)
            "$JS.API.CONSUMER.CREATE.LALI_ALERTS.node-WS",
            "$JS.API.STREAM.INFO.LALI_ALERTS",
            "$JS.API.CONSUMER.CREATE.KV_lali_directory",
        ):
            await raw.publish(subject, b"{}")
            wanted = f'permissions violation for publish to "{subject}"'.lower()
            async with asyncio.timeout(10):
                while not any(wanted in e for e in errors):
                    seen.clear()
                    await seen.wait()
        await raw.subscribe("_INBOX_FJ.>")
        async with asyncio.timeout(10):
            while not any('subscription to "_inbox_fj.>"' in e for e in errors):
                seen.clear()
                await seen.wait()
    finally:
        await raw.close()
        await asyncio.gather(xh.aclose(), ws.aclose(), fj.aclose())


def test_cli_writes_a_config_nats_server_accepts(tmp_path: Path) -> None:
    network = provision_keys(
        tmp_path / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(days=30)
    )
    out = tmp_path / "generated.conf"
    tls = deploy_tls(tmp_path / "tls")  # the check opens the files the config names
    result = CliRunner().invoke(
        app,
        [
            "deploy",
            "nats-config",
            "--directory",
            str(network.directory),
            "--root-public",
            network.root_public_b64,
            "--out",
            str(out),
            "--store-dir",
            str(tmp_path / "js"),
            "--listen",
            "127.0.0.1:4222",
            "--tls-dir",
            str(tls.root),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "sync_interval: always" in text and text.count("nkey:") == 3
    assert nats_tls_block(tls.server) in text  # TLS for every client, handshake first
    check = subprocess.run(
        [str(nats_server_binary()), "-c", str(out), "-t"], capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stderr.decode()


def test_a_member_only_binds_its_consumer_and_the_hub_configures_them() -> None:
    ws = member_permissions("WS", Role.MEMBER, "LALI_ALERTS")
    consumer = [s for s in ws["publish"] if "CONSUMER" in s or s.startswith("$JS.ACK")]
    assert consumer == [
        "$JS.API.CONSUMER.INFO.LALI_ALERTS.node-WS",
        "$JS.API.CONSUMER.MSG.NEXT.LALI_ALERTS.node-WS",
        "$JS.ACK.LALI_ALERTS.node-WS.>",
    ]
    assert [s for s in ws["publish"] if s.startswith("$JS.API.STREAM.")] == [
        "$JS.API.STREAM.INFO.KV_lali_directory",  # the public directory, read-only
        "$JS.API.STREAM.MSG.GET.KV_lali_directory",
    ]
    assert ws["subscribe"] == ["_INBOX_WS.>", "$KV.lali_directory.current"]
    xh = member_permissions("XH", Role.HUB, "LALI_ALERTS")
    assert {
        "$JS.API.CONSUMER.CREATE.LALI_ALERTS.*",
        "$JS.API.CONSUMER.CREATE.LALI_ALERTS.*.>",
        "$JS.API.STREAM.CREATE.LALI_ALERTS",
    } <= set(xh["publish"])
    assert not [s for s in xh["publish"] if "DELETE" in s or ("CONSUMER" in s and "KV_" in s)]


def test_a_member_without_an_nkey_is_refused(tmp_path: Path) -> None:
    network = provision_keys(
        tmp_path / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(days=30)
    )
    members = [
        m.model_copy(update={"nats_nkey": None}) if m.code == "FJ" else m
        for m in network.members.members
    ]
    with pytest.raises(ConfigError, match="FJ"):
        render_nats_config(network.members.model_copy(update={"members": members}))


async def test_node_with_another_members_credentials_fails_and_says_why(
    generated: tuple[Network, NatsServer],
) -> None:
    import shutil

    from node.config import NodeSettings
    from node.runtime import Node

    network, _ = generated
    xh, _ = await start_node(network, "XH")  # creates the stream
    shutil.copy(network.root / "FJ" / "nats.seed", network.root / "WS" / "nats.seed")
    ws = Node(NodeSettings.load(network.configs["WS"]))  # WS, logged in as FJ
    await ws.start()
    try:
        await asyncio.wait_for(ws.failed.wait(), 60)
        assert ws.failure is not None
        assert "permissions violation" in str(ws.failure).lower()
    finally:
        await asyncio.gather(ws.aclose(), xh.aclose())
