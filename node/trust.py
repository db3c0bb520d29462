"""The node's current view of the member directory.

Loads the signed directory file, verifies it against the configured root keys, and
refuses a version older than the newest one this node has accepted before (the version
is remembered in the node database, so a rollback is refused across restarts too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from pathlib import Path

import structlog
from nacl.signing import VerifyKey

from keys import Directory, key_id, verify_directory
from node.db import Database
from schemas.errors import ConfigError

log = structlog.get_logger("lali.trust")


def parse_root_keys(encoded: list[str]) -> dict[str, VerifyKey]:
    roots: dict[str, VerifyKey] = {}
    for text in encoded:
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ConfigError("a root key is not valid base64") from None
        if len(raw) != 32:
            raise ConfigError("a root key is not 32 bytes")
        roots[key_id(raw)] = VerifyKey(raw)
    if not roots:
        raise ConfigError("no trusted root keys configured")
    return roots


class Trust:
    """Holds the verified directory; replaced atomically when a newer one arrives."""

    def __init__(self, roots: dict[str, VerifyKey], threshold: int) -> None:
        self.roots = roots
        self.threshold = threshold
        self._directory: Directory | None = None

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            raise RuntimeError("no directory loaded")
        return self._directory

    async def load_file(self, path: Path, db: Database, now: datetime) -> Directory:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ConfigError(f"cannot read directory {path}: {exc}", path=str(path)) from exc
        return await self.accept(data, db, now)

    async def accept(self, data: bytes, db: Database, now: datetime) -> Directory:
        """Verify ``data``; on success record its version and switch to it."""
        row = await db.fetchone("SELECT value FROM state WHERE key = 'directory_version'")
        min_version = int(row[0]) if row else 0
        directory = verify_directory(
            data, self.roots, now, threshold=self.threshold, min_version=min_version
        )
        if directory.version != min_version:
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO state (key, value) VALUES ('directory_version', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(directory.version),),
                )
                await tx.audit(
                    "directory",
                    at=now,
                    reason="accepted",
                    detail=f'{{"version": {directory.version}}}',
                )
        self._directory = directory
        log.info(
            "directory_loaded",
            version=directory.version,
            members=len(directory.members),
            expires_at=directory.expires_at.isoformat(),
        )
        return directory
