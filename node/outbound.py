"""The outbound path: validate, seal, commit to audit and outbox, then publish.

An alert is *accepted* once its ``sent`` audit entry and its outbox row commit together;
from then on it is never lost: if the link is down it stays queued and the publisher
retries it with the same ``Nats-Msg-Id`` (the broker drops duplicates).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from keys import Identity
from node.db import Database, utc_now_text
from node.envelope import seal
from node.subjects import alert_subject
from node.transport import Transport
from node.trust import Trust
from node.wire import Header
from schemas.alert import Alert, Priority, Tlp, parse_alert
from schemas.errors import PolicyViolation, TransportError, UnknownKey

log = structlog.get_logger("lali.outbound")

ALL = "all"
_PRIORITY_ORDER = {p: i for i, p in enumerate(Priority)}  # flash first


@dataclass(frozen=True)
class SendResult:
    message_id: str
    recipients: tuple[str, ...]
    state: str  # "published" or "queued"
    stream_seq: int | None = None


def crash_point(name: str) -> None:
    """Fault-injection seam for the fault suite: ``LALI_CRASH_AT=<name>`` makes the
    process kill itself with SIGKILL here, as a power cut would."""
    if os.environ.get("LALI_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def resolve_recipients(
    to: Sequence[str], alert: Alert, sender: str, members: Sequence[str]
) -> list[str]:
    """Turn ``--to`` into member codes; ``all`` is refused for TLP:RED and AMBER+STRICT."""
    if not to:
        raise PolicyViolation("no recipients given")
    if ALL in to:
        if len(to) != 1:
            raise PolicyViolation("'all' cannot be combined with named recipients")
        if alert.tlp in (Tlp.RED, Tlp.AMBER_STRICT):
            raise PolicyViolation(f"TLP:{alert.tlp.value} needs named recipients, not 'all'")
        return [code for code in members if code != sender]
    unknown = [code for code in to if code not in members]
    if unknown:
        raise PolicyViolation(f"not in the directory: {', '.join(unknown)}")
    return list(dict.fromkeys(to))


NO_RESHARE = (Tlp.RED, Tlp.AMBER_STRICT)


def check_may_forward(tlp: Tlp) -> None:
    """TLP 2.0: RED is for the named recipients only, AMBER+STRICT for their own
    organisation only; neither may be passed to another member."""
    if tlp in NO_RESHARE:
        raise PolicyViolation(f"TLP:{tlp.value} may not be re-shared beyond its recipients")


class Outbound:
    def __init__(
        self,
        identity: Identity,
        trust: Trust,
        db: Database,
        transport: Transport | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.identity = identity
        self.trust = trust
        self.db = db
        self.transport = transport
        self.clock = clock
        self._flush_lock = asyncio.Lock()

    async def submit(self, alert: Alert, to: Sequence[str]) -> SendResult:
        """Accept an alert for sending; publish at once when the link is up."""
        now = self.clock()
        directory = await self.trust.current(now)
        recipients = resolve_recipients(to, alert, self.identity.code, directory.codes())
        try:
            header, envelope = seal(alert, self.identity, recipients, directory, now)
        except UnknownKey as exc:
            raise PolicyViolation(f"cannot seal: {exc}") from exc
        await self._commit(header, envelope, recipients, now)
        crash_point("after_commit")
        log.info(
            "alert_accepted",
            message_id=header.message_id,
            topic=header.topic.value,
            recipients=",".join(recipients),
            size=len(envelope),
        )
        seq = await self._publish_one(header.message_id)
        state = "queued" if seq is None else "published"
        return SendResult(header.message_id, tuple(recipients), state, seq)

    async def forward(self, message_id: str, to: Sequence[str]) -> SendResult:
        """Re-share a received alert as our own, referencing the original; refused (and
        audited) when its handling code forbids it."""
        row = await self.db.fetchone("SELECT alert FROM inbox WHERE message_id = ?", (message_id,))
        if row is None:
            raise PolicyViolation(f"no alert {message_id} in the inbox")
        original = parse_alert(str(row[0]))
        try:
            check_may_forward(original.tlp)
        except PolicyViolation as exc:
            async with self.db.transaction() as tx:
                await tx.audit(
                    "refused",
                    message_id=message_id,
                    peer=",".join(to),
                    topic=original.topic.value,
                    reason="tlp_forward",
                    detail=json.dumps({"tlp": original.tlp.value}),
                )
            log.warning("forward_refused", message_id=message_id, tlp=original.tlp.value)
            raise exc
        references = [*original.references, message_id][-50:]
        alert = parse_alert(
            original.model_copy(update={"references": references}).model_dump_json()
        )
        return await self.submit(alert, to)

    async def _commit(
        self, header: Header, envelope: bytes, recipients: list[str], now: datetime
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.audit(
                "sent",
                at=now,
                message_id=header.message_id,
                peer=",".join(recipients),
                topic=header.topic.value,
                detail=json.dumps(
                    {"tlp": header.tlp.value, "priority": header.priority.value},
                    sort_keys=True,
                ),
                envelope=envelope,
            )
            await tx.execute(
                "INSERT INTO outbox (message_id, subject, envelope, priority, recipients,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    header.message_id,
                    alert_subject(header.topic, header.sender),
                    envelope,
                    _PRIORITY_ORDER[header.priority],
                    ",".join(recipients),
                    utc_now_text(now),
                    None if header.expires_at is None else utc_now_text(header.expires_at),
                ),
            )

    async def _publish_one(self, message_id: str) -> int | None:
        row = await self.db.fetchone(
            "SELECT subject, envelope FROM outbox WHERE message_id = ? AND state = 'queued'",
            (message_id,),
        )
        if row is None or self.transport is None or not self.transport.connected.is_set():
            return None
        try:
            seq = await self.transport.publish(row[0], bytes(row[1]), message_id)
        except TransportError as exc:
            log.warning("publish_failed", message_id=message_id, error=str(exc))
            async with self.db.transaction() as tx:
                await tx.execute(
                    "UPDATE outbox SET attempts = attempts + 1 WHERE message_id = ?",
                    (message_id,),
                )
            return None
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET state = 'published', published_at = ?, stream_seq = ?,"
                " attempts = attempts + 1 WHERE message_id = ?",
                (utc_now_text(self.clock()), seq, message_id),
            )
        log.info("alert_published", message_id=message_id, stream_seq=seq)
        return seq

    async def _expire(self, now: datetime) -> None:
        """Alerts whose expiry passed while queued are not sent; each is audited."""
        rows = await self.db.fetchall(
            "SELECT message_id FROM outbox WHERE state = 'queued' AND expires_at IS NOT NULL"
            " AND expires_at <= ?",
            (utc_now_text(now),),
        )
        for row in rows:
            async with self.db.transaction() as tx:
                changed = await tx.execute(
                    "UPDATE outbox SET state = 'expired' WHERE message_id = ? AND state = 'queued'",
                    (row[0],),
                )
                if changed:
                    await tx.audit("expired", at=now, message_id=str(row[0]), reason="expired")
            log.warning("alert_expired_unsent", message_id=str(row[0]))

    async def flush(self) -> int:
        """Publish every queued alert, most urgent first; return how many went out."""
        async with self._flush_lock:  # one drain at a time keeps the priority order
            return await self._flush()

    async def _flush(self) -> int:
        await self._expire(self.clock())
        rows = await self.db.fetchall(
            "SELECT message_id FROM outbox WHERE state = 'queued'"
            " ORDER BY priority, created_at, message_id"
        )
        sent = 0
        for row in rows:
            if await self._publish_one(str(row[0])) is None:
                break  # link down or refused: keep the order, try again later
            sent += 1
        return sent
