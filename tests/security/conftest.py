"""Fixtures of the attack suite: the staged target (see ``stage.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from security.stage import Target, staged

from node.ops.provision import Network


@pytest.fixture
async def target(network: Network) -> AsyncIterator[Target]:
    async with staged(network) as staged_target:
        yield staged_target


@pytest.fixture
async def live(network: Network) -> AsyncIterator[Target]:
    """The target consuming from the real nats-server of ``tests/conftest.py``."""
    async with staged(network, consume=True) as staged_target:
        yield staged_target
