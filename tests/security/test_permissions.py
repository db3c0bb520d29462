"""Permission escalation on NATS (THREATS.md row 32): a member's credentials used
against the other members and the stream, on a real nats-server running
``deploy/nats/single.conf`` (the ``secured`` fixture of
``tests/integration/test_deploy.py``, which also checks that the nodes work under it).

Each row is one thing WS tries with its own nkey; the server must refuse it. The
envelope checks would catch a forged alert anyway (``test_attacks.py``); these rows are
the layer before: the forgery never enters the stream, nobody reads another's
replies, and no member can delete, purge or rewrite the stream.
"""

from __future__ import annotations

import pytest
from integration.test_deploy import (  # the fixture, reused as is
    SecuredNetwork,
    Violations,
    connect_as,
    secured,  # noqa: F401
)

pytestmark = pytest.mark.integration

STREAM = "LALI_ALERTS"

PUBLISH = [
    pytest.param("lali.alert.maritime.FJ", id="alert-as-another-member"),
    pytest.param("lali.alert.bulletin.XH", id="bulletin-as-the-hub"),
    pytest.param("lali.receipt.WS.FJ", id="receipt-as-another-member"),
    pytest.param("lali.dead.FJ", id="dead-letter-as-another-member"),
    pytest.param(f"$JS.API.STREAM.CREATE.{STREAM}", id="create-stream"),
    pytest.param(f"$JS.API.STREAM.UPDATE.{STREAM}", id="update-stream"),
    pytest.param(f"$JS.API.STREAM.DELETE.{STREAM}", id="delete-stream"),
    pytest.param(f"$JS.API.STREAM.PURGE.{STREAM}", id="purge-stream"),
    pytest.param(f"$JS.API.STREAM.MSG.DELETE.{STREAM}", id="delete-a-message"),
    pytest.param(f"$JS.API.DIRECT.GET.{STREAM}", id="direct-get-any-message"),
    pytest.param(f"$JS.API.CONSUMER.CREATE.{STREAM}.spy", id="create-own-tap-consumer"),
    pytest.param(f"$JS.API.CONSUMER.CREATE.{STREAM}.node-FJ", id="take-over-fj-consumer"),
    pytest.param(f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.node-FJ", id="legacy-durable-create"),
    pytest.param(f"$JS.API.CONSUMER.DELETE.{STREAM}.node-FJ", id="delete-fj-consumer"),
    pytest.param(f"$JS.API.CONSUMER.INFO.{STREAM}.node-FJ", id="read-fj-consumer-state"),
    pytest.param(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.node-FJ", id="pull-fj-messages"),
    pytest.param(f"$JS.ACK.{STREAM}.node-FJ.1.1.1.0.0", id="ack-fj-messages"),
    # The hub owns the consumers: a member only reads, fetches from and acks its own
    # (docs/security.md §5; the generated config: test_consumer_ownership.py).
    pytest.param(f"$JS.API.CONSUMER.CREATE.{STREAM}.node-WS", id="widen-own-consumer"),
    pytest.param(f"$JS.API.CONSUMER.CREATE.{STREAM}.node-WS.lali.>", id="widen-own-filter-form"),
    pytest.param(f"$JS.API.CONSUMER.DELETE.{STREAM}.node-WS", id="delete-own-consumer"),
    pytest.param(f"$JS.API.STREAM.INFO.{STREAM}", id="alert-stream-info"),
    pytest.param("$JS.API.INFO", id="account-info"),
    pytest.param("$JS.API.CONSUMER.CREATE.KV_lali_directory", id="directory-push-consumer"),
    pytest.param("$JS.API.CONSUMER.CREATE.KV_lali_directory.x", id="directory-named-consumer"),
    pytest.param("$JS.API.CONSUMER.DELETE.KV_lali_directory.x", id="delete-directory-consumer"),
]

SUBSCRIBE = [
    pytest.param("_INBOX_FJ.>", id="read-fj-replies"),
    pytest.param("lali.alert.>", id="tap-all-alerts"),
    pytest.param(">", id="tap-everything"),
]


@pytest.mark.parametrize("subject", PUBLISH)
async def test_member_cannot_publish(secured: SecuredNetwork, subject: str) -> None:  # noqa: F811
    violations = Violations()
    ws = await connect_as(secured.server, "WS", secured.seeds["WS"], violations)
    try:
        # Allowed, as a control: the connection works and WS may publish as itself.
        await ws.publish("lali.alert.maritime.WS", b"x")
        await ws.publish(subject, b"{}", reply=ws.new_inbox())
        await violations.wait_for(subject)
        assert not any("lali.alert.maritime.WS" in s for s in violations.seen)
    finally:
        await ws.close()


@pytest.mark.parametrize("subject", SUBSCRIBE)
async def test_member_cannot_subscribe(secured: SecuredNetwork, subject: str) -> None:  # noqa: F811
    violations = Violations()
    ws = await connect_as(secured.server, "WS", secured.seeds["WS"], violations)
    try:
        await ws.subscribe("_INBOX_WS.>")  # its own replies: allowed
        await ws.subscribe(subject)
        await violations.wait_for(subject, kind="subscription")
        assert not any("_INBOX_WS" in s for s in violations.seen)
    finally:
        await ws.close()
