"""The inbound pipeline on a real audit log: what each delivery becomes, and that a
decision is only given once its outcome is committed."""

from __future__ import annotations

import json

from unit.exchange.exchangekit import Exchange

from keys import Identity
from node.exchange.inbound.decisions import Decision, Delivered, Outcome
from node.protocol.envelope import Opened
from node.protocol.subjects import alert_subject
from schemas.alert import Topic


def tampered(data: bytes) -> bytes:
    """One bit of the signature flipped."""
    return data[:-1] + bytes([data[-1] ^ 1])


async def test_an_accepted_alert_is_committed_before_it_is_decided(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    seen_at_decision: list[list[tuple[object, ...]]] = []

    def look(decision: Decision, opened: Opened | None) -> None:
        seen_at_decision.append(fj.audit("received"))

    fj.inbound.listeners.append(look)
    decision = await fj.inbound.process(sealed.subject, sealed.data)

    assert decision == Decision(Outcome.ACCEPTED, sealed.message_id, "WS")
    # The listener ran after the commit: the entry with the exact bytes was there.
    ((entry,),) = seen_at_decision
    assert entry[:3] == ("received", sealed.message_id, "WS") and entry[5] == sealed.data
    inbox = fj.rows("SELECT message_id, sender, topic FROM inbox")
    assert inbox == [(sealed.message_id, "WS", "maritime")]
    receipt = fj.outbox(f"rcpt-{sealed.message_id}-FJ")
    assert receipt is not None and receipt[:2] == ("receipt", "lali.receipt.WS.FJ")


async def test_a_duplicate_is_acked_but_not_audited_again(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    assert (await fj.inbound.process(sealed.subject, sealed.data)).outcome is Outcome.ACCEPTED
    before = fj.audit()

    again = await fj.inbound.process(sealed.subject, sealed.data)

    assert again == Decision(Outcome.DUPLICATE, sealed.message_id, "WS")
    assert fj.audit() == before
    assert len(fj.rows("SELECT * FROM inbox")) == 1


async def test_an_alert_for_others_is_not_addressed_and_leaves_no_trace(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["TO"])

    decision = await fj.inbound.process(sealed.subject, sealed.data)

    assert decision == Decision(Outcome.NOT_ADDRESSED, sealed.message_id, "WS")
    assert fj.audit() == []
    assert fj.rows("SELECT * FROM inbox") == [] and fj.rows("SELECT * FROM outbox") == []


async def test_rejections_are_audited_with_reason_and_bytes(net: Exchange) -> None:
    fj = await net.station("FJ")
    good = net.seal("WS", ["FJ"])
    cases = [
        ("bad_signature", good.subject, tampered(good.data)),
        # WS's genuine envelope, replayed on TO's subject.
        ("sender_mismatch", alert_subject(Topic.MARITIME, "TO"), good.data),
        ("malformed", good.subject, b"not an envelope"),
    ]
    for reason, subject, data in cases:
        decision = await fj.inbound.process(subject, data)
        assert (decision.outcome, decision.reason) == (Outcome.REJECTED, reason)

    rejected = fj.audit("rejected")
    assert [(r[3], r[5]) for r in rejected] == [(reason, data) for reason, _, data in cases]
    assert [json.loads(r[4])["subject"] for r in rejected] == [s for _, s, _ in cases]
    assert fj.rows("SELECT * FROM inbox") == []


async def test_an_unknown_key_is_deferred_until_the_last_delivery(net: Exchange) -> None:
    fj = await net.station("FJ")
    # WS rotated its keys; FJ has not got the directory that lists them yet.
    sealed = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))

    deferred = await fj.inbound.process(sealed.subject, sealed.data, final=False)
    assert (deferred.outcome, deferred.reason) == (Outcome.DEFER, "unknown_key")
    assert [(e[0], e[3]) for e in fj.audit()] == [("deferred", "unknown_key")]

    final = await fj.inbound.process(sealed.subject, sealed.data, final=True)
    assert (final.outcome, final.reason) == (Outcome.REJECTED, "unknown_key")
    assert [r[3] for r in fj.audit("rejected")] == ["unknown_key"]


async def test_a_batch_is_decided_and_audited_in_its_order(net: Exchange) -> None:
    fj = await net.station("FJ")
    a, b, c = net.seal("WS", ["FJ"]), net.seal("TO", ["FJ"]), net.seal("WS", ["TO"])
    items = [
        Delivered(a.subject, a.data),
        Delivered(b.subject, tampered(b.data)),
        Delivered(b.subject, b.data),
        Delivered(c.subject, c.data),
        Delivered(a.subject, a.data),  # the same alert twice in one batch
    ]

    decisions = await fj.inbound.process_many(items)

    assert [d.outcome for d in decisions] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
        Outcome.NOT_ADDRESSED,
        Outcome.DUPLICATE,
    ]
    assert [d.message_id for d in decisions if d.outcome is Outcome.ACCEPTED] == [
        a.message_id,
        b.message_id,
    ]
    assert [(r[0], r[1]) for r in fj.audit()] == [
        ("received", a.message_id),
        ("rejected", None),
        ("received", b.message_id),
    ]
    assert fj.decisions == decisions  # listeners hear them in the same order


async def test_a_storage_failure_holds_the_batch_and_writes_nothing(net: Exchange) -> None:
    fj = await net.station("FJ")
    a, b = net.seal("WS", ["FJ"]), net.seal("TO", ["FJ"])
    items = [Delivered(a.subject, a.data), Delivered(b.subject, tampered(b.data))]
    blocker = await fj.lock_database()
    try:
        held = await fj.inbound.process_many(items)
    finally:
        blocker.release()

    # RETRY: the consumer neither acks nor naks; the messages are processed again.
    assert [d.outcome for d in held] == [Outcome.RETRY, Outcome.RETRY]
    assert held[0].message_id == a.message_id
    assert fj.audit() == [] and fj.rows("SELECT * FROM outbox") == []

    retried = await fj.inbound.process_many(items)
    assert [d.outcome for d in retried] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert [r[0] for r in fj.audit()] == ["received", "rejected"]
