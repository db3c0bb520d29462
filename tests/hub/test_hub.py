"""The hub role end to end on a real nats-server with permissions generated from the
directory: liveness, traffic metadata (never content), lag, correlation, bulletins."""

from __future__ import annotations

import json

import pytest
from hubkit import BusWatch, HubNet, passport_alert
from natskit import tls_connect
from nodekit import accepted
from testkit import sample_alert

from node.hub.bulletin import Draft
from node.hub.store import Reader
from schemas.alert import Priority, Tlp, Topic
from schemas.errors import PolicyViolation

pytestmark = pytest.mark.integration


async def test_liveness_follows_heartbeats(hubnet: HubNet) -> None:
    bus = BusWatch(hubnet.hub)
    for code in ("XH", "WS", "FJ", "TO"):
        await bus.status(code, "online")
    await hubnet.stop_member("WS")
    # A clean stop says goodbye: no need to wait for missed heartbeats.
    await bus.status("WS", "stopped")
    await hubnet.start_member("WS")
    await bus.status("WS", "online")
    row = await Reader(hubnet.nodes["XH"].settings.database).one(
        "SELECT beats, interval_s, audit_count FROM hub_members WHERE member = 'WS'"
    )
    assert row is not None and row["beats"] >= 2 and row["interval_s"] == 1.0


async def test_traffic_is_metadata_only_and_receipts_are_seen(hubnet: HubNet) -> None:
    bus = BusWatch(hubnet.hub)
    ws, fj = hubnet.nodes["WS"], hubnet.watchers["FJ"]
    result = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])  # not to the hub
    await fj.wait(accepted(result.message_id))
    await bus.wait("traffic", kind="alert", sender="WS", status="verified")
    await bus.wait("traffic", kind="receipt", sender="FJ", status="verified")
    reader = Reader(hubnet.nodes["XH"].settings.database)
    row = await reader.one(
        "SELECT * FROM hub_traffic WHERE message_id = ? AND kind = 'alert'", (result.message_id,)
    )
    assert row is not None
    assert (row["sender"], row["topic"], row["recipients"]) == ("WS", "maritime", 1)
    assert row["tlp"] and row["priority"] and row["size"] > 0
    # The hub could not open it: not in its inbox, nothing indexed.
    assert (
        await reader.one("SELECT 1 FROM inbox WHERE message_id = ?", (result.message_id,)) is None
    )
    assert (
        await reader.one("SELECT 1 FROM hub_mentions WHERE message_id = ?", (result.message_id,))
        is None
    )
    receipt = await reader.one(
        "SELECT sender, peer FROM hub_traffic WHERE message_id = ? AND kind = 'receipt'",
        (result.message_id,),
    )
    assert receipt is not None and (receipt["sender"], receipt["peer"]) == ("FJ", "WS")
    # Consumer lag for every member, from JetStream consumer info.
    await bus.wait("lag")
    lags = await reader.all("SELECT member, lag_pending FROM hub_members")
    assert {r["member"] for r in lags if r["lag_pending"] is not None} >= {"WS", "FJ", "TO"}


async def test_two_members_same_passport_make_a_link_and_a_bulletin_goes_out(
    hubnet: HubNet,
) -> None:
    bus = BusWatch(hubnet.hub)
    a = passport_alert("N1234567", "TUPOU", "SIONE", "1990-04-02", "Impostor at Fua'amotu")
    b = passport_alert("N 123-4567", "Tupou", "Sione", "1990-04-02", "Same passport at Nadi")
    first = await hubnet.nodes["WS"].send(a, ["XH"])
    second = await hubnet.nodes["FJ"].send(b, ["XH"])
    link = await bus.wait("link", kind="document")
    reader = Reader(hubnet.nodes["XH"].settings.database)
    row = await reader.one("SELECT * FROM hub_links WHERE id = ?", (link["id"],))
    assert row is not None and row["strength"] == "strong" and row["rule"] == "members"
    ids = {x["message_id"] for x in json.loads(row["alerts"])}
    assert ids == {first.message_id, second.message_id}
    assert any("N1234567" in r for r in json.loads(row["reasons"]))
    await bus.wait("link", kind="person")

    # A bulletin citing the link: its TLP may not be lower than what it cites.
    draft = Draft(
        title="Stolen Tongan passport used twice",
        summary="Two members saw N1234567 within days.",
        analysis="Same document, same holder details: likely one impostor travelling.",
        priority=Priority.URGENT,
        tlp=Tlp.GREEN,
        recipients=["WS", "FJ"],
        links=[link["id"]],
        include_entities=True,
    )
    with pytest.raises(PolicyViolation, match="TLP:AMBER"):
        await hubnet.hub.send_bulletin(draft)
    draft.tlp = Tlp.AMBER
    sent = await hubnet.hub.send_bulletin(draft)
    assert sent.recipients == ("WS", "FJ")
    await bus.wait("receipt", message_id=sent.message_id, recipient="WS")
    await bus.wait("receipt", message_id=sent.message_id, recipient="FJ")
    opened = await hubnet.watchers["WS"].wait(accepted(sent.message_id))
    assert opened.sender == "XH"
    inbox = await Reader(hubnet.nodes["WS"].settings.database).one(
        "SELECT alert FROM inbox WHERE message_id = ?", (sent.message_id,)
    )
    assert inbox is not None
    payload = json.loads(inbox["alert"])["payload"]
    assert set(payload["referenced_alerts"]) == {first.message_id, second.message_id}
    assert payload["documents"][0]["number"] == "N1234567"


async def test_red_alert_informs_a_bulletin_only_to_its_sender(hubnet: HubNet) -> None:
    bus = BusWatch(hubnet.hub)
    red = passport_alert("X7654321", "FAKAFANUA", "MELE", "1985-01-01", "Red case")
    red = red.model_copy(update={"tlp": Tlp.RED})
    sent = await hubnet.nodes["TO"].send(red, ["XH"])
    await bus.wait("alert", message_id=sent.message_id)
    draft = Draft(
        title="About your case",
        summary="",
        analysis="Follow-up.",
        priority=Priority.ROUTINE,
        tlp=Tlp.RED,
        recipients=["TO", "FJ"],
        references=[sent.message_id],
    )
    with pytest.raises(PolicyViolation, match="only to TO"):
        await hubnet.hub.send_bulletin(draft)
    draft.recipients = ["TO"]
    result = await hubnet.hub.send_bulletin(draft)
    assert result.recipients == ("TO",)


async def test_a_forgery_shows_as_traffic_that_failed_verification(hubnet: HubNet) -> None:
    bus = BusWatch(hubnet.hub)
    seed = hubnet.network.root / "WS" / "nats.seed"
    raw = await tls_connect(
        hubnet.server.url, hubnet.server.tls.ca, nkeys_seed=str(seed), inbox_prefix="_INBOX_WS"
    )
    try:  # WS may publish on its own subject; the bytes are not an envelope
        await raw.jetstream().publish("lali.alert.maritime.WS", b"\x00" * 300)
    finally:
        await raw.close()
    event = await bus.wait("traffic", kind="alert", sender="WS")
    assert event["status"] == "malformed"
    row = await Reader(hubnet.nodes["XH"].settings.database).one(
        "SELECT topic, tlp, size FROM hub_traffic WHERE stream_seq = ?", (event["seq"],)
    )
    assert row is not None and (row["topic"], row["tlp"], row["size"]) == ("maritime", None, 300)
