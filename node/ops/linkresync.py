"""Re-create a stream's cross-domain sources as soon as a leafnode link returns.

A JetStream stream that sources across a leafnode link (the hub's ``LALI_ALERTS`` from
a country's, a country's from the hub's) resumes after a cut only when nats-server
retries the source: a consumer-create request sent while the link was down waits 30 s
for an answer that cannot come (``srcConsumerWaitTime``, nats-io/nats-server#6454), and
later retries back off by 10 s per failure, up to 2 min; the server's own retry when a
leafnode reconnects did not help in our topology. Measured with nats-server 2.15.1 and
``deploy/nats/``: the backlog of a 25 s cut arrived 34 s after the link returned,
whatever the leafnode reconnect interval (docs/ARCHITECTURE.md, "Leaf links catch up
at once").

This sidecar runs beside each nats-server (the three hub servers, every country's leaf)
with the operator's credentials. It watches its own server's leafnode connections
(``/leafz?subs=1`` on the loopback monitoring port) and the stream's sources. When a link
carries the request that creates a source's consumer at its origin (the far side's
interest in ``<api>.CONSUMER.CREATE.<stream>``) while that source has missed its
heartbeats, it removes the source and adds the same definition back: two stream
updates. The server then creates a new source consumer at once, starting after the last
message it holds from that source (it finds it by the ``Nats-Stream-Source`` header), so
nothing is copied twice; the alerts' ``Nats-Msg-Id`` and the duplicate window are a
second guard.

:class:`Renewer` decides (pure, explicit time); :func:`run` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from node.transport import Transport
from schemas.errors import TransportError

log = structlog.get_logger("lali.linkresync")

# An origin sends its source a heartbeat every second; three missed ones mean the
# source's consumer is gone (the link was cut), not that the origin is idle.
STALL_S = 3.0
# After a renewal the new consumer has this long to report before the next one; each
# renewal that did not bring the source back doubles the wait, up to RETRY_MAX_S (an
# origin stream that does not exist yet costs two updates a minute, not a stream).
RETRY_S = 3.0
RETRY_MAX_S = 60.0
# Between the link's changes, the sources are checked this often anyway.
CHECK_S = 1.0


@dataclass(frozen=True)
class SourceStatus:
    """One source of the stream, as the stream's leader reports it."""

    name: str  # the origin stream
    api: str  # the origin's JetStream API prefix ("$JS.ws.API"); "" for a local source
    silent_s: float  # since the source last heard from its origin (inf: never)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.api)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or (part not in ("*", have[i])):
            return False
    return len(want) == len(have)


def reachable(source: SourceStatus, interest: Iterable[str]) -> bool:
    """Whether a leafnode link of this server now carries the request that creates
    this source's consumer at its origin."""
    probe = f"{source.api}.CONSUMER.CREATE.{source.name}"
    return any(subject_matches(pattern, probe) for pattern in interest)


@dataclass
class Renewer:
    """Decides, check by check, which sources to re-create."""

    stall_s: float = STALL_S
    retry_s: float = RETRY_S
    retry_max_s: float = RETRY_MAX_S
    _next: dict[tuple[str, str], float] = field(default_factory=dict)
    _tries: dict[tuple[str, str], int] = field(default_factory=dict)

    def due(
        self, sources: Sequence[SourceStatus], interest: Sequence[str], now: float
    ) -> list[SourceStatus]:
        """The cross-domain sources that missed their heartbeats while their origin is
        reachable, except those renewed too recently. ``now``: monotonic seconds."""
        chosen = []
        for source in sources:
            if not source.api:
                continue
            if source.silent_s < self.stall_s:  # healthy: forget past renewals
                self._next.pop(source.key, None)
                self._tries.pop(source.key, None)
                continue
            if math.isinf(source.silent_s) and source.key not in self._next:
                # Never heard from: just created (by an operator, or renewed by the
                # sidecar of another hub server). Give it a few heartbeats first.
                self._next[source.key] = now + self.stall_s
                continue
            if not reachable(source, interest) or now < self._next.get(source.key, -math.inf):
                continue
            tries = self._tries.get(source.key, 0) + 1
            self._tries[source.key] = tries
            self._next[source.key] = now + min(self.retry_max_s, self.retry_s * 2 ** (tries - 1))
            chosen.append(source)
        return chosen


def parse_sources(info: dict[str, Any]) -> list[SourceStatus]:
    """The sources of a ``STREAM.INFO`` answer. ``active`` is in nanoseconds; a source
    that never heard from its origin reports none, or a negative value."""
    found = []
    for s in info.get("sources") or []:
        active = s.get("active")
        silent = active / 1e9 if isinstance(active, int) and active >= 0 else math.inf
        external = s.get("external") or {}
        found.append(SourceStatus(str(s["name"]), str(external.get("api") or ""), silent))
    return found


def leaf_interest(monitor_url: str, timeout: float = 2.0) -> list[str]:
    """The subjects the far sides of this server's leafnode links are interested in
    (``/leafz?subs=1``). Raises OSError or ValueError if the monitor cannot be read."""
    if not monitor_url.startswith(("http://", "https://")):
        raise ValueError(f"not a monitoring address: {monitor_url!r}")
    url = f"{monitor_url}/leafz?subs=1"
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (checked above)
        leafz = json.loads(resp.read())
    return [s for leaf in leafz.get("leafs") or [] for s in leaf.get("subscriptions_list") or []]


def _key(source: dict[str, Any]) -> tuple[str, str]:
    return (str(source["name"]), str((source.get("external") or {}).get("api") or ""))


async def renew(
    transport: Transport, stream: str, due: Sequence[SourceStatus]
) -> list[dict[str, Any]]:
    """Remove the ``due`` sources from ``stream``, then add the same definitions back.

    The configuration travels as the server's JSON, so no field is lost on the way.
    Between the two updates the stream lacks those sources (their origins keep the
    messages: nothing is lost, nothing flows meanwhile). Returns the definitions still
    to be added back if the second update failed (:func:`put_back` again later)."""
    config = (await transport.jetstream_api(f"STREAM.INFO.{stream}"))["config"]
    keys = {s.key for s in due}
    sources: list[dict[str, Any]] = list(config.get("sources") or [])
    removed = [s for s in sources if _key(s) in keys]
    if not removed:
        return []
    kept = [s for s in sources if _key(s) not in keys]
    await transport.jetstream_api(f"STREAM.UPDATE.{stream}", {**config, "sources": kept})
    try:
        # Once removed, they go back even if we are cancelled meanwhile.
        await asyncio.shield(put_back(transport, stream, removed))
    except TransportError as exc:
        log.error("source_readd_failed", stream=stream, sources=removed, error=str(exc))
        return removed
    log.info("sources_renewed", stream=stream, apis=sorted(s.api for s in due))
    return []


async def put_back(transport: Transport, stream: str, removed: list[dict[str, Any]]) -> None:
    """Add to the stream's current configuration those of ``removed`` it lacks."""
    config = (await transport.jetstream_api(f"STREAM.INFO.{stream}"))["config"]
    sources: list[dict[str, Any]] = list(config.get("sources") or [])
    present = {_key(s) for s in sources}
    missing = [s for s in removed if _key(s) not in present]
    if missing:
        await transport.jetstream_api(
            f"STREAM.UPDATE.{stream}", {**config, "sources": sources + missing}
        )


async def run(
    transport: Transport,
    monitor_url: str,
    stream: str,
    stop: asyncio.Event,
    *,
    poll_s: float = 0.1,
    renewer: Renewer | None = None,
) -> None:
    """Until ``stop`` is set: read this server's leafnode links every ``poll_s``; check
    the stream's sources when they change (a link came back) and every ``CHECK_S``;
    renew those that are due. Failures are logged and the loop goes on."""
    renewer = renewer or Renewer()
    loop = asyncio.get_running_loop()
    log.info("link_resync_started", stream=stream, monitor=monitor_url)
    seen: frozenset[str] = frozenset()
    next_check = 0.0
    monitor_failed = False
    pending: list[dict[str, Any]] = []  # removed, not yet added back
    while not stop.is_set():
        if pending and loop.time() >= next_check:
            try:
                await put_back(transport, stream, pending)
                log.info("sources_put_back", stream=stream, count=len(pending))
                pending = []
            except TransportError as exc:
                log.error("source_readd_failed", stream=stream, sources=pending, error=str(exc))
                next_check = loop.time() + CHECK_S
        try:
            interest = await asyncio.to_thread(leaf_interest, monitor_url)
            monitor_failed = False
        except (OSError, ValueError) as exc:
            if not monitor_failed:  # once per outage of the monitor, not every poll
                log.warning("leafz_unreadable", url=monitor_url, error=f"{exc}")
            monitor_failed, interest = True, []
        now = loop.time()
        if interest and not pending and (frozenset(interest) != seen or now >= next_check):
            next_check = now + CHECK_S
            try:
                info = await transport.jetstream_api(f"STREAM.INFO.{stream}")
                due = renewer.due(parse_sources(info), interest, now)
                if due:
                    pending += await renew(transport, stream, due)
            except TransportError as exc:
                log.warning("source_check_failed", stream=stream, error=str(exc))
        seen = frozenset(interest)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
