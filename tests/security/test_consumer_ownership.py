"""The hub owns the members' durable consumers (docs/security.md §5, THREATS.md row 32),
on a real nats-server with the permissions `lali deploy nats-config` generates from the
directory.

The attack this closes: WS widened its consumer node-WS to ``lali.>`` and published
one junk alert. Its running node rejected the junk, copied it to ``lali.dead.WS``, read
that dead letter back, rejected it and wrote another, for ever (8,160 messages in
10 s; 4.9 GB in 5 minutes), and WS saw every receipt subject, which names who received
what. A member that may create a consumer on the directory bucket can also make it a
push consumer that the server redelivers, as often as its ack wait says, to a subject
of its choice. Here a member tries each of these with its own nkey: the server
refuses, and what a node's consumer delivers is what the hub configured.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats.errors
import nats.js.errors
import pytest
from integration.test_deploy import Violations
from nats.aio.client import Client
from natskit import tls_connect
from nodekit import start_node
from structlog.testing import capture_logs
from typer.testing import CliRunner

from keys import Role, load_root_key, sign_directory
from node.cli.main import app
from node.config import NodeSettings
from node.exchange.directory_feed import publish_directory
from node.exchange.inbound.decisions import Outcome
from node.ops.natsconfig import render_nats_config
from node.ops.natsserver import NatsServer
from node.ops.provision import (
    MemberSpec,
    Network,
    provision_consumers,
    provision_keys,
    write_node_configs,
)
from node.runtime import Node

pytestmark = pytest.mark.integration

STREAM = "LALI_ALERTS"
KV = "KV_lali_directory"
MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]
DEADLINE_S = 20.0
LOOP_WINDOW_S = 3.0  # the attack's loop wrote ~800 dead letters a second


@dataclass
class Generated:
    network: Network
    server: NatsServer

    async def connect(self, code: str, violations: Violations) -> Client:
        """A raw client with ``code``'s own nkey and inbox prefix."""
        return await tls_connect(
            self.server.url,
            self.server.tls.ca,
            nkeys_seed=str(self.network.root / code / "nats.seed"),
            inbox_prefix=f"_INBOX_{code}",
            error_cb=violations.on_error,
            allow_reconnect=False,
        )

    def filters(self, code: str) -> list[str]:
        """What the hub gives ``code``'s consumer for the provisioned directory (every
        node witnesses every member's checkpoints)."""
        topics = [f"lali.alert.{t}.*" for t in self.network.members.member(code).topics]
        return [*topics, f"lali.receipt.{code}.*", "lali.checkpoint.*"]


@pytest.fixture
async def generated(tmp_path: Path) -> AsyncIterator[Generated]:
    """A network and a server running the configuration generated from its directory;
    no stream and no consumer yet (the hub's node, or provisioning, makes them)."""
    network = provision_keys(tmp_path / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(30))
    conf = tmp_path / "nats.conf"
    conf.write_text(render_nats_config(network.members, store_dir=None, listen=None))
    server = NatsServer(tmp_path / "nats", config_file=conf)
    await asyncio.to_thread(server.start)
    try:
        write_node_configs(network, server.url, tls_ca=server.tls.ca)
        yield Generated(network, server)
    finally:
        await asyncio.to_thread(server.stop)


def create_request(name: str, **config: object) -> bytes:
    """A JetStream consumer-create request, as any client library sends it."""
    body = {"name": name, "durable_name": name, "ack_policy": "explicit", **config}
    return json.dumps({"stream_name": STREAM, "config": body}).encode()


def push_request(name: str, deliver_subject: str) -> bytes:
    """A push consumer on the directory bucket, redelivering every 10 ms for ever."""
    config = {
        "name": name,
        "deliver_subject": deliver_subject,
        "ack_policy": "explicit",
        "ack_wait": 10_000_000,
        "max_deliver": -1,
        "deliver_policy": "all",
    }
    return json.dumps({"stream_name": KV, "config": config}).encode()


ATTEMPTS = [
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.node-WS",
        create_request("node-WS", filter_subjects=["lali.>"]),
        id="widen-own-consumer",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.node-WS.lali.>",
        create_request("node-WS", filter_subject="lali.>"),
        id="widen-own-consumer-filter-form",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.node-WS",
        create_request("node-WS", filter_subject="lali.>"),
        id="widen-own-consumer-legacy-form",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.node-FJ",
        create_request("node-FJ", filter_subjects=["lali.>"]),
        id="update-fj-consumer",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.spy",
        create_request("spy", filter_subjects=["lali.receipt.>"]),
        id="create-a-new-consumer",
    ),
    pytest.param(f"$JS.API.CONSUMER.DELETE.{STREAM}.node-WS", b"", id="delete-own-consumer"),
    pytest.param(f"$JS.API.CONSUMER.DELETE.{STREAM}.node-FJ", b"", id="delete-fj-consumer"),
    pytest.param(f"$JS.API.STREAM.INFO.{STREAM}", b"", id="alert-stream-info"),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{KV}",
        push_request("flood", "_INBOX_XH.flood"),
        id="push-consumer-on-the-directory-bucket",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{KV}.flood",
        push_request("flood", "_INBOX_XH.flood"),
        id="named-consumer-on-the-directory-bucket",
    ),
    pytest.param(f"$JS.API.CONSUMER.DELETE.{KV}.any", b"", id="delete-a-directory-consumer"),
]


@pytest.mark.parametrize(("subject", "request_body"), ATTEMPTS)
async def test_a_member_cannot_create_update_or_delete_a_consumer(
    generated: Generated, subject: str, request_body: bytes
) -> None:
    xh, _ = await start_node(generated.network, "XH")  # the stream, consumers, bucket
    violations = Violations()
    ws = await generated.connect("WS", violations)
    hub = await generated.connect("XH", Violations())
    try:
        with pytest.raises(nats.errors.TimeoutError):  # refused: the API never sees it
            await ws.request(subject, request_body, timeout=2)
        await violations.wait_for(subject)
        js = hub.jetstream()
        for code in ("WS", "FJ"):  # both consumers as the hub configured them
            info = await js.consumer_info(STREAM, f"node-{code}")
            assert info.config.filter_subjects == generated.filters(code)
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info(STREAM, "spy")
        assert (await js.stream_info(STREAM)).state.consumer_count == len(MEMBERS)
        # Nodes read the directory with message gets: the bucket has no consumer at all.
        assert (await js.stream_info(KV)).state.consumer_count == 0
    finally:
        await ws.close()
        await hub.close()
        await xh.aclose()


async def drain(client: Client, durable: str) -> list[str]:
    """Every subject the consumer ``durable`` delivers now (its owner's credentials)."""
    sub = await client.jetstream().pull_subscribe_bind(durable=durable, stream=STREAM)
    subjects: list[str] = []
    while True:
        try:
            msgs = await sub.fetch(100, timeout=1)
        except nats.errors.TimeoutError:
            return subjects
        for msg in msgs:
            subjects.append(msg.subject)
            await msg.ack()


async def test_no_node_receives_a_dead_letter_or_another_members_receipt(
    generated: Generated,
) -> None:
    await provision_consumers(generated.network)  # what the hub's node does at start
    clients = {
        code: await generated.connect(code, Violations()) for code in ("XH", "WS", "FJ", "TO")
    }
    try:
        published = {
            "FJ": [
                "lali.alert.maritime.FJ",
                "lali.receipt.WS.FJ",  # FJ received WS's alert: for WS only
                "lali.receipt.TO.FJ",  # ... and TO's: for TO only
                "lali.dead.FJ",
                "lali.checkpoint.FJ",
            ],
            "WS": ["lali.alert.asylum.WS", "lali.dead.WS"],
            "TO": ["lali.receipt.FJ.TO", "lali.dead.TO"],
        }
        for code, subjects in published.items():
            for subject in subjects:
                await clients[code].jetstream().publish(subject, b"x")
        delivered = {code: set(await drain(clients[code], f"node-{code}")) for code in clients}
    finally:
        for client in clients.values():
            await client.close()
    alerts = {"lali.alert.maritime.FJ", "lali.alert.asylum.WS"}
    seen = alerts | {"lali.checkpoint.FJ"}  # every node witnesses FJ's checkpoint
    assert delivered == {
        "XH": seen,
        "WS": seen | {"lali.receipt.WS.FJ"},
        "FJ": seen | {"lali.receipt.FJ.TO"},
        "TO": seen | {"lali.receipt.TO.FJ"},
    }


async def test_widening_and_a_junk_alert_cannot_make_a_node_flood_the_broker(
    generated: Generated,
) -> None:
    """The attack, replayed: WS's node is running; WS widens node-WS to lali.> and
    publishes one junk alert as itself. Before the fix the node looped on its own dead
    letters (thousands in a few seconds); now the widening is refused and the junk is
    rejected and dead-lettered once by each node that takes its topic."""
    xh, _ = await start_node(generated.network, "XH")
    ws, ws_watch = await start_node(generated.network, "WS")
    violations = Violations()
    attacker = await generated.connect("WS", violations)
    hub = await generated.connect("XH", Violations())
    try:
        widen = create_request(
            "node-WS",
            deliver_policy="all",
            ack_wait=30_000_000_000,
            max_deliver=10,
            filter_subjects=["lali.>"],
            max_ack_pending=1024,
        )
        try:
            reply = await attacker.request(
                f"$JS.API.CONSUMER.CREATE.{STREAM}.node-WS", widen, timeout=3
            )
            widened = "error" not in json.loads(reply.data)
        except nats.errors.TimeoutError:
            widened = False
        await attacker.jetstream().publish("lali.alert.maritime.WS", b"junk, not an envelope")
        await ws_watch.wait(lambda d: d.outcome is Outcome.REJECTED)
        await asyncio.sleep(LOOP_WINDOW_S)  # a measuring window, not synchronisation
        info = await hub.jetstream().stream_info(STREAM, subjects_filter="lali.dead.>")
        dead = dict(info.state.subjects or {})
        rejected = sum(1 for d in ws_watch.decisions if d.outcome is Outcome.REJECTED)
        filters = (await hub.jetstream().consumer_info(STREAM, "node-WS")).config.filter_subjects
    finally:
        await attacker.close()
        await hub.close()
        await asyncio.gather(ws.aclose(), xh.aclose())
    assert dead.get("lali.dead.WS", 0) == 1, f"dead letters after {LOOP_WINDOW_S}s: {dead}"
    assert rejected == 1, f"WS's node rejected {rejected} messages"
    assert not widened, "the server let WS widen its own consumer"
    assert filters == generated.filters("WS")


async def test_the_hub_reconfigures_consumers_from_each_new_directory(
    generated: Generated,
) -> None:
    network = generated.network
    xh, _ = await start_node(network, "XH")
    ws, _ = await start_node(network, "WS")
    hub = await generated.connect("XH", Violations())
    try:
        now = datetime.now(UTC)
        members = [
            m.model_copy(update={"topics": ["maritime"]}) if m.code == "WS" else m
            for m in network.members.members
        ]
        directory = network.members.model_copy(
            update={"version": 2, "issued_at": now, "members": members}
        )
        signed = sign_directory(directory, [load_root_key(network.root_key)])
        adopted = asyncio.Event()
        ws.directory_listeners.append(lambda d: adopted.set() if d.version == 2 else None)
        await publish_directory(xh.transport, signed)
        wanted = ["lali.alert.maritime.*", "lali.receipt.WS.*", "lali.checkpoint.*"]
        deadline = time.monotonic() + DEADLINE_S
        while True:  # bounded poll of the server's state
            info = await hub.jetstream().consumer_info(STREAM, "node-WS")
            if info.config.filter_subjects == wanted or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert info.config.filter_subjects == wanted
        await asyncio.wait_for(adopted.wait(), DEADLINE_S)  # the member's feed: gets only
        assert (await hub.jetstream().stream_info(KV)).state.consumer_count == 0
    finally:
        await hub.close()
        await asyncio.gather(ws.aclose(), xh.aclose())


async def test_a_member_node_waits_for_the_hub_and_says_so(generated: Generated) -> None:
    network = generated.network
    ws = Node(NodeSettings.load(network.configs["WS"]))
    with capture_logs() as logs:
        await ws.start()
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not any(e["event"] == "waiting_for_consumer" for e in logs):
                assert time.monotonic() < deadline, "no waiting_for_consumer logged"
                await asyncio.sleep(0.05)
            waiting = next(e for e in logs if e["event"] == "waiting_for_consumer")
            assert waiting["message"] == "waiting for the hub to create consumer node-WS"
            assert not ws.ready.is_set()
            xh = Node(NodeSettings.load(network.configs["XH"]))  # the hub comes up
            await xh.start()
            try:
                await asyncio.wait_for(ws.ready.wait(), DEADLINE_S)
            finally:
                await xh.aclose()
        finally:
            await ws.aclose()
    # While it waited it asked only what it may: no refused request in the server's log.
    log = generated.server.log_file.read_text(encoding="utf-8", errors="replace")
    assert "Permissions Violation" not in log


def test_lali_deploy_consumers_configures_them_from_the_directory(tmp_path: Path) -> None:
    """The ops step: the hub's operator runs it with the hub's node.toml; a member's
    credentials cannot."""
    network = provision_keys(tmp_path / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(30))
    conf = tmp_path / "nats.conf"
    conf.write_text(render_nats_config(network.members, store_dir=None, listen=None))
    server = NatsServer(tmp_path / "nats", config_file=conf)
    server.start()
    try:
        write_node_configs(network, server.url, tls_ca=server.tls.ca)
        hub = network.configs["XH"]
        runner = CliRunner()
        leaf_like = ["deploy", "consumers", "--config", str(hub), "--no-create-stream"]
        missing = runner.invoke(app, leaf_like)
        assert missing.exit_code == 2
        assert "stream not found" in missing.output
        done = runner.invoke(app, ["deploy", "consumers", "--config", str(hub)])
        assert done.exit_code == 0, done.output  # the stream first, as the hub's node does
        topics = " ".join(f"lali.alert.{t}.*" for t in network.members.member("WS").topics)
        assert f"node-WS: {topics} lali.receipt.WS.* lali.checkpoint.*\n" in done.output
        assert "configured 4 consumers on LALI_ALERTS from directory v1" in done.output
        only = runner.invoke(app, [*leaf_like, "--member", "FJ"])
        assert only.exit_code == 0, only.output
        assert "configured 1 consumer on LALI_ALERTS" in only.output
        member = network.configs["WS"]
        refused = runner.invoke(app, ["deploy", "consumers", "--config", str(member)])
        assert refused.exit_code == 2
        assert "permissions violation" in refused.output.lower()
    finally:
        server.stop()
