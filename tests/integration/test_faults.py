"""Faults on our side: a full disk, a directory that lags behind a key, a stale one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from natskit import tls_connect
from nodekit import Running, accepted
from testkit import sample_alert

from keys import Directory, Identity, Member, load_root_key, sign_directory
from node.exchange.inbound.decisions import Outcome
from node.ops.provision import Network
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration


async def test_locked_database_holds_the_message_and_loses_nothing(running: Running) -> None:
    # Another process (a backup, an operator's sqlite3 shell) holds the write lock, so
    # FJ cannot commit: it must neither ack nor spend the broker's delivery attempts.
    fj = running.nodes["FJ"]
    await fj.db.set_busy_timeout(100)
    blocker = sqlite3.connect(fj.settings.database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        result = await running.nodes["WS"].send(sample_alert(Topic.MARITIME), ["FJ"])
        watcher = running.watchers["FJ"]
        retry = await watcher.wait(lambda d: d.outcome is Outcome.RETRY)
        assert retry.reason == "storage"
        assert not any(d.outcome is Outcome.ACCEPTED for d in watcher.decisions)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await watcher.wait(accepted(result.message_id), timeout=30)
    received = list_entries(fj.settings.database, kind="received")
    assert [e.entry.message_id for e in received] == [result.message_id]


def resign_with_new_member(network: Network, identity: Identity, version: int) -> None:
    """The hub adds a member and publishes directory ``version`` (file replaced)."""
    from keys import verify_directory
    from node.exchange.trust import parse_root_keys

    now = datetime.now(UTC)
    current = verify_directory(
        network.directory.read_bytes(), parse_root_keys([network.root_public_b64]), now
    )
    member = Member(
        code=identity.code,
        name="Vanuatu",
        role=current.members[1].role,
        keys=identity.directory_keys(now - timedelta(minutes=5), now + timedelta(days=30)),
    )
    directory = Directory(
        version=version,
        issued_at=now,
        expires_at=now + timedelta(days=30),
        members=[*current.members, member],
    )
    root = load_root_key(network.root_key)
    tmp = network.directory.with_suffix(".new")
    tmp.write_bytes(sign_directory(directory, [root]))
    tmp.replace(network.directory)


async def test_alert_from_a_member_not_yet_in_our_directory_is_deferred(
    running: Running,
) -> None:
    # VU joins: its alert reaches FJ before FJ has the new directory.
    from node.protocol.envelope import seal
    from node.protocol.subjects import alert_subject

    vu = Identity.generate("VU")
    ws = running.nodes["WS"]
    resign_with_new_member(running.network, vu, version=2)
    new_directory = await ws.trust.current(datetime.now(UTC))  # WS picked it up
    assert "VU" in new_directory.codes()
    header, data = seal(sample_alert(Topic.MARITIME), vu, ["FJ"], new_directory, datetime.now(UTC))
    # FJ has not noticed the new file yet (its sync lags): it keeps version 1.
    fj = running.nodes["FJ"]
    stat = fj.trust.path.stat()
    fj.trust._stamp = (stat.st_mtime_ns, stat.st_size)
    # Publish as VU would (VU has no node here; the raw publish stands in for it).
    nc = await tls_connect(ws.settings.nats_url, ws.settings.nats_tls_ca)
    try:
        await nc.jetstream().publish(
            alert_subject(Topic.MARITIME, "VU"), data, headers={"Nats-Msg-Id": header.message_id}
        )
    finally:
        await nc.close()
    await running.watchers["FJ"].wait(lambda d: d.outcome is Outcome.DEFER)
    assert list_entries(fj.settings.database, kind="rejected") == []
    # The new directory arrives (the file changes again): the redelivery is accepted.
    fj.trust._stamp = None
    await running.watchers["FJ"].wait(accepted(header.message_id), timeout=30)


async def test_unknown_key_on_the_last_delivery_is_rejected_and_audited(
    running: Running,
) -> None:
    fj = running.nodes["FJ"]
    outsider = Identity.generate("WS")
    ws_sealed = await running.nodes["WS"].send(sample_alert(Topic.MARITIME), ["FJ"])
    await running.watchers["FJ"].wait(accepted(ws_sealed.message_id))
    decision = await fj.inbound.process(
        "lali.alert.maritime.WS", _forged_by(outsider, running), final=True
    )
    assert decision.outcome is Outcome.REJECTED and decision.reason == "unknown_key"
    rejected = list_entries(fj.settings.database, kind="rejected")
    assert [e.entry.reason for e in rejected] == ["unknown_key"]
    deferred = await fj.inbound.process(
        "lali.alert.maritime.WS", _forged_by(outsider, running), final=False
    )
    assert deferred.outcome is Outcome.DEFER


def _forged_by(outsider: Identity, running: Running) -> bytes:
    from node.protocol.envelope import encrypt_and_sign, key_commitment
    from node.protocol.wire import Header, new_message_id

    now = datetime.now(UTC)
    key = b"\x05" * 32
    header = Header(
        topic=Topic.MARITIME,
        tlp=sample_alert(Topic.MARITIME).tlp,
        priority=sample_alert(Topic.MARITIME).priority,
        sender="WS",
        sign_kid=outsider.sign_kid,
        enc_kid=outsider.enc_kid,
        message_id=new_message_id(now, b"\x09" * 10),
        expires_at=None,
        commitment=key_commitment(key),
    )
    fj_pub = running.nodes["WS"].trust.directory.current_encryption_key("FJ", now)
    return encrypt_and_sign(header, b"x", key, outsider, [fj_pub.public_bytes()])


async def test_expired_directory_stops_intake_without_losing_alerts(running: Running) -> None:
    fj = running.nodes["FJ"]
    real_clock = fj.clock
    fj.clock = lambda: real_clock() + timedelta(days=34)  # expired, and past the grace
    fj.inbound.clock = fj.clock
    result = await running.nodes["WS"].send(sample_alert(Topic.ASYLUM), ["FJ"])
    watcher = running.watchers["FJ"]
    retry = await watcher.wait(lambda d: d.outcome is Outcome.RETRY)
    assert retry.reason == "directory_expired"
    fj.clock = real_clock  # a fresh directory (here: the clock set right) cures it
    fj.inbound.clock = real_clock
    await watcher.wait(accepted(result.message_id), timeout=30)
    with closing(sqlite3.connect(fj.settings.database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM inbox").fetchone() == (1,)


async def test_expired_directory_within_grace_keeps_working_and_says_so(
    running: Running,
) -> None:
    import structlog

    from keys import load_root_key, sign_directory, verify_directory
    from node.exchange.trust import parse_root_keys

    network = running.network
    now = datetime.now(UTC)
    current = verify_directory(
        network.directory.read_bytes(), parse_root_keys([network.root_public_b64]), now
    )
    stale = current.model_copy(
        update={
            "version": 2,
            "issued_at": now - timedelta(days=2),
            "expires_at": now - timedelta(hours=1),
        }
    )
    # The hub went quiet: the newest directory the nodes have expired an hour ago.
    tmp = network.directory.with_suffix(".tmp")
    tmp.write_bytes(sign_directory(stale, [load_root_key(network.root_key)]))
    tmp.replace(network.directory)
    with structlog.testing.capture_logs() as logs:
        result = await running.nodes["WS"].send(sample_alert(Topic.ASYLUM), ["FJ"])
        await running.watchers["FJ"].wait(accepted(result.message_id))
    assert running.nodes["FJ"].trust.directory.version == 2
    on_grace = [e for e in logs if e["event"] == "directory_on_grace"]
    assert on_grace and on_grace[0]["version"] == 2
