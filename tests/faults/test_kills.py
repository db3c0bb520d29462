"""Processes killed with SIGKILL and a server killed mid-stream: nothing accepted is
lost, nothing is processed twice (THREATS.md rows 21, 23, 24, 26, 28)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
from pathlib import Path

import pytest
from faultkit import KILLS, LALI, NodeProcess, Table, received_ids, sent_ids, wait_until
from nodekit import start_node
from testkit import sample_alert

from node.config import NodeSettings
from node.ops.natsserver import NatsServer
from node.ops.provision import Network
from node.runtime import Node
from node.storage.audit import verify_file
from schemas.alert import Topic
from schemas.errors import LaliError

pytestmark = pytest.mark.integration


async def send_stream(ws: Node, count: int, pause: float) -> list[str]:
    ids = []
    topics = [Topic.MARITIME, Topic.ASYLUM, Topic.PEOPLE_SMUGGLING, Topic.IDENTITY_FRAUD]
    for i in range(count):
        result = await ws.send(sample_alert(topics[i % len(topics)]), ["FJ"])
        ids.append(result.message_id)
        await asyncio.sleep(pause)  # pacing of the load, not synchronisation
    return ids


async def test_receiver_killed_repeatedly(
    network: Network, node_process: type[NodeProcess], table: Table, tmp_path: Path
) -> None:
    fj_settings = NodeSettings.load(network.configs["FJ"])
    fj = node_process(network.configs["FJ"], tmp_path / "fj.log")
    fj.start()
    ws, _ = await start_node(network, "WS")
    rng = random.Random(20261129)
    count = 40 + 15 * KILLS
    try:
        sender = asyncio.create_task(send_stream(ws, count, 0.02))
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.05, 0.6))  # a random point in the stream
            fj.kill()
            fj.start()
        ids = await sender
        await asyncio.to_thread(
            wait_until, lambda: len(set(received_ids(fj_settings))) >= count, 90, "FJ catch-up"
        )
        assert fj.stop() == 0  # SIGTERM drains cleanly
    finally:
        await ws.aclose()
    row = table.add(f"receiver SIGKILLed x{KILLS} mid-stream", set(ids), received_ids(fj_settings))
    assert (row.lost, row.duplicated) == (0, 0)
    assert set(sent_ids(ws.settings)) == set(ids)
    assert verify_file(fj_settings.database).count >= count


async def test_sender_killed_between_commit_and_publish(
    network: Network, table: Table, tmp_path: Path
) -> None:
    alert_file = tmp_path / "alert.json"
    alert_file.write_text(sample_alert(Topic.MARITIME).model_dump_json(), encoding="utf-8")
    ws_config = network.configs["WS"]
    env = {**os.environ, "LALI_CRASH_AT": "after_commit"}
    crashes = max(3, KILLS // 4)
    for _ in range(crashes):
        proc = await asyncio.to_thread(
            subprocess.run,
            [str(LALI), "send", "--config", str(ws_config), "--to", "FJ", str(alert_file)],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == -9, proc.stderr.decode()  # died by SIGKILL after commit
    ws_settings = NodeSettings.load(ws_config)
    committed = sent_ids(ws_settings)
    assert len(committed) == crashes  # accepted before the crash, not yet published
    fj, fj_watch = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")  # restart: the publisher drains the outbox
    try:
        for mid in committed:
            await fj_watch.wait(lambda d, mid=mid: d.message_id == mid, timeout=30)
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    row = table.add(
        "sender SIGKILLed between commit and publish", committed, received_ids(fj.settings)
    )
    assert (row.lost, row.duplicated) == (0, 0)


async def test_server_killed_mid_stream(
    network: Network, nats_server: NatsServer, table: Table
) -> None:
    fj, _ = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")
    try:
        first = await send_stream(ws, 30, 0.01)
        await asyncio.to_thread(nats_server.kill)  # every server gone at once
        during = await send_stream(ws, 10, 0.0)  # accepted locally, queued
        await asyncio.to_thread(nats_server.start)
        after = await send_stream(ws, 30, 0.01)
        ids = set(first + during + after)
        await asyncio.to_thread(
            wait_until, lambda: set(received_ids(fj.settings)) >= ids, 90, "FJ catch-up"
        )
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    row = table.add("nats-server SIGKILLed mid-stream, restarted", ids, received_ids(fj.settings))
    assert (row.lost, row.duplicated) == (0, 0)


async def test_corrupted_database_is_refused_at_start(network: Network) -> None:
    fj, watch = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")
    try:
        mid = (await ws.send(sample_alert(Topic.MARITIME), ["FJ"])).message_id
        await watch.wait(lambda d: d.message_id == mid)
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    db = fj.settings.database
    data = bytearray(db.read_bytes())
    for offset in range(4096 + 100, len(data), 997):  # scribble over every page but the first
        data[offset] ^= 0xFF
    db.write_bytes(bytes(data))
    again = Node(NodeSettings.load(network.configs["FJ"]))
    with pytest.raises(LaliError) as err:
        await again.start()
    assert err.value.reason in ("storage", "audit_chain_broken")
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(LALI), "node", "run", "--config", str(network.configs["FJ"])],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert b"error (" in proc.stderr
    assert db.read_bytes() == bytes(data)  # never silently rebuilt
