"""The transport port: the real Transport and the stream simulator both satisfy it, and
the simulator keeps the broker's promises the pipelines rely on."""

from __future__ import annotations

import asyncio

import pytest
from testkit import NOW
from transportkit import Broker, FakeTransport, ManualClock, subject_matches

from node.transport import ConnectOptions, Transport
from node.transport.ports import (
    CoreNats,
    DirectoryBucket,
    Link,
    Publication,
    PulledMessage,
    StreamConsumer,
    StreamPublisher,
    TransportPort,
)
from schemas.errors import TransportError

PORTS = (Link, StreamPublisher, StreamConsumer, DirectoryBucket, CoreNats, TransportPort)


def test_the_real_transport_satisfies_every_port() -> None:
    # Construction opens nothing; mypy checks the same in node/transport/ports.py.
    port: TransportPort = Transport(ConnectOptions(url="nats://127.0.0.1:1", name="t"))
    for protocol in PORTS:
        assert isinstance(port, protocol), protocol.__name__


async def test_the_simulator_satisfies_every_port() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream("S", ["a.>"])
    port: TransportPort = FakeTransport(broker)
    for protocol in PORTS:
        assert isinstance(port, protocol), protocol.__name__
    await port.connect()
    await port.publish("a.b", b"x", "id-1")
    batches = await port.durable_pull("S", "d", ["a.>"], ack_wait_s=30, max_deliver=3, batch=8)
    (delivery,) = await anext(batches)
    assert isinstance(delivery, PulledMessage)


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("lali.alert.*.WS", "lali.alert.maritime.WS", True),
        ("lali.alert.*.WS", "lali.alert.maritime.FJ", False),
        ("lali.>", "lali.alert.maritime.WS", True),
        ("lali.>", "lali", False),
        ("lali.alert.*", "lali.alert.maritime.WS", False),
        ("lali.receipt.WS.*", "lali.receipt.WS.FJ", True),
    ],
)
def test_subject_matching(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


async def test_msg_id_deduplicates_within_the_window_only() -> None:
    clock = ManualClock(NOW)
    broker = Broker(clock)
    stream = broker.add_stream("S", ["a.>"], duplicate_window_s=60)
    t = FakeTransport(broker)
    await t.connect()
    assert await t.publish("a.b", b"one", "id-1") == 1
    assert await t.publish("a.b", b"one again", "id-1") == 1  # the first copy's sequence
    assert [m.data for m in stream.messages] == [b"one"]
    clock.advance(61)
    assert await t.publish("a.b", b"later", "id-1") == 2
    with pytest.raises(TransportError, match="no stream takes"):
        await t.publish("z.b", b"nowhere", "id-2")


async def test_link_down_fails_every_call_until_it_recovers() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream("S", ["a.>"])
    woken: list[str] = []
    t = FakeTransport(broker, on_reconnect=lambda: woken.append("up"))
    await t.connect()
    t.link_down()
    assert not t.connected.is_set()
    with pytest.raises(TransportError):
        await t.publish("a.b", b"x", "id-1")
    with pytest.raises(TransportError):
        await t.publish_core("hb.WS", b"beat")
    items = [Publication("a.b", b"x", "id-1")]
    assert await t.publish_pipelined(items, window=4) == [None]  # never issued
    t.link_up()
    assert woken == ["up"]
    assert await t.publish_pipelined(items, window=4) == [1]
    await t.publish_core("hb.WS", b"beat")
    assert broker.core == [("hb.WS", b"beat")]


async def test_injected_publish_failures() -> None:
    broker = Broker(ManualClock(NOW))
    stream = broker.add_stream("S", ["a.>"])
    t = FakeTransport(broker)
    await t.connect()
    t.refuse_publishes(1)
    t.lose_pubacks(1)
    items = [Publication("a.b", b"1", "id-1"), Publication("a.b", b"2", "id-2")]
    results = await t.publish_pipelined(items, window=4)
    assert isinstance(results[0], TransportError) and results[1] is None  # stops at a failure
    assert stream.messages == []
    results = await t.publish_pipelined(items, window=4)
    assert isinstance(results[0], TransportError) and results[1] is None
    assert [m.msg_id for m in stream.messages] == ["id-1"]  # stored, PubAck lost
    assert await t.publish_pipelined(items, window=4) == [1, 2]  # same id: de-duplicated
    assert [p.msg_id for p in t.attempts] == ["id-1", "id-1", "id-1", "id-2"]


async def test_durable_consumer_redelivers_after_nak_delay_up_to_max_deliver() -> None:
    clock = ManualClock(NOW)
    broker = Broker(clock)
    broker.add_stream("S", ["a.>", "b.>"])
    t = FakeTransport(broker)
    await t.connect()
    for subject in ("a.1", "b.1", "a.2"):
        await t.publish(subject, subject.encode(), subject)

    async def fetch() -> list[tuple[str, int]]:
        batches = await t.durable_pull("S", "d", ["a.>"], ack_wait_s=30, max_deliver=2, batch=8)
        return [(d.subject, d.num_delivered) async for batch in batches for d in batch]

    first = await fetch()
    assert first == [("a.1", 1), ("a.2", 1)]  # the filter leaves b.1 out
    state = await t.consumer_state("S", "d")
    assert state is not None and (state.pending, state.ack_pending, state.delivered_seq) == (
        0,
        2,
        3,
    )
    assert await fetch() == []  # delivered, not settled, AckWait not over: nothing due
    clock.advance(30)  # AckWait passed: both come again
    batches = await t.durable_pull("S", "d", ["a.>"], ack_wait_s=30, max_deliver=2, batch=8)
    again = await anext(batches)
    assert [(d.subject, d.num_delivered) for d in again] == [("a.1", 2), ("a.2", 2)]
    await again[0].ack()
    await again[1].nak(5.0)
    assert [(s.how, s.stream_seq, s.delay) for s in broker.settlements] == [
        ("ack", 1, None),
        ("nak", 3, 5.0),
    ]
    clock.advance(5)
    assert await fetch() == []  # a.2 reached max_deliver: never again
    state = await t.consumer_state("S", "d")
    assert state is not None and (state.ack_pending, state.redelivered) == (1, 1)


async def test_pending_counts_only_undelivered_messages_of_the_filter() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream("S", ["a.>", "b.>"])
    t = FakeTransport(broker)
    await t.connect()
    assert await t.consumer_state("S", "d") is None
    with pytest.raises(TransportError):
        await t.pending("S", "d")
    batches = await t.durable_pull("S", "d", ["a.>"], ack_wait_s=30, max_deliver=2, batch=1)
    for subject in ("a.1", "b.1", "a.2", "a.3"):
        await t.publish(subject, b"", subject)
    assert await t.pending("S", "d") == 3
    assert len(await anext(batches)) == 1
    assert await t.pending("S", "d") == 2
    assert await t.last_message("S", "a.2") == b""
    assert await t.last_message("S", "a.9") is None


async def test_kv_watch_replays_history_then_follows() -> None:
    broker = Broker(ManualClock(NOW))
    t = FakeTransport(broker)
    await t.connect()
    with pytest.raises(TransportError):
        await anext(t.kv_watch("dir", "current"))
    assert await t.kv_put("dir", "current", b"v1") == 1
    assert await t.kv_put("dir", "other", b"x") == 2
    assert await t.kv_put("dir", "current", b"v2") == 3
    watch = t.kv_watch("dir", "current")
    assert [await anext(watch), await anext(watch)] == [(1, b"v1"), (3, b"v2")]
    later = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)  # one turn of the loop: the watcher is now waiting
    assert not later.done()
    await t.kv_put("dir", "current", b"v3")
    assert await later == (4, b"v3")
