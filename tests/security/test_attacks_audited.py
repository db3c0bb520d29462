"""What the broker hands FJ leaves a trace in FJ's audit log, through a real
nats-server: a replay of an alert FJ holds, published again under a fresh
``Nats-Msg-Id`` (past the broker's de-duplication), is audited as ``replayed``; a
message deferred (a key not valid yet) is audited as ``deferred`` at its first
deferral, not at each redelivery. Both used to be dropped or retried in silence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client
from natskit import tls_connect
from nodekit import accepted, outcome
from security.craft import Cast
from security.stage import Target

from node.exchange.inbound.decisions import Outcome
from node.protocol.subjects import alert_subject
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def attacker(live: Target) -> AsyncIterator[Client]:
    nc = await tls_connect(live.node.settings.nats_url, live.node.settings.nats_tls_ca)
    try:
        yield nc
    finally:
        await nc.close()


async def publish(nc: Client, subject: str, data: bytes, msg_id: str) -> int:
    ack = await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
    assert not ack.duplicate
    return int(ack.seq)


async def test_a_replay_past_the_broker_is_audited_once(live: Target, attacker: Client) -> None:
    subject = alert_subject(Topic.MARITIME, "WS")
    header, data = Cast(live.cast.ids, live.cast.directory, datetime.now(UTC)).seal("WS")
    mid = header.message_id
    first = await publish(attacker, subject, data, mid)
    await live.watcher.wait(accepted(mid))
    replay = await publish(attacker, subject, data, "replay-1")
    await live.watcher.wait(outcome(mid, Outcome.DUPLICATE))

    (received,) = [e.entry for e in list_entries(live.db, kind="received")]
    assert json.loads(received.detail or "{}")["stream_seq"] == first
    (replayed,) = [e.entry for e in list_entries(live.db, kind="replayed")]
    assert (replayed.message_id, replayed.peer, replayed.reason) == (mid, "WS", "replay")
    detail = json.loads(replayed.detail or "{}")
    assert (detail["stream_seq"], detail["accepted_seq"]) == (replay, first)
    assert live.snapshot().inbox == (mid,)  # processed once all the same
    live.verify_audit()


async def test_a_deferral_is_audited_at_the_first_delivery_only(
    live: Target, attacker: Client
) -> None:
    # NR's keys become valid tomorrow: deferred, redelivered after 1 s, 2 s, ...
    data = live.cast.forge("NR")
    seq = await publish(attacker, alert_subject(Topic.MARITIME, "NR"), data, "nr-1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while sum(d.outcome is Outcome.DEFER for d in live.watcher.decisions) < 2:
        assert loop.time() < deadline, "no second delivery"
        await asyncio.sleep(0.05)

    (deferred,) = [e.entry for e in list_entries(live.db, kind="deferred")]
    assert deferred.reason == "key_not_valid"
    detail = json.loads(deferred.detail or "{}")
    assert (detail["stream_seq"], detail["size"]) == (seq, len(data))
    assert deferred.envelope == data
    assert list_entries(live.db, kind="rejected") == []  # not final yet
    live.verify_audit()
