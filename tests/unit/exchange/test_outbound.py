"""The outbound path: an alert is accepted (audit ``sent`` + outbox row, one commit)
before anything is published, and a queued one goes out later under the same
Nats-Msg-Id. Our own alerts coming back are recognised by their bytes."""

from __future__ import annotations

from typing import Any

from testkit import sample_alert
from transportkit import Stored
from unit.exchange.exchangekit import Exchange

from node.exchange.inbound.decisions import Decision, Outcome
from node.protocol.msgid import nats_msg_id
from node.protocol.subjects import alert_subject
from node.storage.audit import verify_file
from schemas.alert import Priority, Topic

MARITIME = alert_subject(Topic.MARITIME, "WS")


async def test_submit_commits_sent_and_outbox_before_it_publishes(net: Exchange) -> None:
    ws = await net.station("WS")
    at_publish: list[tuple[Any, ...]] = []

    def look(stored: Stored) -> None:
        ((mid,),) = ws.rows("SELECT message_id FROM outbox")
        at_publish.append((ws.audit("sent"), ws.outbox(mid)))

    net.broker.on_store.append(look)
    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ", "TO"])

    assert (result.state, result.stream_seq, result.recipients) == ("published", 1, ("FJ", "TO"))
    ((sent, row),) = at_publish
    (stored,) = net.broker.messages()
    # When the broker took it, the audit entry and the queued outbox row were committed,
    # with the very bytes that were published.
    assert [(e[0], e[1], e[2], e[5]) for e in sent] == [
        ("sent", result.message_id, "FJ,TO", stored.data)
    ]
    assert row[:4] == ("alert", MARITIME, stored.data, "queued")
    assert (stored.subject, stored.msg_id) == (MARITIME, nats_msg_id(MARITIME, stored.data))
    published = ws.outbox(result.message_id)
    assert published is not None and published[3:] == ("published", 1, 1)
    assert verify_file(ws.db.path).count == ws.audit_base + 1


async def test_a_refused_publish_leaves_the_alert_queued(net: Exchange) -> None:
    ws = await net.station("WS")
    ws.transport.refuse_publishes(1)

    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])

    assert (result.state, result.stream_seq) == ("queued", None)
    assert net.broker.messages() == []
    assert [e[1] for e in ws.audit("sent")] == [result.message_id]  # accepted all the same
    row = ws.outbox(result.message_id)
    assert row is not None and row[3:] == ("queued", 1, None)


async def test_with_the_link_down_submit_does_not_even_try(net: Exchange) -> None:
    ws = await net.station("WS")
    ws.transport.link_down()

    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])

    assert result.state == "queued"
    assert ws.transport.attempts == []
    assert await ws.outbound.flush() == 0  # nothing goes out while down
    row = ws.outbox(result.message_id)
    assert row is not None and row[3:] == ("queued", 0, None)


async def test_flush_republishes_with_the_same_msg_id_and_the_broker_keeps_one(
    net: Exchange,
) -> None:
    ws = await net.station("WS")
    ws.transport.lose_pubacks(1)  # stored, but WS never hears so

    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    assert result.state == "queued"

    assert await ws.outbound.flush() == 1
    (stored,) = net.broker.messages()  # de-duplicated by Nats-Msg-Id
    assert [p.msg_id for p in ws.transport.attempts] == [nats_msg_id(MARITIME, stored.data)] * 2
    row = ws.outbox(result.message_id)
    assert row is not None and row[3:] == ("published", 2, stored.seq)
    assert await ws.outbound.flush() == 0  # nothing left queued


async def test_after_the_link_returns_flush_sends_the_most_urgent_first(net: Exchange) -> None:
    ws = await net.station("WS")
    ws.transport.link_down()
    routine = await ws.outbound.submit(
        sample_alert(Topic.MARITIME).model_copy(update={"priority": Priority.ROUTINE}), ["FJ"]
    )
    flash = await ws.outbound.submit(
        sample_alert(Topic.MARITIME).model_copy(update={"priority": Priority.FLASH}), ["FJ"]
    )

    ws.transport.link_up()
    assert len(ws.outbox_wakes) == 1  # the runtime's publisher is woken at once

    assert await ws.outbound.flush() == 2
    sent = [ws.outbox(r.message_id) for r in (flash, routine)]
    assert [(m.msg_id, m.data) for m in net.broker.messages()] == [
        (nats_msg_id(MARITIME, row[2]), row[2]) for row in sent if row is not None
    ]


async def test_our_own_alert_coming_back_is_recognised_by_its_bytes(net: Exchange) -> None:
    ws = await net.station("WS")
    fj = await net.station("FJ")
    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    (stored,) = net.broker.messages()
    # So old that verifying it would reject it (14 days at most): only the byte-for-byte
    # match with our outbox can make it "own".
    net.clock.advance(15 * 24 * 3600)

    assert await ws.inbound.process(stored.subject, stored.data) == Decision(
        Outcome.OWN, result.message_id, "WS"
    )
    assert [e[0] for e in ws.audit()] == ["sent"]  # nothing written for the echo
    # The same bytes to someone else are verified, and refused as too old.
    refused = await fj.inbound.process(stored.subject, stored.data)
    assert (refused.outcome, refused.reason) == (Outcome.REJECTED, "expired")


async def test_an_echo_that_is_not_byte_equal_or_moved_subject_is_verified(net: Exchange) -> None:
    ws = await net.station("WS")
    await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    (stored,) = net.broker.messages()
    altered = stored.data[:-1] + bytes([stored.data[-1] ^ 1])

    tampered = await ws.inbound.process(stored.subject, altered)
    moved = await ws.inbound.process(alert_subject(Topic.MARITIME, "FJ"), stored.data)

    assert (tampered.outcome, tampered.reason) == (Outcome.REJECTED, "bad_signature")
    assert (moved.outcome, moved.reason) == (Outcome.REJECTED, "sender_mismatch")
    assert [e[3] for e in ws.audit("rejected")] == ["bad_signature", "sender_mismatch"]
