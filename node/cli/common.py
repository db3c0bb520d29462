"""Helpers shared by CLI commands: error reporting and passphrase input."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from schemas.errors import LaliError


def fail(exc: LaliError, code: int = 2) -> typer.Exit:
    """Print a typed error as one clear line and return the exit to raise."""
    typer.secho(f"error ({exc.reason}): {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def read_passphrase(path: Path | None, env: str = "LALI_PASSPHRASE") -> bytes | None:
    """A passphrase from a file (first line) or ``$LALI_PASSPHRASE``; None if neither."""
    if path is not None:
        return path.read_text(encoding="utf-8").splitlines()[0].encode("utf-8")
    value = os.environ.get(env)
    return value.encode("utf-8") if value else None
