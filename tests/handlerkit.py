"""Handler types for tests, loaded by nodes as ``type = "handlerkit:Name"``.

Real node processes import them too: tests that start ``lali node run`` put ``tests/``
on the child's PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self

from testkit import example_alerts

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Hit,
    Item,
)
from node.protocol.wire import new_message_id
from schemas.alert import parse_alert


class FileSettings(HandlerSettings):
    path: Path


class Recorder:
    """Appends ``kind message_id tlp attempt`` to a file, one line per call (fsync'd)."""

    spec: ClassVar[HandlerSpec] = HandlerSpec("recorder", "test: record items", external=False)
    Settings: ClassVar[type[HandlerSettings]] = FileSettings

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: FileSettings, env: HandlerEnv) -> Self:
        return cls(env.path(settings.path))

    async def __call__(self, item: Item, ctx: Context) -> None:
        line = f"{item.kind} {item.message_id} {item.tlp.value} {ctx.attempt}\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        await ctx.audit("recorded", {"line": len(line)})

    async def aclose(self) -> None:
        return None


class ExternalRecorder(Recorder):
    """The same, declared as passing content outside the node."""

    spec: ClassVar[HandlerSpec] = HandlerSpec("ext", "test: external", external=True)


class NoSettings(HandlerSettings):
    pass


class Hang:
    """Never returns (until cancelled at its timeout)."""

    spec: ClassVar[HandlerSpec] = HandlerSpec("hang", "test: hangs", external=False)
    Settings: ClassVar[type[HandlerSettings]] = NoSettings

    @classmethod
    def from_settings(cls, settings: NoSettings, env: HandlerEnv) -> Self:
        return cls()

    async def __call__(self, item: Item, ctx: Context) -> None:
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


class Boom(Hang):
    """Always fails: a plugin bug (RuntimeError) or a declared failure."""

    spec: ClassVar[HandlerSpec] = HandlerSpec("boom", "test: fails", external=False)

    async def __call__(self, item: Item, ctx: Context) -> None:
        if ctx.attempt % 2:
            raise RuntimeError("plugin bug")
        raise HandlerError("far side unavailable")


def recorded(path: Path) -> list[tuple[str, str, str, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        kind, message_id, tlp, attempt = line.split()
        rows.append((kind, message_id, tlp, int(attempt)))
    return rows


# --- a fake context for handler unit tests (the runner is tested on real nodes) -------


class AuditLog:
    """Collects what a handler audits through ``ctx.audit``."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, action: str, detail: Mapping[str, Any]) -> None:
        self.entries.append((action, dict(detail)))


async def same_hit(hit: Hit) -> Hit:
    return hit


def example_item(name: str, now: datetime, n: int = 0, hit: Hit | None = None) -> Item:
    """An item from ``schemas/examples/valid/NAME`` as WS sent it, received at ``now``."""
    alert = parse_alert(example_alerts()[name])
    return Item(
        kind="alert" if hit is None else "hit",
        message_id=new_message_id(now, bytes([n] * 10)),
        sender="WS",
        topic=alert.topic,
        tlp=alert.tlp,
        priority=alert.priority,
        received_at=now,
        alert=alert,
        hit=hit,
    )


def fake_ctx(audit: AuditLog, instance: str, now: datetime) -> Context:
    return Context("FJ", instance, "route", 1, now, audit, same_hit)
