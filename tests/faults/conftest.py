"""The fault suite: real processes killed with SIGKILL, a real server restarted.

Each test adds a row (fault, sent, delivered, lost, duplicated) to a table printed at
the end of the run. ``LALI_FAULT_KILLS`` sets how many times the receiver is killed
(``make faults``: 20; ``make test``: 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import TABLE, NodeProcess, Table


@pytest.fixture
def table() -> Table:
    return TABLE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TABLE.rows:
        return
    tr = terminalreporter
    tr.section("fault suite")
    tr.write_line(f"{'fault':<52} {'sent':>6} {'delivered':>9} {'lost':>5} {'duplicated':>10}")
    for r in TABLE.rows:
        tr.write_line(f"{r.fault:<52} {r.sent:>6} {r.delivered:>9} {r.lost:>5} {r.duplicated:>10}")


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
