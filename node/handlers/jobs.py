"""Handler work in the node database: queued in the same transaction as the alert.

A job row is written in the transaction that commits the alert to the inbox (or that
records a hit), so no crash can lose handler work or the refusal of it: a job is
``pending`` until its handler returns, then ``done``; ``failed`` when its attempts run
out. Refusals (the TLP policy) are audit entries, not jobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from node.handlers.base import ItemKind
from node.handlers.config import RouteConfig
from node.handlers.routing import Facts, plan
from node.storage.database import Tx, utc_now_text
from schemas.alert import Alert
from schemas.enums import Priority, Tlp


@dataclass(frozen=True)
class Router:
    """The configured routes and each instance's TLP ceiling."""

    routes: Sequence[RouteConfig]
    ceilings: Mapping[str, Tlp | None]

    async def enqueue(
        self,
        tx: Tx,
        *,
        kind: ItemKind,
        message_id: str,
        sender: str,
        alert: Alert,
        now: datetime,
        hit_id: int = 0,
    ) -> list[str]:
        """Queue the item for every instance a route sends it to; audit each refusal.
        Returns the instances that got a job (to wake them after the commit)."""
        if not self.routes:
            return []
        queued: list[str] = []
        at = utc_now_text(now)
        # A hit is news for the duty officer: it goes ahead of everything else.
        priority = Priority.FLASH.code if kind == "hit" else alert.priority.code
        for p in plan(Facts.of(kind, sender, alert), self.routes, self.ceilings):
            if not p.allowed:
                await tx.audit(
                    "handler_refused",
                    at=now,
                    message_id=message_id,
                    peer=sender,
                    topic=alert.topic.value,
                    reason="tlp_policy",
                    detail=json.dumps(
                        {
                            "instance": p.instance,
                            "route": p.route,
                            "kind": kind,
                            "hit_id": hit_id,
                            "tlp": alert.tlp.value,
                            "ceiling": p.ceiling.value if p.ceiling else None,
                        },
                        sort_keys=True,
                    ),
                )
                continue
            await tx.execute(
                "INSERT OR IGNORE INTO handler_jobs (message_id, kind, hit_id, instance, route,"
                " priority, next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, kind, hit_id, p.instance, p.route, priority, at, at, at),
            )
            queued.append(p.instance)
        return queued
