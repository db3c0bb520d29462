"""Shared fixtures: a real nats-server on a free loopback port (TLS required, its own
private CA), a provisioned network whose nodes trust that CA."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faultkit import TABLE, Table
from nodekit import provision_consumers_now

from keys import Role
from node.ops.natsserver import NatsServer
from node.ops.provision import MemberSpec, Network, provision

MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server with JetStream, its own store directory, on 127.0.0.1; TLS
    only, with a CA of its own (``nats_server.tls.ca``)."""
    server = NatsServer(tmp_path / "nats", sync_always=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def network(tmp_path: Path, nats_server: NatsServer) -> Network:
    """Keys, a signed directory and node.toml files for XH, WS, FJ and TO; the stream
    and every member's consumer on the server, as the hub's node would make them."""
    network = provision(
        tmp_path / "net",
        MEMBERS,
        nats_server.url,
        datetime.now(UTC),
        tls_ca=nats_server.tls.ca,
        extra_config={"outbox_retry_s": 0.5},
    )
    provision_consumers_now(network)
    return network


@pytest.fixture
def table() -> Table:
    """The fault table: tests that inject a fault add a row (sent, delivered, lost,
    duplicated); it is printed at the end of the run."""
    return TABLE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TABLE.rows:
        return
    tr = terminalreporter
    tr.section("fault suite")
    tr.write_line(f"{'fault':<52} {'sent':>6} {'delivered':>9} {'lost':>5} {'duplicated':>10}")
    for r in TABLE.rows:
        tr.write_line(f"{r.fault:<52} {r.sent:>6} {r.delivered:>9} {r.lost:>5} {r.duplicated:>10}")
    for note in TABLE.notes:
        tr.write_line(note)
