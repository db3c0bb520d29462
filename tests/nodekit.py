"""Running nodes in-process for integration tests, and awaiting their decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from node.config import NodeSettings
from node.exchange.inbound.decisions import Decision, Outcome
from node.ops.provision import Network, provision_consumers
from node.protocol.envelope import Opened
from node.runtime import Node

Match = Callable[[Decision], bool]


@dataclass
class Watcher:
    """Records every decision of one node; lets a test await a matching one."""

    decisions: list[Decision] = field(default_factory=list)
    _waiters: list[tuple[Match, asyncio.Future[Decision]]] = field(default_factory=list)

    def __call__(self, decision: Decision, opened: Opened | None) -> None:
        self.decisions.append(decision)
        for match, fut in list(self._waiters):
            if not fut.done() and match(decision):
                fut.set_result(decision)

    async def wait(self, match: Match, timeout: float = 20.0) -> Decision:
        for decision in self.decisions:
            if match(decision):
                return decision
        fut: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        return await asyncio.wait_for(fut, timeout)


def provision_consumers_now(network: Network) -> None:
    """``provision_consumers`` from synchronous code (a fixture), on a thread of its own
    so that the test's event loop is left alone."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, provision_consumers(network)).result()


async def start_node(network: Network, code: str) -> tuple[Node, Watcher]:
    """Start ``code``'s node and wait until it is ready. The stream and the members'
    consumers are made first, as the hub's node would (a member only binds to its
    consumer; the network may run no hub node, or a server of its own)."""
    await provision_consumers(network)
    node = Node(NodeSettings.load(network.configs[code]))
    watcher = Watcher()
    await node.start()
    node.inbound.listeners.append(watcher)
    await asyncio.wait_for(node.ready.wait(), 20)
    return node, watcher


@dataclass
class Running:
    network: Network
    nodes: dict[str, Node]
    watchers: dict[str, Watcher]


def outcome(message_id: str, kind: Outcome) -> Match:
    return lambda d: d.message_id == message_id and d.outcome is kind


def accepted(message_id: str) -> Match:
    return outcome(message_id, Outcome.ACCEPTED)


async def restart(running: Running, code: str) -> tuple[Node, Watcher]:
    """Start a fresh node process-equivalent for ``code`` (after it was closed)."""
    node, watcher = await start_node(running.network, code)
    running.nodes[code], running.watchers[code] = node, watcher
    return node, watcher
