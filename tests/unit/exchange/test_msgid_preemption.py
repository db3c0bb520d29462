"""Nats-Msg-Ids nobody can take first, on the stream simulator: the broker de-duplicates
across the whole stream, so a member that publishes junk on its own dead-letter
subject under the id of another member's receipt or checkpoint must not make the
broker drop it. Receipts and checkpoints keep their bytes, and so their id, on retry.
(The same attacks on a real nats-server: ``tests/security/test_attacks_msgid.py``.)"""

from __future__ import annotations

from testkit import sample_alert
from unit.exchange.exchangekit import Exchange

from node.exchange.inbound.decisions import Recorded
from node.exchange.receipts import ReceiptDecision
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import checkpoint_subject, dead_letter_subject, receipt_subject
from schemas.alert import Topic


async def test_junk_under_the_receipts_old_id_does_not_suppress_it(net: Exchange) -> None:
    ws, fj = await net.station("WS"), await net.station("FJ")
    sent = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    # TO saw the alert's id in its clear header and squats the receipt's ids: the old
    # predictable one, and the best it can compute of the new one (it lacks FJ's
    # signature, so any guess at the bytes is wrong).
    for squat in (f"rcpt-{sent.message_id}-FJ", nats_msg_id(receipt_subject("WS", "FJ"), b"")):
        net.put(dead_letter_subject("TO"), b"\x00", squat)

    await fj.consume()
    assert await fj.outbound.flush() == 1
    await ws.consume()

    (receipt,) = net.broker.messages(receipt_subject("WS", "FJ"))
    assert receipt.msg_id == nats_msg_id(receipt.subject, receipt.data)
    assert ws.receipt_decisions == [ReceiptDecision(Recorded.RECORDED, sent.message_id, "FJ")]
    assert ws.rows("SELECT message_id, recipient FROM receipts") == [(sent.message_id, "FJ")]


async def test_junk_under_the_checkpoints_old_id_does_not_suppress_it(net: Exchange) -> None:
    xh, fj = await net.station("XH"), await net.station("FJ")
    await fj.outbound.submit(sample_alert(Topic.MARITIME), ["WS"])
    (count,) = fj.rows("SELECT count FROM audit_head")[0]
    for n in range(1, count + 5):  # the count is easy to guess: squat a range
        net.put(dead_letter_subject("TO"), b"\x00", f"ckpt-FJ-{n}")

    checkpoint = await fj.witness.checkpoint_now()
    assert checkpoint is not None and checkpoint.count == count
    await fj.outbound.flush()
    await xh.consume()

    assert xh.rows("SELECT member, count, head FROM checkpoints") == [
        ("FJ", checkpoint.count, checkpoint.head)
    ]


async def test_a_receipt_retried_keeps_its_bytes_and_its_id(net: Exchange) -> None:
    ws, fj = await net.station("WS"), await net.station("FJ")
    sent = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    await fj.consume()
    row = fj.outbox(f"rcpt-{sent.message_id}-FJ")
    assert row is not None
    fj.transport.refuse_publishes(1)  # not stored
    assert await fj.outbound.flush() == 0
    fj.transport.lose_pubacks(1)  # stored, FJ does not hear so
    assert await fj.outbound.flush() == 0
    assert await fj.outbound.flush() == 1  # the third try: a duplicate, acknowledged

    tries = [p for p in fj.transport.attempts if p.subject == receipt_subject("WS", "FJ")]
    assert [(p.data, p.msg_id) for p in tries] == [(row[2], nats_msg_id(row[1], row[2]))] * 3
    (stored,) = net.broker.messages(receipt_subject("WS", "FJ"))  # the broker kept one
    assert stored.data == row[2]
    published = fj.outbox(f"rcpt-{sent.message_id}-FJ")
    assert published is not None and published[3:] == ("published", 3, stored.seq)


async def test_a_checkpoint_retried_keeps_its_bytes_and_its_id(net: Exchange) -> None:
    ws = await net.station("WS")
    await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    checkpoint = await ws.witness.checkpoint_now()
    assert checkpoint is not None
    row = ws.outbox(checkpoint.checkpoint_id)
    assert row is not None
    ws.transport.lose_pubacks(1)
    assert await ws.outbound.flush() == 0
    assert await ws.outbound.flush() == 1

    tries = [p for p in ws.transport.attempts if p.subject == checkpoint_subject("WS")]
    assert [(p.data, p.msg_id) for p in tries] == [(row[2], nats_msg_id(row[1], row[2]))] * 2
    assert len(net.broker.messages(checkpoint_subject("WS"))) == 1
