"""Nodes running in-process against the real nats-server of ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nodekit import Running, Watcher, start_node

from node.ops.provision import Network
from node.runtime import Node


@pytest.fixture
async def running(network: Network) -> AsyncIterator[Running]:
    nodes: dict[str, Node] = {}
    watchers: dict[str, Watcher] = {}
    try:
        for code in ("XH", "WS", "FJ", "TO"):
            nodes[code], watchers[code] = await start_node(network, code)
        yield Running(network, nodes, watchers)
    finally:
        await asyncio.gather(*(node.aclose() for node in nodes.values()))
