"""The outbox while the link is down: most urgent first, expired alerts never sent."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from testkit import sample_alert

from node.config import NodeSettings
from node.ops.natsserver import NatsServer
from node.ops.provision import Network
from node.runtime import Node
from node.storage.audit import list_entries
from schemas.alert import Priority, Topic

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def outbox(node: Node) -> dict[str, tuple[str, int | None]]:
    with closing(sqlite3.connect(node.settings.database)) as conn:
        rows = conn.execute("SELECT message_id, state, stream_seq FROM outbox WHERE kind = 'alert'")
        return {mid: (state, seq) for mid, state, seq in rows}


async def test_queued_alerts_leave_most_urgent_first(
    network: Network, nats_server: NatsServer
) -> None:
    await asyncio.to_thread(nats_server.stop)  # the link is down before WS starts
    ws = Node(NodeSettings.load(network.configs["WS"]))
    await ws.start()
    try:
        ids = {}
        for priority in (Priority.ROUTINE, Priority.URGENT, Priority.FLASH, Priority.ROUTINE):
            alert = sample_alert(Topic.MARITIME).model_copy(update={"priority": priority})
            result = await ws.send(alert, ["FJ"])
            assert result.state == "queued"
            ids.setdefault(priority, []).append(result.message_id)
        await asyncio.to_thread(nats_server.start)
        await asyncio.wait_for(ws.ready.wait(), 30)
        await ws.outbound.flush()
    finally:
        await ws.aclose()
    state = outbox(ws)
    assert {s for s, _ in state.values()} == {"published"}
    order = sorted(state, key=lambda mid: state[mid][1] or 0)
    assert order[0] == ids[Priority.FLASH][0]
    assert order[1] == ids[Priority.URGENT][0]
    assert order[2:] == ids[Priority.ROUTINE]  # same priority: first in, first out


async def test_alert_that_expires_in_the_outbox_is_never_sent(
    network: Network, nats_server: NatsServer
) -> None:
    await asyncio.to_thread(nats_server.stop)
    clock = Clock()
    ws = Node(NodeSettings.load(network.configs["WS"]), clock=clock)
    await ws.start()
    try:
        alert = sample_alert(Topic.MARITIME).model_copy(
            update={"expires_at": datetime.now(UTC) + timedelta(hours=1)}
        )
        result = await ws.send(alert, ["FJ"])
        assert result.state == "queued"
        clock.offset = timedelta(hours=2)  # the link stays down past the alert's expiry
        await asyncio.to_thread(nats_server.start)
        await asyncio.wait_for(ws.ready.wait(), 30)
        assert await ws.outbound.flush() == 0
    finally:
        await ws.aclose()
    assert outbox(ws)[result.message_id] == ("expired", None)
    expired = list_entries(ws.settings.database, kind="expired")
    assert [e.entry.message_id for e in expired] == [result.message_id]
