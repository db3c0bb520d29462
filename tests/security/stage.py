"""The stage an attack is played on.

A provisioned network whose directory (version 2) holds, besides XH (hub), WS, FJ and
TO, three members that exist to be attacked with:

- ``KI``: its keys expired an hour ago (a retired member, or a key taken out of use);
- ``NR``: its keys become valid tomorrow (a member announced ahead of time);
- ``VU``: may send ``maritime`` alerts only;
- ``PW``: its signing key was revoked an hour ago (stolen), though still in its window.

The target is FJ: a started node whose real inbound pipeline (``Node.inbound``) is fed
the hostile bytes. For the table it is started send-only (``consume=False``), so that
nothing but the test delivers to it; ``test_attacks_broker.py`` starts it consuming
from the real broker instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nodekit import Watcher
from security.craft import Cast, signed_directory_file

from keys import (
    DirectoryKey,
    Identity,
    KeyUse,
    Member,
    Role,
    RootKey,
    load_identity,
    load_root_key,
    verify_directory,
)
from node.config import NodeSettings
from node.exchange.inbound.decisions import Decision, Outcome
from node.exchange.trust import parse_root_keys
from node.ops.provision import Network
from node.protocol.chain import Entry
from node.protocol.subjects import alert_subject
from node.runtime import Node
from node.storage.audit import list_entries, verify_file
from schemas.alert import Topic

CORE = ("XH", "WS", "FJ", "TO")
# Core keys are valid from 30 days back, so that old messages are judged by age, not key.
KEYS_FROM = timedelta(days=30)
VALID_FOR = timedelta(days=30)
VERSION = 2
EXTRA = ("KI", "NR", "VU", "PW")
REVOKED_AGO = timedelta(hours=1)


def hostile_members(ids: dict[str, Identity], now: datetime) -> list[Member]:
    """The entries of the directory described above: the core members, KI, NR and VU."""
    window = {
        "KI": (now - KEYS_FROM, now - timedelta(hours=1)),
        "NR": (now + timedelta(days=1), now + VALID_FOR),
    }
    members = []
    for code, identity in ids.items():
        not_before, not_after = window.get(code, (now - KEYS_FROM, now + VALID_FOR))
        keys = identity.directory_keys(not_before, not_after)
        if code == "PW":
            keys = [
                DirectoryKey(**{**k.model_dump(), "revoked_at": now - REVOKED_AGO})
                if k.use is KeyUse.SIGN
                else k
                for k in keys
            ]
        members.append(
            Member(
                code=code,
                name=f"member {code}",
                role=Role.HUB if code == "XH" else Role.MEMBER,
                keys=keys,
                topics=["maritime"] if code == "VU" else [t.value for t in Topic],
            )
        )
    return members


@dataclass(frozen=True)
class Snapshot:
    """What an attack must not change: FJ's stored alerts, receipts and audit counts."""

    inbox: tuple[str, ...]
    outbox: int
    received: int
    rejected: int


@dataclass
class Target:
    node: Node
    cast: Cast
    network: Network
    root: RootKey
    members: list[Member]
    original_directory: bytes  # the version-1 file that provisioning wrote
    consume: bool = False
    watcher: Watcher = field(default_factory=Watcher)

    @property
    def db(self) -> Path:
        return self.node.settings.database

    async def deliver(
        self,
        subject: str,
        data: bytes,
        *,
        final: bool = True,
        received_at: datetime | None = None,
    ) -> Decision:
        """One delivery through FJ's real inbound pipeline; ``received_at`` is when the
        broker stored the message (what revocation is judged by)."""
        return await self.node.inbound.process(subject, data, final=final, received_at=received_at)

    def snapshot(self) -> Snapshot:
        with closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            inbox = tuple(r[0] for r in conn.execute("SELECT message_id FROM inbox ORDER BY 1"))
            (outbox,) = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
            counts = dict(conn.execute("SELECT kind, COUNT(*) FROM audit GROUP BY kind"))
        return Snapshot(inbox, outbox, counts.get("received", 0), counts.get("rejected", 0))

    def last_rejected(self) -> Entry:
        entries = list_entries(self.db, kind="rejected", limit=1)
        assert entries, "no rejected entry in the audit log"
        return entries[-1].entry

    def verify_audit(self) -> int:
        return verify_file(self.db).count

    async def accepts_a_valid_alert(self, sender: str = "WS") -> str:
        """The node still works: a genuine alert is accepted and stored."""
        now = datetime.now(UTC)
        cast = Cast(self.cast.ids, self.cast.directory, now)
        header, data = cast.seal(sender, ["FJ"], Topic.MARITIME)
        decision = await self.deliver(alert_subject(Topic.MARITIME, sender), data)
        assert decision.outcome is Outcome.ACCEPTED, decision
        assert header.message_id in self.snapshot().inbox
        return header.message_id

    async def restart(self) -> None:
        """Close FJ and start it again on the same files (a new watcher)."""
        await self.node.aclose()
        self.watcher = Watcher()
        self.node = await _start(self.network, self.watcher, consume=self.consume)

    def install_directory(self, data: bytes) -> None:
        """Drop a directory file in place, as an operator or a sync job would."""
        tmp = self.network.directory.with_suffix(".incoming")
        tmp.write_bytes(data)
        tmp.replace(self.network.directory)


async def _start(network: Network, watcher: Watcher, *, consume: bool) -> Node:
    # The attack table checks decisions in stream order, so no flash-first reordering.
    settings = NodeSettings.load(network.configs["FJ"]).model_copy(
        update={"priority_catch_up": False}
    )
    node = Node(settings, consume=consume)
    await node.start()
    # Listen before the consumer task first runs: a backlog is processed at once.
    node.inbound.listeners.append(watcher)
    try:
        await asyncio.wait_for(node.ready.wait(), 20)
    except BaseException:
        await node.aclose()
        raise
    return node


@asynccontextmanager
async def staged(network: Network, *, consume: bool = False) -> AsyncIterator[Target]:
    """Install the hostile directory, start FJ, yield the target; close FJ after."""
    now = datetime.now(UTC)
    original = network.directory.read_bytes()
    root = load_root_key(network.root_key)
    ids = {code: load_identity(network.configs[code].parent / "identity.key") for code in CORE}
    ids |= {code: Identity.generate(code) for code in EXTRA}
    members = hostile_members(ids, now)
    signed = signed_directory_file(
        members,
        root,
        version=VERSION,
        issued_at=now - timedelta(minutes=1),
        expires_at=now + VALID_FOR,
    )
    directory = verify_directory(signed, parse_root_keys([network.root_public_b64]), now)
    network.directory.write_bytes(signed)
    cast = Cast(ids, directory, now, signed)
    watcher = Watcher()
    node = await _start(network, watcher, consume=consume)
    target = Target(node, cast, network, root, members, original, consume, watcher)
    try:
        assert target.node.trust.directory.version == VERSION
        yield target
    finally:
        await target.node.aclose()
