"""A hub with its console and three members, on a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hubkit import HubNet, start_hubnet


@pytest.fixture
async def hubnet(tmp_path: Path) -> AsyncIterator[HubNet]:
    net = await start_hubnet(tmp_path)
    try:
        yield net
    finally:
        try:
            await net.close()
        finally:
            await asyncio.to_thread(net.server.stop)
