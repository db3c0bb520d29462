"""The ``watchlist`` handler: checks the persons, travel documents and vessels an inbound
alert names against the national watch list and raises a hit for every match.

The list is a CSV file or the SQLite file ``lali watchlist import`` writes (see
:mod:`node.handlers.builtin.watchlist_store`); the matching rules are in
:mod:`node.handlers.builtin.watchlist_core`. The file is checked for a change (size,
mtime, inode) on every call, which costs one ``stat``; loading and fuzzy matching run in
a worker thread, so the event loop never waits on them. Nothing from the alert or the
list is logged or audited beyond counts and entry ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import structlog
from pydantic import Field

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
)
from node.handlers.builtin.watchlist_core import MatchRules, WatchList
from node.handlers.builtin.watchlist_store import load
from schemas.entities import extract
from schemas.errors import LaliError

if TYPE_CHECKING:
    from node.handlers.base import HandlerType

__all__ = ["WatchlistHandler", "WatchlistSettings"]

log = structlog.get_logger("lali.handlers.watchlist")

_Stamp = tuple[int, int, int, int]


class WatchlistSettings(HandlerSettings):
    """``[handlers.<name>.settings]`` of a ``watchlist`` instance."""

    path: Path = Field(
        description="CSV watch list, or the SQLite file `lali watchlist import` writes;"
        " relative to the directory of node.toml"
    )
    person_threshold: float = Field(
        default=88.0, ge=50, le=100, description="score (0-100) a person match needs"
    )
    require_dob_match: bool = Field(
        default=False,
        description="match a person only when both dates of birth are known and equal",
    )
    max_candidates: int = Field(
        default=100, ge=1, le=10_000, description="names scored per name and key (look-alikes)"
    )

    def rules(self) -> MatchRules:
        return MatchRules(self.person_threshold, self.require_dob_match, self.max_candidates)


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise HandlerError(f"watch list {path} cannot be read: {exc.strerror}") from exc
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _build(path: Path) -> WatchList:
    started = time.monotonic()
    loaded = load(path)
    watchlist = WatchList(loaded.entries)
    if loaded.bad_rows:
        log.warning(
            "watchlist_bad_rows",
            count=len(loaded.bad_rows),
            lines=[bad.line for bad in loaded.bad_rows[:20]],
        )
    if watchlist.unmatchable:
        # Names that transliterate to nothing can never match: lines, never the names.
        ids = set(watchlist.unmatchable)
        lines = [line for line, entry in loaded.rows if entry.id in ids]
        log.warning("watchlist_unmatchable_names", count=len(lines), lines=lines[:20])
    log.info(
        "watchlist_loaded",
        entries=len(watchlist),
        **watchlist.counts,
        bad_rows=len(loaded.bad_rows),
        seconds=round(time.monotonic() - started, 3),
    )
    return watchlist


class WatchlistHandler:
    """Raises a :class:`~node.handlers.base.Hit` for every watch-list entry an alert
    matches. Ignores items of kind ``hit``. Not external: nothing leaves the node."""

    spec: ClassVar[HandlerSpec] = HandlerSpec(
        name="watchlist",
        description="match persons, documents and vessels against the national watch list",
        external=False,
    )
    Settings: ClassVar[type[HandlerSettings]] = WatchlistSettings

    def __init__(self, path: Path, rules: MatchRules) -> None:
        self.path = path
        self.rules = rules
        self._list: WatchList | None = None
        self._stamp: _Stamp | None = None
        self._loading: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Any, env: HandlerEnv) -> Self:
        if not isinstance(settings, WatchlistSettings):
            settings = WatchlistSettings.model_validate(settings)
        return cls(env.path(settings.path), settings.rules())

    async def current(self) -> WatchList:
        """The list as the file is now, reloaded (in a thread) if the file changed.

        Fails closed: a missing, unreadable or empty list raises :class:`HandlerError`
        (retried, then listed as failed) rather than letting alerts pass unchecked.
        """
        if self._closed:
            raise RuntimeError("the watchlist handler is closed")
        if _stamp(self.path) != self._stamp:
            if self._loading is None:
                self._loading = asyncio.create_task(self._reload())
                self._loading.add_done_callback(_retrieve)
            # Shielded: a caller that times out does not waste a load another call (or
            # the next attempt) can use.
            await asyncio.shield(self._loading)
        assert self._list is not None
        return self._list

    async def _reload(self) -> None:
        try:
            stamp = _stamp(self.path)  # before reading: a change while reading reloads again
            try:
                watchlist = await asyncio.to_thread(_build, self.path)
            except LaliError as exc:
                raise HandlerError(f"watch list {self.path} unusable: {exc}") from exc
            if not len(watchlist):
                raise HandlerError(f"watch list {self.path} holds no valid entries")
            self._list, self._stamp = watchlist, stamp
        finally:
            self._loading = None

    async def __call__(self, item: Item, ctx: Context) -> None:
        if item.kind != "alert":
            return
        watchlist = await self.current()
        entities = extract(item.alert)
        matches = []
        if entities.persons or entities.documents or entities.vessels:
            matches = await asyncio.to_thread(watchlist.match, entities, self.rules)
        hit_ids = [(await ctx.raise_hit(match.to_hit())).hit_id for match in matches]
        await ctx.audit(
            "watchlist_checked",
            {
                "persons": len(entities.persons),
                "documents": len(entities.documents),
                "vessels": len(entities.vessels),
                "list_entries": len(watchlist),
                "hits": len(matches),
                "hit_ids": hit_ids,
            },
        )

    async def aclose(self) -> None:
        """Drop the list; idempotent. A load in progress is abandoned."""
        self._closed = True
        loading, self._loading = self._loading, None
        if loading is not None:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, LaliError):
                await loading
        self._list = None


def _retrieve(task: asyncio.Task[None]) -> None:
    # The load's error reaches whoever awaited it; if every caller was cancelled, this
    # keeps asyncio from reporting it as never retrieved.
    if not task.cancelled():
        task.exception()


if TYPE_CHECKING:
    _check: type[HandlerType] = WatchlistHandler
