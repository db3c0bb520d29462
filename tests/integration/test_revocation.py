"""Live directory distribution: a revoked key is refused by every running node within
seconds of the hub publishing the new directory (THREATS.md row 13)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from natskit import tls_connect
from nodekit import Running
from testkit import sample_alert

from keys import Directory, Member, load_root_key, sign_directory, verify_directory
from node.exchange.directory_feed import publish_directory
from node.exchange.inbound.decisions import Outcome
from node.exchange.trust import parse_root_keys
from node.protocol.envelope import seal
from node.protocol.subjects import alert_subject
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration

REVOCATION_BUDGET_S = 5.0


def next_directory(running: Running, version: int, *, revoke_kid: str | None = None) -> bytes:
    now = datetime.now(UTC)
    current = verify_directory(
        running.network.directory.read_bytes(),
        parse_root_keys([running.network.root_public_b64]),
        now,
    )
    members = [
        Member(
            code=m.code,
            name=m.name,
            role=m.role,
            topics=m.topics,
            keys=[
                k.model_copy(update={"revoked_at": now}) if k.kid == revoke_kid else k
                for k in m.keys
            ],
        )
        for m in current.members
    ]
    directory = Directory(
        version=version, issued_at=now, expires_at=now + timedelta(days=30), members=members
    )
    return sign_directory(directory, [load_root_key(running.network.root_key)])


async def test_revoked_key_is_refused_everywhere_within_seconds(running: Running) -> None:
    ws = running.nodes["WS"]
    others = [running.nodes[c] for c in ("XH", "FJ", "TO")]
    switched = {c: asyncio.Event() for c in ("XH", "FJ", "TO")}
    for node in others:
        node.trust.listeners.append(
            lambda d, ev=switched[node.code]: ev.set() if d.version == 2 else None
        )
    v1 = running.network.directory.read_bytes()
    data = next_directory(running, 2, revoke_kid=ws.identity.sign_kid)
    started = time.monotonic()
    await publish_directory(ws.transport, data)  # the hub's job; any connection will do
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in switched.values())), 30)
    elapsed = time.monotonic() - started
    assert elapsed < REVOCATION_BUDGET_S, f"revocation took {elapsed:.2f}s"
    for node in others:
        assert node.trust.directory.version == 2
        # Kept for the next start (written just after the switch: a bounded wait).
        await _until(lambda node=node: node.settings.directory.read_bytes() == data)
    # Whoever holds WS's stolen key now forges an alert dated before the revocation.
    directory_v1 = verify_directory(
        v1, parse_root_keys([running.network.root_public_b64]), datetime.now(UTC)
    )
    backdated = datetime.now(UTC) - timedelta(minutes=2)  # before the revocation
    header, envelope = seal(
        sample_alert(Topic.MARITIME), ws.identity, ["FJ"], directory_v1, backdated
    )
    nc = await tls_connect(ws.settings.nats_url, ws.settings.nats_tls_ca)
    try:
        await nc.jetstream().publish(
            alert_subject(Topic.MARITIME, "WS"),
            envelope,
            headers={"Nats-Msg-Id": header.message_id},
        )
    finally:
        await nc.close()
    decision = await running.watchers["FJ"].wait(lambda d: d.outcome is Outcome.REJECTED)
    assert decision.reason == "key_revoked"
    rejected = list_entries(running.nodes["FJ"].settings.database, kind="rejected")
    assert [e.entry.reason for e in rejected] == ["key_revoked"]
    print(f"\nrevocation reached 3 nodes in {elapsed * 1000:.0f} ms")


async def test_older_or_forged_directory_on_the_feed_is_refused(running: Running) -> None:
    fj = running.nodes["FJ"]
    await publish_directory(running.nodes["XH"].transport, next_directory(running, 3))
    await _until(lambda: fj.trust.directory.version == 3)
    await publish_directory(running.nodes["XH"].transport, next_directory(running, 2))
    forged = bytearray(next_directory(running, 4))
    forged[-10] ^= 1  # inside the signature's base64
    await publish_directory(running.nodes["XH"].transport, bytes(forged))
    await _until(lambda: len(_refusals(fj)) >= 2)
    assert fj.trust.directory.version == 3
    assert {r for r in _refusals(fj)} <= {
        "directory_rollback",
        "directory_bad_signature",
        "malformed",
    }


def _refusals(node) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        e.entry.reason or ""
        for e in list_entries(node.settings.database, kind="directory")
        if e.entry.reason != "accepted"
    ]


async def _until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Bounded poll of state changed by the node's own feed task."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_node_follows_a_root_rotation_and_remembers_it(running: Running) -> None:
    import base64

    from keys import RootEntry, RootKey
    from node.config import NodeSettings
    from node.runtime import Node

    old_root = load_root_key(running.network.root_key)
    new_root = RootKey.generate()
    now = datetime.now(UTC)
    current = verify_directory(
        running.network.directory.read_bytes(),
        parse_root_keys([running.network.root_public_b64]),
        now,
    )
    entry = RootEntry(
        kid=new_root.kid, public=base64.b64encode(bytes(new_root.verify_key)).decode()
    )

    def version(v: int, signers: list[RootKey]) -> bytes:
        d = Directory(
            version=v,
            issued_at=now,
            expires_at=now + timedelta(days=30),
            members=current.members,
            roots=[entry],
            root_threshold=1,
        )
        return sign_directory(d, signers)

    fj = running.nodes["FJ"]
    xh = running.nodes["XH"].transport
    await publish_directory(xh, version(2, [old_root, new_root]))  # old and new sign
    await _until(lambda: fj.trust.directory.version == 2)
    await publish_directory(xh, version(3, [new_root]))  # from now on, the new root
    await _until(lambda: fj.trust.directory.version == 3)
    await publish_directory(xh, version(4, [old_root]))  # the retired root: refused
    await _until(
        lambda: (
            "directory_signature_invalid" in _refusals(fj)
            or "directory_bad_signature" in _refusals(fj)
        )
    )
    assert fj.trust.directory.version == 3
    await fj.aclose()
    # After a restart the node still trusts the rotated root, not node.toml's.
    again = Node(NodeSettings.load(running.network.configs["FJ"]))
    await again.start()
    try:
        assert again.trust.directory.version == 3
        assert set(again.trust.trusted.keys) == {new_root.kid}
    finally:
        await again.aclose()


async def test_node_asleep_through_two_root_rotations_follows_the_chain(
    running: Running,
) -> None:
    import base64

    from keys import RootEntry, RootKey
    from node.config import NodeSettings
    from node.runtime import Node

    roots = [load_root_key(running.network.root_key), RootKey.generate(), RootKey.generate()]
    now = datetime.now(UTC)
    current = verify_directory(
        running.network.directory.read_bytes(),
        parse_root_keys([running.network.root_public_b64]),
        now,
    )

    def entry(root: RootKey) -> RootEntry:
        return RootEntry(kid=root.kid, public=base64.b64encode(bytes(root.verify_key)).decode())

    def version(v: int, declares: RootKey, signers: list[RootKey]) -> bytes:
        d = Directory(
            version=v,
            issued_at=now,
            expires_at=now + timedelta(days=30),
            members=current.members,
            roots=[entry(declares)],
            root_threshold=1,
        )
        return sign_directory(d, signers)

    v1 = running.network.directory.read_bytes()
    fj = running.nodes["FJ"]
    await fj.aclose()  # FJ sleeps
    hub = running.nodes["XH"].transport
    await publish_directory(hub, version(2, roots[1], [roots[0], roots[1]]))  # 0 -> 1
    await publish_directory(hub, version(3, roots[2], [roots[1], roots[2]]))  # 1 -> 2
    awake = [running.nodes[c] for c in ("XH", "WS", "TO")]
    await _until(lambda: all(n.trust.directory.version == 3 for n in awake))
    # The nodes of this test share one directory file; FJ's own copy is still v1.
    running.network.directory.write_bytes(v1)
    woken = Node(NodeSettings.load(running.network.configs["FJ"]))
    reached = asyncio.Event()
    await woken.start()
    woken.trust.listeners.append(lambda d: reached.set() if d.version == 3 else None)
    try:
        assert woken.trust.directory.version == 1  # it slept through both
        await asyncio.wait_for(reached.wait(), 20)  # ...and follows v2, then v3
        assert set(woken.trust.trusted.keys) == {roots[2].kid}
    finally:
        await woken.aclose()
