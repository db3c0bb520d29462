"""Witnessed audit: our head signed and queued; another member's checkpoints verified
and kept, and two heads for one count reported."""

from __future__ import annotations

from datetime import timedelta

from testkit import sample_alert
from unit.exchange.exchangekit import Exchange

from node.exchange.inbound.decisions import Recorded
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint, verify_checkpoint
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import checkpoint_subject
from node.storage.audit import verify_file
from schemas.alert import Topic


async def test_checkpoint_now_signs_the_head_and_queues_it(net: Exchange) -> None:
    ws = await net.station("WS")
    await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])

    checkpoint = await ws.witness.checkpoint_now()

    head = verify_file(ws.db.path)  # the chain recomputed from the file
    assert checkpoint is not None
    assert (checkpoint.member, checkpoint.count, checkpoint.head) == ("WS", head.count, head.head)
    row = ws.outbox(checkpoint.checkpoint_id)
    assert row is not None and row[:2] == ("checkpoint", checkpoint_subject("WS"))
    assert row[3] == "queued"
    assert verify_checkpoint(row[2], net.directory) == checkpoint
    assert await ws.witness.checkpoint_now() is None  # the head has not moved

    await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    later = await ws.witness.checkpoint_now()
    assert later is not None and later.count == checkpoint.count + 1
    assert await ws.outbound.flush() == 2
    blobs = [ws.outbox(c.checkpoint_id) for c in (checkpoint, later)]
    assert [(m.msg_id, m.data) for m in net.broker.messages(checkpoint_subject("WS"))] == [
        (nats_msg_id(checkpoint_subject("WS"), b[2]), b[2]) for b in blobs if b is not None
    ]


async def test_a_peer_checkpoint_is_verified_and_kept_once(net: Exchange) -> None:
    xh = await net.station("XH")
    blob = make_checkpoint(net.ids["FJ"], ChainHead(5, b"\x01" * 32), net.clock())

    assert await xh.witness.receive(blob) is Recorded.RECORDED
    assert await xh.witness.receive(blob) is Recorded.DUPLICATE

    rows = xh.rows("SELECT member, count, head, checkpoint FROM checkpoints")
    assert rows == [("FJ", 5, b"\x01" * 32, blob)]


async def test_a_forged_checkpoint_is_rejected_and_not_kept(net: Exchange) -> None:
    xh = await net.station("XH")
    blob = make_checkpoint(net.ids["FJ"], ChainHead(5, b"\x01" * 32), net.clock())

    forged = blob[:-1] + bytes([blob[-1] ^ 1])
    assert await xh.witness.receive(forged) is Recorded.REJECTED
    assert xh.rows("SELECT * FROM checkpoints") == []
    (entry,) = xh.audit("rejected")  # the hub keeps the evidence, with its reason
    assert (entry[3], entry[5]) == ("bad_signature", forged)


async def test_junk_on_a_checkpoint_subject_is_rejected_and_audited(net: Exchange) -> None:
    xh = await net.station("XH")
    assert await xh.witness.receive(b"x") is Recorded.REJECTED
    (entry,) = xh.audit("rejected")
    assert (entry[3], entry[5]) == ("malformed", b"x")


async def test_an_older_checkpoint_than_the_newest_held_is_stale(net: Exchange) -> None:
    xh = await net.station("XH")
    early = make_checkpoint(net.ids["FJ"], ChainHead(5, b"\x01" * 32), net.clock())
    net.clock.advance(60)
    newest = make_checkpoint(net.ids["FJ"], ChainHead(9, b"\x02" * 32), net.clock())
    net.clock.advance(60)
    # FJ restored from a backup at entry 7 and checkpointed again: a lower count.
    restored = make_checkpoint(net.ids["FJ"], ChainHead(7, b"\x03" * 32), net.clock())
    # A higher count signed earlier than the newest held: a replayed or back-dated one.
    backdated = make_checkpoint(
        net.ids["FJ"], ChainHead(12, b"\x04" * 32), net.clock() - timedelta(seconds=90)
    )
    assert await xh.witness.receive(newest) is Recorded.RECORDED

    assert await xh.witness.receive(restored) is Recorded.STALE
    assert await xh.witness.receive(early) is Recorded.STALE
    assert await xh.witness.receive(backdated) is Recorded.STALE

    assert xh.rows("SELECT count FROM checkpoints") == [(9,)]  # the head stays the newest
    entries = xh.audit("rejected")
    assert [(e[2], e[3], e[5]) for e in entries] == [
        ("FJ", "checkpoint_stale", restored),
        ("FJ", "checkpoint_stale", early),
        ("FJ", "checkpoint_stale", backdated),
    ]


async def test_a_second_head_for_the_same_count_is_reported(net: Exchange) -> None:
    xh = await net.station("XH")
    first = make_checkpoint(net.ids["FJ"], ChainHead(5, b"\x01" * 32), net.clock())
    net.clock.advance(60)
    rewritten = make_checkpoint(net.ids["FJ"], ChainHead(5, b"\x02" * 32), net.clock())
    assert await xh.witness.receive(first) is Recorded.RECORDED

    assert await xh.witness.receive(rewritten) is Recorded.CONFLICT

    # The first stays; the contradiction is evidence in our own audit log.
    assert xh.rows("SELECT head FROM checkpoints") == [(b"\x01" * 32,)]
    (entry,) = xh.audit("rejected")
    assert (entry[2], entry[3], entry[5]) == ("FJ", "checkpoint_conflict", rewritten)
