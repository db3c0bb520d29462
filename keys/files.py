"""The one way Lali replaces a file: atomically and durably.

Every file that must be either its old or its new self after a crash goes through
here: key files, the cached directory, console passwords, spooled handler output,
compiled watch lists. Steps:

1. a temporary file beside the target (same file system, so the rename is atomic),
   created exclusively, not following links, with its final mode from the first
   instant (a secret is never readable by others, whatever the umask);
2. the content is written and the file fsynced;
3. it is renamed over the target (or, ``exclusive``, linked: fails if the target
   appeared meanwhile, so nothing is ever clobbered);
4. the directory is fsynced, so the rename itself survives a power cut.

It lives in ``keys`` because key files are the lowest layer that writes files; the
node's layers import it from here. ``OSError`` propagates: each caller turns it into
its own typed error (a key file, a spool, a watch list fail differently).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: Path, mode: int, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path to fill (bytes or, say, a SQLite file); on a clean
    exit it becomes ``path`` (steps 2–4 above). On an error it is removed.

    ``exclusive``: raise ``FileExistsError`` if ``path`` exists when the rename comes.
    """
    parent = path.parent
    tmp = parent / f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # a umask can only remove bits; make it exact
        finally:
            os.close(fd)
        yield tmp
        _fsync_file(tmp)
        if exclusive:
            # link(), unlike replace(), fails if the target exists: no race can
            # clobber a file that appeared after the caller's own check. The temporary
            # name goes before the directory is synced, so a power cut cannot leave a
            # second, hidden copy of a secret behind.
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        fsync_dir(parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, exclusive: bool = False) -> None:
    """Replace (or, ``exclusive``, create) ``path`` with ``data``: blocking, so call it
    in a thread from async code."""
    with atomic_path(path, mode, exclusive=exclusive) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
