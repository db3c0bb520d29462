"""A member's link to the hub cut (a TCP proxy the test controls) while alerts are sent
on both sides; after the link returns, everything arrives, once (THREATS.md row 24)."""

from __future__ import annotations

import asyncio
import time

import pytest
from faultkit import LINK_CUT_S, Table, TcpProxy, received_ids
from nodekit import Watcher, accepted, start_node
from testkit import sample_alert

from node.config import NodeSettings
from node.ops.natsserver import NatsServer
from node.ops.provision import Network
from node.runtime import Node
from schemas.alert import Topic

pytestmark = pytest.mark.integration


async def test_link_cut_and_restored(
    network: Network, nats_server: NatsServer, table: Table
) -> None:
    assert nats_server.port is not None
    proxy = TcpProxy(nats_server.port)
    await proxy.start()
    settings = NodeSettings.load(network.configs["WS"]).model_copy(update={"nats_url": proxy.url})
    ws = Node(settings)
    ws_watch = Watcher()
    await ws.start()
    ws.inbound.listeners.append(ws_watch)
    fj, fj_watch = await start_node(network, "FJ")
    try:
        await asyncio.wait_for(ws.ready.wait(), 20)
        await proxy.cut()
        await asyncio.wait_for(ws.transport.disconnected.wait(), 20)
        from_ws, from_fj = [], []
        deadline = time.monotonic() + LINK_CUT_S
        while time.monotonic() < deadline:  # both sides keep working during the cut
            r = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
            assert r.state == "queued"
            from_ws.append(r.message_id)
            from_fj.append((await fj.send(sample_alert(Topic.ASYLUM), ["WS"])).message_id)
            await asyncio.sleep(min(1.0, LINK_CUT_S / 10))  # pacing, not synchronisation
        await proxy.restore()
        restored = time.monotonic()
        await asyncio.gather(
            *(fj_watch.wait(accepted(m), timeout=60) for m in from_ws),
            *(ws_watch.wait(accepted(m), timeout=60) for m in from_fj),
        )
        backlog_s = time.monotonic() - restored
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
        await proxy.close()
    sent = set(from_ws) | set(from_fj)
    got = received_ids(fj.settings) + received_ids(ws.settings)
    row = table.add(f"link cut {LINK_CUT_S:.0f}s, both sides sending", sent, got)
    assert (row.lost, row.duplicated) == (0, 0)
    print(f"\nbacklog of {len(sent)} delivered {backlog_s:.2f}s after the link returned")
    table.notes.append(f"link cut {LINK_CUT_S:.0f}s: backlog delivered {backlog_s:.2f}s after")
