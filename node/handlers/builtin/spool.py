"""The ``spool`` handler: hand items to a national system through the file system.

Two modes:

``jsonl``
    One line per item appended to a JSON-lines file. The line is written with
    ``O_APPEND`` in a single ``write`` under an exclusive ``flock`` and then fsynced.
    Guarantee: every complete record is one ``\\n``-terminated line that parses as JSON.
    A crash or a full disk can leave a torn fragment without its ``\\n`` at the end of the
    file; the next append first terminates that fragment with a ``\\n``, so the fragment
    becomes a line that does not parse (readers skip it) and never merges with the next
    record. Readers consume only up to the last ``\\n``. If the node dies after the write
    but before the runner records the item as done, the retry looks for the identical
    line in the last ``dedupe_window_bytes`` of the file and skips it; a duplicate older
    than that window is still possible, so consumers de-duplicate on
    ``(message_id, kind, hit.hit_id)``.

``directory``
    One file per item, ``<received_at>-<message_id>-<kind>.json`` (``…-hit-<hit_id>.json``
    for hits): written by :func:`keys.files.write_atomic` (a hidden temporary file in the
    same directory, fsynced, renamed into place, the directory fsynced). The name is
    deterministic, so a retry after a crash finds the file and writes nothing; a reader
    never sees a partial file under a final name. Temporary files left by a crash
    (``.<name>.<hex>.tmp``) are removed at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import time
from datetime import UTC
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, Field

from keys.files import TEMP_SUFFIX, fsync_dir, write_atomic
from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
)
from schemas.errors import ConfigError

__all__ = [
    "FileMode",
    "SpoolHandler",
    "append_line",
    "check_file_mode",
    "remove_stale_temp",
    "spool_name",
    "write_file_atomic",
]

_STALE_TEMP_S = 3600.0
# Only names keys.files.atomic_path makes (".<name>.<hex>.tmp"): a pickup directory is
# shared, and another program's ".something.tmp" is not ours to remove.
_TEMP_NAME = re.compile(rf"\..+\.[0-9a-f]+{re.escape(TEMP_SUFFIX)}")
# What this module named its temporary files before it used keys.files: a crash before
# an upgrade can have left some.
_LEGACY_TEMP_SUFFIX = ".lali-tmp"


def check_file_mode(value: int) -> int:
    """Spool files may be shared with a group (the pickup program), never with others."""
    if value & ~0o660:
        raise ValueError("file_mode may only grant read/write to owner and group (≤ 0o660)")
    if not value & 0o600:
        raise ValueError("file_mode must let the owner read and write")
    return value


FileMode = Annotated[int, AfterValidator(check_file_mode)]
"""Permissions of files a handler creates; owner and group only."""


def spool_name(item: Item, suffix: str = ".json") -> str:
    """The deterministic file name of ``item``: sorts by arrival, unique per item."""
    stamp = item.received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    kind = item.kind if item.hit is None else f"hit-{item.hit.hit_id}"
    return f"{stamp}-{item.message_id}-{kind}{suffix}"


def write_file_atomic(directory: Path, name: str, data: bytes, mode: int) -> bool:
    """Write ``data`` to ``directory/name`` atomically (blocking; run it in a thread).

    Returns False, writing nothing, if the file already exists (a retry of a write that
    completed). The file gets exactly ``mode``, whatever the umask.
    """
    final = directory / name
    if final.exists():
        return False
    # A rename, not the no-clobber link: the name is per item and a retry writes the
    # same bytes, so losing a race costs nothing, and a pickup directory may be on a
    # file system without hard links.
    write_atomic(final, data, mode)
    return True


def remove_stale_temp(directory: Path, older_than_s: float = _STALE_TEMP_S) -> int:
    """Remove temporary files a crash left behind (only ours, and only old ones)."""
    removed = 0
    cutoff = time.time() - older_than_s
    for path in directory.glob(".*"):
        ours = _TEMP_NAME.fullmatch(path.name) or path.name.endswith(_LEGACY_TEMP_SUFFIX)
        if not ours:
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def _has_recent_line(fd: int, size: int, line: bytes, window: int) -> bool:
    n = min(size, window)
    tail = os.pread(fd, n, size - n)
    if n == size:
        tail = b"\n" + tail  # the file's first line starts a line too
    return b"\n" + line in tail


def append_line(path: Path, line: bytes, mode: int, dedupe_window: int) -> bool:
    """Append one ``\\n``-terminated ``line`` (blocking; run it in a thread).

    Returns False if the same line is already among the last ``dedupe_window`` bytes.
    """
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ValueError("a record is exactly one newline-terminated line")
    created = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        created = False
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
    try:
        if created:
            os.fchmod(fd, mode)
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by close
        size = os.fstat(fd).st_size
        if dedupe_window and size and _has_recent_line(fd, size, line, dedupe_window):
            return False
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = b"\n" + line if torn else line
        written = os.write(fd, data)  # one write: O_APPEND keeps it in one piece
        if written != len(data):
            raise OSError(f"short write ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return True


class SpoolHandler:
    """Append items to a JSON-lines file, or write one file per item into a directory."""

    spec: ClassVar[HandlerSpec] = HandlerSpec(
        name="spool",
        description="write items to a JSON-lines file or a pickup directory, atomically",
        external=True,
    )

    class Settings(HandlerSettings):
        mode: Literal["jsonl", "directory"]
        path: Path  # the .jsonl file, or the directory (relative to the config directory)
        file_mode: FileMode = 0o600
        dedupe_window_bytes: int = Field(default=1 << 20, ge=0, le=64 << 20)

    def __init__(self, settings: Settings, path: Path) -> None:
        self._settings = settings
        self._path = path
        self._lock = asyncio.Lock()  # one append at a time per instance (workers > 1)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, env: HandlerEnv) -> Self:
        path = env.path(settings.path)
        if settings.mode == "directory":
            if not path.is_dir():
                raise ConfigError("spool directory does not exist", path=str(path))
            remove_stale_temp(path)
        else:
            if not path.parent.is_dir():
                raise ConfigError("directory of the spool file does not exist", path=str(path))
            if path.exists() and not path.is_file():
                raise ConfigError("spool path is not a regular file", path=str(path))
        return cls(settings, path)

    async def __call__(self, item: Item, ctx: Context) -> None:
        if self._closed:
            raise RuntimeError("spool handler is closed")
        s = self._settings
        try:
            if s.mode == "directory":
                name = spool_name(item)
                data = item.to_json() + b"\n"
                written = await asyncio.to_thread(
                    write_file_atomic, self._path, name, data, s.file_mode
                )
            else:
                name = self._path.name
                line = item.to_json() + b"\n"
                async with self._lock:
                    written = await asyncio.to_thread(
                        append_line, self._path, line, s.file_mode, s.dedupe_window_bytes
                    )
        except OSError as exc:
            raise HandlerError(
                "spool write failed", errno=exc.errno, error=type(exc).__name__
            ) from None
        await ctx.audit(
            "spooled" if written else "spool_already_present",
            {"mode": s.mode, "file": name},
        )

    async def aclose(self) -> None:
        self._closed = True
