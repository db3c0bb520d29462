"""Suppression through the broker's de-duplication (THREATS.md rows 17-20; found by
attacking a live network as a malicious member).

JetStream drops a publish whose ``Nats-Msg-Id`` it stored within the duplicate window,
whatever the subject. Receipts used to be published as ``rcpt-<message id>-<RECIPIENT>``
and checkpoints as ``ckpt-<CODE>-<count>``: a member that published one byte on its own
dead-letter subject under such an id first made the broker drop the real message,
while its publisher saw a PubAck and marked it published. Now every id is a hash of
the exact subject and bytes (``docs/wire-format.md``, "NATS"); these rows play the
attacks (and the restored backup that did the same without an attacker) on a real
nats-server and check that the message gets through.

The attacker (WS) publishes with a raw NATS client (over the server's TLS): the test
server enforces no permissions, and WS may publish on its own ``lali.dead.WS`` anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from natskit import tls_connect
from nodekit import start_node
from testkit import sample_alert

from keys import KeyUse, load_identity
from node.config import NodeSettings
from node.exchange.outbound import Outbound
from node.exchange.trust import Trust, parse_root_keys
from node.exchange.witness import Witness
from node.ops.provision import Network
from node.protocol.receipt import LABEL as RECEIPT_LABEL
from node.protocol.subjects import (
    alert_subject,
    checkpoint_subject,
    dead_letter_subject,
    receipt_subject,
)
from node.protocol.wire import Header, decode_frame, to_ms
from node.runtime import Node
from node.storage.database import Database
from node.transport import Transport
from schemas.alert import Topic

pytestmark = pytest.mark.integration

STREAM = "LALI_ALERTS"
WAIT_S = 20.0  # well past the time a receipt or checkpoint takes on loopback


def spec_msg_id(subject: str, data: bytes) -> str:
    """The id ``docs/wire-format.md`` specifies, computed here from the text, not
    imported: ``<family>-hex(BLAKE2b-128("lali.msgid.v1\\0" || u16 len || subject || data))``."""
    encoded = subject.encode("ascii")
    digest = hashlib.blake2b(
        b"lali.msgid.v1\x00" + len(encoded).to_bytes(2, "big") + encoded + data, digest_size=16
    )
    return f"{subject.split('.')[1]}-{digest.hexdigest()}"


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


async def until(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def attacker(network: Network) -> AsyncIterator[Client]:
    settings = NodeSettings.load(network.configs["WS"])
    nc = await tls_connect(settings.nats_url, settings.nats_tls_ca)
    try:
        yield nc
    finally:
        await nc.close()


async def squat(nc: Client, ids: list[str]) -> None:
    """WS publishes one byte on its own dead-letter subject under each id, first."""
    js = nc.jetstream()
    for msg_id in ids:
        ack = await js.publish(dead_letter_subject("WS"), b"\x00", headers={"Nats-Msg-Id": msg_id})
        assert not ack.duplicate, msg_id


@pytest.fixture
async def nodes(network: Network) -> AsyncIterator[Callable[[str], Awaitable[Node]]]:
    """Start nodes of the network on demand; all are closed at the end."""
    async with AsyncExitStack() as stack:

        async def start(code: str) -> Node:
            node, _ = await start_node(network, code)
            stack.push_async_callback(node.aclose)
            return node

        yield start


async def test_junk_under_a_receipts_predictable_id_does_not_suppress_it(
    network: Network, nodes: Callable[[str], Awaitable[Node]]
) -> None:
    fj = await nodes("FJ")  # the sender
    result = await fj.send(sample_alert(Topic.MARITIME), ["TO"])  # TO is not up yet
    assert result.state == "published"
    async with attacker(network) as nc:
        # 1. WS reads the alert's id from its clear header on the stream.
        stored = await nc.jetstream().get_last_msg(STREAM, alert_subject(Topic.MARITIME, "FJ"))
        mid = Header.decode(decode_frame(bytes(stored.data or b"")).header_bytes).message_id
        assert mid == result.message_id
        # 2. It takes, first, the receipt's old id and the best it can compute of the new
        #    one: the receipt's bytes as far as it knows them (its signature by TO it
        #    cannot make; Ed25519 is deterministic, but needs TO's key).
        to_kid = next(k.kid for k in fj.trust.directory.member("TO").keys if k.use is KeyUse.SIGN)
        guess = (
            RECEIPT_LABEL
            + uuid.UUID(mid).bytes
            + b"FJTO"
            + bytes.fromhex(to_kid)
            + to_ms(datetime.now(UTC)).to_bytes(8, "big")
            + bytes(64)
        )
        await squat(nc, [f"rcpt-{mid}-TO", spec_msg_id(receipt_subject("FJ", "TO"), guess)])
        # 3. TO comes up, receives the alert, publishes its receipt.
        to = await nodes("TO")
        row = f"rcpt-{mid}-TO"
        await until(
            "TO's receipt published",
            lambda: (
                rows(to.settings.database, "SELECT state FROM outbox WHERE message_id = ?", (row,))
                == [("published",)]
            ),
        )
        # 4. The sender records it (before: never; its `lali status` said "published").
        await until(
            "FJ records TO's receipt",
            lambda: rows(fj.settings.database, "SELECT recipient FROM receipts") == [("TO",)],
        )
        receipt = await nc.jetstream().get_last_msg(STREAM, receipt_subject("FJ", "TO"))
    (envelope,) = rows(
        to.settings.database, "SELECT envelope FROM outbox WHERE message_id = ?", (row,)
    )[0]
    assert bytes(receipt.data or b"") == envelope
    assert receipt.headers is not None
    assert receipt.headers["Nats-Msg-Id"] == spec_msg_id(receipt_subject("FJ", "TO"), envelope)
    assert rows(fj.settings.database, "SELECT kind, peer FROM audit WHERE kind = 'receipt'") == [
        ("receipt", "TO")
    ]


async def test_junk_under_a_checkpoints_predictable_id_does_not_suppress_it(
    network: Network, nodes: Callable[[str], Awaitable[Node]]
) -> None:
    xh = await nodes("XH")  # the hub, which keeps every member's checkpoints
    fj = await nodes("FJ")
    (count,) = rows(fj.settings.database, "SELECT count FROM audit_head")[0]
    async with attacker(network) as nc:
        # The count is easy to guess (it grows by one per entry): WS squats a range.
        await squat(nc, [f"ckpt-FJ-{n}" for n in range(1, count + 50)])
    await fj.checkpoint()  # signs the head and wakes the publisher
    (blob,) = rows(fj.settings.database, "SELECT checkpoint FROM checkpoints")[0]

    await until(
        "the hub records FJ's checkpoint",
        lambda: (
            rows(xh.settings.database, "SELECT count FROM checkpoints WHERE member = 'FJ'")
            == [(count,)]
        ),
    )
    (held,) = rows(xh.settings.database, "SELECT checkpoint FROM checkpoints WHERE member = 'FJ'")[
        0
    ]
    assert held == blob
    async with attacker(network) as nc:
        stored = await nc.jetstream().get_last_msg(STREAM, checkpoint_subject("FJ"))
    assert stored.headers is not None
    assert stored.headers["Nats-Msg-Id"] == spec_msg_id(checkpoint_subject("FJ"), blob)


async def test_a_restored_nodes_conflicting_checkpoint_reaches_the_hub(
    network: Network, nodes: Callable[[str], Awaitable[Node]], tmp_path: Path
) -> None:
    # No attacker: FJ's log is restored from a backup and grows back to the count of
    # the last checkpoint the hub holds, with other entries, within the window. The
    # new checkpoint has the old one's count (the old id) but other bytes.
    xh = await nodes("XH")
    fj = await nodes("FJ")
    backup = tmp_path / "backup.db"
    with (
        closing(sqlite3.connect(fj.settings.database)) as src,
        closing(sqlite3.connect(backup)) as dst,
    ):
        src.backup(dst)  # yesterday's backup
    for _ in range(3):
        await fj.send(sample_alert(Topic.MARITIME), ["TO"])
    await fj.checkpoint()
    ((count, head),) = rows(
        fj.settings.database,
        "SELECT count, head FROM checkpoints WHERE member = 'FJ' ORDER BY count DESC LIMIT 1",
    )
    await until(
        "the hub records FJ's checkpoint",
        lambda: (
            (count,)
            in rows(xh.settings.database, "SELECT count FROM checkpoints WHERE member = 'FJ'")
        ),
    )
    await fj.aclose()
    shutil.copy(backup, fj.settings.database)  # the backup is restored
    for suffix in ("-wal", "-shm"):
        Path(str(fj.settings.database) + suffix).unlink(missing_ok=True)  # noqa: ASYNC240

    # The restored FJ, from its own parts (the node's start-up check may refuse a
    # restored log; what is tested is the way a checkpoint leaves once it is signed):
    # other alerts bring it back to the same count, then it signs and publishes.
    outbound, witness = await restored_parts(fj.settings)
    try:
        while rows(fj.settings.database, "SELECT count FROM audit_head")[0][0] < count:
            await outbound.submit(sample_alert(Topic.ASYLUM), ["TO"])
        checkpoint = await witness.checkpoint_now()
        assert checkpoint is not None and checkpoint.count == count and checkpoint.head != head
        await outbound.flush()
        (blob,) = rows(
            fj.settings.database,
            "SELECT checkpoint FROM checkpoints WHERE member = 'FJ' AND count = ?",
            (count,),
        )[0]
    finally:
        await restored_close(outbound)

    # The hub hears it, keeps the first, and records the contradiction as evidence.
    conflict = "SELECT peer, envelope FROM audit WHERE kind = 'rejected' AND reason = ?"
    await until(
        "the hub records the conflicting checkpoint",
        lambda: rows(xh.settings.database, conflict, ("checkpoint_conflict",)) == [("FJ", blob)],
    )
    held = "SELECT head FROM checkpoints WHERE member = 'FJ' AND count = ?"
    assert rows(xh.settings.database, held, (count,)) == [(head,)]


async def restored_parts(settings: NodeSettings) -> tuple[Outbound, Witness]:
    """The outbound path and the witness of a node on ``settings``, connected."""
    now = datetime.now(UTC)
    db = await Database.open(settings.database)
    trust = Trust(
        parse_root_keys(settings.root_keys), settings.directory_threshold, settings.directory, db
    )
    await trust.load(now)
    identity = load_identity(settings.identity).for_directory(trust.directory, now)
    transport = Transport(settings.connect_options())
    await transport.connect()

    def clock() -> datetime:
        return datetime.now(UTC)

    return (
        Outbound(identity, trust, db, transport, clock),
        Witness(identity, trust, db, clock),
    )


async def restored_close(outbound: Outbound) -> None:
    if outbound.transport is not None:
        await outbound.transport.close()
    await outbound.db.close()
