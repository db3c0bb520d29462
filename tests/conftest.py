"""Shared fixtures: a real nats-server on a free loopback port, a provisioned network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys import Role
from node.natsserver import NatsServer
from node.provision import MemberSpec, Network, provision

MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server with JetStream, its own store directory, on 127.0.0.1."""
    server = NatsServer(tmp_path / "nats", sync_always=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def network(tmp_path: Path, nats_server: NatsServer) -> Network:
    """Keys, a signed directory and node.toml files for XH, WS, FJ and TO."""
    return provision(
        tmp_path / "net",
        MEMBERS,
        nats_server.url,
        datetime.now(UTC),
        extra_config={"outbox_retry_s": 0.5},
    )
