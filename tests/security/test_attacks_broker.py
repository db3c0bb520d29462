"""The attack table through the real broker, and replay across the broker's
de-duplication and a node restart (THREATS.md rows 7 and 18: inject and replay at the
broker).

FJ consumes from a real nats-server; the attacker publishes with a plain NATS client
(the test server enforces no permissions: that is ``test_permissions.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client
from natskit import tls_connect
from nodekit import accepted, outcome
from security.craft import Cast
from security.stage import Target
from security.table import ATTACKS, Attack

from node.exchange.inbound.decisions import TRANSIENT, Outcome
from node.protocol.subjects import alert_subject
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration

TRANSIENT_REASONS = {cls.reason for cls in TRANSIENT}
# Subjects outside every consumer filter: the stream keeps them, no node is handed them.
NEVER_DELIVERED = {"subject-not-an-alert", "subject-unknown-topic"}


def broker_rows() -> list[tuple[str, Attack]]:
    """Rows a broker settles on the first delivery: not deferred (a transient failure
    is retried with back-off until the last delivery), not a known bug, and on a
    subject FJ's consumer is handed."""
    rows = []
    for param in ATTACKS:
        attack: Attack = param.values[0]
        if (
            attack.final
            and attack.reason not in TRANSIENT_REASONS
            and not param.marks
            and param.id not in NEVER_DELIVERED
        ):
            rows.append((param.id, attack))
    return rows


@pytest.fixture
async def attacker(live: Target) -> AsyncIterator[Client]:
    nc = await tls_connect(live.node.settings.nats_url, live.node.settings.nats_tls_ca)
    try:
        yield nc
    finally:
        await nc.close()


async def publish(nc: Client, subject: str, data: bytes, msg_id: str) -> bool:
    """Publish to the stream; True if the broker dropped it as a duplicate."""
    ack = await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
    return bool(ack.duplicate)


def genuine(target: Target) -> tuple[str, bytes]:
    header, data = Cast(target.cast.ids, target.cast.directory, datetime.now(UTC)).seal("WS")
    return header.message_id, data


async def test_the_attack_table_through_the_broker(live: Target, attacker: Client) -> None:
    rows = broker_rows()
    assert len(rows) >= 60
    expected: list[tuple[str, Outcome, str | None]] = []
    for name, attack in rows:
        crafted = attack.craft(live.cast)
        for n, (subject, data) in enumerate(crafted.prior):
            assert not await publish(attacker, subject, data, f"{name}-prior-{n}")
            expected.append((f"{name} (prior)", Outcome.ACCEPTED, None))
        # A fresh Nats-Msg-Id for every attack: the broker's de-duplication is no defence.
        assert not await publish(attacker, crafted.subject, crafted.data, f"{name}-attack")
        expected.append((name, attack.outcome, attack.reason))
    mid, data = genuine(live)
    await publish(attacker, alert_subject(Topic.MARITIME, "WS"), data, mid)
    expected.append(("genuine, after all attacks", Outcome.ACCEPTED, None))

    await live.watcher.wait(accepted(mid), timeout=60)
    # Delivered once each, in stream order, and decided as in the table.
    got = [(d.outcome, d.reason) for d in live.watcher.decisions]
    for (name, want_outcome, want_reason), decision in zip(expected, got, strict=True):
        assert decision == (want_outcome, want_reason), name
    # Each rejection is in the audit log, in order, with its reason.
    rejected = [e.entry for e in list_entries(live.db, kind="rejected", limit=1000)]
    assert [e.reason for e in rejected] == [r for _, o, r in expected if o is Outcome.REJECTED]
    inbox = live.snapshot().inbox
    assert len(inbox) == sum(1 for _, o, _ in expected if o is Outcome.ACCEPTED)
    assert mid in inbox
    live.verify_audit()


async def test_replay_is_blocked_past_the_broker_window_and_a_restart(
    live: Target, attacker: Client
) -> None:
    subject = alert_subject(Topic.MARITIME, "WS")
    mid, data = genuine(live)
    assert not await publish(attacker, subject, data, mid)
    await live.watcher.wait(accepted(mid))
    # 1. The same Nats-Msg-Id within the window: the broker drops it.
    assert await publish(attacker, subject, data, mid)
    # 2. A new Nats-Msg-Id (or the window has passed): FJ's audit log drops it.
    assert not await publish(attacker, subject, data, "replay-1")
    await live.watcher.wait(outcome(mid, Outcome.DUPLICATE))
    # 3. While FJ is down, the same bytes, and the same id with other content, are
    #    replayed; the restarted node still knows the id from its audit log.
    await live.node.aclose()
    assert not await publish(attacker, subject, data, "replay-2")
    other = live.cast.forge("WS", message_id=mid)
    assert not await publish(attacker, subject, other, "replay-3")
    await live.restart()
    await live.watcher.wait(outcome(mid, Outcome.DUPLICATE))
    replay = await live.watcher.wait(lambda d: d.outcome is Outcome.REJECTED)
    assert replay.reason == "replay"
    # Once in the inbox, once received, and both replays of other kinds audited once.
    assert live.snapshot().inbox == (mid,)
    assert len(list_entries(live.db, kind="received")) == 1
    assert [e.entry.reason for e in list_entries(live.db, kind="rejected")] == ["replay"]
    # Still accepting after all that.
    fresh, data = genuine(live)
    assert not await publish(attacker, subject, data, fresh)
    await live.watcher.wait(accepted(fresh))
