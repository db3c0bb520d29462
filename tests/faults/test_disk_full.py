"""The audit database's disk fills up (a small tmpfs the test mounts): the node stops
acknowledging, says so, and resumes by itself when space returns (THREATS.md row 29)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from faultkit import Table, received_ids
from nodekit import Watcher, accepted, start_node
from testkit import sample_alert

from node.config import NodeSettings
from node.exchange.inbound.decisions import Outcome
from node.ops.provision import Network
from node.runtime import Node
from node.storage.audit import verify_file
from schemas.alert import Topic

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write until the filesystem refuses (ENOSPC); return the filler file."""
    filler = disk / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


async def witnessed(settings: NodeSettings, member: str) -> None:
    """Until the node on ``settings`` holds a checkpoint of ``member`` (bounded poll of
    its database: witnessing tells no listener)."""
    uri = f"file:{settings.database}?mode=ro"
    for _ in range(400):
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            row = conn.execute("SELECT 1 FROM checkpoints WHERE member = ?", (member,)).fetchone()
        if row:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{settings.code} never witnessed a checkpoint of {member}")


async def test_disk_full_stops_acks_and_resumes(
    network: Network, small_disk: Path, table: Table
) -> None:
    settings = NodeSettings.load(network.configs["FJ"])
    settings = settings.model_copy(update={"database": small_disk / "lali.db"})
    fj = Node(settings)
    watch = Watcher()
    await fj.start()
    fj.inbound.listeners.append(watch)
    ws, _ = await start_node(network, "WS")
    try:
        await asyncio.wait_for(fj.ready.wait(), 20)
        first = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
        await watch.wait(accepted(first.message_id))
        # Nodes sign a checkpoint at start and witness each other's: let FJ take WS's
        # in first, so that the next thing FJ must commit is the alert below.
        await witnessed(settings, "WS")
        filler = await asyncio.to_thread(fill, small_disk)
        with structlog.testing.capture_logs() as logs:
            second = await ws.send(sample_alert(Topic.ASYLUM), ["FJ"])
            retry = await watch.wait(lambda d: d.outcome is Outcome.RETRY)
            assert retry.reason == "storage"
            assert not any(
                d.message_id == second.message_id and d.outcome is Outcome.ACCEPTED
                for d in watch.decisions
            )
            filler.unlink()  # space is back
            await watch.wait(accepted(second.message_id), timeout=60)
        said = [e for e in logs if e["event"] == "inbound_storage_failed"]
        assert said and "full" in said[0]["error"]  # "database or disk is full"
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    got = received_ids(settings)
    row = table.add("audit disk full, then space back", {first.message_id, second.message_id}, got)
    assert (row.lost, row.duplicated) == (0, 0)
    assert verify_file(settings.database).count >= 3
