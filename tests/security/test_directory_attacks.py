"""Attacks on the trust root while a node runs (THREATS.md rows 15 and 16).

A directory reaches a running node two ways: the file, re-read when it changes
(``node/exchange/trust.py`` ``Trust.refresh``), and the live feed (``Trust.accept_remote``, fed
from the hub's KV bucket). One that fails verification (rolled back, tampered with,
signed by a key nobody trusts, unsigned, expired, not even JSON) must be refused: the
node keeps the newest directory it trusts, says so (log; the feed also audits), and
goes on accepting alerts; no alert is harmed by the bad directory. A directory that
expires while in use, once past its grace period, stops intake (RETRY, nothing
audited, nothing lost) until a fresh one arrives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from security.craft import Cast, flip, signed_directory_file
from security.stage import VALID_FOR, VERSION, Target
from structlog.testing import capture_logs

from keys import MAX_DIRECTORY_SIZE, RootKey
from node.config import NodeSettings
from node.exchange.inbound.decisions import Outcome
from node.protocol.chain import Entry
from node.protocol.subjects import alert_subject
from node.runtime import Node, State
from node.storage.audit import list_entries
from schemas.alert import Topic
from schemas.errors import DirectoryRollback

pytestmark = pytest.mark.integration

Build = Callable[[Target], bytes]


def newer(t: Target, **changes: Any) -> bytes:
    """Version 3 of the target's directory, signed by the genuine root unless changed."""
    now = datetime.now(UTC)
    args: dict[str, Any] = {
        "version": VERSION + 1,
        "issued_at": now - timedelta(minutes=1),
        "expires_at": now + timedelta(days=30),
    }
    args |= changes
    root = args.pop("root", t.root)
    return signed_directory_file(t.members, root, **args)


def rollback(t: Target) -> bytes:
    # The genuine, correctly signed version 1 that provisioning wrote.
    return t.original_directory


def tampered(t: Target) -> bytes:
    # Version 3's payload with one bit changed, version 3's genuine signature kept.
    wrapper = json.loads(newer(t))
    payload = base64.b64decode(wrapper["payload"])
    wrapper["payload"] = base64.b64encode(flip(payload, payload.index(b'"name"') + 2)).decode()
    return json.dumps(wrapper).encode()


def unknown_root(t: Target) -> bytes:
    return newer(t, root=RootKey.generate())


def unsigned(t: Target) -> bytes:
    wrapper = json.loads(newer(t))
    wrapper["signatures"] = []
    return json.dumps(wrapper).encode()


def expired(t: Target) -> bytes:
    # Expired, and past the grace period an expired directory is still used within.
    end = datetime.now(UTC) - t.node.trust.grace - timedelta(days=1)
    return newer(t, issued_at=end - timedelta(days=30), expires_at=end)


def garbage(_t: Target) -> bytes:
    return b"\x00not a directory\xff"


def truncated(t: Target) -> bytes:
    # A sync job that wrote half the file (no atomic rename).
    data = newer(t)
    return data[: len(data) // 2]


def oversized(t: Target) -> bytes:
    return b" " * (MAX_DIRECTORY_SIZE + 1)


REFUSED = [
    pytest.param(rollback, "directory_rollback", id="rollback-to-version-1"),
    pytest.param(tampered, "directory_bad_signature", id="tampered-payload"),
    pytest.param(unknown_root, "directory_bad_signature", id="signed-by-unknown-root"),
    pytest.param(unsigned, "directory_unsigned", id="unsigned"),
    pytest.param(expired, "directory_expired", id="newer-but-expired"),
    pytest.param(garbage, "malformed", id="not-json"),
    pytest.param(truncated, "malformed", id="half-written"),
    pytest.param(oversized, "oversized", id="oversized"),
]


FROM_THE_FEED = REFUSED


def valid_from_vu(t: Target) -> tuple[str, bytes]:
    """A genuine alert from VU, a member that only version 2 knows."""
    cast = Cast(t.cast.ids, t.cast.directory, datetime.now(UTC))
    header, data = cast.seal("VU", ["FJ"])
    return header.message_id, data


@pytest.mark.parametrize(("build", "reason"), REFUSED)
async def test_bad_directory_file_is_refused_and_intake_goes_on(
    target: Target, build: Build, reason: str
) -> None:
    before = target.snapshot()
    directory_entries = len(_entries(target, "directory"))
    target.install_directory(build(target))
    mid, data = valid_from_vu(target)
    with capture_logs() as logs:
        decision = await target.deliver(alert_subject(Topic.MARITIME, "VU"), data)
    # The alert arriving next is not harmed by the bad file ...
    assert (decision.outcome, decision.message_id) == (Outcome.ACCEPTED, mid)
    # ... the node kept the directory it trusts (only version 2 knows VU) ...
    assert target.node.trust.directory.version == VERSION
    # ... said why it refused the file, and audited no change of directory.
    refused = [e for e in logs if e["event"] == "directory_refused"]
    assert [e["reason"] for e in refused] == [reason]
    assert len(_entries(target, "directory")) == directory_entries
    after = target.snapshot()
    assert after.rejected == before.rejected
    assert after.inbox == tuple(sorted((*before.inbox, mid)))


@pytest.mark.parametrize(("build", "reason"), FROM_THE_FEED)
async def test_bad_directory_from_the_live_feed_is_refused_and_audited(
    target: Target, build: Build, reason: str
) -> None:
    # The same files arriving through the live feed (the hub's KV bucket, or whoever
    # can write to it): refused, audited with the reason, the trusted one kept.
    trust = target.node.trust
    assert not await trust.accept_remote(build(target), datetime.now(UTC))
    assert trust.directory.version == VERSION
    assert _entries(target, "directory")[-1].reason == reason
    mid, data = valid_from_vu(target)
    decision = await target.deliver(alert_subject(Topic.MARITIME, "VU"), data)
    assert (decision.outcome, decision.message_id) == (Outcome.ACCEPTED, mid)


async def test_deleted_directory_file_keeps_the_trusted_one(target: Target) -> None:
    target.network.directory.unlink()
    mid, data = valid_from_vu(target)
    decision = await target.deliver(alert_subject(Topic.MARITIME, "VU"), data)
    assert (decision.outcome, decision.message_id) == (Outcome.ACCEPTED, mid)
    assert target.node.trust.directory.version == VERSION


async def test_rollback_is_refused_across_a_restart(target: Target) -> None:
    # The version is remembered in the node database: a restarted node refuses an
    # older file at start rather than trusting it.
    await target.node.aclose()
    target.install_directory(rollback(target))
    node = Node(NodeSettings.load(target.network.configs["FJ"]), consume=False)
    with pytest.raises(DirectoryRollback):
        await node.start()
    assert node.state is State.NEW


@pytest.mark.parametrize("final", [False, True], ids=["redelivery-left", "last-delivery"])
async def test_expired_directory_holds_intake_and_loses_nothing(
    target: Target, final: bool
) -> None:
    node = target.node
    mid, data = valid_from_vu(target)
    subject = alert_subject(Topic.MARITIME, "VU")
    real_clock = node.inbound.clock
    past = VALID_FOR + node.trust.grace + timedelta(days=1)  # expired, and past the grace
    node.inbound.clock = lambda: real_clock() + past
    before = target.snapshot()
    decision = await target.deliver(subject, data, final=final)
    # Not the sender's fault: held for retry, whatever the delivery count says.
    assert (decision.outcome, decision.reason) == (Outcome.RETRY, "directory_expired")
    assert target.snapshot() == before  # nothing audited, nothing stored
    node.inbound.clock = real_clock  # a fresh directory (here: the clock set right)
    decision = await target.deliver(subject, data, final=final)
    assert (decision.outcome, decision.message_id) == (Outcome.ACCEPTED, mid)


def _entries(target: Target, kind: str) -> list[Entry]:
    return [e.entry for e in list_entries(target.db, kind=kind, limit=1000)]
