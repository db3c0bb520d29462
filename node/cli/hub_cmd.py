"""``lali hub``: run the hub with its console, manage console operators, send a
bulletin from the command line."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

from keys.files import write_atomic
from node.cli.common import PassFile, fail, read_passphrase
from node.config import NodeSettings
from node.exchange.outbound import SendResult
from node.hub import bulletin
from node.hub.auth import DEFAULT_USER, PasswordFile, first_run_password
from node.hub.service import Hub
from node.hub.settings import HubSettings, load_hub_config
from node.hub.store import Reader, create_tables
from node.runtime import Node
from schemas.alert import Priority, Tlp
from schemas.errors import LaliError

app = typer.Typer(help="The hub: console, correlation and bulletins.", no_args_is_help=True)
log = structlog.get_logger("lali.hub.cli")

Config = Annotated[Path, typer.Option("--config", "-c", help="hub.toml")]


@app.command("run")
def run(config: Config, passphrase_file: PassFile = None) -> None:
    """Run the hub's node and its console until SIGTERM or Ctrl-C.

    On the first run (no operator yet) a one-time password for the user "operator"
    is printed here, once; the console asks for a new one after the first login.

    Example: lali hub run --config /etc/lali/hub.toml
    """
    try:
        node_settings, hub_settings = load_hub_config(config)
        passphrase = read_passphrase(passphrase_file or node_settings.identity_passphrase_file)
        _first_run(hub_settings)
        code = asyncio.run(_run(node_settings, hub_settings, passphrase))
    except LaliError as exc:
        raise fail(exc) from exc
    raise typer.Exit(code)


def _first_run(settings: HubSettings) -> None:
    """No operator yet: create one with a one-time password and show it once, on the
    terminal; under a service manager (no terminal, stderr goes to the journal) it goes
    to a 0600 file beside the password file instead."""
    one_time = first_run_password(PasswordFile(settings.password_file))
    if one_time is None:
        return
    if sys.stderr.isatty():
        typer.secho(
            f"first run: console user {DEFAULT_USER!r}, one-time password: {one_time}",
            fg=typer.colors.YELLOW,
            err=True,
        )
        return
    path = settings.password_file.with_name(settings.password_file.name + ".first-login")
    write_atomic(path, f"user {DEFAULT_USER}\none-time password {one_time}\n".encode(), 0o600)
    typer.echo(
        f"first run: the one-time console login is in {path} (delete it after use)", err=True
    )


async def _run(
    node_settings: NodeSettings, hub_settings: HubSettings, passphrase: bytes | None
) -> int:
    node = Node(node_settings, passphrase=passphrase)
    hub = Hub(node, hub_settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    try:
        await hub.start()
        typer.echo(f"hub {node.code}: console on {hub.url}", err=True)
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(node.failed.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        log.info("hub_stopping", code=node.code, failed=node.failed.is_set())
    finally:
        await hub.aclose()
        await node.aclose()
    if node.failure is not None:
        raise node.failure
    return 0


@app.command("passwd")
def passwd(
    config: Config,
    user: Annotated[str, typer.Option(help="console user name")] = DEFAULT_USER,
) -> None:
    """Set (or add) a console operator's password; it is stored as an Argon2id hash.

    Example: lali hub passwd --config /etc/lali/hub.toml --user analyst1
    """
    try:
        settings = HubSettings.load(config)
    except LaliError as exc:
        raise fail(exc) from exc
    first = getpass.getpass(f"new password for {user}: ")
    if getpass.getpass("again: ") != first:
        typer.secho("the passwords differ; nothing changed", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    try:
        PasswordFile(settings.password_file).set(user, first)
    except ValueError as exc:
        typer.secho(f"{exc}; nothing changed", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    typer.echo(f"password set for {user} in {settings.password_file}")


@app.command("bulletin")
def send_bulletin(
    config: Config,
    to: Annotated[str, typer.Option(help="comma-separated member codes, or 'all'")],
    title: Annotated[str, typer.Option(help="one line")],
    analysis_file: Annotated[Path, typer.Option(help="text file with the analysis")],
    summary: Annotated[str, typer.Option(help="short summary (default: the title)")] = "",
    tlp: Annotated[Tlp, typer.Option(help="handling code")] = Tlp.AMBER,
    priority: Annotated[Priority, typer.Option(help="flash, urgent, routine")] = Priority.ROUTINE,
    confidence: Annotated[str | None, typer.Option(help="low, moderate, high")] = None,
    ref: Annotated[list[str] | None, typer.Option(help="message id of a cited alert")] = None,
    link: Annotated[list[str] | None, typer.Option(help="id of a correlation link")] = None,
    entities: Annotated[bool, typer.Option(help="include the linked entities")] = False,
    passphrase_file: PassFile = None,
) -> None:
    """Send an analysis bulletin citing alerts and links; print its message id.

    The TLP rules of the console apply. Follow delivery with
    `lali status --config <the hub's node.toml> ID`.

    Example: lali hub bulletin -c hub.toml --to FJ,WS --tlp AMBER --title "Passport ring"
        --analysis-file analysis.txt --link 3f2a9c1d0b7e4a55
    """
    try:
        node_settings, _ = load_hub_config(config)
        analysis = analysis_file.read_text(encoding="utf-8").strip()
        recipients = [c.strip().upper() if c.strip() != "all" else "all" for c in to.split(",")]
        draft = bulletin.Draft(
            title=title,
            summary=summary,
            analysis=analysis,
            priority=priority,
            tlp=tlp,
            recipients=recipients,
            confidence=confidence,
            references=list(ref or []),
            links=list(link or []),
            include_entities=entities,
        )
        passphrase = read_passphrase(passphrase_file or node_settings.identity_passphrase_file)
        result = asyncio.run(_send(node_settings, draft, passphrase))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {analysis_file}: {exc}") from exc
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(result.message_id)
    typer.echo(f"{result.state}: bulletin to {', '.join(result.recipients)}", err=True)


async def _send(
    node_settings: NodeSettings, draft: bulletin.Draft, passphrase: bytes | None
) -> SendResult:
    node = Node(node_settings, passphrase=passphrase, consume=False)
    await node.start()
    try:
        try:
            await asyncio.wait_for(node.ready.wait(), 10)
        except TimeoutError:
            log.warning("link_down_queueing", nats_url=node_settings.nats_url)
        await create_tables(node.db)
        return await bulletin.send(node, Reader(node_settings.database), draft)
    finally:
        await node.aclose()
