"""The handler plugin interface.

A handler *type* is a class with a class attribute ``spec`` (:class:`HandlerSpec`), a
pydantic ``Settings`` model for its configuration, a ``from_settings`` constructor and an
async ``__call__(item, ctx)``. The runner gives each configured *instance* its own queue,
worker(s), timeout and retries; the router decides what each instance may receive.

Contract for ``__call__``:

- return normally: the work is done and is recorded as done (at most once per item);
- raise :class:`HandlerError`: a transient failure, retried with backoff until the
  instance's attempts run out, then listed by ``lali handlers failed``;
- raise :class:`PermanentHandlerError`: retrying cannot help (bad settings, refused by
  the far side for good); goes straight to the failed list;
- any other exception is treated as a transient failure and logged by type only;
- it may be cancelled at its timeout: clean up (kill a child process) and re-raise.

Handlers run after the alert was committed and acknowledged; they never affect delivery.
They must not log alert content. A handler that receives items of kind ``hit`` (a
watch-list hit raised locally) sees the original alert plus ``item.hit``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict

from schemas.alert import Alert, alert_to_json
from schemas.enums import Priority, Tlp, Topic
from schemas.errors import LaliError

__all__ = [
    "Context",
    "HandlerEnv",
    "HandlerError",
    "HandlerSettings",
    "HandlerSpec",
    "HandlerType",
    "Hit",
    "Item",
    "PermanentHandlerError",
]

ItemKind = Literal["alert", "hit"]


class HandlerError(LaliError):
    """A handler failed in a way that may pass: retried with backoff."""

    reason = "handler_failed"


class PermanentHandlerError(HandlerError):
    """A handler failed in a way retrying cannot cure: goes to the failed list at once."""

    reason = "handler_failed_permanently"


@dataclass(frozen=True)
class HandlerSpec:
    """What a handler type declares about itself.

    ``external``: it passes content outside the node (to another system, a file another
    program reads, a process). The router caps external handlers at ``GREEN`` unless the
    operator sets ``allow_external_above_green = true`` on the instance.
    """

    name: str
    description: str
    external: bool


@dataclass(frozen=True)
class Hit:
    """A watch-list match raised on an alert (the payload of an item of kind ``hit``)."""

    list_entry: str  # the watch-list entry's id, as the operator wrote it
    entity: Literal["person", "document", "vessel"]
    score: float  # 0..100; 100 is an exact identifier match
    fields: tuple[str, ...]  # which fields matched, e.g. ("name", "date_of_birth")
    hit_id: int = 0  # assigned by the runner when the hit is recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "hit_id": self.hit_id,
            "list_entry": self.list_entry,
            "entity": self.entity,
            "score": round(self.score, 1),
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class Item:
    """One unit of handler work: a committed inbound alert, or a hit raised on one."""

    kind: ItemKind
    message_id: str
    sender: str
    topic: Topic
    tlp: Tlp
    priority: Priority
    received_at: datetime
    alert: Alert
    hit: Hit | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON document handed to external systems (exec stdin, webhook, spool)."""
        doc: dict[str, Any] = {
            "kind": self.kind,
            "message_id": self.message_id,
            "sender": self.sender,
            "topic": self.topic.value,
            "tlp": self.tlp.value,
            "priority": self.priority.value,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "alert": json.loads(alert_to_json(self.alert)),
        }
        if self.hit is not None:
            doc["hit"] = self.hit.as_dict()
        return doc

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()


AuditWriter = Callable[[str, Mapping[str, Any]], Awaitable[None]]
HitRaiser = Callable[[Hit], Awaitable[Hit]]


@dataclass(frozen=True)
class Context:
    """What the runner gives a handler for one call.

    ``audit(action, detail)`` appends an audit entry of kind ``handler_action`` for this
    item and instance (detail must not contain alert content: identifiers of what was
    done only). ``raise_hit(hit)`` records a watch-list hit (once per alert, entry and
    entity, so raising it again on a retry is harmless), routes it to the handlers whose
    routes match items of kind ``hit``, and returns it with its ``hit_id``.
    """

    code: str  # this node's member code
    instance: str  # the configured handler instance name
    route: str
    attempt: int  # 1 for the first try
    now: datetime
    audit: AuditWriter
    raise_hit: HitRaiser


@dataclass(frozen=True)
class HandlerEnv:
    """What a handler may use when it is built: the node's code, the directory that
    relative paths in settings are resolved against, and its own state directory."""

    code: str
    config_dir: Path
    state_dir: Path
    extra: Mapping[str, Any] = field(default_factory=dict)

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else self.config_dir / value


class HandlerSettings(BaseModel):
    """Base for each handler type's settings: strict, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HandlerType(Protocol):
    """The class-level interface a handler type provides (built-in or entry point)."""

    spec: ClassVar[HandlerSpec]
    Settings: ClassVar[type[HandlerSettings]]

    @classmethod
    def from_settings(cls, settings: Any, env: HandlerEnv) -> Self: ...

    async def __call__(self, item: Item, ctx: Context) -> None: ...

    async def aclose(self) -> None: ...
