"""The ``net`` fixture: an ``Exchange`` of members on the stream simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from unit.exchange.exchangekit import Exchange, open_exchange


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Exchange]:
    async with open_exchange(tmp_path) as exchange:
        yield exchange
