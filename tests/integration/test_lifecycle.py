"""Lifecycle and cancellation: nothing half-written, closing is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from nodekit import accepted, start_node
from testkit import sample_alert

from node.config import NodeSettings
from node.ops.provision import Network
from node.runtime import Node, State
from node.storage.audit import verify_file
from node.storage.database import Database
from schemas.alert import Topic

pytestmark = pytest.mark.integration


async def test_cancel_inside_a_transaction_leaves_no_trace(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db")
    entered = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="m-1")
            await tx.execute(
                "INSERT INTO state (key, value) VALUES ('half', 'written')",
            )
            entered.set()
            await asyncio.Event().wait()  # cancelled here, before COMMIT

    task = asyncio.create_task(writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.transaction() as tx:  # the lock was released, the log still appends
        await tx.audit("sent", message_id="m-2")
    await db.close()
    await db.close()  # idempotent
    assert verify_file(tmp_path / "x.db").count == 1
    with closing(sqlite3.connect(tmp_path / "x.db")) as conn:
        ids = [r[0] for r in conn.execute("SELECT message_id FROM audit")]
        half = conn.execute("SELECT value FROM state WHERE key = 'half'").fetchone()
    assert ids == ["m-2"] and half is None


async def test_error_inside_a_transaction_rolls_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db")
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="m-1")
            raise RuntimeError("boom")
    await db.close()
    assert verify_file(tmp_path / "x.db").count == 0
    with pytest.raises(RuntimeError, match="closed"):
        async with db.transaction():
            pass


async def test_node_lifecycle_states(network: Network) -> None:
    node = Node(NodeSettings.load(network.configs["WS"]))
    assert node.state is State.NEW
    await node.start()
    with pytest.raises(RuntimeError, match="cannot start"):
        await node.start()
    await asyncio.wait_for(node.ready.wait(), 20)
    assert node.state is State.RUNNING
    await node.aclose()
    await node.aclose()  # idempotent
    assert node.state is State.CLOSED
    with pytest.raises(RuntimeError, match="closed"):
        await node.send(sample_alert(Topic.MARITIME), ["FJ"])


async def test_cancelling_the_owner_mid_flight_keeps_audit_consistent(network: Network) -> None:
    fj, fj_watch = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")
    try:
        # Send a burst and close the receiver while it is consuming.
        ids = [(await ws.send(sample_alert(Topic.MARITIME), ["FJ"])).message_id for _ in range(20)]
        await fj_watch.wait(accepted(ids[0]))
        await fj.aclose()
        # Whatever FJ committed verifies; the rest arrives after a restart, once each.
        fj2, fj2_watch = await start_node(network, "FJ")
        try:
            for mid in ids:
                if not any(d.message_id == mid for d in fj_watch.decisions):
                    await fj2_watch.wait(accepted(mid))
        finally:
            await fj2.aclose()
    finally:
        await ws.aclose()
    assert verify_file(fj.settings.database).count == 1 + len(ids)  # directory + received
    with closing(sqlite3.connect(fj.settings.database)) as conn:
        inbox = sorted(r[0] for r in conn.execute("SELECT message_id FROM inbox"))
    assert inbox == sorted(ids)


@pytest.mark.parametrize("yields", range(8))
async def test_cancel_at_any_point_never_wedges_the_database(tmp_path: Path, yields: int) -> None:
    # Cancellation may land while BEGIN or COMMIT is still running on the database
    # thread; the next transaction must still work and the chain must verify.
    db = await Database.open(tmp_path / "x.db")

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.audit("sent", message_id="cancelled")

    task = asyncio.create_task(writer())
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with db.transaction() as tx:
        await tx.audit("sent", message_id="after")
    await db.close()
    result = verify_file(tmp_path / "x.db")
    assert result.count in (1, 2)


async def test_node_refuses_a_key_file_the_directory_does_not_list(network: Network) -> None:
    # Alerts sealed to the directory's key would otherwise be acked as "not addressed".
    from keys import Identity, save_identity
    from schemas.errors import ConfigError

    settings = NodeSettings.load(network.configs["FJ"])
    save_identity(settings.identity, Identity.generate("FJ"), overwrite=True)
    node = Node(settings)
    with pytest.raises(ConfigError, match="does not hold"):
        await node.start()
