"""``lali demo``: a whole local network on an embedded nats-server, end to end.

A hub and three members (WS, FJ, TO) get keys and a signed directory; their nodes run
in this process; realistic sample alerts across all topics go out, one of them to a
subset so that a non-recipient demonstrably cannot read it. The demo waits for every
expected delivery (by event, not by sleeping), verifies every audit chain and prints a
summary line. Only metadata is printed, never alert content.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import schemas
from keys import Role
from node.config import NodeSettings
from node.exchange.inbound.decisions import Decision, Outcome
from node.exchange.receipts import ReceiptDecision
from node.ops.natsconfig import render_nats_config
from node.ops.natsserver import NatsServer
from node.ops.provision import (
    MemberSpec,
    Network,
    provision_consumers,
    provision_keys,
    write_node_configs,
)
from node.protocol.envelope import Opened
from node.runtime import Node
from node.storage.audit import verify_file
from schemas.alert import Alert, Topic, parse_alert
from schemas.errors import ConfigError, LaliError

if TYPE_CHECKING:
    from node.ops.demo_console import DemoConsole

HUB = MemberSpec("XH", "Pacific Transnational Crime Coordination Centre (hub)", Role.HUB)
MEMBERS = [
    HUB,
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]
# (topic, sender, recipients): one alert per topic; drug_smuggling goes FJ -> TO only.
PLAN: list[tuple[Topic, str, list[str]]] = [
    (Topic.PEOPLE_SMUGGLING, "FJ", ["all"]),
    (Topic.HUMAN_TRAFFICKING, "TO", ["WS", "FJ", "XH"]),
    (Topic.IDENTITY_FRAUD, "WS", ["all"]),
    (Topic.DRUG_SMUGGLING, "FJ", ["TO"]),
    (Topic.IRREGULAR_MIGRATION, "TO", ["all"]),
    (Topic.MARITIME, "WS", ["FJ", "TO"]),
    (Topic.ASYLUM, "FJ", ["XH", "WS"]),
    (Topic.BULLETIN, "XH", ["all"]),
]
# With --serve: Fiji reports the passport Samoa reported, so the hub links the two.
SERVE_PLAN: list[tuple[Topic, str, list[str]]] = [(Topic.IDENTITY_FRAUD, "FJ", ["XH", "TO"])]


@dataclass
class Tracker:
    """Counts decisions per node and fires when every expected one has happened."""

    expected: set[tuple[str, str, Outcome]] = field(default_factory=set)
    seen: set[tuple[str, str, Outcome]] = field(default_factory=set)
    expected_receipts: int = 0
    rejected: int = 0
    receipts: int = 0  # receipts recorded by senders
    checks_expected: int = 0  # watch-list checks at the watching member
    checks: int = 0
    armed: bool = False  # set once every expected decision has been registered
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def listener(self, code: str) -> Callable[[Decision, Opened | None], None]:
        def on_decision(decision: Decision, opened: Opened | None) -> None:
            if decision.outcome is Outcome.REJECTED:
                self.rejected += 1
            if decision.message_id is not None:
                self.seen.add((decision.message_id, code, decision.outcome))
            self.check()

        return on_decision

    def on_receipt(self, decision: ReceiptDecision) -> None:
        if decision.outcome == "recorded":
            self.receipts += 1
        self.check()

    def on_job(self, instance: str, message_id: str, kind: str, state: str) -> None:
        if instance == "watch" and state in ("done", "failed"):
            self.checks += 1
        self.check()

    def check(self) -> None:
        receipts_back = self.receipts >= self.expected_receipts
        checked = self.checks >= self.checks_expected
        if self.armed and self.expected <= self.seen and receipts_back and checked:
            self.done.set()


EXAMPLES = Path(schemas.__file__).resolve().parent / "examples" / "valid"
WATCHLIST = Path(__file__).resolve().parents[2] / "deploy" / "watchlist.example.csv"
WATCHER = "TO"  # the member whose node checks inbound alerts against a watch list


def add_watchlist(config: Path) -> bool:
    """Give one member the sample watch list and the ``watchlist`` handler."""
    if not WATCHLIST.exists():  # installed without the repository's deploy/ folder
        return False
    (config.parent / "watchlist.csv").write_bytes(WATCHLIST.read_bytes())
    with config.open("a", encoding="utf-8") as f:
        f.write(
            '\n[handlers.watch]\ntype = "watchlist"\nmax_tlp = "RED"\n'
            'settings = { path = "watchlist.csv" }\n'
            '[[routes]]\nname = "check-everything"\nhandlers = ["watch"]\n'
        )
    return True


def sample_alerts(now: datetime) -> dict[Topic, Alert]:
    """One example alert per topic, with any expiry moved a week ahead of ``now``."""
    samples: dict[Topic, Alert] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        alert = parse_alert(path.read_bytes())
        if alert.topic not in samples:
            if alert.expires_at is not None:
                alert = alert.model_copy(update={"expires_at": now + timedelta(days=7)})
            samples[alert.topic] = alert
    return samples


async def run_demo(
    data_dir: Path | None,
    out: Callable[[str], None] = print,
    timeout: float = 60.0,
    serve: DemoConsole | None = None,
) -> int:
    """``serve``: also run the hub console, and keep the network up until it stops."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="lali-demo-") as tmp:
            return await _run(Path(tmp), out, timeout, serve)
    try:
        aside = clear_data_dir(data_dir, datetime.now(UTC))
    except ConfigError as exc:
        out(f"demo: error ({exc.reason}): {exc}")
        return 2
    if aside is not None:
        out(f"demo: {data_dir} held an earlier demo network: moved it to {aside}; new network")
    return await _run(data_dir, out, timeout, serve)


# What every demo network leaves in its data directory (``provision_keys`` writes both).
_DEMO_FILES = ("hub-root.key", "directory.json")


def clear_data_dir(root: Path, now: datetime) -> Path | None:
    """Make ``root`` ready for a new network; return where an earlier one went, if any.

    Every run provisions new keys: an earlier network's databases, checkpoints and
    stream kept beside them would no longer verify. A demo is disposable, but the
    directory is the user's: an earlier demo network is moved aside whole (it still
    verifies with ``--offline``), never deleted, and a non-empty directory that does
    not hold one is refused (``ConfigError``).
    """
    if not root.exists():
        return None
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", path=str(root))
    if not any(root.iterdir()):
        return None
    if not all((root / name).is_file() for name in _DEMO_FILES):
        raise ConfigError(
            f"{root} is not empty and holds no demo network; choose another --data-dir",
            path=str(root),
        )
    aside = root.with_name(f"{root.name}.old-{now:%Y%m%dT%H%M%S}")
    n = 1
    while aside.exists():
        n += 1
        aside = root.with_name(f"{root.name}.old-{now:%Y%m%dT%H%M%S}-{n}")
    root.rename(aside)
    return aside


async def _run(
    root: Path, out: Callable[[str], None], timeout: float, serve: DemoConsole | None = None
) -> int:
    # Keys and directory first: the server's permissions are generated from the
    # directory (one nkey user per member, its own subjects only), as in production.
    network = provision_keys(root, MEMBERS, datetime.now(UTC), valid_for=timedelta(days=30))
    conf = root / "nats-server.conf"
    conf.write_text(render_nats_config(network.members, store_dir=None, listen=None))
    server = NatsServer(root / "nats", config_file=conf)
    await asyncio.to_thread(server.start)
    try:
        write_node_configs(
            network, server.url, serve.node_config if serve else None, tls_ca=server.tls.ca
        )
        add_watchlist(network.configs[WATCHER])
        # As the hub's node does when it starts: the stream and every member's consumer
        # (members may only bind to theirs), so no member waits for the hub here.
        await provision_consumers(network)
        return await _run_network(network, server.url, out, timeout, serve)
    finally:
        await asyncio.to_thread(server.stop)


async def _run_network(
    network: Network,
    url: str,
    out: Callable[[str], None],
    timeout: float,
    serve: DemoConsole | None = None,
) -> int:
    now = datetime.now(UTC)
    root = network.root
    out(f"demo: nats-server on {url} (TLS only, permissions from the directory); network in {root}")
    out("demo: members " + ", ".join(f"{m.code} ({m.name})" for m in MEMBERS))
    tracker = Tracker()
    nodes = {code: Node(NodeSettings.load(path)) for code, path in network.configs.items()}
    codes = list(nodes)
    for code, node in nodes.items():
        await node.start()
        node.inbound.listeners.append(tracker.listener(code))
        node.receipt_listeners.append(tracker.on_receipt)
        if node.handlers is not None:
            node.handlers.listeners.append(tracker.on_job)
    try:
        await asyncio.wait_for(asyncio.gather(*(n.ready.wait() for n in nodes.values())), timeout)
        samples = sample_alerts(now)
        sent = delivered = 0
        if serve is not None:
            await serve.start(nodes["XH"], network, out)
        for topic, sender, to in PLAN + (SERVE_PLAN if serve is not None else []):
            alert = samples[topic]
            result = await nodes[sender].send(alert, to)
            sent += 1
            delivered += len(result.recipients)
            others = [c for c in codes if c != sender and c not in result.recipients]
            for code in result.recipients:
                tracker.expected.add((result.message_id, code, Outcome.ACCEPTED))
            if WATCHER in result.recipients and nodes[WATCHER].handlers is not None:
                tracker.checks_expected += 1
            for code in others:
                tracker.expected.add((result.message_id, code, Outcome.NOT_ADDRESSED))
            shown = ", ".join(result.recipients)
            out(
                f"  {sender} -> {shown:<14} {topic.value:<20} "
                f"{alert.tlp.value:<12} {alert.priority.value:<8} {result.message_id}"
            )
            for code in others:
                out(f"  {'':<20}{code} receives it too but cannot read it (not addressed)")
        tracker.expected_receipts = delivered
        tracker.armed = True
        tracker.check()
        try:
            await asyncio.wait_for(tracker.done.wait(), timeout)
        except TimeoutError:
            for mid, code, outcome in sorted(tracker.expected - tracker.seen):
                out(f"  MISSING: {code} never saw {mid} as {outcome.value}")
        verified = sum(1 for key in tracker.seen if key[2] is Outcome.ACCEPTED)
        out(f"  signed delivery receipts back at the senders: {tracker.receipts}/{delivered}")
        hits = await watchlist_hits(nodes[WATCHER], out)
        if serve is not None:
            await serve.wait(out)
    finally:
        if serve is not None:
            await serve.close()
        await asyncio.gather(*(node.aclose() for node in nodes.values()))
    audit_ok = True
    for code, path in network.configs.items():
        try:
            chain = verify_file(NodeSettings.load(path).database)
            out(f"  audit {code}: {chain.count} entries, chain ok, head {chain.head.hex()[:16]}")
        except LaliError as exc:
            audit_ok = False
            out(f"  audit {code}: FAILED: {exc}")
    ok = (
        audit_ok
        and (hits > 0 or nodes[WATCHER].handlers is None)
        and verified == delivered
        and tracker.receipts == delivered
        and tracker.rejected == 0
    )
    out(
        f"demo: sent={sent} delivered={delivered} verified={verified} "
        f"rejected={tracker.rejected} watchlist_hits={hits} audit={'ok' if audit_ok else 'FAILED'}"
    )
    return 0 if ok else 1


async def watchlist_hits(node: Node, out: Callable[[str], None]) -> int:
    """Print the automated watch-list hits (entry ids and scores only, no content)."""
    if node.handlers is None:
        out("  watch list: not configured (deploy/watchlist.example.csv not found)")
        return 0
    rows = await node.db.fetchall(
        "SELECT h.message_id, h.list_entry, h.entity, h.score, i.sender, i.topic FROM hits h"
        " JOIN inbox i ON i.message_id = h.message_id ORDER BY h.id"
    )
    out(f"  automated watch-list hits at {node.code}: {len(rows)}")
    for r in rows:
        out(f"    {r[5]:<20} from {r[4]}: {r[2]:<8} matches {r[1]} (score {r[3]:.0f})")
    return len(rows)
