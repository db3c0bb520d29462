"""The batched paths keep their promises: pipelined publishes stay in order and stop at
the first failure; our own alerts coming back are recognised by their bytes only; a
run of receipts is recorded once each, refusals audited, in one transaction."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest
from nodekit import Running
from testkit import sample_alert

from node.exchange.inbound.decisions import Delivered, Outcome
from node.ops.natsserver import NatsServer
from node.protocol.receipt import make_receipt
from node.protocol.subjects import receipt_subject
from node.storage.audit import list_entries
from node.transport import ConnectOptions, Publication, Transport
from schemas.alert import Topic
from schemas.errors import TransportError

pytestmark = pytest.mark.integration


async def test_pipelined_publishes_keep_order_and_stop_at_the_first_failure(
    nats_server: NatsServer,
) -> None:
    transport = Transport(
        ConnectOptions(url=nats_server.url, name="pipeline-test", tls_ca=nats_server.tls.ca)
    )
    await transport.connect()
    try:
        await transport.ensure_stream("PIPE", ["pipe.>"], duplicate_window_s=60)
        items = [Publication(f"pipe.{n % 3}", b"x%d" % n, f"id-{n}") for n in range(300)]
        seqs = await transport.publish_pipelined(items, window=16)
        assert seqs == list(range(1, 301))  # every PubAck, in the order given
        again = await transport.publish_pipelined(items[:5], window=16)
        assert again == [1, 2, 3, 4, 5]  # the same ids: the broker's de-dup answers

        # No stream takes "nowhere.*": the third fails, nothing after it is issued.
        mixed = [
            Publication("pipe.a", b"a", "m-1"),
            Publication("pipe.b", b"b", "m-2"),
            Publication("nowhere.c", b"c", "m-3"),
            Publication("pipe.d", b"d", "m-4"),
            Publication("pipe.e", b"e", "m-5"),
        ]
        results = await transport.publish_pipelined(mixed, window=1)
        assert results[:2] == [301, 302]
        assert isinstance(results[2], TransportError)
        assert "no stream takes" in str(results[2])
        assert results[3:] == [None, None]

        # A subscriber that never answers: the PubAck's deadline ends the wait.
        async def silent(_subject: str, _data: bytes) -> None:
            return None

        await transport.subscribe("silent.>", silent)
        quiet = [Publication("silent.a", b"a", "q-1"), Publication("pipe.q", b"q", "q-2")]
        results = await transport.publish_pipelined(quiet, window=1, timeout=0.2)
        assert isinstance(results[0], TransportError) and "no PubAck" in str(results[0])
        assert results[1] is None
        assert transport._acks is not None and not transport._acks._futures  # none left
    finally:
        await transport.close()


def _outbox_envelope(db: object, message_id: str) -> bytes:
    with closing(sqlite3.connect(str(db))) as conn:
        row = conn.execute(
            "SELECT envelope FROM outbox WHERE message_id = ?", (message_id,)
        ).fetchone()
    return bytes(row[0])


async def test_own_alert_is_known_by_its_exact_bytes_only(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = running.nodes["WS"]
    opened: list[bytes] = []
    open_ = ws.inbound._open

    async def counting_open(item: Delivered, *args: Any) -> Any:
        opened.append(item.data)  # WS verifying (and opening) a message
        return await open_(item, *args)

    monkeypatch.setattr(ws.inbound, "_open", counting_open)
    result = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
    envelope = _outbox_envelope(ws.settings.database, result.message_id)
    tampered = envelope[:-1] + bytes([envelope[-1] ^ 1])  # the signature's last byte
    subject = f"lali.alert.maritime.{ws.identity.code}"
    before = len(list_entries(ws.settings.database, kind="rejected"))
    decisions = await ws.inbound.process_many(
        [Delivered(subject, envelope), Delivered(subject, tampered)]
    )
    assert [d.outcome for d in decisions] == [Outcome.OWN, Outcome.REJECTED]
    assert decisions[0].message_id == result.message_id
    assert decisions[1].reason == "bad_signature"
    assert envelope not in opened  # the echo needed no signature check
    assert opened.count(tampered) == 1

    # Our exact bytes replayed by another member on its own subject, in the same batch
    # as the genuine echo: verified, refused for the mismatch, audited, not "own".
    elsewhere = "lali.alert.maritime.FJ"
    decisions = await ws.inbound.process_many(
        [Delivered(subject, envelope), Delivered(elsewhere, envelope)]
    )
    assert [d.outcome for d in decisions] == [Outcome.OWN, Outcome.REJECTED]
    assert decisions[1].reason == "sender_mismatch"
    refusals = list_entries(ws.settings.database, kind="rejected")
    assert [e.entry.reason for e in refusals[before:]] == ["bad_signature", "sender_mismatch"]


async def test_a_run_of_receipts_is_recorded_once_each_and_refusals_audited(
    running: Running,
) -> None:
    ws, to, fj = running.nodes["WS"], running.nodes["TO"], running.nodes["FJ"]
    await to.aclose()  # no receipt of TO's own will race ours
    result = await ws.send(sample_alert(Topic.MARITIME), ["TO"])
    now = datetime.now(UTC)
    genuine = make_receipt(result.message_id, "WS", to.identity, now)
    not_a_recipient = make_receipt(result.message_id, "WS", fj.identity, now)
    decisions = await ws.receipts.process_many(
        [
            (receipt_subject("WS", "TO"), genuine),
            (receipt_subject("WS", "TO"), genuine),  # the same receipt again, same run
            (receipt_subject("WS", "FJ"), not_a_recipient),
            (receipt_subject("WS", "TO"), b"not a receipt"),
        ]
    )
    assert [d.outcome for d in decisions] == ["recorded", "duplicate", "rejected", "rejected"]
    assert decisions[2].reason == "sender_mismatch"
    assert [e.entry.peer for e in list_entries(ws.settings.database, kind="receipt")] == ["TO"]
    refusals = list_entries(ws.settings.database, kind="rejected")
    assert [e.entry.reason for e in refusals][-2:] == ["sender_mismatch", decisions[3].reason]
    later = await ws.receipts.process_many([(receipt_subject("WS", "TO"), genuine)])
    assert [d.outcome for d in later] == ["duplicate"]  # across transactions too
