"""Handler types for tests, loaded by nodes as ``type = "handlerkit:Name"``.

Real node processes import them too: tests that start ``lali node run`` put ``tests/``
on the child's PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar, Self

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
)


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
