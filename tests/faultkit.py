"""Helpers of the fault suite (tests/faults): processes, results table, polling.

Each test adds a row (fault, sent, delivered, lost, duplicated) to a table printed at
the end of the run. ``LALI_FAULT_KILLS`` sets how many times the receiver is killed
(``make faults``: 20; ``make test``: 3).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from node.config import NodeSettings

KILLS = int(os.environ.get("LALI_FAULT_KILLS", "3"))
LINK_CUT_S = float(os.environ.get("LALI_LINK_CUT_S", "5"))
LALI = Path(sys.executable).parent / "lali"


@dataclass
class Row:
    fault: str
    sent: int
    delivered: int
    lost: int
    duplicated: int


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, fault: str, sent: set[str], received: list[str]) -> Row:
        row = Row(
            fault,
            len(sent),
            len(set(received) & sent),
            len(sent - set(received)),
            len(received) - len(set(received)),
        )
        self.rows.append(row)
        return row


TABLE = Table()


def received_ids(settings: NodeSettings) -> list[str]:
    """Every ``received`` audit entry (a duplicate would show as a repeated id)."""
    if not settings.database.exists():
        return []
    with closing(sqlite3.connect(f"file:{settings.database}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute("SELECT message_id FROM audit WHERE kind = 'received'")
            return [r[0] for r in rows]
        except sqlite3.OperationalError:  # created but schema not written yet
            return []


def sent_ids(settings: NodeSettings) -> set[str]:
    with closing(sqlite3.connect(f"file:{settings.database}?mode=ro", uri=True)) as conn:
        return {r[0] for r in conn.execute("SELECT message_id FROM audit WHERE kind = 'sent'")}


class NodeProcess:
    """``lali node run`` in its own process, killable with SIGKILL."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(LALI), "--log-json", "node", "run", "--config", str(self.config)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
        out.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Bounded poll of another process's committed state (no event crosses processes)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class TcpProxy:
    """A loopback TCP relay the test controls: ``cut()`` drops every connection and
    refuses new ones (a satellite link going down), ``restore()`` brings it back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        # The relay carries the TLS session through untouched; the server's certificate
        # names 127.0.0.1, so the client verifies it as if it had connected directly.
        return f"tls://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()
