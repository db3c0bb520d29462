"""Nodes exchange alerts through a real nats-server (loopback, own store directory)."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest
from natskit import tls_connect
from nodekit import Running, accepted, outcome, restart
from testkit import sample_alert

from node.exchange.inbound.decisions import Outcome
from node.ops.natsserver import NatsServer
from node.protocol.subjects import alert_subject
from node.storage.audit import list_entries, verify_file
from schemas.alert import Topic

pytestmark = pytest.mark.integration


def inbox_ids(path: object) -> list[str]:
    with closing(sqlite3.connect(str(path))) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM inbox")]


async def test_alert_reaches_recipients_only(running: Running) -> None:
    ws = running.nodes["WS"]
    result = await ws.send(sample_alert(Topic.MARITIME), ["FJ", "TO"])
    assert result.state == "published"
    mid = result.message_id
    for code in ("FJ", "TO"):
        await running.watchers[code].wait(accepted(mid))
        assert inbox_ids(running.nodes[code].settings.database) == [mid]
    await running.watchers["XH"].wait(outcome(mid, Outcome.NOT_ADDRESSED))
    assert inbox_ids(running.nodes["XH"].settings.database) == []
    sent = list_entries(ws.settings.database, kind="sent")
    assert [e.entry.message_id for e in sent] == [mid]
    assert sent[0].entry.envelope is not None  # the raw signed envelope is kept


async def test_redelivered_envelope_is_processed_once(running: Running) -> None:
    result = await running.nodes["WS"].send(sample_alert(Topic.ASYLUM), ["FJ"])
    fj = running.watchers["FJ"]
    await fj.wait(accepted(result.message_id))
    envelope = list_entries(running.nodes["WS"].settings.database, kind="sent")[0].entry.envelope
    assert envelope is not None
    # Replay the same signed bytes under a new broker id, past JetStream's de-dup.
    nc = await tls_connect(
        running.nodes["WS"].settings.nats_url, running.nodes["WS"].settings.nats_tls_ca
    )
    try:
        await nc.jetstream().publish(
            alert_subject(Topic.ASYLUM, "WS"), envelope, headers={"Nats-Msg-Id": "replay-1"}
        )
    finally:
        await nc.close()
    await fj.wait(outcome(result.message_id, Outcome.DUPLICATE))
    assert inbox_ids(running.nodes["FJ"].settings.database) == [result.message_id]
    received = list_entries(running.nodes["FJ"].settings.database, kind="received")
    assert len(received) == 1


async def test_forged_message_is_rejected_audited_and_node_keeps_going(running: Running) -> None:
    nc = await tls_connect(
        running.nodes["WS"].settings.nats_url, running.nodes["WS"].settings.nats_tls_ca
    )
    try:
        await nc.jetstream().publish(alert_subject(Topic.MARITIME, "WS"), b"lali.envelope.v1junk")
    finally:
        await nc.close()
    fj = running.watchers["FJ"]
    decision = await fj.wait(lambda d: d.outcome is Outcome.REJECTED)
    assert decision.reason == "malformed"
    rejected = list_entries(running.nodes["FJ"].settings.database, kind="rejected")
    assert [e.entry.reason for e in rejected] == ["malformed"]
    assert rejected[0].entry.envelope == b"lali.envelope.v1junk"
    # Still working afterwards (and, messages being worked one after the other, done
    # with the rejected one, dead-letter copy included):
    result = await running.nodes["XH"].send(sample_alert(Topic.BULLETIN), ["FJ"])
    await fj.wait(accepted(result.message_id))
    # ...a copy sits on FJ's dead-letter subject for the operator, with the reason.
    nc = await tls_connect(
        running.nodes["FJ"].settings.nats_url, running.nodes["FJ"].settings.nats_tls_ca
    )
    try:
        dead = await nc.jetstream().get_last_msg("LALI_ALERTS", "lali.dead.FJ")
    finally:
        await nc.close()
    assert dead.data == b"lali.envelope.v1junk"
    assert dead.headers is not None and dead.headers["Lali-Reason"] == "malformed"
    assert verify_file(running.nodes["FJ"].settings.database).count >= 3


async def test_sender_spoofed_in_subject_is_rejected(running: Running) -> None:
    # TO publishes WS's genuine envelope on a subject that names TO as sender.
    result = await running.nodes["WS"].send(sample_alert(Topic.MARITIME), ["TO"])
    await running.watchers["TO"].wait(accepted(result.message_id))
    envelope = list_entries(running.nodes["WS"].settings.database, kind="sent")[0].entry.envelope
    nc = await tls_connect(
        running.nodes["WS"].settings.nats_url, running.nodes["WS"].settings.nats_tls_ca
    )
    try:
        await nc.jetstream().publish(alert_subject(Topic.MARITIME, "TO"), envelope or b"")
    finally:
        await nc.close()
    decision = await running.watchers["FJ"].wait(lambda d: d.outcome is Outcome.REJECTED)
    assert decision.reason == "sender_mismatch"


async def test_offline_node_catches_up_after_restart(running: Running) -> None:
    fj = running.nodes["FJ"]
    await fj.aclose()
    sent = [
        (await running.nodes["WS"].send(sample_alert(t), ["FJ"])).message_id
        for t in (Topic.MARITIME, Topic.ASYLUM, Topic.DRUG_SMUGGLING)
    ]
    node, watcher = await restart(running, "FJ")
    for mid in sent:
        await watcher.wait(accepted(mid))
    assert sorted(inbox_ids(node.settings.database)) == sorted(sent)
    verify_file(node.settings.database)


async def test_alerts_queue_while_server_is_down_and_flush_after(
    running: Running, nats_server: NatsServer
) -> None:
    ws = running.nodes["WS"]
    await asyncio.to_thread(nats_server.stop)
    await asyncio.wait_for(ws.transport.disconnected.wait(), 20)
    result = await ws.send(sample_alert(Topic.PEOPLE_SMUGGLING), ["TO"])
    assert result.state == "queued"
    await asyncio.to_thread(nats_server.start)
    await running.watchers["TO"].wait(accepted(result.message_id), timeout=40)
    with closing(sqlite3.connect(str(ws.settings.database))) as conn:
        state = conn.execute(
            "SELECT state FROM outbox WHERE message_id = ?", (result.message_id,)
        ).fetchone()
    assert state == ("published",)


async def test_catch_up_reports_progress(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    import structlog

    import node.exchange.consumer

    await running.nodes["FJ"].aclose()
    ids = [
        (await running.nodes["WS"].send(sample_alert(Topic.MARITIME), ["FJ"])).message_id
        for _ in range(150)
    ]
    monkeypatch.setattr(node.exchange.consumer, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setenv("LALI_FETCH_BATCH", "32")  # several batches, so progress in between
    with structlog.testing.capture_logs() as logs:
        fj, watcher = await restart(running, "FJ")
        await watcher.wait(accepted(ids[-1]), timeout=60)
    progress = [e for e in logs if e["event"] == "catching_up"]
    assert progress, "no progress reported while draining a backlog"
    assert all(e["remaining"] > 0 and e["rate_per_s"] >= 0 for e in progress)
    assert len(inbox_ids(fj.settings.database)) == len(ids)


async def test_catch_up_takes_flash_alerts_first(running: Running) -> None:
    from schemas.alert import Priority

    await running.nodes["FJ"].aclose()
    ws = running.nodes["WS"]
    routine = [(await ws.send(sample_alert(Topic.MARITIME), ["FJ"])).message_id for _ in range(20)]
    flash_alert = sample_alert(Topic.MARITIME).model_copy(update={"priority": Priority.FLASH})
    flash = (await ws.send(flash_alert, ["FJ"])).message_id  # sent last
    _, watcher = await restart(running, "FJ")
    await watcher.wait(accepted(routine[-1]))
    await watcher.wait(accepted(flash))
    order = [d.message_id for d in watcher.decisions if d.outcome is Outcome.ACCEPTED]
    assert order.index(flash) < order.index(routine[0])  # first out of the backlog
