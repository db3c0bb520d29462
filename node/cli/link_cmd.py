"""The link sidecar beside a hub or leaf nats-server: re-creates the alert stream's
cross-domain sources as soon as a leafnode link returns (node/ops/linkresync.py;
docs/operations.md, section 13): ``lali link resync``, as
deploy/systemd/lali-link-resync.service runs it.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from node import logs
from node.cli.common import fail
from node.ops.linkresync import run
from node.transport import ConnectOptions, Transport
from schemas.errors import LaliError

app = typer.Typer(help="The leafnode links between the hub and the countries.")


@app.callback()
def _group() -> None:
    """The leafnode links between the hub and the countries."""


@app.command("resync")
def resync(
    nkey_seed: Annotated[Path, typer.Option(help="the operator's (OPS) nkey seed file")],
    server: Annotated[str, typer.Option(help="this machine's nats-server")] = (
        "nats://127.0.0.1:4222"
    ),
    monitor: Annotated[str, typer.Option(help="its monitoring address")] = (
        "http://127.0.0.1:8222"
    ),
    tls_ca: Annotated[
        Path, typer.Option(help="the CA of the server's certificate (`lali deploy tls`)")
    ] = Path("/etc/nats/tls/ca.pem"),
    stream: Annotated[str, typer.Option(help="the stream whose sources to keep")] = "LALI_ALERTS",
    inbox_prefix: Annotated[str, typer.Option(help="the operator's inbox prefix")] = "_INBOX_OPS",
    poll: Annotated[float, typer.Option(help="seconds between two reads of /leafz")] = 0.1,
    log_json: Annotated[bool, typer.Option("--log-json/--log-text")] = True,
) -> None:
    """Re-create the stream's sources across a leafnode link the moment it returns.

    nats-server alone may wait half a minute or more. Runs until SIGTERM.

    Example: lali link resync --nkey-seed /etc/nats/ops.nk
    """
    logs.configure(json=log_json)
    try:
        asyncio.run(_resync(nkey_seed, server, tls_ca, monitor, stream, inbox_prefix, poll))
    except LaliError as exc:
        raise fail(exc) from exc


async def _resync(
    seed: Path, server: str, tls_ca: Path, monitor: str, stream: str, inbox: str, poll: float
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    transport = Transport(
        ConnectOptions(
            url=server,
            name="lali-link-resync",
            inbox_prefix=inbox,
            nkey_seed_file=seed,
            tls_ca=tls_ca,
        )
    )
    await transport.connect()
    try:
        await run(transport, monitor.rstrip("/"), stream, stop, poll_s=poll)
    finally:
        await transport.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
