"""Everything that reaches the inbound pipeline leaves a trace: a replay of an alert we
hold, arriving as another stream message than the one we accepted, is audited
(``replayed``) once; a deferral is audited at its first deferral (``deferred``), not at
each redelivery; a broker redelivery of the accepted message stays unaudited."""

from __future__ import annotations

import json
from datetime import timedelta

from transportkit import Settlement
from unit.exchange.exchangekit import Blocker, Exchange, Station

from keys import Identity
from node.exchange.inbound.decisions import Decision, Outcome
from node.protocol.envelope import Opened
from node.protocol.subjects import dead_letter_subject


def settled(net: Exchange, durable: str) -> list[tuple[str, int]]:
    return [(s.how, s.stream_seq) for s in net.broker.settlements if s.durable == durable]


def lose_the_ack_of(station: Station, outcome: Outcome) -> None:
    """Cut the link as the first ``outcome`` is decided: its commit stands, its ack is
    lost, and the broker delivers that stream message again after AckWait."""
    done: list[None] = []

    def cut(decision: Decision, opened: Opened | None) -> None:
        if decision.outcome is outcome and not done:
            done.append(None)
            station.transport.link_down()

    station.inbound.listeners.append(cut)


async def test_a_replay_as_another_stream_message_is_audited(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    first = net.put(sealed.subject, sealed.data, "id-1")
    # The same signed bytes again, under a Nats-Msg-Id the broker has not seen.
    replay = net.put(sealed.subject, sealed.data, "replay-1")

    await fj.consume()

    assert [d.outcome for d in fj.decisions] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert settled(net, "node-FJ") == [("ack", first.seq), ("ack", replay.seq)]
    received, replayed = fj.audit()
    assert (received[0], received[1]) == ("received", sealed.message_id)
    assert json.loads(received[4])["stream_seq"] == first.seq
    assert replayed[:4] == ("replayed", sealed.message_id, "WS", "replay")
    detail = json.loads(replayed[4])
    assert (detail["stream_seq"], detail["accepted_seq"]) == (replay.seq, first.seq)
    assert detail["subject"] == sealed.subject and detail["size"] == len(sealed.data)
    assert replayed[5] is None  # the bytes are in the received entry
    # Processed once: one inbox row, one receipt, nothing dead-lettered.
    assert len(fj.rows("SELECT * FROM inbox")) == 1
    assert fj.rows("SELECT kind FROM outbox") == [("receipt",)]
    assert net.broker.messages(dead_letter_subject("FJ")) == []


async def test_a_replay_later_in_the_same_batch_or_after_a_restart(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    net.put(sealed.subject, sealed.data, "id-1")
    await fj.consume()
    net.put(sealed.subject, sealed.data, "replay-1")
    net.put(sealed.subject, sealed.data, "replay-2")

    await fj.consume()

    assert [e[0] for e in fj.audit()] == ["received", "replayed", "replayed"]
    assert [json.loads(e[4])["stream_seq"] for e in fj.audit("replayed")] == [2, 3]


async def test_a_redelivery_of_the_accepted_message_stays_unaudited(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    stored = net.put(sealed.subject, sealed.data, "id-1")
    lose_the_ack_of(fj, Outcome.ACCEPTED)

    await fj.consume()
    assert settled(net, "node-FJ") == []  # committed, but the ack never arrived
    fj.transport.link_up()
    net.clock.advance(fj.policy.ack_wait_s)
    await fj.consume()

    assert [d.outcome for d in fj.decisions] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    redelivered = [s for s in net.broker.settlements if s.durable == "node-FJ"]
    assert [(s.how, s.stream_seq, s.num_delivered) for s in redelivered] == [("ack", stored.seq, 2)]
    assert [e[0] for e in fj.audit()] == ["received"]


async def test_a_redelivered_replay_is_audited_once(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    net.put(sealed.subject, sealed.data, "id-1")
    await fj.consume()
    replay = net.put(sealed.subject, sealed.data, "replay-1")
    lose_the_ack_of(fj, Outcome.DUPLICATE)

    await fj.consume()
    fj.transport.link_up()
    net.clock.advance(fj.policy.ack_wait_s)
    await fj.consume()

    assert settled(net, "node-FJ")[-1] == ("ack", replay.seq)
    assert [e[0] for e in fj.audit()] == ["received", "replayed"]
    assert fj.rows("SELECT stream_seq, kind FROM audited_deliveries") == [(replay.seq, "replayed")]


async def test_without_a_stream_sequence_a_duplicate_is_not_called_a_replay(
    net: Exchange,
) -> None:
    # Nothing tells a redelivery from a replay then: a duplicate, as before.
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"])
    assert (await fj.inbound.process(sealed.subject, sealed.data)).outcome is Outcome.ACCEPTED
    again = await fj.inbound.process(sealed.subject, sealed.data, stream_seq=7)
    assert again.outcome is Outcome.DUPLICATE
    assert [e[0] for e in fj.audit()] == ["received"]


async def test_a_deferral_is_audited_at_the_first_only_then_the_final_outcome(
    net: Exchange,
) -> None:
    fj = await net.station("FJ", max_deliver=3)
    sealed = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))  # key not known yet
    stored = net.put(sealed.subject, sealed.data, "id-1")

    await fj.consume()
    (deferred,) = fj.audit()
    assert deferred[0] == "deferred" and deferred[3] == "unknown_key"
    detail = json.loads(deferred[4])
    assert (detail["stream_seq"], detail["subject"]) == (stored.seq, sealed.subject)
    assert deferred[5] == sealed.data  # the bytes as they came, as for a rejection
    net.clock.advance(1)
    await fj.consume()  # the second delivery: deferred again, not audited again
    assert [(d.outcome, d.reason) for d in fj.decisions] == [(Outcome.DEFER, "unknown_key")] * 2
    assert len(fj.audit()) == 1
    net.clock.advance(2)
    await fj.consume()  # the last delivery: rejected, audited as before

    assert [s[0] for s in settled(net, "node-FJ")] == ["nak", "nak", "term"]
    assert [(e[0], e[3]) for e in fj.audit()] == [
        ("deferred", "unknown_key"),
        ("rejected", "unknown_key"),
    ]
    rejected = json.loads(fj.audit("rejected")[0][4])
    assert (rejected["stream_seq"], rejected["sha256"]) == (stored.seq, detail["sha256"])


async def test_a_deferral_cured_by_time_is_audited_then_received(net: Exchange) -> None:
    fj = await net.station("FJ")
    # Signed ten minutes in FJ's future (its clock is behind): clock skew, for now.
    net.clock.advance(600)
    sealed = net.seal("WS", ["FJ"])
    net.clock.now -= timedelta(seconds=600)
    net.put(sealed.subject, sealed.data, "id-1")

    await fj.consume()
    net.clock.advance(1)
    await fj.consume()
    net.clock.advance(600)
    await fj.consume()

    assert [d.outcome for d in fj.decisions] == [Outcome.DEFER, Outcome.DEFER, Outcome.ACCEPTED]
    assert [(e[0], e[3]) for e in fj.audit()] == [("deferred", "clock_skew"), ("received", None)]


async def test_a_deferral_that_cannot_be_audited_is_held_not_nakked(net: Exchange) -> None:
    fj = await net.station("FJ")
    sealed = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))
    stored = net.put(sealed.subject, sealed.data, "id-1")
    blocker: Blocker = await fj.lock_database()

    def release_when_held(s: Settlement) -> None:
        if s.how == "in_progress":
            blocker.release()  # the disk recovers while the batch is held

    net.broker.on_settle.append(release_when_held)
    try:
        await fj.consume()
    finally:
        blocker.release()

    # No delivery spent unaudited: held, then deferred with its entry.
    assert settled(net, "node-FJ") == [("in_progress", stored.seq), ("nak", stored.seq)]
    assert [(e[0], e[3]) for e in fj.audit()] == [("deferred", "unknown_key")]


async def test_a_stream_message_is_known_by_its_sequence_and_its_bytes(net: Exchange) -> None:
    # A stream re-created from sequence 1 must not make a new message look audited.
    fj = await net.station("FJ")
    first = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))
    other = net.seal("WS", ["FJ"], new_keys=Identity.generate("WS"))
    for sealed in (first, first, other):
        decision = await fj.inbound.process(sealed.subject, sealed.data, final=False, stream_seq=1)
        assert decision.outcome is Outcome.DEFER

    deferred = [json.loads(e[4])["sha256"] for e in fj.audit("deferred")]
    assert len(deferred) == 2 and deferred[0] != deferred[1]
