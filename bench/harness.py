"""The benchmark's plumbing: nats-servers, provisioned networks, worker processes,
machine facts and small statistics. Scenarios (``bench/scenarios``) compose these.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from keys import Role
from node.ops.natsserver import NatsServer, nats_server_binary
from node.ops.provision import (
    MemberSpec,
    Network,
    provision,
    provision_consumers,
    write_node_configs,
)

REPO = Path(__file__).resolve().parent.parent
MEMBERS = [
    MemberSpec("XH", "Regional hub", Role.HUB),
    MemberSpec("WS", "Samoa"),
    MemberSpec("FJ", "Fiji"),
    MemberSpec("TO", "Tonga"),
]
RECIPIENTS = ["FJ", "TO", "XH"]  # the sender is WS; only FJ runs a receiving node
NODE_CONFIG: dict[str, object] = {}  # the node's defaults throughout


class BenchError(RuntimeError):
    """A worker died or did not answer in time; its log says why."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPUs, load, versions, commit."""
    version = subprocess.run(
        [str(nats_server_binary()), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    git = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "node", "bench"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nats_server": version,
        "nats_py": metadata.version("nats-py"),
        "pynacl": metadata.version("pynacl"),
        "git": git + ("+dirty" if dirty else ""),
    }


class Say:
    """Progress lines on stderr, stamped with the seconds since the run began."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)


def _prepare(name: str, logs: Path, profile: Path | None) -> tuple[Path, list[str]]:
    """The worker's log file and interpreter command (under pyinstrument if asked)."""
    logs.mkdir(parents=True, exist_ok=True)
    prefix = [sys.executable]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        out = profile / f"{name}-{int(time.time() * 1000) % 10**8}.txt"
        prefix += ["-m", "pyinstrument", "-r", "text", "-o", str(out)]
    return logs / f"{name}.log", prefix


@dataclass
class Worker:
    """A ``bench.worker`` process: JSON-line commands in, JSON-line events out."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path
    spawned_at: float
    say: Say
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    async def spawn(
        cls, name: str, args: list[str], logs: Path, say: Say, profile: Path | None = None
    ) -> Worker:
        log, prefix = _prepare(name, logs, profile)
        with log.open("ab") as err:
            spawned_at = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *prefix,
                "-m",
                "bench.worker",
                *args,
                cwd=REPO,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                limit=64 * 1024 * 1024,  # a latency run sends every timestamp in one line
            )
        worker = cls(name, proc, log, spawned_at, say)
        worker._reader = asyncio.create_task(worker._read())
        return worker

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(json.JSONDecodeError):
                self.events.put_nowait(json.loads(line))
        self.events.put_nowait({"event": "exit", "code": await self.proc.wait()})

    async def command(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()

    async def next(
        self,
        *wanted: str,
        timeout: float,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The next event named in ``wanted`` (``timeout`` events are returned too)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = await asyncio.wait_for(self.events.get(), max(left, 0.001))
            except TimeoutError:
                raise BenchError(f"{self.name}: no {'/'.join(wanted)} in {timeout}s") from None
            kind = event["event"]
            if kind in wanted or kind == "timeout":
                return event
            if kind == "progress" and progress is not None:
                progress(event)
            if kind == "exit":
                raise BenchError(f"{self.name} exited ({event['code']}); see {self.log}")

    async def stop(self, timeout: float = 60.0) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError):
                await self.command("stop")
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.say(f"{self.name} did not stop in {timeout}s; killing it")
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader


@dataclass
class Bench:
    """Settings of one run and the factories the scenarios use."""

    root: Path
    smoke: bool
    rounds: int
    window: int
    log_level: str
    say: Say
    profile: Path | None = None
    _seq: int = 0

    def fresh(self, label: str) -> Path:
        self._seq += 1
        path = self.root / f"{self._seq:02d}-{label}"
        path.mkdir(parents=True)
        return path

    @contextlib.asynccontextmanager
    async def server(self, home: Path, durable: bool) -> AsyncIterator[NatsServer]:
        """A nats-server of our own: free loopback port, JetStream store under ``home``;
        ``durable``: ``sync_interval: always`` (fsync before each PubAck)."""
        server = NatsServer(home / "nats", sync_always=durable)
        await asyncio.to_thread(server.start)
        try:
            yield server
        finally:
            await asyncio.to_thread(server.stop)

    async def network(self, home: Path, server: NatsServer) -> Network:
        """Keys and node.toml files for MEMBERS, pointing at ``server`` (TLS, its CA),
        and the stream and consumers the hub would create (no hub node runs here)."""
        network = provision(
            home / "net",
            MEMBERS,
            server.url,
            datetime.now(UTC),
            tls_ca=server.tls.ca,
            extra_config=NODE_CONFIG or None,
        )
        await provision_consumers(network)
        return network

    @staticmethod
    def repoint(network: Network, server: NatsServer) -> None:
        write_node_configs(network, server.url, NODE_CONFIG or None, tls_ca=server.tls.ca)

    async def lali(
        self, network: Network, code: str, *extra: str, to: list[str] | None = None
    ) -> Worker:
        args = ["lali", "--config", str(network.configs[code]), "--log-level", self.log_level]
        args += ["--to", ",".join(to or RECIPIENTS), *extra]
        return await self._spawn(f"lali-{code}", args, network.root.parent)

    async def raw(self, server: NatsServer, home: Path, *extra: str) -> Worker:
        """The baseline client, over TLS like the nodes (same cost on both sides)."""
        name = "raw-sub" if "--durable" in extra else "raw-pub"
        args = ["raw", "--url", server.url, "--tls-ca", str(server.tls.ca), *extra]
        return await self._spawn(name, args, home)

    async def _spawn(self, name: str, args: list[str], home: Path) -> Worker:
        return await Worker.spawn(name, args, home / "logs", self.say, self.profile)


async def stop_all(*workers: Worker | None) -> None:
    await asyncio.gather(*(w.stop() for w in workers if w is not None))
