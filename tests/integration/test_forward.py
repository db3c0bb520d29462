"""Re-sharing a received alert: allowed by its handling code, or refused and audited."""

from __future__ import annotations

import pytest
from nodekit import Running, accepted
from testkit import sample_alert

from node.protocol.envelope import open_envelope
from node.storage.audit import list_entries
from schemas.alert import Tlp, Topic
from schemas.errors import PolicyViolation

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("tlp", [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER])
async def test_forward_allowed_by_tlp(running: Running, tlp: Tlp) -> None:
    alert = sample_alert(Topic.MARITIME).model_copy(update={"tlp": tlp})
    original = await running.nodes["WS"].send(alert, ["FJ"])
    await running.watchers["FJ"].wait(accepted(original.message_id))
    forwarded = await running.nodes["FJ"].forward(original.message_id, ["TO"])
    decision = await running.watchers["TO"].wait(accepted(forwarded.message_id))
    assert decision.sender == "FJ"  # FJ speaks for itself, never as WS
    sent = list_entries(running.nodes["FJ"].settings.database, kind="sent")
    envelope = sent[-1].entry.envelope
    assert envelope is not None
    to = running.nodes["TO"]
    opened = open_envelope(envelope, to.identity, to.trust.directory, to.clock())
    assert opened.alert.references[-1] == original.message_id
    assert opened.alert.payload == alert.payload


@pytest.mark.parametrize("tlp", [Tlp.RED, Tlp.AMBER_STRICT])
async def test_forward_refused_by_tlp_and_audited(running: Running, tlp: Tlp) -> None:
    alert = sample_alert(Topic.MARITIME).model_copy(update={"tlp": tlp})
    original = await running.nodes["WS"].send(alert, ["FJ"])
    await running.watchers["FJ"].wait(accepted(original.message_id))
    fj = running.nodes["FJ"]
    with pytest.raises(PolicyViolation, match="re-shared"):
        await fj.forward(original.message_id, ["TO"])
    refused = list_entries(fj.settings.database, kind="refused")
    assert [(e.entry.message_id, e.entry.reason) for e in refused] == [
        (original.message_id, "tlp_forward")
    ]
    assert list_entries(fj.settings.database, kind="sent") == []
