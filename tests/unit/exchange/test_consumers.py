"""The members' durable consumers, owned by the hub (node/exchange/consumers.py): what
each delivers (pure, from the directory), and how a node binds to its own without
creating or changing it (node/exchange/attach.py, on the stream simulator)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from structlog.testing import capture_logs
from testkit import NOW, make_keyring
from transportkit import Broker, DurableConsumer, FakeTransport, ManualClock

from node.exchange.attach import bind_consumer
from node.exchange.consumers import consumer_specs, filters_for, unsafe_filters
from node.exchange.policy import StreamPolicy
from schemas.alert import Topic

STREAM = "LALI_ALERTS"


def policy(code: str = "XH", **changes: object) -> StreamPolicy:
    values: dict[str, object] = {
        "code": code,
        "stream": STREAM,
        "topics": tuple(Topic),
        "duplicate_window_s": 600.0,
        "replicas": 1,
        "ack_wait_s": 30.0,
        "max_deliver": 10,
        "fetch_batch": 256,
        "priority_catch_up": True,
    }
    values.update(changes)
    return StreamPolicy(**values)  # type: ignore[arg-type]


def test_a_member_gets_its_topics_its_own_receipts_and_every_checkpoint() -> None:
    assert filters_for("WS", ["maritime", "asylum"]) == (
        "lali.alert.maritime.*",
        "lali.alert.asylum.*",
        "lali.receipt.WS.*",  # receipts for the alerts WS sent: lali.receipt.<SENDER>.<BY>
        "lali.checkpoint.*",  # every node witnesses every member's log
    )


def test_the_hub_gets_the_same_kinds_of_subject() -> None:
    assert filters_for("XH", ["bulletin"]) == (
        "lali.alert.bulletin.*",
        "lali.receipt.XH.*",
        "lali.checkpoint.*",
    )


def test_specs_take_topics_from_the_directory_and_settings_from_the_hub() -> None:
    ring = make_keyring(topics={"WS": ["maritime"], "FJ": []})
    specs = {
        s.durable: s for s in consumer_specs(ring.directory, policy(ack_wait_s=45.0, max_deliver=7))
    }
    assert sorted(specs) == ["node-FJ", "node-TO", "node-WS", "node-XH"]
    assert specs["node-WS"].filters == (
        "lali.alert.maritime.*",
        "lali.receipt.WS.*",
        "lali.checkpoint.*",
    )
    # No topics: its receipts and the checkpoints it witnesses only.
    assert specs["node-FJ"].filters == ("lali.receipt.FJ.*", "lali.checkpoint.*")
    assert all("lali.checkpoint.*" in s.filters for s in specs.values())
    for spec in specs.values():
        assert (spec.ack_wait_s, spec.max_deliver, spec.max_ack_pending) == (45.0, 7, 1024)
        assert unsafe_filters(spec.filters) == []
        # Nobody sees another member's receipts: they name who received what.
        receipts = [f for f in spec.filters if f.startswith("lali.receipt.")]
        assert receipts == [f"lali.receipt.{spec.durable.removeprefix('node-')}.*"]


@pytest.mark.parametrize(
    ("filters", "unsafe"),
    [
        (["lali.alert.maritime.*", "lali.receipt.WS.*"], []),
        (["lali.checkpoint.*"], []),
        (["lali.dead"], []),  # one token short: matches no dead letter
        (["lali.>"], ["lali.>"]),  # the widening of the attack
        ([">"], [">"]),
        (["lali.*.WS"], ["lali.*.WS"]),
        (["lali.*.*"], ["lali.*.*"]),
        (["*.dead.*"], ["*.dead.*"]),
        (["lali.dead.WS", "lali.alert.maritime.*"], ["lali.dead.WS"]),
        (["lali.dead.>"], ["lali.dead.>"]),
        ([], [">"]),  # no filter at all: the whole stream
    ],
)
def test_a_filter_that_could_deliver_a_dead_letter_is_unsafe(
    filters: list[str], unsafe: list[str]
) -> None:
    assert unsafe_filters(filters) == unsafe


# --- binding: members never create or change their consumer ---------------------------


async def connected(broker: Broker) -> FakeTransport:
    transport = FakeTransport(broker, idle_ends_pull=False)
    await transport.connect()
    return transport


def add_consumer(broker: Broker, durable: str, filters: list[str]) -> None:
    consumer = DurableConsumer(
        durable, broker.stream(STREAM), filters, timedelta(seconds=30), max_deliver=10
    )
    broker.consumers[(STREAM, durable)] = consumer


async def test_a_member_waits_for_the_hub_to_create_its_consumer() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream(STREAM, ["lali.>"])
    ws = await connected(broker)
    stopping = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(bind_consumer(ws, policy("WS"), stopping))
        await asyncio.sleep(0.05)
        waiting = [e for e in logs if e["event"] == "waiting_for_consumer"]
        assert waiting and waiting[0]["message"] == "waiting for the hub to create consumer node-WS"
        assert (STREAM, "node-WS") not in broker.consumers  # it created nothing
        add_consumer(broker, "node-WS", ["lali.alert.maritime.*", "lali.receipt.WS.*"])
        batches = await asyncio.wait_for(task, 5)
    assert batches is not None
    assert broker.consumers[(STREAM, "node-WS")].filters == [
        "lali.alert.maritime.*",
        "lali.receipt.WS.*",
    ]  # bound as the hub configured it, not as the member's settings would have it


async def test_a_consumer_that_would_deliver_dead_letters_is_never_consumed() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream(STREAM, ["lali.>"])
    add_consumer(broker, "node-WS", ["lali.>"])
    broker.store("lali.dead.WS", b"junk", "d-1", {})
    ws = await connected(broker)
    stopping = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(bind_consumer(ws, policy("WS"), stopping))
        await asyncio.sleep(0.05)
        stopping.set()
        assert await asyncio.wait_for(task, 5) is None
    unsafe = [e for e in logs if e["event"] == "consumer_unsafe"]
    assert unsafe and "would deliver dead letters" in unsafe[0]["message"]
    assert broker.settlements == []  # nothing was fetched
    assert broker.consumers[(STREAM, "node-WS")].cursor == 0


async def test_different_redelivery_settings_are_said() -> None:
    broker = Broker(ManualClock(NOW))
    broker.add_stream(STREAM, ["lali.>"])
    add_consumer(broker, "node-WS", ["lali.receipt.WS.*"])
    with capture_logs() as logs:
        ws = await connected(broker)
        bound = await bind_consumer(ws, policy("WS", max_deliver=3), asyncio.Event())
    assert bound is not None
    (differ,) = [e for e in logs if e["event"] == "consumer_settings_differ"]
    assert (differ["hub_max_deliver"], differ["max_deliver"]) == (10, 3)
