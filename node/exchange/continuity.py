"""At start: is our audit log still the one the hub last saw?

A node restored from an old backup (THREATS 20) runs on a log that is a prefix of the
one its checkpoints vouched for: alerts received after the backup are gone although
their senders hold receipts for them, and any new entry forks the history the hub
holds. The node compares its chain with the newest checkpoint of ours that the hub's
stream holds before it takes anything in, and refuses to run when it is behind or
has forked. The comparison itself is pure (``judge``); ``check_continuity`` fetches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import structlog

from keys.directory import Directory
from node.protocol.chain import ChainHead
from node.protocol.checkpoint import Checkpoint, verify_checkpoint
from node.protocol.subjects import checkpoint_subject
from node.storage.database import Database
from node.transport.ports import StreamConsumer
from schemas.errors import AuditChainBroken, UntrustedMessage

log = structlog.get_logger("lali.continuity")

RECOVERY = "docs/operations.md#a-node-restored-from-a-backup"


ACCEPTED_KEY = "continuity_accepted"  # state row: the checkpoint an operator accepted losing


class Continuity(Enum):
    UNKNOWN = "unknown"  # the hub holds no valid checkpoint of ours (new node, junk)
    ACCEPTED = "accepted"  # behind or forked, and the operator accepted it (audited)
    SAME = "same"  # our chain contains the checkpointed head at its count
    BEHIND = "behind"  # our chain is shorter than the checkpoint: an older copy
    FORKED = "forked"  # at the checkpoint's count our chain has another head


@dataclass(frozen=True)
class Verdict:
    state: Continuity
    ours: int  # entries in our log
    checkpoint: Checkpoint | None

    def message(self) -> str:
        c = self.checkpoint
        if c is None or self.state in (Continuity.UNKNOWN, Continuity.SAME):
            return f"audit log continuous ({self.ours} entries)"
        if self.state is Continuity.BEHIND:
            return (
                f"this node's audit log has {self.ours} entries but the hub holds our signed"
                f" checkpoint at entry {c.count} ({c.at:%Y-%m-%d %H:%M} UTC): the database"
                f" was restored from an older copy and lost entries; refusing to run."
                f" Recovery: {RECOVERY}"
            )
        return (
            f"at entry {c.count} this node's audit chain differs from the checkpoint the hub"
            f" holds ({c.at:%Y-%m-%d %H:%M} UTC): the log was rewritten or replaced;"
            f" refusing to run. Recovery: {RECOVERY}"
        )


def judge(
    ours: ChainHead,
    head_at_count: bytes | None,
    checkpoint: Checkpoint | None,
    accepted: str | None = None,
) -> Verdict:
    """``head_at_count``: our chain's hash at entry ``checkpoint.count`` (None if our
    chain is shorter). ``accepted``: the ``accept_token`` of a checkpoint the operator
    accepted our log departing from (``lali audit accept-restore``)."""
    if checkpoint is None:
        return Verdict(Continuity.UNKNOWN, ours.count, None)
    if accepted is not None and accepted == accept_token(checkpoint):
        return Verdict(Continuity.ACCEPTED, ours.count, checkpoint)
    if ours.count < checkpoint.count or head_at_count is None:
        return Verdict(Continuity.BEHIND, ours.count, checkpoint)
    if head_at_count != checkpoint.head:
        return Verdict(Continuity.FORKED, ours.count, checkpoint)
    return Verdict(Continuity.SAME, ours.count, checkpoint)


def accept_token(checkpoint: Checkpoint) -> str:
    """How an accepted checkpoint is remembered: its count and head."""
    return f"{checkpoint.count}:{checkpoint.head.hex()}"


async def hub_checkpoint(
    transport: StreamConsumer, stream: str, directory: Directory, code: str
) -> Checkpoint | None:
    """The newest valid checkpoint of ours that the hub's stream holds."""
    blob = await transport.last_message(stream, checkpoint_subject(code))
    if blob is None:
        return None
    try:
        found = verify_checkpoint(blob, directory)
    except UntrustedMessage as exc:
        # Not evidence about our log either way: say so, and go on.
        log.warning("hub_checkpoint_unusable", reason=exc.reason, error=exc.message)
        return None
    return found if found.member == code else None


async def accept_restore(db: Database, checkpoint: Checkpoint, ours: int) -> None:
    """Record, in the audit log itself, that the operator accepts running on a log that
    departs from ``checkpoint`` (entries ``ours + 1 .. checkpoint.count`` are lost or
    differ); the node then starts, and its next checkpoint tells the hub."""
    async with db.transaction() as tx:
        await tx.audit(
            "restore_accepted",
            reason="behind_checkpoint" if ours < checkpoint.count else "forked_checkpoint",
            detail=f'{{"checkpoint_count": {checkpoint.count}, "entries": {ours}}}',
        )
        await tx.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
            (ACCEPTED_KEY, accept_token(checkpoint)),
        )


async def check_continuity(
    transport: StreamConsumer, stream: str, db: Database, directory: Directory, code: str
) -> Verdict:
    """Fetch the newest checkpoint of ours from the stream and judge our log by it.
    Raises ``AuditChainBroken`` when we are behind or forked (the node must not run)."""
    checkpoint = await hub_checkpoint(transport, stream, directory, code)
    row = await db.fetchone("SELECT count, head FROM audit_head WHERE id = 1")
    ours = ChainHead(int(row[0]), bytes(row[1])) if row else ChainHead(0, b"\x00" * 32)
    head_at: bytes | None = None
    if checkpoint is not None and checkpoint.count <= ours.count:
        at = await db.fetchone("SELECT hash FROM audit WHERE seq = ?", (checkpoint.count,))
        head_at = bytes(at[0]) if at else None
    accepted = await db.fetchone("SELECT value FROM state WHERE key = ?", (ACCEPTED_KEY,))
    verdict = judge(ours, head_at, checkpoint, None if accepted is None else str(accepted[0]))
    if verdict.state in (Continuity.BEHIND, Continuity.FORKED):
        assert checkpoint is not None
        raise AuditChainBroken(
            verdict.message(),
            seq=min(ours.count, checkpoint.count) + 1,
            checkpoint_count=checkpoint.count,
            ours=ours.count,
        )
    log.info("audit_continuity", state=verdict.state.value, entries=ours.count)
    return verdict
