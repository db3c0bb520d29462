"""Helpers shared by CLI commands: reading the files an operator names, error
reporting (one line, never a traceback) and passphrase input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from schemas.errors import LaliError

# The one option every command that opens a key file takes.
PassFile = Annotated[
    Path | None,
    typer.Option(help="file whose first line is the passphrase (else $LALI_PASSPHRASE)"),
]

UTF8_BOM = b"\xef\xbb\xbf"


class Unreadable(LaliError):
    """A file named on the command line cannot be read (missing, a directory, no
    permission): the caller's mistake, a usage error (exit 2)."""

    reason = "unreadable"


def fail(exc: LaliError, code: int = 2, about: Path | str | None = None) -> typer.Exit:
    """Print a typed error as one clear line and return the exit to raise. ``about``:
    the file or option the error is about, named at the end unless the message already
    names it (the message itself stays as documented)."""
    message = str(exc)
    if about is not None and str(about) not in message:
        message = f"{message} ({about})"
    typer.secho(f"error ({exc.reason}): {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def read_file(path: Path) -> bytes:
    """The bytes of a file the operator named; ``Unreadable`` naming it if they cannot
    be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc


def read_alert_file(path: Path) -> bytes:
    """An alert file's bytes; a UTF-8 byte-order mark (editors on Windows add one) is
    dropped here, at the edge, as the watch-list import allows it."""
    return read_file(path).removeprefix(UTF8_BOM)


def read_passphrase(path: Path | None, env: str = "LALI_PASSPHRASE") -> bytes | None:
    """A passphrase from a file (first line) or ``$LALI_PASSPHRASE``; None if neither."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise Unreadable(f"cannot read passphrase file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise Unreadable(f"passphrase file {path} is not UTF-8 text") from exc
        if not lines:
            raise Unreadable(f"passphrase file {path} is empty")
        return lines[0].encode("utf-8")
    value = os.environ.get(env)
    return value.encode("utf-8") if value else None
