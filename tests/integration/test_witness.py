"""Witnessed audit: checkpoints held at the hub catch what a local chain cannot
(THREATS.md rows 19 and 20: a rewritten log, an old backup restored)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from nodekit import Running, accepted
from testkit import sample_alert
from typer.testing import CliRunner

from node.cli.main import app
from node.config import NodeSettings
from node.protocol.chain import GENESIS, ChainHead, Entry, entry_hash
from node.protocol.msgid import nats_msg_id
from node.runtime import Node
from schemas.alert import Topic
from schemas.errors import AuditChainBroken

pytestmark = pytest.mark.integration


async def audit_verify(*args: str) -> tuple[int, str]:
    """The CLI in a thread: it runs its own event loop, as it does from a shell."""
    result = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify", *args])
    return result.exit_code, result.output


async def busy(running: Running, n: int) -> None:
    ws = running.nodes["WS"]
    for _ in range(n):
        mid = (await ws.send(sample_alert(Topic.MARITIME), ["FJ"])).message_id
        await running.watchers["FJ"].wait(accepted(mid))


async def checkpoint_reaches_hub(running: Running, member: str) -> int:
    """Sign FJ's head now and wait until the hub's node holds that checkpoint."""
    node = running.nodes[member]
    checkpoint = await node.witness.checkpoint_now()
    assert checkpoint is not None
    node._wake_outbox.set()
    hub_db = running.nodes["XH"].settings.database
    for _ in range(400):  # bounded poll: the hub's node stores it in its own database
        with closing(sqlite3.connect(f"file:{hub_db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT 1 FROM checkpoints WHERE member = ? AND count = ?",
                (member, checkpoint.count),
            ).fetchone()
        if row:
            return checkpoint.count
        await asyncio.sleep(0.05)
    raise AssertionError("the hub never recorded the checkpoint")


async def test_old_backup_restored_is_caught_by_the_hubs_checkpoint(
    running: Running, tmp_path: Path
) -> None:
    fj = running.nodes["FJ"]
    config = str(fj.settings.database.parent / "node.toml")
    await busy(running, 2)
    backup = tmp_path / "backup.db"
    with (
        closing(sqlite3.connect(fj.settings.database)) as src,
        closing(sqlite3.connect(backup)) as dst,
    ):
        src.backup(dst)  # yesterday's backup
    await busy(running, 3)
    count = await checkpoint_reaches_hub(running, "FJ")
    code, out = await audit_verify("--config", config)
    assert code == 0, out
    assert f"newest at entry {count}" in out
    await fj.aclose()
    shutil.copy(backup, fj.settings.database)  # the old backup is restored
    for suffix in ("-wal", "-shm"):
        Path(str(fj.settings.database) + suffix).unlink(missing_ok=True)  # noqa: ASYNC240
    code, out = await audit_verify("--db", str(fj.settings.database))
    assert code == 0, out  # on its own, the restored log looks fine ...
    code, out = await audit_verify("--config", config)
    assert code == 1, out  # ... the checkpoint the hub holds says otherwise
    assert "missing from the end" in out


async def test_consistent_rewrite_is_caught_by_the_hubs_checkpoint(running: Running) -> None:
    fj = running.nodes["FJ"]
    config = str(fj.settings.database.parent / "node.toml")
    await busy(running, 2)
    await checkpoint_reaches_hub(running, "FJ")
    await fj.aclose()
    db = fj.settings.database
    with closing(sqlite3.connect(db)) as conn:
        # A careful attacker: change history and recompute every hash and the head.
        conn.execute("DROP TRIGGER audit_no_update")
        rows = conn.execute(
            "SELECT seq, at, kind, message_id, peer, topic, reason, detail, envelope"
            " FROM audit ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        for row in rows:
            entry = Entry(*row[:8], envelope=row[8])
            if entry.kind == "received":
                entry = Entry(*row[:4], "TO", *row[5:8], envelope=row[8])
            digest = entry_hash(prev, entry)
            conn.execute(
                "UPDATE audit SET peer = ?, prev = ?, hash = ? WHERE seq = ?",
                (entry.peer, prev, digest, entry.seq),
            )
            prev = digest
        conn.execute("UPDATE audit_head SET head = ? WHERE id = 1", (prev,))
        conn.execute("DELETE FROM checkpoints")  # and removes our own copies
        conn.commit()
    code, out = await audit_verify("--db", str(db))
    assert code == 0, out  # internally consistent
    code, out = await audit_verify("--config", config)
    assert code == 1, out
    assert "rewritten" in out


async def test_hub_flags_two_heads_for_one_count(running: Running) -> None:
    from node.protocol.chain import ChainHead
    from node.protocol.checkpoint import make_checkpoint

    hub = running.nodes["XH"]
    ws = running.nodes["WS"].identity
    first = make_checkpoint(ws, ChainHead(5, b"\x01" * 32), hub.clock())
    second = make_checkpoint(ws, ChainHead(5, b"\x02" * 32), hub.clock())
    assert await hub.witness.receive(first) == "recorded"
    assert await hub.witness.receive(second) == "conflict"


async def test_a_node_restored_from_an_old_backup_refuses_to_run_until_accepted(
    running: Running, tmp_path: Path
) -> None:
    """THREATS 20 at start: the node compares its log with the hub's newest checkpoint of
    it before it takes anything in, and refuses to run on a log that lost entries."""
    fj = running.nodes["FJ"]
    config = fj.settings.database.parent / "node.toml"
    await busy(running, 1)
    backup = tmp_path / "backup.db"
    with (
        closing(sqlite3.connect(fj.settings.database)) as src,
        closing(sqlite3.connect(backup)) as dst,
    ):
        src.backup(dst)
    await busy(running, 3)
    count = await checkpoint_reaches_hub(running, "FJ")
    await fj.aclose()
    shutil.copy(backup, fj.settings.database)
    for suffix in ("-wal", "-shm"):
        Path(str(fj.settings.database) + suffix).unlink(missing_ok=True)  # noqa: ASYNC240

    restored = Node(NodeSettings.load(config))
    await restored.start()
    try:
        await asyncio.wait_for(restored.failed.wait(), 30)
        assert isinstance(restored.failure, AuditChainBroken)
        assert f"checkpoint at entry {count}" in str(restored.failure)
        assert "refusing to run" in str(restored.failure)
        assert not restored.ready.is_set()  # nothing was taken in
    finally:
        await restored.aclose()

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["audit", "accept-restore", "--config", str(config)]
    )
    assert result.exit_code == 1 and f"checkpoint at entry {count}" in result.output
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["audit", "accept-restore", "--config", str(config), "--yes"]
    )
    assert result.exit_code == 0, result.output

    accepted_node = Node(NodeSettings.load(config))
    await accepted_node.start()
    try:
        await asyncio.wait_for(accepted_node.ready.wait(), 30)
        assert not accepted_node.failed.is_set()
    finally:
        await accepted_node.aclose()
    with closing(sqlite3.connect(fj.settings.database)) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM audit ORDER BY seq")]
    assert "restore_accepted" in kinds  # on the record, in the chain itself


async def test_junk_on_our_checkpoint_subject_is_a_warning_not_a_failure(
    running: Running,
) -> None:
    """Whatever the newest message on lali.checkpoint.FJ is, it is not evidence against an
    intact log: verification warns and checks the local checkpoints (it used to fail
    with "not a Lali v1 checkpoint")."""
    fj = running.nodes["FJ"]
    config = str(fj.settings.database.parent / "node.toml")
    await busy(running, 1)
    await checkpoint_reaches_hub(running, "FJ")
    subject = "lali.checkpoint.FJ"
    await fj.transport.publish(subject, b"not a checkpoint", nats_msg_id(subject, b"junk"))
    code, out = await audit_verify("--config", config)
    assert code == 0, out
    assert "audit ok" in out
    assert "not a valid checkpoint" in out


async def _audited(node: Node, reason: str) -> list[bytes]:
    """The envelopes of ``node``'s rejected entries with ``reason`` (bounded poll: the
    node's consumer stores what it witnesses in its own database)."""
    for _ in range(400):
        with closing(sqlite3.connect(f"file:{node.settings.database}?mode=ro", uri=True)) as c:
            rows = c.execute(
                "SELECT envelope FROM audit WHERE kind = 'rejected' AND reason = ?", (reason,)
            ).fetchall()
        if rows:
            return [bytes(r[0]) for r in rows]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{node.code} never audited {reason}")


async def test_every_member_witnesses_a_member_that_signs_two_histories(
    running: Running,
) -> None:
    """Not only the hub: each node's consumer delivers every member's checkpoints, so a
    member that signs two heads for one count is caught by every node that sees both."""
    from node.protocol.checkpoint import make_checkpoint

    fj = running.nodes["FJ"]
    first = make_checkpoint(fj.identity, ChainHead(7, b"\x01" * 32), fj.clock())
    second = make_checkpoint(fj.identity, ChainHead(7, b"\x02" * 32), fj.clock())
    subject = "lali.checkpoint.FJ"
    for blob in (first, second):
        await fj.transport.publish(subject, blob, nats_msg_id(subject, blob))
    for code in ("WS", "TO", "XH"):
        assert await _audited(running.nodes[code], "checkpoint_conflict") == [second]
