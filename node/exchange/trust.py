"""The node's current view of the member directory.

Loads the signed directory file, verifies it against the configured root keys, and
refuses a version older than the newest one this node has accepted before (the version
is remembered in the node database, so a rollback is refused across restarts too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from nacl.signing import VerifyKey

from keys import Directory, RootSet, key_id, verify_directory_update
from keys.files import write_atomic
from node.storage.database import Database
from schemas.errors import ConfigError, DirectoryExpired, UntrustedMessage

log = structlog.get_logger("lali.trust")


def _write_atomically(path: Path, data: bytes) -> tuple[int, int]:
    """Write ``data`` over ``path`` atomically (mode 0600); return its stamp."""
    write_atomic(path, data)
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _roots_json(roots: RootSet) -> str:
    keys = {kid: base64.b64encode(bytes(k)).decode("ascii") for kid, k in roots.keys.items()}
    return json.dumps({"keys": keys, "threshold": roots.threshold}, sort_keys=True)


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
    """Holds the verified directory; replaced atomically when a newer one arrives.

    The directory file is re-read when it changes on disk (an operator or a sync job
    drops in a newer one; live distribution over NATS comes with the trust issue).
    A file that fails verification is refused and the current directory kept.
    """

    def __init__(
        self,
        roots: dict[str, VerifyKey],
        threshold: int,
        path: Path,
        db: Database,
        grace: timedelta = timedelta(0),
        listeners: list[Callable[[Directory], None]] | None = None,
    ) -> None:
        """``grace``: how long after its expiry a directory is still used, for a node cut
        off from the hub (it says so in its logs while it does). ``listeners`` are told
        of every newly adopted directory."""
        self.grace = grace
        self._grace_logged_at: datetime | None = None
        # The roots configured in node.toml are the starting point; a directory that
        # rotates them moves this on (and it is remembered in the node database).
        self.trusted = RootSet(roots, threshold)
        self.path = path
        self.db = db
        self._directory: Directory | None = None
        self._stamp: tuple[int, int] | None = None
        self.listeners: list[Callable[[Directory], None]] = listeners if listeners else []

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            raise RuntimeError("no directory loaded")
        return self._directory

    async def current(self, now: datetime) -> Directory:
        """The directory to use at ``now``: refreshed if the file changed, never expired."""
        await self.refresh(now)
        directory = self.directory
        if directory.expires_at <= now:
            if now < directory.expires_at + self.grace:
                self._say_on_grace(directory, now)
                return directory
            raise DirectoryExpired(
                "the member directory has expired (and its grace period is over): get a"
                " newer one from the hub",
                version=directory.version,
                expired_at=directory.expires_at.isoformat(),
            )
        return directory

    def _say_on_grace(self, directory: Directory, now: datetime) -> None:
        """Loudly, but once a minute, not once a message."""
        last = self._grace_logged_at
        if last is None or now - last >= timedelta(minutes=1):
            self._grace_logged_at = now
            log.warning(
                "directory_on_grace",
                version=directory.version,
                expired_at=directory.expires_at.isoformat(),
                grace_ends_at=(directory.expires_at + self.grace).isoformat(),
            )

    async def load(self, now: datetime) -> Directory:
        """Load the file at start; any problem is fatal here."""
        data, stamp = await self._read()
        directory = await self.accept(data, now)
        self._stamp = stamp
        return directory

    async def refresh(self, now: datetime) -> bool:
        """Re-read the file if it changed; True if a newer directory was accepted."""
        try:
            # A stat of a local file takes microseconds; a thread hop per message (this
            # runs for every delivery) cost far more. Reading, when it changed, is
            # still done off the loop.
            stat = self.path.stat()
        except OSError:
            return False
        if (stat.st_mtime_ns, stat.st_size) == self._stamp:
            return False
        try:
            data, stamp = await self._read()
            self._stamp = stamp
            before = self.directory.version
            return (await self.accept(data, now)).version != before
        except (UntrustedMessage, ConfigError) as exc:
            log.error("directory_refused", reason=exc.reason, error=str(exc))
            return False

    async def feed_revision(self) -> int:
        """The last revision of the live feed this node has judged."""
        row = await self.db.fetchone("SELECT value FROM state WHERE key = 'feed_revision'")
        return int(row[0]) if row else 0

    async def set_feed_revision(self, revision: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO state (key, value) VALUES ('feed_revision', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(revision),),
            )

    async def accept_remote(self, data: bytes, now: datetime) -> bool:
        """A directory from the live feed: verify, switch, and keep it on disk so the
        next start loads it. A refused one is audited and the current one kept."""
        try:
            before = self.directory.version
            directory = await self.accept(data, now)
        except UntrustedMessage as exc:  # bad signature, rollback, not a directory at all
            log.error("directory_refused", reason=exc.reason, error=str(exc))
            async with self.db.transaction() as tx:
                await tx.audit(
                    "directory",
                    at=now,
                    reason=exc.reason,
                    detail=json.dumps({"refused": exc.message}),
                )
            return False
        if directory.version == before:
            return False
        try:
            stamp = await asyncio.to_thread(_write_atomically, self.path, data)
        except OSError as exc:
            # In force in memory already; the next start loads the older file and
            # picks this one up from the feed again.
            log.error("directory_not_saved", path=str(self.path), error=str(exc))
        else:
            self._stamp = stamp
        return True

    async def _trusted_roots(self) -> RootSet:
        """Roots that came through the chain (remembered) beat the configured ones."""
        row = await self.db.fetchone("SELECT value FROM state WHERE key = 'trusted_roots'")
        if row is None:
            return self.trusted
        doc = json.loads(row[0])
        keys = {kid: VerifyKey(base64.b64decode(pub)) for kid, pub in doc["keys"].items()}
        return RootSet(keys, int(doc["threshold"]))

    async def _read(self) -> tuple[bytes, tuple[int, int]]:
        try:
            stat = await asyncio.to_thread(self.path.stat)
            data = await asyncio.to_thread(self.path.read_bytes)
        except OSError as exc:
            raise ConfigError(f"cannot read directory {self.path}: {exc}") from exc
        return data, (stat.st_mtime_ns, stat.st_size)

    async def accept(self, data: bytes, now: datetime) -> Directory:
        """Verify ``data``; on success record its version and switch to it."""
        row = await self.db.fetchone("SELECT value FROM state WHERE key = 'directory_version'")
        min_version = int(row[0]) if row else 0
        trusted = await self._trusted_roots()
        try:
            directory, after = verify_directory_update(data, trusted, now, min_version=min_version)
        except DirectoryExpired:
            if not self.grace:
                raise
            # Expired, but perhaps within the grace period: judge it as of grace ago.
            directory, after = verify_directory_update(
                data, trusted, now - self.grace, min_version=min_version
            )
        rotated = not after.same_as(trusted)
        if directory.version != min_version or rotated:
            async with self.db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO state (key, value) VALUES ('directory_version', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(directory.version),),
                )
                if rotated:
                    await tx.execute(
                        "INSERT INTO state (key, value) VALUES ('trusted_roots', ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (_roots_json(after),),
                    )
                await tx.audit(
                    "directory",
                    at=now,
                    reason="roots_rotated" if rotated else "accepted",
                    detail=json.dumps({"version": directory.version, "roots": sorted(after.keys)}),
                )
        self.trusted = after
        changed = self._directory is None or self._directory.version != directory.version
        self._directory = directory
        if changed:
            for listener in self.listeners:
                listener(directory)
        log.info(
            "directory_loaded",
            version=directory.version,
            members=len(directory.members),
            expires_at=directory.expires_at.isoformat(),
        )
        return directory
