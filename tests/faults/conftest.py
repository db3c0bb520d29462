"""The fault suite: real processes killed with SIGKILL, a real server restarted.

Each test adds a row (fault, sent, delivered, lost, duplicated) to the table that
tests/conftest.py prints at the end of the run. ``LALI_FAULT_KILLS`` sets how many
times the receiver is killed (``make faults``: 20; ``make test``: 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import NodeProcess


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[type[NodeProcess]]:
    started: list[NodeProcess] = []

    class Tracked(NodeProcess):
        def start(self) -> None:
            super().start()
            started.append(self)

    yield Tracked
    for proc in started:
        proc.kill()
