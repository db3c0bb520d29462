"""A hub and members on a real nats-server whose permissions come from the directory
(``render_nats_config``), as in production: the hub sees what its permissions allow."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nodekit import Watcher, start_node

from keys import Role
from node.config import NodeSettings
from node.hub.auth import PasswordFile, first_run_password
from node.hub.service import Hub
from node.hub.settings import HubSettings
from node.ops.natsconfig import render_nats_config
from node.ops.natsserver import NatsServer
from node.ops.provision import MemberSpec, Network, provision_keys, toml_value, write_node_configs
from node.runtime import Node
from schemas.alert import Alert, parse_alert

MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]
NODE_EXTRA: dict[str, object] = {
    "outbox_retry_s": 0.5,
    "heartbeat_interval_s": 1.0,
    "checkpoint_interval_s": 2.0,
}


async def start_server(root: Path) -> tuple[Network, NatsServer]:
    network = provision_keys(root / "net", MEMBERS, datetime.now(UTC), valid_for=timedelta(days=30))
    conf = root / "nats.conf"
    conf.write_text(render_nats_config(network.members, store_dir=None, listen=None))
    server = NatsServer(root / "nats", config_file=conf)
    await asyncio.to_thread(server.start)
    write_node_configs(network, server.url, NODE_EXTRA, tls_ca=server.tls.ca)
    return network, server


def write_hub_config(network: Network, **values: object) -> Path:
    path = network.root / "XH" / "hub.toml"
    data = {"node": "node.toml", "console_port": 0, "lag_poll_s": 1.0, **values}
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in data.items()))
    return path


@dataclass
class HubNet:
    network: Network
    server: NatsServer
    hub: Hub
    nodes: dict[str, Node]
    one_time_password: str
    watchers: dict[str, Watcher] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.hub.url is not None
        return self.hub.url

    async def start_member(self, code: str) -> Node:
        node, watcher = await start_node(self.network, code)
        self.nodes[code], self.watchers[code] = node, watcher
        return node

    async def stop_member(self, code: str) -> None:
        await self.nodes.pop(code).aclose()

    async def close(self) -> None:
        await self.hub.aclose()
        await asyncio.gather(*(n.aclose() for n in self.nodes.values()))


async def start_hubnet(root: Path, members: tuple[str, ...] = ("WS", "FJ", "TO")) -> HubNet:
    network, server = await start_server(root)
    hub_toml = write_hub_config(network)
    settings = HubSettings.load(hub_toml)
    one_time = first_run_password(PasswordFile(settings.password_file))
    assert one_time is not None
    xh = Node(NodeSettings.load(settings.node))
    await xh.start()
    hub = Hub(xh, settings)
    net = HubNet(network, server, hub, {"XH": xh}, one_time)
    try:
        await asyncio.wait_for(xh.ready.wait(), 20)
        await hub.start()
        await asyncio.wait_for(hub.watcher.ready.wait(), 20)
        for code in members:
            await net.start_member(code)
    except BaseException:
        await net.close()
        await asyncio.to_thread(server.stop)
        raise
    return net


async def until(
    what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0, every: float = 0.2
) -> None:
    """A bounded, named poll for state that lives in another place (the hub's tables,
    a browser page): fails with ``what`` if it never holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(every)


def passport_alert(number: str, family: str, given: str, dob: str, title: str) -> Alert:
    """An identity-fraud alert naming one passport and its holder."""
    data: dict[str, Any] = {
        "title": title,
        "summary": f"Passport {number} presented at primary line; holder referred.",
        "priority": "urgent",
        "tlp": "AMBER",
        "payload": {
            "topic": "identity_fraud",
            "fraud_type": "impostor",
            "documents": [
                {"kind": "passport", "number": number, "issuing_state": "TON", "status": "stolen"}
            ],
            "persons": [
                {
                    "family_name": family,
                    "given_names": given,
                    "date_of_birth": dob,
                    "role": "suspect",
                }
            ],
        },
    }
    return parse_alert(json.dumps(data))


class BusWatch:
    """Awaits hub events (the same ones the console's live updates get)."""

    def __init__(self, hub: Hub) -> None:
        queue = hub.bus.subscribe()
        assert queue is not None
        self.hub = hub
        self.queue = queue
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def status(self, member: str, status: str, timeout: float = 30.0) -> None:
        """Wait until the hub's monitor shows ``member`` as ``status`` (now or later)."""
        self.seen.clear()
        if self.hub.statuses.get(member) != status:
            await self.wait("status", timeout=timeout, member=member, status=status)

    async def wait(
        self, event_kind: str, /, timeout: float = 30.0, **match: object
    ) -> dict[str, Any]:
        """The first event of ``event_kind`` whose data has every ``match`` value."""
        for k, data in self.seen:
            if k == event_kind and all(data.get(key) == v for key, v in match.items()):
                return data
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                data = dict(event.data)
                self.seen.append((event.kind, data))
                if event.kind == event_kind and all(data.get(k) == v for k, v in match.items()):
                    return data


class MemberProcess:
    """``lali node run`` for one member in its own process, so that it can be killed
    (SIGKILL: no goodbye heartbeat, like a crash or a cut link)."""

    def __init__(self, network: Network, code: str) -> None:
        self.config = network.configs[code]
        self.log = network.root / code / "node.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        lali = Path(sys.executable).parent / "lali"
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(lali), "--log-json", "node", "run", "--config", str(self.config),
                stdout=log, stderr=log,
            )  # fmt: skip

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None
