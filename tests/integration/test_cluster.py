"""The production topologies of ``deploy/nats/``, on loopback.

The hub cluster (``cluster/hub-{1,2,3}.conf``): three real nats-servers configured by
those files (ports, host names and nkeys replaced), Lali nodes exchanging alerts
through the R3 stream, and surviving the loss of its leader. The country leaf node
(``leaf/country.conf`` with the stream definitions beside it): a fourth server in its
own JetStream domain, linked to the cluster through a relay the test can cut, whose
stream and the hub's source each other's messages exactly once across the cut, with
the link sidecar (``deploy/systemd/lali-link-resync.service``) running beside each of the
four servers as in production. ``LALI_LINK_CUT_S`` sets how long the fault-suite row
cuts the link (``make faults``: 90 s; ``make test``: 5 s)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nkeys
import pytest
from faultkit import LINK_CUT_S, Table, wait_until
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StreamConfig, StreamSource
from natskit import (
    deploy_tls,
    example_nkey,
    nats_config_test,
    new_user_nkey,
    replace_once,
    tls_connect,
    with_tls_dir,
)
from nodekit import Watcher, accepted, start_node
from testkit import sample_alert

from keys import Role
from node.config import NodeSettings
from node.exchange.directory_feed import publish_directory
from node.exchange.inbound.decisions import Outcome
from node.exchange.receipts import ReceiptDecision
from node.ops.natsserver import NatsServer
from node.ops.provision import MemberSpec, Network, configure_stream_consumers, provision
from node.ops.tls import ServerTls, TlsDir
from node.protocol.subjects import STREAM_SUBJECTS
from node.runtime import Node
from node.storage.audit import list_entries
from node.transport import ConnectOptions
from schemas.alert import Topic
from schemas.errors import TransportError

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER = DEPLOY / "nats" / "cluster"
LEAF = DEPLOY / "nats" / "leaf"
SINGLE = DEPLOY / "nats" / "single.conf"
SIDECAR_UNIT = DEPLOY / "systemd" / "lali-link-resync.service"
HUBS = (1, 2, 3)
CODES = ("XH", "WS", "FJ", "TO")
MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]
STREAM = "LALI_ALERTS"
DEADLINE_S = 30.0  # for polls of the servers' own state (cluster formation)


def hub_conf(n: int) -> Path:
    return CLUSTER / f"hub-{n}.conf"


def authorization_block(text: str) -> str:
    match = re.search(r"^authorization \{\n.*?^\}\n", text, re.MULTILINE | re.DOTALL)
    assert match, "no authorization block"
    return match.group(0)


def labelled_nkey(text: str, label: str) -> str:
    """The example public key of the user introduced by the comment ``# <label>:``."""
    match = re.search(
        rf'^    # {re.escape(label)}: .*?nkey: "(U[A-Z2-7]{{55}})"', text, re.M | re.S
    )
    assert match, f"no user labelled {label}"
    return match.group(1)


def member_block(text: str, code: str) -> str:
    """The user block (braces included) whose first permission is ``code``'s subject."""
    match = re.search(
        r'^    \{\n      nkey: "U[A-Z2-7]{55}"\n      permissions: \{\n        publish: \{\n'
        r"          allow: \[\n            "
        + re.escape(f'"lali.alert.*.{code}"')
        + r"\n.*?^    \}\n",
        text,
        re.MULTILINE | re.DOTALL,
    )
    assert match, f"no user block for {code}"
    return match.group(0)


def public_key(seed_file: Path) -> str:
    key = nkeys.from_seed(bytearray(seed_file.read_bytes().strip())).public_key
    return str(key.decode("ascii"))


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: bound together (so the kernel hands out different
    ones), then released for the servers to take."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


# --- the files themselves ---------------------------------------------------------------


def test_hub_files_differ_only_in_the_server_identity() -> None:
    identity = re.compile(
        r"^(# Lali: member |server_name: |client_advertise: |  advertise: ).*$", re.MULTILINE
    )
    texts = {n: hub_conf(n).read_text(encoding="utf-8") for n in HUBS}
    for n, text in texts.items():
        own = identity.findall(text)
        assert len(own) == 5, own
        for line in (m.group(0) for m in identity.finditer(text)):
            assert f"hub-{n}" in line or f"member {n} of" in line, line
        # Every server lists the same three routes; its own is ignored.
        routes = re.findall(r'"nats-route://(hub-\d)\.lali\.example\.org:6222"', text)
        assert routes == ["hub-1", "hub-2", "hub-3"]
        assert identity.sub(r"\1", text) == identity.sub(r"\1", texts[1]), f"hub-{n}.conf drifted"


def test_hub_files_carry_the_single_server_authorization() -> None:
    # The members' users exactly as in single.conf, then the cluster-only users.
    single = authorization_block(SINGLE.read_text(encoding="utf-8"))
    members_only = single.removesuffix("  ]\n}\n")
    for n in HUBS:
        block = authorization_block(hub_conf(n).read_text(encoding="utf-8"))
        assert block.startswith(members_only), f"hub-{n}.conf: members differ from single.conf"
        assert labelled_nkey(block, "OPS") and labelled_nkey(block, "LEAF-WS")


def test_leaf_node_user_is_the_member_block_of_single_conf() -> None:
    single = SINGLE.read_text(encoding="utf-8")
    country = (LEAF / "country.conf").read_text(encoding="utf-8")
    assert member_block(country, "WS") == member_block(single, "WS")
    for code in ("XH", "FJ", "TO"):  # no other member logs in at Samoa's leaf
        assert f'"lali.alert.*.{code}"' not in country


def test_leaf_stream_definitions_fit_the_node_and_never_loop() -> None:
    local = json.loads((LEAF / "ws-alerts.stream.json").read_text(encoding="utf-8"))
    to_hub = json.loads((LEAF / "hub-source-ws.json").read_text(encoding="utf-8"))
    # The node at the leaf accepts the stream only if it carries all its subjects, and
    # uses it as it uses the one it creates at the hub (node/transport/).
    assert set(STREAM_SUBJECTS) <= set(local["subjects"])
    assert local["storage"] == "file" and local["allow_direct"] is True
    assert local["max_msg_size"] == 1024 * 1024
    assert local["name"] == to_hub["name"] == STREAM
    (from_hub,) = local["sources"]
    assert from_hub["external"]["api"] == "$JS.hub.API"
    assert to_hub["external"]["api"] == "$JS.ws.API"
    # Hub to Samoa: other members' alerts and receipts for Samoa, never Samoa's own
    # messages (they would be sourced back to the hub, and round again).
    inbound = [tr["src"] for tr in from_hub["subject_transforms"]]
    assert not [s for s in inbound if s.endswith(".WS")]
    assert "lali.receipt.WS.*" in inbound
    # Samoa to hub: only what Samoa publishes (the sender's code comes last).
    outbound = [tr["src"] for tr in to_hub["subject_transforms"]]
    assert outbound and all(s.endswith(".WS") for s in outbound)
    # The deliver prefixes are the ones LEAF-WS may use in the hub files, outside lali.>.
    hub_text = hub_conf(1).read_text(encoding="utf-8")
    directory = json.loads((LEAF / "ws-directory.stream.json").read_text(encoding="utf-8"))
    for prefix in (
        from_hub["external"]["deliver"],
        to_hub["external"]["deliver"],
        directory["mirror"]["external"]["deliver"],
    ):
        assert not prefix.startswith("lali.")
        assert f'"{prefix}.>"' in hub_text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_link_sidecar_unit_verifies_and_runs_what_the_tests_run(tmp_path: Path) -> None:
    text = SIDECAR_UNIT.read_text(encoding="utf-8")
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", text, re.MULTILINE)
    assert exec_start.split() == [
        *("/opt/lali/venv/bin/lali", "link", "resync"),
        *("--nkey-seed", "%d/ops.nk", "--server", "nats://127.0.0.1:4222"),
        *("--monitor", "http://127.0.0.1:8222"),
    ]
    assert "LoadCredential=ops.nk:/etc/nats/ops.nk" in text.splitlines()
    unit = tmp_path / SIDECAR_UNIT.name
    unit.write_text(
        text.replace("/opt/lali/venv/bin", str(Path(sys.executable).parent)), encoding="utf-8"
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def tls_blocks(text: str) -> dict[str, dict[str, str]]:
    """The settings of every enabled ``tls {}`` block, by the named block it sits in
    ("" for the top level: client connections)."""
    blocks: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"^( *)tls \{\n(.*?)^\1\}", text, re.MULTILINE | re.DOTALL):
        indent = len(match.group(1))
        # The nearest block opened less indented than this one, with a name.
        outer = rf"^ {{0,{max(indent - 2, 0)}}}(\w+):? [{{\[]$"
        where = re.findall(outer, text[: match.start()], re.MULTILINE)[-1] if indent else ""
        blocks[where] = dict(re.findall(r"^ *(\w+):\s+(\S+)$", match.group(2), re.MULTILINE))
    return blocks


def test_every_link_in_the_deploy_files_is_tls() -> None:
    """Clients: TLS, handshake first. Routes and leafnode links: mutual TLS, a route
    peer also named by its certificate. Every file names `lali deploy tls`'s files."""
    tls = TlsDir(Path("/etc/nats/tls"))
    client = {"cert_file": f'"{tls.server_cert}"', "key_file": f'"{tls.server_key}"'}
    client |= {"ca_file": f'"{tls.ca}"', "handshake_first": "true", "timeout": "5"}
    for n in HUBS:
        blocks = tls_blocks(hub_conf(n).read_text(encoding="utf-8"))
        assert blocks[""] == client
        route = {k: v for k, v in client.items() if k != "handshake_first"} | {"verify": "true"}
        assert blocks["cluster"] == route | {"verify_cert_and_check_known_urls": "true"}
        assert blocks["leafnodes"] == route
    country = tls_blocks((LEAF / "country.conf").read_text(encoding="utf-8"))
    mine = {"cert_file": f'"{tls.client_cert("WS")}"', "key_file": f'"{tls.client_key("WS")}"'}
    assert country[""] == client | mine
    assert country["remotes"] == mine | {"ca_file": f'"{tls.ca}"', "timeout": "5"}
    assert tls_blocks(SINGLE.read_text(encoding="utf-8")) == {"": client}


@pytest.mark.parametrize("n", HUBS)
def test_hub_file_passes_the_server_config_check(tmp_path: Path, n: int) -> None:
    # The check opens the TLS files (clients, routes, leafnodes) of `lali deploy tls`.
    text = with_tls_dir(hub_conf(n).read_text(encoding="utf-8"), deploy_tls(tmp_path / "tls"))
    conf = tmp_path / f"hub-{n}.conf"
    conf.write_text(
        replace_once(text, '"/var/lib/nats"', f'"{tmp_path / "store"}"'), encoding="utf-8"
    )
    result = nats_config_test(conf)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_country_file_passes_the_server_config_check(tmp_path: Path) -> None:
    tls = deploy_tls(tmp_path / "tls", "WS")
    text = with_tls_dir((LEAF / "country.conf").read_text(encoding="utf-8"), tls)
    conf = tmp_path / "country.conf"
    conf.write_text(
        replace_once(text, '"/var/lib/nats"', f'"{tmp_path / "store"}"'), encoding="utf-8"
    )
    seed, _ = new_user_nkey()
    (tmp_path / "leaf-nkey.conf").write_text(f'nkey: "{seed.decode()}"\n', encoding="utf-8")
    result = nats_config_test(conf)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr
    # ...and the check reads the seed file it includes: without it the file is refused.
    (tmp_path / "leaf-nkey.conf").unlink()
    assert nats_config_test(conf).returncode != 0


# --- a running cluster --------------------------------------------------------------------


def monitor(http_port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET a monitoring endpoint: (HTTP status, JSON body); (0, {}) if unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read()
        return exc.code, json.loads(body) if body else {}
    except OSError:
        return 0, {}


class Link:
    """The satellite link between a country's leaf node and one hub server: a TCP relay
    on loopback that the test can cut (every connection dropped, new ones refused) and
    restore."""

    def __init__(self) -> None:
        self.target_port = 0  # set once the hub server has its leafnodes port
        self.up = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            if not self.up:
                return
            try:
                far_reader, far_writer = await asyncio.open_connection(
                    "127.0.0.1", self.target_port
                )
            except OSError:
                return
            self._writers.add(far_writer)
            try:
                await asyncio.gather(self._pipe(reader, far_writer), self._pipe(far_reader, writer))
            finally:
                far_writer.close()
                self._writers.discard(far_writer)
        finally:
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)


@dataclass
class Hub:
    n: int
    server: NatsServer
    client_port: int
    http_port: int
    link: Link  # how a country's leaf node reaches this server's leafnodes port

    @property
    def name(self) -> str:
        return f"lali-hub-{self.n}"

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.client_port}"

    def monitor(self, path: str) -> tuple[int, dict[str, Any]]:
        return monitor(self.http_port, path)


@dataclass
class HubCluster:
    hubs: dict[str, Hub]  # by server name
    network: Network
    seeds: dict[str, Path]  # by member code, and OPS, LEAF-WS
    root: Path
    tls: TlsDir  # the network's CA, the servers' certificate, Samoa's (`lali deploy tls`)

    def hub(self, n: int) -> Hub:
        return self.hubs[f"lali-hub-{n}"]

    def urls(self) -> list[str]:
        return [hub.url for hub in self.hubs.values()]


def loopback_conf(
    text: str, n: int, routes: dict[int, int], link: int, keys: dict[str, str], tls: TlsDir
) -> str:
    """hub-<n>.conf on loopback, with the given public nkeys instead of the examples, the
    TLS files of ``tls`` and no store_dir (NatsServer passes it as -sd). Only the route
    ports are chosen here (the servers must know each other's); client, monitoring and
    leafnode ports are picked by the server (-1) and read from its log. Without
    client_advertise a server advertises the address it listens on, 127.0.0.1:<port>,
    as production advertises its name. Routes are dialled as localhost, a name the
    servers' certificate carries (route peers are checked by name, as the hub names are
    in production). Leaf nodes are told to reach this server through its relay."""
    conf = with_tls_dir(replace_once(text, '  store_dir: "/var/lib/nats"\n', ""), tls)
    conf = replace_once(conf, 'listen: "0.0.0.0:4222"', 'listen: "127.0.0.1:-1"')
    conf = replace_once(conf, f'client_advertise: "hub-{n}.lali.example.org:4222"\n', "")
    conf = replace_once(conf, 'http: "127.0.0.1:8222"', 'http: "127.0.0.1:-1"')
    conf = replace_once(conf, 'listen: "0.0.0.0:6222"', f'listen: "127.0.0.1:{routes[n]}"')
    conf = replace_once(
        conf,
        f'advertise: "hub-{n}.lali.example.org:6222"',
        f'advertise: "127.0.0.1:{routes[n]}"',
    )
    for k, port in routes.items():
        conf = replace_once(
            conf,
            f'"nats-route://hub-{k}.lali.example.org:6222"',
            f'"nats-route://localhost:{port}"',
        )
    conf = replace_once(conf, 'listen: "0.0.0.0:7422"', 'listen: "127.0.0.1:-1"')
    conf = replace_once(
        conf, f'advertise: "hub-{n}.lali.example.org:7422"', f'advertise: "127.0.0.1:{link}"'
    )
    for label, public in keys.items():
        example = labelled_nkey(text, label) if label in ("OPS", "LEAF-WS") else None
        conf = replace_once(conf, example or example_nkey(text, label), public)
    return conf


def logged_port(server: NatsServer, what: str) -> int:
    """The port a started server logged for ``what`` ("http monitor", "leafnode")."""
    log = server.log_file.read_text(encoding="utf-8", errors="replace")
    if what == "http monitor":
        found = re.findall(r"Starting http monitor on [\d.]+:(\d+)", log)
    else:
        found = re.findall(rf"Listening for {what} connections on [\d.]+:(\d+)", log)
    assert found, f"{server.log_file} names no {what} port"
    return int(found[-1])  # the latest start


def wait_for_jetstream_cluster(hubs: list[Hub]) -> str:
    """Bounded poll of the servers' own state (there is no event to await from outside
    the processes): every server healthy (/healthz, which in a cluster includes contact
    with the JetStream meta leader) and all agreeing on one meta leader of 3 peers.
    Returns the meta leader's name."""
    deadline = time.monotonic() + DEADLINE_S
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        leaders = set()
        for hub in hubs:
            status, health = hub.monitor("/healthz")
            _, jsz = hub.monitor("/jsz")
            meta = jsz.get("meta_cluster", {})
            last[hub.name] = {"healthz": (status, health), "meta": meta}
            if status == 200 and meta.get("cluster_size") == len(hubs):
                leaders.add(meta.get("leader") or "")
            else:
                leaders.add("")
        if len(leaders) == 1 and "" not in leaders:
            return leaders.pop()
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not elect a JetStream meta leader: {last}")


def write_seed(path: Path, seed: bytes) -> Path:
    path.write_bytes(seed + b"\n")
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return path


def member_seed(network: Network, code: str) -> Path:
    """The nkey seed file ``code``'s node.toml names; one is made and named if the
    provisioning did not."""
    config = network.configs[code]
    text = config.read_text(encoding="utf-8")
    named = re.search(r'^nats_nkey_seed_file = "(.+)"$', text, re.MULTILINE)
    if named:
        return config.parent / named.group(1)
    seed, _ = new_user_nkey()
    with config.open("a", encoding="utf-8") as f:
        f.write('nats_nkey_seed_file = "nats-user.nk"\n')
    return write_seed(config.parent / "nats-user.nk", seed)


@pytest.fixture
async def hub_cluster(tmp_path: Path) -> AsyncIterator[HubCluster]:
    """The three hub files on loopback with the nkeys of a provisioned network (whose
    node.toml files ask for an R3 stream), a hub operator and Samoa's leaf user."""
    tls = deploy_tls(tmp_path / "tls", "WS")
    network = provision(
        tmp_path / "net",
        MEMBERS,
        "tls://127.0.0.1:4222",  # replaced below, once the servers have their ports
        datetime.now(UTC),
        tls_ca=tls.ca,
        extra_config={"stream_replicas": 3, "outbox_retry_s": 0.5},
    )
    seeds = {code: member_seed(network, code) for code in CODES}
    for label in ("OPS", "LEAF-WS"):
        seeds[label] = write_seed(tmp_path / f"{label}.nk", new_user_nkey()[0])
    publics = {label: public_key(seed) for label, seed in seeds.items()}
    hubs = [Hub(n, NatsServer(tmp_path / f"hub-{n}", tls=tls.server), 0, 0, Link()) for n in HUBS]
    try:
        for hub in hubs:
            await hub.link.start()
        for attempt in range(3):
            # Route ports must be fixed in advance; another process may take one between
            # our probe and the server's bind. Then start again on fresh ones.
            routes = dict(zip(HUBS, free_ports(len(HUBS)), strict=True))
            for hub in hubs:
                conf = tmp_path / f"hub-{hub.n}.conf"
                text = hub_conf(hub.n).read_text(encoding="utf-8")
                conf.write_text(
                    loopback_conf(text, hub.n, routes, hub.link.port, publics, tls),
                    encoding="utf-8",
                )
                hub.server = NatsServer(
                    tmp_path / f"hub-{hub.n}", config_file=conf, tls=tls.server, tls_in_config=True
                )
            # Together: a clustered JetStream server waits for its peers.
            started = await asyncio.gather(
                *(asyncio.to_thread(hub.server.start) for hub in hubs), return_exceptions=True
            )
            failed = [r for r in started if isinstance(r, BaseException)]
            if not failed:
                break
            await asyncio.gather(*(asyncio.to_thread(hub.server.stop) for hub in hubs))
            in_use = [
                hub for hub in hubs if "address already in use" in hub.server.log_file.read_text()
            ]
            if not in_use or attempt == 2:
                raise failed[0]
        for hub in hubs:
            assert hub.server.port is not None
            hub.client_port = hub.server.port
            hub.http_port = logged_port(hub.server, "http monitor")
            hub.link.target_port = logged_port(hub.server, "leafnode")
        await asyncio.to_thread(wait_for_jetstream_cluster, hubs)
        for code in CODES:
            connect_node_to(network, code, hubs[0].url)
        yield HubCluster({hub.name: hub for hub in hubs}, network, seeds, tmp_path, tls)
    finally:
        await asyncio.gather(*(asyncio.to_thread(hub.server.stop) for hub in hubs))
        for hub in hubs:
            await hub.link.close()


def connect_node_to(network: Network, code: str, url: str) -> None:
    """Point ``code``'s node.toml at one server (it learns the others from it)."""
    path = network.configs[code]
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'^nats_url = ".*"$', f'nats_url = "{url}"', text, flags=re.MULTILINE)
    path.write_text(text, encoding="utf-8")


async def connect_as(servers: list[str], seed: Path, inbox: str, ca: Path) -> Client:
    """A raw client (TLS, trusting ``ca``) with one user's nkey and that user's inbox
    prefix."""
    return await tls_connect(
        servers, ca, nkeys_seed=str(seed), inbox_prefix=inbox, connect_timeout=5
    )


async def connect_admin(cluster: HubCluster) -> Client:
    """The hub operator (OPS), given all three servers so that it survives the loss of
    any one."""
    return await connect_as(cluster.urls(), cluster.seeds["OPS"], "_INBOX_OPS", cluster.tls.ca)


async def alert_count(admin: Client) -> int:
    """Alerts held by the stream (receipts share it), counted per subject by the server."""
    info = await admin.jetstream().stream_info(STREAM, subjects_filter="lali.alert.>")
    return sum((info.state.subjects or {}).values())


def audit_ids(database: Path, kind: str) -> list[str]:
    """The message ids of every audit entry of one kind, oldest first."""
    return [str(e.entry.message_id) for e in list_entries(database, limit=100_000, kind=kind)]


@dataclass
class Nodes:
    nodes: dict[str, Node]
    watchers: dict[str, Watcher]


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    """Nodes a test starts; all closed at the end, whatever happened."""
    started = Nodes({}, {})
    try:
        yield started
    finally:
        await asyncio.gather(*(node.aclose() for node in started.nodes.values()))


async def start(cluster: HubCluster, running: Nodes, code: str) -> tuple[Node, Watcher]:
    node, watcher = await start_node(cluster.network, code)
    running.nodes[code], running.watchers[code] = node, watcher
    return node, watcher


async def test_alert_crosses_the_cluster_through_an_r3_stream(
    hub_cluster: HubCluster, nodes: Nodes
) -> None:
    c = hub_cluster
    # The hub's node creates the stream; sender and recipient sit on the other two
    # servers, so the alert travels over the routes.
    connect_node_to(c.network, "WS", c.hub(2).url)
    connect_node_to(c.network, "FJ", c.hub(3).url)
    await start(c, nodes, "XH")
    ws, _ = await start(c, nodes, "WS")
    fj, fj_watcher = await start(c, nodes, "FJ")

    result = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
    # Committed either way; on a cluster that has only just elected its leaders the
    # first PubAck can time out, and the alert then leaves through the outbox retry.
    assert result.state in ("published", "queued")
    await fj_watcher.wait(accepted(result.message_id), timeout=60)
    received = list_entries(fj.settings.database, kind="received")
    assert [e.entry.message_id for e in received] == [result.message_id]

    admin = await connect_admin(c)
    try:
        info = await admin.jetstream().stream_info(STREAM)
    finally:
        await admin.close()
    assert info.config.num_replicas == 3
    assert info.cluster is not None and info.cluster.name == "lali-hub"
    assert info.cluster.leader in c.hubs
    followers = info.cluster.replicas or []
    assert sorted(str(r.name) for r in followers) == sorted(set(c.hubs) - {info.cluster.leader})


TOPICS = (Topic.MARITIME, Topic.ASYLUM, Topic.DRUG_SMUGGLING, Topic.PEOPLE_SMUGGLING)


async def test_killing_the_stream_leader_loses_and_duplicates_nothing(
    hub_cluster: HubCluster, nodes: Nodes, table: Table
) -> None:
    c = hub_cluster
    await start(c, nodes, "XH")  # on hub-1; creates the R3 stream
    admin = await connect_admin(c)
    try:
        before = await admin.jetstream().stream_info(STREAM)
        assert before.cluster is not None and before.cluster.leader is not None
        victim = c.hubs[before.cluster.leader]
        survivors = {name for name in c.hubs if name != victim.name}
        # The hardest case: sender and recipient are connected to the server that will
        # die, so they lose their connection and the stream's leader at once, and must
        # move to a server they only learnt of from the cluster (their node.toml names
        # just the victim).
        connect_node_to(c.network, "WS", victim.url)
        connect_node_to(c.network, "FJ", victim.url)
        ws, _ = await start(c, nodes, "WS")
        fj, fj_watcher = await start(c, nodes, "FJ")

        total, kill_after = 24, 8
        sent: list[str] = []
        states: list[str] = []
        kill: asyncio.Task[None] | None = None
        for i in range(total):
            if i == kill_after:
                # kill -9 while the sends go on: the next ones race the dying server.
                kill = asyncio.create_task(asyncio.to_thread(victim.server.kill))
            result = await ws.send(sample_alert(TOPICS[i % len(TOPICS)]), ["FJ"])
            sent.append(result.message_id)
            states.append(result.state)
        assert kill is not None
        await kill
        assert not victim.server.running
        # Before the kill the stream acknowledged at once; after it, sends found no
        # leader (or no server) and were accepted into the outbox, to go out later.
        assert states[:kill_after] == ["published"] * kill_after
        assert "queued" in states[kill_after:]

        for mid in sent:
            await fj_watcher.wait(accepted(mid), timeout=45)

        # Every alert WS accepted (its audit log's "sent" entries) reached FJ exactly
        # once (FJ's "received" entries): nothing lost, nothing doubled.
        ws_sent = audit_ids(ws.settings.database, "sent")
        fj_received = audit_ids(fj.settings.database, "received")
        row = table.add("stream leader SIGKILLed in a 3-server cluster", set(ws_sent), fj_received)
        assert (row.lost, row.duplicated) == (0, 0)
        assert sorted(ws_sent) == sorted(sent)
        assert sorted(fj_received) == sorted(sent)
        accepted_once = [
            str(d.message_id) for d in fj_watcher.decisions if d.outcome is Outcome.ACCEPTED
        ]
        assert sorted(accepted_once) == sorted(sent)

        # The broker itself stored each alert once: a publish retried after a lost
        # acknowledgement carried the same Nats-Msg-Id and was dropped as a duplicate.
        assert await alert_count(admin) == total
        after = await admin.jetstream().stream_info(STREAM)
        assert after.cluster is not None
        assert after.cluster.leader in survivors
        # Both nodes now talk to a surviving server.
        for node in (ws, fj):
            assert node.transport.nc.connected_url is not None
            assert node.transport.nc.connected_url.port != victim.client_port
    finally:
        await admin.close()


# --- who the route and leafnode ports let in ---------------------------------------------


def log_lines(server: NatsServer, needle: str) -> int:
    """How many lines of the server's log contain ``needle``."""
    text = server.log_file.read_text(encoding="utf-8", errors="replace")
    return sum(needle in line for line in text.splitlines())


def peer_conf(block: str) -> str:
    """A loopback nats-server whose only purpose is to dial a hub server (``block``)."""
    return 'listen: "127.0.0.1:-1"\nhttp: "127.0.0.1:-1"\n' + block


async def test_route_and_leafnode_ports_let_in_only_the_certificates_meant_for_them(
    hub_cluster: HubCluster, tmp_path: Path
) -> None:
    """The routes demand a certificate of the network's CA that names a route host: a
    member's certificate (same CA, no host name) does not join the cluster, the servers'
    own does. The leafnode port demands a certificate of the network's CA: a leaf with
    valid credentials but another CA's certificate gets no link, with Samoa's it does."""
    c, hub = hub_cluster, hub_cluster.hub(1)
    route_port = logged_port(hub.server, "route")
    other = deploy_tls(tmp_path / "other-ca", "WS")  # a CA the network never trusted
    leaf_seed = c.seeds["LEAF-WS"].read_bytes().strip().decode("ascii")

    def route(name: str, cert: Path, key: Path) -> str:
        return peer_conf(
            f'server_name: "{name}"\ncluster {{\n  name: "lali-hub"\n'
            '  listen: "127.0.0.1:-1"\n'
            f'  routes: ["nats-route://localhost:{route_port}"]\n'
            f'  tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{c.tls.ca}" }}\n}}\n'
        )

    def leaf(cert: Path, key: Path) -> str:
        return peer_conf(
            "leafnodes {\n  remotes: [{\n"
            f'    urls: ["nats-leaf://127.0.0.1:{hub.link.target_port}"]\n'
            f'    nkey: "{leaf_seed}"\n'
            f'    tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{c.tls.ca}" }}\n'
            "  }]\n}\n"
        )

    def route_names() -> set[str]:
        return {str(r.get("remote_name")) for r in hub.monitor("/routez")[1].get("routes") or []}

    def leafnodes() -> int:
        return int(hub.monitor("/leafz")[1].get("leafnodes", -1))

    peers: list[NatsServer] = []

    async def start(name: str, text: str) -> None:
        (tmp_path / f"{name}.conf").write_text(text, encoding="utf-8")
        peer = NatsServer(tmp_path / name, config_file=tmp_path / f"{name}.conf")
        peers.append(peer)
        await asyncio.to_thread(peer.start)

    refused_routes = log_lines(hub.server, "authentication error")
    refused_tls = log_lines(hub.server, "TLS leafnode handshake error")
    try:
        # 1. Samoa's certificate as a route: the handshake passes (same CA), the route
        #    is refused (no route host in the certificate).
        await start(
            "member-route", route("member-route", c.tls.client_cert("WS"), c.tls.client_key("WS"))
        )
        await asyncio.to_thread(
            wait_until,
            lambda: log_lines(hub.server, "authentication error") > refused_routes,
            DEADLINE_S,
            "hub-1 to refuse the member's certificate as a route",
        )
        # 2. A leaf with LEAF-WS's nkey but another CA's certificate: refused in the
        #    TLS handshake, before any login.
        await start("foreign-leaf", leaf(other.client_cert("WS"), other.client_key("WS")))
        await asyncio.to_thread(
            wait_until,
            lambda: log_lines(hub.server, "TLS leafnode handshake error") > refused_tls,
            DEADLINE_S,
            "hub-1 to refuse the leaf's foreign certificate",
        )
        assert "member-route" not in route_names()
        assert leafnodes() == 0
        # 3. The controls: the servers' certificate joins as a route; Samoa's links.
        await start("hub-route", route("hub-route", c.tls.server_cert, c.tls.server_key))
        await start("samoa-leaf", leaf(c.tls.client_cert("WS"), c.tls.client_key("WS")))
        await asyncio.to_thread(
            wait_until,
            lambda: "hub-route" in route_names() and leafnodes() == 1,
            DEADLINE_S,
            "the route and the leaf with the right certificates",
        )
        assert "member-route" not in route_names()
    finally:
        await asyncio.gather(*(asyncio.to_thread(peer.stop) for peer in peers))


# --- a country leaf node ------------------------------------------------------------------


@dataclass
class CountryLeaf:
    server: NatsServer
    port: int
    http_port: int
    ops_seed: Path  # Samoa's operator (OPS in country.conf)

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.port}"

    def monitor(self, path: str) -> tuple[int, dict[str, Any]]:
        return monitor(self.http_port, path)


def wait_for_link(leaf: CountryLeaf, *, up: bool) -> None:
    """Bounded poll of the leaf server's own view of its link (/leafz)."""
    deadline = time.monotonic() + DEADLINE_S
    leafz: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, leafz = leaf.monitor("/leafz")
        if leafz.get("leafnodes") == (1 if up else 0):
            return
        time.sleep(0.05)
    raise AssertionError(f"the leaf's link did not go {'up' if up else 'down'}: {leafz}")


@pytest.fixture
async def country_leaf(hub_cluster: HubCluster, tmp_path: Path) -> AsyncIterator[CountryLeaf]:
    """country.conf on loopback: Samoa's leaf, linked to the three hub servers through
    their relays, with the hub's WS user, its own operator and LEAF-WS's seed."""
    c = hub_cluster
    text = (LEAF / "country.conf").read_text(encoding="utf-8")
    ops_seed, ops_public = new_user_nkey()
    conf = with_tls_dir(replace_once(text, '  store_dir: "/var/lib/nats"\n', ""), c.tls)
    conf = replace_once(conf, 'listen: "127.0.0.1:4222"', 'listen: "127.0.0.1:-1"')
    conf = replace_once(conf, 'http: "127.0.0.1:8222"', 'http: "127.0.0.1:-1"')
    for n in HUBS:
        conf = replace_once(
            conf,
            f'"nats-leaf://hub-{n}.lali.example.org:7422"',
            f'"nats-leaf://127.0.0.1:{c.hub(n).link.port}"',
        )
    conf = replace_once(conf, example_nkey(text, "WS"), public_key(c.seeds["WS"]))
    conf = replace_once(conf, labelled_nkey(text, "OPS"), ops_public)
    home = tmp_path / "leaf-ws"
    home.mkdir()
    (home / "country.conf").write_text(conf, encoding="utf-8")
    leaf_seed = c.seeds["LEAF-WS"].read_bytes().strip().decode("ascii")
    nkey_conf = home / "leaf-nkey.conf"
    nkey_conf.write_text(f'nkey: "{leaf_seed}"\n', encoding="utf-8")
    nkey_conf.chmod(stat.S_IRUSR | stat.S_IWUSR)
    # The leaf serves its loopback clients with Samoa's certificate (country.conf).
    leaf_tls = ServerTls(ca=c.tls.ca, cert=c.tls.client_cert("WS"), key=c.tls.client_key("WS"))
    server = NatsServer(
        home / "store", config_file=home / "country.conf", tls=leaf_tls, tls_in_config=True
    )
    leaf = CountryLeaf(server, 0, 0, write_seed(home / "ops.nk", ops_seed))
    try:
        await asyncio.to_thread(server.start)
        assert server.port is not None
        leaf.port, leaf.http_port = server.port, logged_port(server, "http monitor")
        await asyncio.to_thread(wait_for_link, leaf, up=True)
        yield leaf
    finally:
        await asyncio.to_thread(leaf.server.stop)


def leaf_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LEAF / name).read_text(encoding="utf-8"))
    return data


async def link_streams(cluster: HubCluster, leaf: CountryLeaf, nodes: Nodes) -> None:
    """What docs/operations.md has the operators do: the hub's node creates the R3
    stream and publishes the directory; the hub operator adds Samoa's source to the
    hub's stream; Samoa's operator creates the local stream and the directory mirror
    from the JSON files."""
    xh, _ = await start(cluster, nodes, "XH")
    # The node creates the directory bucket as it starts, while we publish into it: in a
    # cluster the two creations can race and a request time out while the bucket is
    # being placed. The hub operator retries `lali directory publish`; so do we, with a
    # deadline (the bucket's placement is the servers' state, not an event of ours).
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            await publish_directory(xh.transport, cluster.network.directory.read_bytes())
            break
        except TransportError:
            if time.monotonic() > deadline:
                raise
    ops = await connect_admin(cluster)
    local_ops = await connect_as([leaf.url], leaf.ops_seed, "_INBOX_OPS", cluster.tls.ca)
    try:
        config = (await ops.jetstream().stream_info(STREAM)).config
        source = StreamSource.from_response(leaf_json("hub-source-ws.json"))
        config.sources = [*(config.sources or []), source]
        await ops.jetstream().update_stream(config)
        for name in ("ws-alerts.stream.json", "ws-directory.stream.json"):
            await local_ops.jetstream().add_stream(StreamConfig.from_response(leaf_json(name)))
    finally:
        await ops.close()
        await local_ops.close()
    # Samoa's node only binds to its consumer: Samoa's operator creates it on the leaf
    # (`lali deploy consumers --member WS --nkey-seed ops.nk --inbox-prefix _INBOX_OPS
    # --no-create-stream`).
    ws = NodeSettings.load(cluster.network.configs["WS"])
    operator = ConnectOptions(
        url=leaf.url,
        name="leaf-ops",
        inbox_prefix="_INBOX_OPS",
        nkey_seed_file=leaf.ops_seed,
        tls_ca=cluster.tls.ca,
        one_shot=True,
    )
    await configure_stream_consumers(
        operator, ws.stream_policy(), cluster.network.members, only=["WS"]
    )


async def stream_subjects(client: Client) -> dict[str, int]:
    """Messages per subject in LALI_ALERTS, leaving out the audit checkpoints that the
    hub's node publishes on its own (lali.checkpoint.XH)."""
    info = await client.jetstream().stream_info(STREAM, subjects_filter="lali.>")
    subjects = info.state.subjects or {}
    return {s: n for s, n in subjects.items() if not s.startswith("lali.checkpoint.")}


async def until_subjects(client: Client, wanted: dict[str, int], where: str) -> None:
    """Bounded poll of a stream's per-subject counts (sourcing runs inside the servers)
    until they equal ``wanted``; then they must stay exact, so a duplicate fails."""
    deadline = time.monotonic() + DEADLINE_S
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        seen = await stream_subjects(client)
        if all(seen.get(s, 0) >= n for s, n in wanted.items()):
            break
        await asyncio.sleep(0.05)
    assert seen == wanted, f"{where}: {seen}"


def cut(cluster: HubCluster) -> None:
    for hub in cluster.hubs.values():
        hub.link.cut()


def restore(cluster: HubCluster) -> None:
    for hub in cluster.hubs.values():
        hub.link.restore()


def violations(*logs: Path) -> list[str]:
    return [
        line
        for log in logs
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if "violation" in line.lower()
    ]


@dataclass
class Sidecars:
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def logged(self, event: str) -> int:
        """How many times the sidecars logged ``event`` (their JSON log lines)."""
        return sum(
            f'"event": "{event}"' in line
            for log in self.logs
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        )


def start_sidecar(
    url: str, seed: Path, http_port: int, log: Path, ca: Path
) -> subprocess.Popen[bytes]:
    """The link sidecar as its systemd unit runs it (TLS, with the CA the unit finds at
    its default path, /etc/nats/tls/ca.pem, given here), logging to ``log``."""
    args = [
        *(str(Path(sys.executable).with_name("lali")), "link", "resync"),
        *("--nkey-seed", str(seed), "--server", url, "--tls-ca", str(ca)),
        *("--monitor", f"http://127.0.0.1:{http_port}"),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


@pytest.fixture
async def link_sidecars(
    hub_cluster: HubCluster, country_leaf: CountryLeaf, tmp_path: Path
) -> AsyncIterator[Sidecars]:
    """The link sidecar beside each of the four servers, as production runs it
    (deploy/systemd/lali-link-resync.service): its own process, the operator's seed of
    that side, the server's client and monitoring ports on loopback."""
    c, leaf = hub_cluster, country_leaf
    sides = [("leaf-ws", leaf.url, leaf.ops_seed, leaf.http_port)] + [
        (hub.name, hub.url, c.seeds["OPS"], hub.http_port) for hub in c.hubs.values()
    ]
    sidecars = Sidecars([], [])
    try:
        for name, url, seed, http_port in sides:
            log = tmp_path / f"link-resync-{name}.log"
            sidecars.procs.append(start_sidecar(url, seed, http_port, log, c.tls.ca))
            sidecars.logs.append(log)
        await asyncio.to_thread(
            wait_until,
            lambda: sidecars.logged("link_resync_started") == len(sides),
            DEADLINE_S,
            "the link sidecars to start",
        )
        yield sidecars
    finally:
        for proc in sidecars.procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(proc.wait, 15) for proc in sidecars.procs]
    assert codes == [0] * len(sides), codes  # SIGTERM stops them cleanly


async def test_leaf_and_hub_source_each_other_exactly_once_across_a_link_cut(
    hub_cluster: HubCluster, country_leaf: CountryLeaf, link_sidecars: Sidecars, nodes: Nodes
) -> None:
    c, leaf = hub_cluster, country_leaf
    await link_streams(c, leaf, nodes)
    await nodes.nodes["XH"].aclose()  # the raw messages below are not Lali envelopes

    async def publish(client: Client, subject: str, msg_id: str) -> str | None:
        ack = await client.jetstream().publish(
            subject, msg_id.encode(), headers={"Nats-Msg-Id": msg_id}
        )
        return ack.domain

    ops = await connect_admin(c)
    local_ops = await connect_as([leaf.url], leaf.ops_seed, "_INBOX_OPS", c.tls.ca)
    ws = await connect_as([leaf.url], c.seeds["WS"], "_INBOX_WS", c.tls.ca)  # Samoa's node
    fj = await connect_as(c.urls(), c.seeds["FJ"], "_INBOX_FJ", c.tls.ca)
    xh = await connect_as(c.urls(), c.seeds["XH"], "_INBOX_XH", c.tls.ca)
    try:
        assert await publish(ws, "lali.alert.maritime.WS", "ws-1") == "ws"
        assert await publish(fj, "lali.alert.maritime.FJ", "fj-1") == "hub"
        assert await publish(fj, "lali.receipt.WS.FJ", "fj-receipt-ws") == "hub"
        assert await publish(fj, "lali.receipt.XH.FJ", "fj-receipt-xh") == "hub"
        hub_view = {
            "lali.alert.maritime.WS": 1,
            "lali.alert.maritime.FJ": 1,
            "lali.receipt.WS.FJ": 1,
            "lali.receipt.XH.FJ": 1,
        }
        # Samoa gets the other members' alerts and its own receipts, never its own
        # messages back, nor receipts for others.
        leaf_view = {
            "lali.alert.maritime.WS": 1,
            "lali.alert.maritime.FJ": 1,
            "lali.receipt.WS.FJ": 1,
        }
        await until_subjects(ops, hub_view, "hub")
        await until_subjects(local_ops, leaf_view, "leaf")

        # Samoa's heartbeats (core NATS, in no stream) reach the hub's console.
        beats: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_beat(msg: Msg) -> None:
            await beats.put(msg.data)

        await xh.subscribe("lali.heartbeat.WS", cb=on_beat)
        await xh.flush()
        async with asyncio.timeout(DEADLINE_S):
            while beats.empty():  # interest reaches the leaf a moment after subscribing
                await ws.publish("lali.heartbeat.WS", b"beat")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(beats.get(), 0.2)
                    break
        assert "lali.heartbeat.WS" not in await stream_subjects(ops)  # stored nowhere

        # The link goes down: each side still takes publications, acknowledged locally.
        cut(c)
        await asyncio.to_thread(wait_for_link, leaf, up=False)
        assert await publish(ws, "lali.alert.asylum.WS", "ws-2") == "ws"
        assert await publish(fj, "lali.alert.asylum.FJ", "fj-2") == "hub"
        assert await stream_subjects(local_ops) == {**leaf_view, "lali.alert.asylum.WS": 1}
        assert await stream_subjects(ops) == {**hub_view, "lali.alert.asylum.FJ": 1}

        # It comes back: both sources resume where they stopped, nothing twice.
        restore(c)
        await asyncio.to_thread(wait_for_link, leaf, up=True)
        both = {"lali.alert.asylum.WS": 1, "lali.alert.asylum.FJ": 1}
        await until_subjects(ops, {**hub_view, **both}, "hub after the cut")
        await until_subjects(local_ops, {**leaf_view, **both}, "leaf after the cut")

        info = await local_ops.jetstream().stream_info(STREAM, subjects_filter="lali.>")
        assert "lali.checkpoint.XH" not in (info.state.subjects or {})  # not for Samoa

        # The signed directory reached the leaf's mirror, where Samoa's node reads it.
        deadline = time.monotonic() + DEADLINE_S
        info = await local_ops.jetstream().stream_info("KV_lali_directory")
        while info.state.messages < 1 and time.monotonic() < deadline:  # bounded poll
            await asyncio.sleep(0.05)
            info = await local_ops.jetstream().stream_info("KV_lali_directory")
        entry = await (await local_ops.jetstream().key_value("lali_directory")).get("current")
        assert entry.value == c.network.directory.read_bytes()
    finally:
        for client in (ops, local_ops, ws, fj, xh):
            await client.close()
    # The permissions in the hub files and country.conf allowed all of it, the
    # sidecars' stream updates included.
    logs = [hub.server.log_file for hub in c.hubs.values()] + [leaf.server.log_file]
    assert violations(*logs) == []


async def test_leaf_link_cut_with_both_sides_sending_loses_and_duplicates_nothing(
    hub_cluster: HubCluster,
    country_leaf: CountryLeaf,
    link_sidecars: Sidecars,
    nodes: Nodes,
    table: Table,
) -> None:
    """The fault-suite row for a country's link: Samoa's node on its leaf and Fiji's at
    the hub keep sending to each other while the leaf-hub link is cut for LINK_CUT_S;
    after it returns each alert is committed once at its recipient. The time from the
    link's return to the last commit is recorded (a measurement, not a pass mark)."""
    c, leaf = hub_cluster, country_leaf
    await link_streams(c, leaf, nodes)
    connect_node_to(c.network, "WS", leaf.url)  # Samoa's node talks to its leaf only
    connect_node_to(c.network, "FJ", c.hub(2).url)
    ws, ws_watcher = await start(c, nodes, "WS")
    fj, fj_watcher = await start(c, nodes, "FJ")
    receipts: list[str] = []
    receipt_seen = asyncio.Event()

    def on_receipt(decision: ReceiptDecision) -> None:
        if decision.outcome == "recorded" and decision.message_id is not None:
            receipts.append(decision.message_id)
            receipt_seen.set()

    ws.receipt_listeners.append(on_receipt)

    first = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
    assert first.state == "published"
    await fj_watcher.wait(accepted(first.message_id))
    await asyncio.wait_for(receipt_seen.wait(), DEADLINE_S)  # FJ's receipt came back
    assert receipts == [first.message_id]
    answer = await fj.send(sample_alert(Topic.ASYLUM), ["WS"])
    await ws_watcher.wait(accepted(answer.message_id))

    cut(c)
    await asyncio.to_thread(wait_for_link, leaf, up=False)
    from_ws, from_fj = [], []
    deadline = time.monotonic() + LINK_CUT_S
    while time.monotonic() < deadline:  # both sides keep working during the cut
        # The leaf acknowledges: Samoa's alert is published (not queued in the node's
        # outbox) although the hub is out of reach; so is Fiji's, by the hub.
        sent_ws = await ws.send(sample_alert(TOPICS[len(from_ws) % len(TOPICS)]), ["FJ"])
        sent_fj = await fj.send(sample_alert(Topic.ASYLUM), ["WS"])
        assert (sent_ws.state, sent_fj.state) == ("published", "published")
        from_ws.append(sent_ws.message_id)
        from_fj.append(sent_fj.message_id)
        await asyncio.sleep(min(1.0, LINK_CUT_S / 10))  # pacing, not synchronisation
    renewed_before = link_sidecars.logged("sources_renewed")
    restore(c)
    restored = time.monotonic()

    def link_returned() -> float:
        wait_for_link(leaf, up=True)
        return time.monotonic() - restored

    link_up = asyncio.create_task(asyncio.to_thread(link_returned))
    await asyncio.gather(
        *(fj_watcher.wait(accepted(m), timeout=2 * DEADLINE_S) for m in from_ws),
        *(ws_watcher.wait(accepted(m), timeout=2 * DEADLINE_S) for m in from_fj),
    )
    backlog_s = time.monotonic() - restored
    link_up_s = await link_up

    by_ws = [first.message_id, *from_ws]
    by_fj = [answer.message_id, *from_fj]
    fj_received = audit_ids(fj.settings.database, "received")
    ws_received = audit_ids(ws.settings.database, "received")
    row = table.add(
        f"leaf-hub link cut {LINK_CUT_S:.0f}s, both sides sending",
        set(by_ws) | set(by_fj),
        fj_received + ws_received,
    )
    assert (row.lost, row.duplicated) == (0, 0)
    assert sorted(audit_ids(ws.settings.database, "sent")) == sorted(by_ws)
    assert sorted(audit_ids(fj.settings.database, "sent")) == sorted(by_fj)
    assert sorted(fj_received) == sorted(by_ws)
    assert sorted(ws_received) == sorted(by_fj)
    renewed = link_sidecars.logged("sources_renewed") - renewed_before
    note = (
        f"leaf-hub link cut {LINK_CUT_S:.0f}s: backlog of {len(from_ws) + len(from_fj)} "
        f"committed {backlog_s:.2f}s after the link returned (leaf reconnected after "
        f"{link_up_s:.2f}s; sources renewed {renewed}x)"
    )
    print(f"\n{note}")
    table.notes.append(note)
