"""Recipients return signed receipts; the sender records them and knows who has what."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from natskit import tls_connect
from nodekit import Running, accepted
from testkit import sample_alert
from typer.testing import CliRunner

from node.cli.main import app
from node.exchange.receipts import ReceiptDecision, delivery_status
from node.protocol.receipt import make_receipt
from node.protocol.subjects import receipt_subject
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration


class ReceiptWatch:
    def __init__(self) -> None:
        self.seen: list[ReceiptDecision] = []
        self.changed = asyncio.Event()

    def __call__(self, decision: ReceiptDecision) -> None:
        self.seen.append(decision)
        self.changed.set()

    async def until(self, predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while not predicate(self.seen):
                self.changed.clear()
                await self.changed.wait()


async def test_sender_learns_per_recipient_delivery(running: Running) -> None:
    ws = running.nodes["WS"]
    watch = ReceiptWatch()
    ws.receipt_listeners.append(watch)
    result = await ws.send(sample_alert(Topic.MARITIME), ["FJ", "TO"])
    await watch.until(
        lambda seen: {d.recipient for d in seen if d.outcome == "recorded"} == {"FJ", "TO"}
    )
    status = delivery_status(
        ws.settings.database, result.message_id, datetime.now(UTC), timedelta(minutes=15)
    )
    assert status is not None
    assert {(s.recipient, s.state) for s in status} == {("FJ", "delivered"), ("TO", "delivered")}
    audited = list_entries(ws.settings.database, kind="receipt")
    assert sorted(e.entry.peer or "" for e in audited) == ["FJ", "TO"]
    out = CliRunner().invoke(
        app,
        ["status", result.message_id, "--config", str(ws.settings.database.parent / "node.toml")],
    )
    assert out.exit_code == 0 and "FJ  delivered" in out.output and "TO  delivered" in out.output


async def test_receipts_are_deduplicated_and_forgeries_rejected(running: Running) -> None:
    ws, fj = running.nodes["WS"], running.nodes["FJ"]
    watch = ReceiptWatch()
    ws.receipt_listeners.append(watch)
    result = await ws.send(sample_alert(Topic.ASYLUM), ["FJ"])
    await running.watchers["FJ"].wait(accepted(result.message_id))
    await watch.until(lambda seen: any(d.outcome == "recorded" for d in seen))
    now = datetime.now(UTC)
    nc = await tls_connect(ws.settings.nats_url, ws.settings.nats_tls_ca)
    try:
        js = nc.jetstream()
        # FJ's receipt again under a new broker id: recorded once only.
        again = make_receipt(result.message_id, "WS", fj.identity, now)
        await js.publish(receipt_subject("WS", "FJ"), again, headers={"Nats-Msg-Id": "r-again"})
        await watch.until(lambda seen: any(d.outcome == "duplicate" for d in seen))
        # TO claims delivery of an alert that was never sent to TO.
        bogus = make_receipt(result.message_id, "WS", running.nodes["TO"].identity, now)
        await js.publish(receipt_subject("WS", "TO"), bogus)
        await watch.until(lambda seen: any(d.outcome == "rejected" for d in seen))
    finally:
        await nc.close()
    rejected = [d for d in watch.seen if d.outcome == "rejected"]
    assert rejected[0].reason == "sender_mismatch"
    assert len(list_entries(ws.settings.database, kind="receipt")) == 1


async def test_status_before_delivery_and_overdue(running: Running) -> None:
    ws = running.nodes["WS"]
    await running.nodes["TO"].aclose()  # TO is offline: no receipt will come
    result = await ws.send(sample_alert(Topic.MARITIME), ["TO"])
    now = datetime.now(UTC)
    status = delivery_status(ws.settings.database, result.message_id, now, timedelta(minutes=15))
    assert status is not None and [s.state for s in status] == ["published"]
    later = now + timedelta(minutes=16)
    status = delivery_status(ws.settings.database, result.message_id, later, timedelta(minutes=15))
    assert status is not None and [s.state for s in status] == ["overdue"]
    assert delivery_status(ws.settings.database, "no-such-id", now, timedelta(minutes=1)) is None


async def test_a_failing_receipt_listener_does_not_stop_intake(running: Running) -> None:
    ws = running.nodes["WS"]

    def broken(decision: ReceiptDecision) -> None:
        raise RuntimeError("observer bug")

    watch = ReceiptWatch()
    ws.receipt_listeners[:0] = [broken]  # runs before the watcher, for every receipt
    ws.receipt_listeners.append(watch)
    first = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
    second = await ws.send(sample_alert(Topic.ASYLUM), ["FJ"])
    await watch.until(
        lambda seen: (
            {d.message_id for d in seen if d.outcome == "recorded"}
            >= {first.message_id, second.message_id}
        )
    )
    # Both alerts delivered: WS's intake kept going after the listener raised.
    assert await running.watchers["FJ"].wait(accepted(second.message_id))
