"""Witnessed audit: sign checkpoints of our audit head, keep those of others.

Every node signs its head (``checkpoint_now``) periodically and when it stops, keeps a
copy and publishes it on ``lali.checkpoint.<CODE>`` through the outbox. The stream
(at the hub) and the hub's own node hold them; ``lali audit verify`` fetches the latest
one back, so a log cut short, restored from an old backup or rewritten in full no
longer matches a head that someone else holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from keys import Identity
from node.exchange.inbound.decisions import REJECT_KEEP, Recorded
from node.exchange.trust import Trust
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import Checkpoint, make_checkpoint, verify_checkpoint
from node.protocol.subjects import checkpoint_subject
from node.storage.database import Database, utc_now_text
from node.storage.readonly import read_only
from node.transport.ports import StreamConsumer
from schemas.errors import DirectoryError, StorageError, UntrustedMessage

log = structlog.get_logger("lali.witness")


class Witness:
    def __init__(
        self, me: Identity, trust: Trust, db: Database, clock: Callable[[], datetime]
    ) -> None:
        self.me = me
        self.trust = trust
        self.db = db
        self.clock = clock

    async def checkpoint_now(self) -> Checkpoint | None:
        """Sign the current head if it moved since our last checkpoint; queue it. The
        outbox keeps the signed bytes, so a retry publishes them under the same
        ``Nats-Msg-Id``; a checkpoint of another head for the same count (a log restored
        from a backup) has other bytes, so another id, and reaches the hub."""
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT count, head FROM audit_head WHERE id = 1")
            last = await tx.fetchone(
                "SELECT MAX(count) FROM checkpoints WHERE member = ?", (self.me.code,)
            )
            if row is None or int(row[0]) == 0 or (last and last[0] == int(row[0])):
                return None
            head = ChainHead(int(row[0]), bytes(row[1]))
            blob = make_checkpoint(self.me, head, now)
            checkpoint = Checkpoint(self.me.code, head.count, head.head, now)
            await tx.execute(
                "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.me.code, head.count, head.head, utc_now_text(now), blob),
            )
            await tx.execute(
                "INSERT OR IGNORE INTO outbox (message_id, kind, subject, envelope, priority,"
                " recipients, created_at) VALUES (?, 'checkpoint', ?, ?, 2, 'hub', ?)",
                (
                    checkpoint.checkpoint_id,
                    checkpoint_subject(self.me.code),
                    blob,
                    utc_now_text(now),
                ),
            )
        log.info("checkpoint_signed", count=head.count, head=head.head.hex()[:16])
        return checkpoint

    async def receive(self, data: bytes) -> Recorded:
        """Hub side: keep another member's checkpoint, or audit why not.

        1. Verify it (a forged or malformed blob: audited ``rejected`` with its reason).
        2. Against the newest checkpoint held for the member: the same head at the same
           count is a duplicate; another head at a count we hold is a **conflict** (the
           log forked or was rewritten, THREATS 17/19); a lower count than the newest,
           or an earlier time, is **stale** (a restored backup, a replay, THREATS 20).
           Conflicts and stale checkpoints are kept as evidence in the audit log and
           alarmed; only a newer one is recorded as the member's head.
        """
        try:
            directory = await self.trust.current(self.clock())
        except DirectoryError:
            return Recorded.RETRY  # our side: a stale directory cures with a new one
        try:
            checkpoint = verify_checkpoint(data, directory)
        except UntrustedMessage as exc:
            log.warning("checkpoint_rejected", reason=exc.reason, error=exc.message)
            return await self._evidence(Recorded.REJECTED, None, exc.reason, data)
        c = checkpoint
        try:
            async with self.db.transaction() as tx:
                at_count = await tx.fetchone(
                    "SELECT head FROM checkpoints WHERE member = ? AND count = ?",
                    (c.member, c.count),
                )
                newest = await tx.fetchone(
                    "SELECT count, at FROM checkpoints WHERE member = ?"
                    " ORDER BY count DESC LIMIT 1",
                    (c.member,),
                )
                if at_count is None and not _stale(c, newest):
                    await tx.execute(
                        "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (c.member, c.count, c.head, utc_now_text(c.at), data),
                    )
                    return Recorded.RECORDED
        except StorageError:
            return Recorded.RETRY
        if at_count is not None:
            if bytes(at_count[0]) == c.head:
                return Recorded.DUPLICATE
            # Two signed heads for one count: keep the first, record the second.
            log.error("checkpoint_conflict", member=c.member, count=c.count)
            return await self._evidence(Recorded.CONFLICT, c.member, "checkpoint_conflict", data)
        log.error(
            "checkpoint_stale",
            member=c.member,
            count=c.count,
            held_count=int(newest[0]) if newest else None,
        )
        return await self._evidence(Recorded.STALE, c.member, "checkpoint_stale", data)

    async def _evidence(
        self, outcome: Recorded, member: str | None, reason: str, data: bytes
    ) -> Recorded:
        """Audit a checkpoint we do not record (``rejected``, with its bytes)."""
        try:
            async with self.db.transaction() as tx:
                await tx.audit("rejected", peer=member, reason=reason, envelope=data[:REJECT_KEEP])
        except StorageError:
            return Recorded.RETRY
        return outcome


def _stale(checkpoint: Checkpoint, newest: Any) -> bool:
    """Older than the newest checkpoint held for the member: a lower count, or a time
    before the newest one's (``newest``: its (count, at) row, or None)."""
    if newest is None:
        return False
    held_count, held_at = int(newest[0]), str(newest[1])
    return checkpoint.count < held_count or utc_now_text(checkpoint.at) < held_at


async def published_checkpoint(transport: StreamConsumer, stream: str, member: str) -> bytes | None:
    """The newest checkpoint of ``member`` that the hub's stream holds."""
    return await transport.last_message(stream, checkpoint_subject(member))


def local_checkpoints(path: Path, member: str) -> list[bytes]:
    """Our own checkpoints as recorded in our database (weaker: same file)."""
    with read_only(path) as snap:
        # A database from before witnessed audit has no table yet: nothing to hold it to.
        if not snap.has_table("checkpoints"):
            return []
        rows = snap.all("SELECT checkpoint FROM checkpoints WHERE member = ?", (member,))
    return [bytes(r[0]) for r in rows]
