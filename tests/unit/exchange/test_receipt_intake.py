"""Receipt intake at the sender: a genuine receipt for an alert we sent to that member
is recorded once; anything else is refused and audited."""

from __future__ import annotations

import json

import pytest
from testkit import sample_alert
from unit.exchange.exchangekit import Exchange, Station

from keys import Identity
from node.exchange.inbound.decisions import Recorded
from node.exchange.receipts import ReceiptDecision
from node.protocol.receipt import make_receipt
from node.protocol.subjects import receipt_subject
from schemas.alert import Topic


async def sent_to_fj(net: Exchange) -> tuple[Station, str]:
    """WS with one alert sent to FJ (only)."""
    ws = await net.station("WS")
    result = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ"])
    return ws, result.message_id


async def test_a_genuine_receipt_is_recorded_once(net: Exchange) -> None:
    ws, mid = await sent_to_fj(net)
    blob = make_receipt(mid, "WS", net.ids["FJ"], net.clock())
    subject = receipt_subject("WS", "FJ")

    first = await ws.receipts.process(subject, blob)
    again = await ws.receipts.process(subject, blob)

    assert first == ReceiptDecision(Recorded.RECORDED, mid, "FJ")
    assert again == ReceiptDecision(Recorded.DUPLICATE, mid, "FJ")
    assert ws.rows("SELECT message_id, recipient, receipt FROM receipts") == [(mid, "FJ", blob)]
    assert [(e[0], e[1], e[2], e[5]) for e in ws.audit("receipt")] == [("receipt", mid, "FJ", blob)]


def _forge(net: Exchange, mid: str, case: str) -> tuple[str, bytes]:
    now = net.clock()
    fj, to = net.ids["FJ"], net.ids["TO"]
    if case == "bit_flipped":
        blob = make_receipt(mid, "WS", fj, now)
        return receipt_subject("WS", "FJ"), blob[:-1] + bytes([blob[-1] ^ 1])
    if case == "signer_is_not_the_subject":  # TO's receipt passed off as FJ's
        return receipt_subject("WS", "FJ"), make_receipt(mid, "WS", to, now)
    if case == "not_sent_to_that_member":  # TO was not a recipient
        return receipt_subject("WS", "TO"), make_receipt(mid, "WS", to, now)
    if case == "for_another_sender":  # addressed to TO, not to us
        return receipt_subject("TO", "FJ"), make_receipt(mid, "TO", fj, now)
    if case == "unknown_signer":
        return receipt_subject("WS", "FJ"), make_receipt(mid, "WS", Identity.generate("FJ"), now)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bit_flipped", "bad_signature"),
        ("signer_is_not_the_subject", "sender_mismatch"),
        ("not_sent_to_that_member", "sender_mismatch"),
        ("for_another_sender", "sender_mismatch"),
        ("unknown_signer", "unknown_key"),
    ],
)
async def test_a_false_receipt_is_refused_and_audited(
    net: Exchange, case: str, reason: str
) -> None:
    ws, mid = await sent_to_fj(net)
    subject, blob = _forge(net, mid, case)

    decision = await ws.receipts.process(subject, blob)

    assert decision == ReceiptDecision(Recorded.REJECTED, reason=reason)
    assert ws.rows("SELECT * FROM receipts") == []
    (entry,) = ws.audit("rejected")
    assert entry[3] == reason and entry[5] == blob
    assert json.loads(entry[4])["subject"] == subject


async def test_a_run_of_receipts_is_decided_in_order(net: Exchange) -> None:
    ws = await net.station("WS")
    one = await ws.outbound.submit(sample_alert(Topic.MARITIME), ["FJ", "TO"])
    now = net.clock()
    good_fj = make_receipt(one.message_id, "WS", net.ids["FJ"], now)
    good_to = make_receipt(one.message_id, "WS", net.ids["TO"], now)
    items = [
        (receipt_subject("WS", "FJ"), good_fj),
        (receipt_subject("WS", "FJ"), good_fj[:-1] + bytes([good_fj[-1] ^ 1])),
        (receipt_subject("WS", "TO"), good_to),
        (receipt_subject("WS", "FJ"), good_fj),
    ]

    decisions = await ws.receipts.process_many(items)

    assert [d.outcome for d in decisions] == [
        Recorded.RECORDED,
        Recorded.REJECTED,
        Recorded.RECORDED,
        Recorded.DUPLICATE,
    ]
    assert [(e[0], e[2]) for e in ws.audit()][1:] == [
        ("receipt", "FJ"),
        ("rejected", None),
        ("receipt", "TO"),
    ]
