"""The attack table (THREATS.md rows 1-11, 13 and 30): each row is one attack, the
decision and typed reason it must get, and so the audit entry it must leave.

Every row is played against a started node (FJ, see ``stage.py``) through its real
inbound pipeline, ``node.exchange.inbound.pipeline.process(subject, data, final=...)``, which then:

1. decides with the row's outcome and reason;
2. for a rejection, writes the newest ``rejected`` audit entry with that reason, the
   subject, and the raw bytes (up to 64 KiB); any other outcome writes no such entry;
3. stores nothing: no inbox row, no ``received`` entry, no receipt in the outbox;
4. keeps a verifiable audit chain, and still accepts a genuine alert afterwards.

Elsewhere in this suite: the attacks through the real broker, replay past the broker's
de-duplication and after a restart (``test_attacks_broker.py``); directory rollback,
tampering and expiry (``test_directory_attacks.py``); NATS permission escalation,
THREATS.md row 32 (``test_permissions.py``, and ``tests/integration/test_deploy.py``);
mutation fuzzing of the envelope (``test_fuzz.py``).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from security.stage import Target
from security.table import ATTACKS, HOUR, Attack

from node.exchange.inbound.decisions import REJECT_KEEP, Outcome

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack(target: Target, attack: Attack) -> None:
    crafted = attack.craft(target.cast)
    for subject, data in crafted.prior:
        assert (await target.deliver(subject, data)).outcome is Outcome.ACCEPTED
    before = target.snapshot()

    received_at = None if attack.received is None else target.cast.now + attack.received
    decision = await target.deliver(
        crafted.subject, crafted.data, final=attack.final, received_at=received_at
    )

    # 1. The decision, with its typed reason.
    assert (decision.outcome, decision.reason) == (attack.outcome, attack.reason)
    after = target.snapshot()
    # 2. The audit entry it leaves (or does not).
    if attack.outcome is Outcome.REJECTED:
        assert after.rejected == before.rejected + 1
        entry = target.last_rejected()
        assert entry.reason == attack.reason
        detail = json.loads(entry.detail or "{}")
        assert attack.says in detail["error"]
        assert detail["subject"] == crafted.subject
        assert detail["size"] == len(crafted.data)
        kept = crafted.data if len(crafted.data) <= REJECT_KEEP else None
        assert entry.envelope == kept
    else:
        assert after.rejected == before.rejected
    # 3. Nothing stored, nothing sent.
    assert (after.inbox, after.received, after.outbox) == (
        before.inbox,
        before.received,
        before.outbox,
    )
    # 4. The log is intact and the node keeps going.
    assert target.verify_audit() >= after.rejected + after.received
    mid = await target.accepts_a_valid_alert()
    assert target.snapshot().inbox == tuple(sorted((*before.inbox, mid)))


def test_the_table_is_big_enough() -> None:
    assert len(ATTACKS) >= 30
    ids = [p.id for p in ATTACKS]
    assert len(set(ids)) == len(ids)


async def test_alert_stored_before_a_revocation_still_verifies(target: Target) -> None:
    # THREATS.md row 13, the other half: what the broker stored before the key was
    # revoked is still accepted when it is processed later (a node that was offline).
    sent = target.cast.now - 2 * HOUR
    data = target.cast.forge("PW", at=-2 * HOUR)
    decision = await target.deliver(
        "lali.alert.maritime.PW", data, received_at=sent + timedelta(seconds=1)
    )
    assert decision.outcome is Outcome.ACCEPTED
    assert decision.message_id in target.snapshot().inbox
