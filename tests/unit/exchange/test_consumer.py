"""The consumer loop over the stream simulator: each delivery goes to its pipeline and
is settled with the broker only after that pipeline committed; how it is settled
follows from the decision."""

from __future__ import annotations

import json

from testkit import sample_alert
from transportkit import Settlement
from unit.exchange.exchangekit import Exchange, Sealed

from keys import Identity
from node.exchange.inbound.decisions import Outcome, Recorded
from node.exchange.receipts import ReceiptDecision
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import make_checkpoint
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import checkpoint_subject, dead_letter_subject
from schemas.alert import Priority, Topic


def settled(net: Exchange, durable: str) -> list[tuple[str, int, float | None]]:
    return [(s.how, s.stream_seq, s.delay) for s in net.broker.settlements if s.durable == durable]


def tampered(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


async def test_an_alert_is_acked_only_after_its_commit(net: Exchange) -> None:
    ws, fj = await net.station("WS"), await net.station("FJ")
    sent = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    committed_at_ack: list[list[str]] = []

    def look(s: Settlement) -> None:
        committed_at_ack.append([e[1] for e in fj.audit("received")])

    net.broker.on_settle.append(look)
    await fj.consume()

    assert settled(net, "node-FJ") == [("ack", 1, None)]
    assert committed_at_ack == [[sent.message_id]]
    # The receipt was queued with the alert, and the publisher woken once for the batch.
    receipt = fj.outbox(f"rcpt-{sent.message_id}-FJ")
    assert receipt is not None and receipt[3] == "queued"
    assert len(fj.outbox_wakes) == 1


async def test_a_rejected_alert_is_termed_and_dead_lettered(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    bad = net.put(sealed.subject, tampered(sealed.data), sealed.message_id)

    await fj.consume()

    assert settled(net, "node-FJ") == [("term", bad.seq, None)]
    (dead,) = net.broker.messages(dead_letter_subject("FJ"))
    assert dead.data == bad.data
    assert dead.msg_id == nats_msg_id(dead_letter_subject("FJ"), bad.data)
    assert dead.headers == {"Lali-Reason": "bad_signature", "Lali-Subject": sealed.subject}
    (entry,) = fj.audit("rejected")
    assert entry[3] == "bad_signature" and json.loads(entry[4])["subject"] == sealed.subject
    assert fj.outbox_wakes == []  # no receipt for a rejected alert


async def test_a_deferred_alert_is_nakked_with_backoff_until_its_last_delivery(
    net: Exchange,
) -> None:
    fj = await net.station("FJ", max_deliver=3)
    sealed = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))  # key not known yet
    seq = net.put(sealed.subject, sealed.data, sealed.message_id).seq

    await fj.consume()
    assert settled(net, "node-FJ") == [("nak", seq, 1.0)]
    await fj.consume()
    assert len(net.broker.settlements) == 1  # not due again before its delay
    net.clock.advance(1)
    await fj.consume()
    assert settled(net, "node-FJ")[-1] == ("nak", seq, 2.0)
    # The first deferral is audited, the redelivery is not.
    assert [(e[0], e[3]) for e in fj.audit()] == [("deferred", "unknown_key")]
    net.clock.advance(2)
    await fj.consume()  # the third delivery is the last: rejected for good

    assert settled(net, "node-FJ")[-1] == ("term", seq, None)
    assert [e[3] for e in fj.audit("rejected")] == ["unknown_key"]
    assert len(net.broker.messages(dead_letter_subject("FJ"))) == 1


async def test_a_storage_failure_holds_the_batch_without_spending_deliveries(
    net: Exchange,
) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    seq = net.put(sealed.subject, sealed.data, sealed.message_id).seq
    blocker = await fj.lock_database()

    def release_when_held(s: Settlement) -> None:
        if s.how == "in_progress":
            blocker.release()  # the disk recovers while the batch is held

    net.broker.on_settle.append(release_when_held)
    try:
        await fj.consume()
    finally:
        blocker.release()

    # Held with in_progress (no nak, no redelivery spent), then committed and acked.
    assert settled(net, "node-FJ") == [("in_progress", seq, None), ("ack", seq, None)]
    assert [d.outcome for d in fj.decisions] == [Outcome.RETRY, Outcome.ACCEPTED]
    assert [e[1] for e in fj.audit("received")] == [sealed.message_id]


async def test_a_flash_alert_is_worked_before_routine_ones_of_the_same_batch(
    net: Exchange,
) -> None:
    fj = await net.station("FJ")
    alerts: list[Sealed] = [
        net.seal("WS", ["FJ"], priority=Priority.ROUTINE),
        net.seal("TO", ["FJ"], priority=Priority.ROUTINE),
        net.seal("WS", ["FJ"], priority=Priority.FLASH),
    ]
    for a in alerts:
        net.put(a.subject, a.data, a.message_id)

    await fj.consume()

    assert [d.message_id for d in fj.decisions] == [
        alerts[2].message_id,
        alerts[0].message_id,
        alerts[1].message_id,
    ]
    assert [s[1] for s in settled(net, "node-FJ")] == [3, 1, 2]


async def test_stopping_hands_fetched_messages_back_uncommitted(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    seq = net.put(sealed.subject, sealed.data, sealed.message_id).seq
    fj.stopping.set()

    await fj.consume()

    assert settled(net, "node-FJ") == [("nak", seq, None)]  # at once, for the next start
    assert fj.audit() == [] and fj.decisions == []


async def test_receipts_go_to_the_receipt_intake(net: Exchange) -> None:
    ws, fj = await net.station("WS"), await net.station("FJ")
    sent = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    await fj.consume()
    assert await fj.outbound.flush() == 1  # FJ's receipt
    (receipt,) = net.broker.messages("lali.receipt.WS.FJ")

    await ws.consume()  # its own alert comes back too

    assert ws.receipt_decisions == [ReceiptDecision(Recorded.RECORDED, sent.message_id, "FJ")]
    assert [d.outcome for d in ws.decisions] == [Outcome.OWN]
    assert ("ack", receipt.seq, None) in settled(net, "node-WS")
    assert ws.rows("SELECT message_id, recipient FROM receipts") == [(sent.message_id, "FJ")]
    assert [(e[0], e[1], e[2]) for e in ws.audit("receipt")] == [("receipt", sent.message_id, "FJ")]


async def test_checkpoints_go_to_the_witness(net: Exchange) -> None:
    xh, fj = await net.station("XH"), await net.station("FJ")
    checkpoint = await fj.witness.checkpoint_now()
    assert checkpoint is not None
    assert await fj.outbound.flush() == 1
    forged = make_checkpoint(net.ids["TO"], ChainHead(7, bytes(32)), net.clock())
    bad = net.put(checkpoint_subject("TO"), tampered(forged), "ckpt-TO-7")

    await xh.consume()

    (good,) = net.broker.messages(checkpoint_subject("FJ"))
    assert settled(net, "node-XH") == [("ack", good.seq, None), ("term", bad.seq, None)]
    held = xh.rows("SELECT member, count, head FROM checkpoints")
    assert held == [("FJ", checkpoint.count, checkpoint.head)]
