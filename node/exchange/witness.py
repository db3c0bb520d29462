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

import structlog

from keys import Identity
from node.exchange.inbound.decisions import Recorded
from node.exchange.trust import Trust
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import Checkpoint, make_checkpoint, verify_checkpoint
from node.protocol.subjects import checkpoint_subject
from node.storage.database import Database, utc_now_text
from node.storage.readonly import read_only
from node.transport.ports import StreamConsumer
from schemas.errors import StorageError, UntrustedMessage

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
        """Hub side: keep another member's checkpoint."""
        try:
            checkpoint = verify_checkpoint(data, await self.trust.current(self.clock()))
        except UntrustedMessage as exc:
            log.warning("checkpoint_rejected", reason=exc.reason, error=exc.message)
            return Recorded.REJECTED
        try:
            async with self.db.transaction() as tx:
                changed = await tx.execute(
                    "INSERT OR IGNORE INTO checkpoints (member, count, head, at, checkpoint)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        checkpoint.member,
                        checkpoint.count,
                        checkpoint.head,
                        utc_now_text(checkpoint.at),
                        data,
                    ),
                )
                same = await tx.fetchone(
                    "SELECT head FROM checkpoints WHERE member = ? AND count = ?",
                    (checkpoint.member, checkpoint.count),
                )
        except StorageError:
            return Recorded.RETRY
        if same is not None and bytes(same[0]) != checkpoint.head:
            # Two signed heads for one count: the member's log forked or was rewritten
            # (THREATS 17/19). Keep the first; record the evidence in our audit log.
            log.error("checkpoint_conflict", member=checkpoint.member, count=checkpoint.count)
            try:
                async with self.db.transaction() as tx:
                    await tx.audit(
                        "rejected",
                        peer=checkpoint.member,
                        reason="checkpoint_conflict",
                        envelope=data,
                    )
            except StorageError:
                return Recorded.RETRY
            return Recorded.CONFLICT
        return Recorded.RECORDED if changed else Recorded.DUPLICATE


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
