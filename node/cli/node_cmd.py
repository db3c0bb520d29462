"""``lali node run``, ``lali send`` and ``lali inbox``: running a node and using it."""

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import structlog
import typer

from node.cli.common import PassFile, fail, read_alert_file, read_passphrase
from node.config import NodeSettings
from node.exchange.outbound import ALL, SendResult, resolve_recipients
from node.exchange.receipts import delivery_status
from node.protocol.envelope import check_expiry
from node.runtime import Node
from node.storage.readonly import Row, read_only
from schemas.alert import Alert, Priority, Tlp, Topic, parse_alert
from schemas.errors import LaliError, SchemaViolation

app = typer.Typer(help="Run a national node.", no_args_is_help=True)
log = structlog.get_logger("lali.cli")

Config = Annotated[Path, typer.Option("--config", "-c", help="node.toml")]


@app.command("run")
def run(config: Config, passphrase_file: PassFile = None) -> None:
    """Run the node until SIGTERM or Ctrl-C, then drain gracefully.

    Example: lali node run --config /etc/lali/node.toml
    """
    try:
        settings = NodeSettings.load(config)
        passphrase = read_passphrase(passphrase_file or settings.identity_passphrase_file)
        code = asyncio.run(_run(settings, passphrase))
    except LaliError as exc:
        raise fail(exc) from exc
    raise typer.Exit(code)


async def _run(settings: NodeSettings, passphrase: bytes | None) -> int:
    node = Node(settings, passphrase=passphrase)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    try:
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(node.failed.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        log.info("node_stopping", code=settings.code, failed=node.failed.is_set())
    finally:
        await node.aclose()
    if node.failure is not None:
        raise node.failure
    return 0


def load_alert(
    path: Path, topic: Topic | None, tlp: Tlp | None, priority: Priority | None
) -> Alert:
    """Read an alert file; ``--tlp``/``--priority`` override, ``--topic`` must agree.
    ``lali send`` and ``lali check`` both read alerts here, so they agree."""
    alert = parse_alert(read_alert_file(path), now=datetime.now(UTC))
    if topic is not None and topic != alert.topic:
        raise SchemaViolation(f"--topic {topic.value} but the alert is {alert.topic.value}")
    update = {k: v for k, v in (("tlp", tlp), ("priority", priority)) if v is not None}
    if update:
        alert = parse_alert(alert.model_copy(update=update).model_dump_json())
    return alert


def parse_recipients(to: str) -> list[str]:
    """``--to FJ,to`` as member codes (upper case); ``all`` stays as it is."""
    return [c.strip().upper() if c.strip() != "all" else "all" for c in to.split(",")]


def offline_checks(alert: Alert, to: list[str] | None, now: datetime) -> None:
    """What ``send`` refuses without a node, run before any network wait (and by
    ``lali check``): an expired alert, and the ``--to`` rules that need no directory
    (``all`` with TLP:RED or AMBER+STRICT, ``all`` mixed with codes, no recipients).
    Whether a named code is a member is the directory's question, left to the node."""
    if to is not None:
        resolve_recipients(to, alert, sender="", members=[code for code in to if code != ALL])
    check_expiry(alert, now)


def send(
    alert_file: Annotated[Path, typer.Argument(help="alert JSON (see schemas/examples)")],
    config: Config,
    to: Annotated[str, typer.Option(help="comma-separated member codes, or 'all'")],
    topic: Annotated[Topic | None, typer.Option(help="must match the alert's topic")] = None,
    tlp: Annotated[Tlp | None, typer.Option(help="override the alert's TLP")] = None,
    priority: Annotated[Priority | None, typer.Option(help="override the priority")] = None,
    passphrase_file: PassFile = None,
) -> None:
    """Validate, sign, encrypt and send an alert; print its message id.

    The alert is committed to the audit log and outbox first; if the link is down it is
    reported as queued and the running node publishes it when the link returns.

    Example: lali send --config node.toml --topic maritime --to FJ,TO --tlp AMBER \\
        --priority flash alert.json
    """
    try:
        settings = NodeSettings.load(config)
        try:
            alert = load_alert(alert_file, topic, tlp, priority)
        except LaliError as exc:
            raise fail(exc, about=alert_file) from exc
        recipients = parse_recipients(to)
        offline_checks(alert, recipients, datetime.now(UTC))
        passphrase = read_passphrase(passphrase_file or settings.identity_passphrase_file)
        result = asyncio.run(_send(settings, alert, recipients, passphrase))
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(result.message_id)
    typer.echo(
        f"{result.state}: {alert.topic.value} to {', '.join(result.recipients)}",
        err=True,
    )


async def _one_shot(
    settings: NodeSettings,
    passphrase: bytes | None,
    act: Callable[[Node], Awaitable[SendResult]],
) -> SendResult:
    """A send-only node for one command: the alert is committed either way; with the
    link down after 10 s it stays queued for the running node to publish."""
    node = Node(settings, passphrase=passphrase, consume=False)
    await node.start()
    try:
        try:
            await asyncio.wait_for(node.ready.wait(), 10)
        except TimeoutError:
            log.warning("link_down_queueing", nats_url=settings.nats_url)
        return await act(node)
    finally:
        await node.aclose()


async def _send(
    settings: NodeSettings, alert: Alert, to: list[str], passphrase: bytes | None
) -> SendResult:
    return await _one_shot(settings, passphrase, lambda node: node.send(alert, to))


def inbox(
    config: Config,
    show: Annotated[str | None, typer.Option(help="print one alert's JSON by message id")] = None,
    limit: Annotated[int, typer.Option(help="how many of the newest to list")] = 50,
) -> None:
    """List received alerts (newest last), or show one in full.

    Example: lali inbox --config node.toml ; lali inbox --config node.toml --show 0193…
    """
    try:
        settings = NodeSettings.load(config)
    except LaliError as exc:
        raise fail(exc) from exc
    if not settings.database.exists():
        typer.echo("inbox is empty (no database yet)")
        return
    if show is not None:
        found = _query(settings.database, "SELECT alert FROM inbox WHERE message_id = ?", (show,))
        if not found:
            typer.secho(f"no alert {show} in the inbox", err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.echo(json.dumps(json.loads(found[0][0]), indent=2, ensure_ascii=False))
        return
    rows = _query(
        settings.database,
        "SELECT message_id, received_at, sender, topic, tlp, priority, state FROM inbox"
        " ORDER BY received_at DESC LIMIT ?",
        (limit,),
    )
    if not rows:
        typer.echo("inbox is empty")
    for mid, at, sender, top, tlp_, prio, state in reversed(rows):
        typer.echo(f"{at}  {sender}  {top:<20} {tlp_:<12} {prio:<8} {state:<5} {mid}")


def _query(path: Path, sql: str, params: tuple[object, ...]) -> list[Row]:
    # The node may be running: a read-only snapshot beside its writer. A damaged or
    # unreadable file is reported as one line, like any other typed error.
    try:
        with read_only(path) as snap:
            return snap.all(sql, params)
    except LaliError as exc:
        raise fail(exc) from exc


def status(
    message_id: Annotated[str, typer.Argument(help="message id printed by `lali send`")],
    config: Config,
    overdue_after: Annotated[
        int, typer.Option(help="minutes after publication without a receipt = overdue")
    ] = 15,
) -> None:
    """Show, per recipient, whether an alert is queued, published, delivered or overdue.

    Example: lali status --config node.toml 0193a5c2-7d1e-7a4b-9c3d-2f1e0a9b8c7d
    """
    try:
        settings = NodeSettings.load(config)
    except LaliError as exc:
        raise fail(exc) from exc
    if not settings.database.exists():
        typer.secho("no database yet: nothing was sent", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    try:
        rows = delivery_status(
            settings.database, message_id, datetime.now(UTC), timedelta(minutes=overdue_after)
        )
    except LaliError as exc:
        raise fail(exc) from exc
    if rows is None:
        typer.secho(f"{message_id} was not sent from this node", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    for row in rows:
        typer.echo(f"{row.recipient}  {row.state:<10} {row.at or ''}")


def forward(
    message_id: Annotated[str, typer.Argument(help="id of an alert in our inbox")],
    config: Config,
    to: Annotated[str, typer.Option(help="comma-separated member codes, or 'all'")],
    passphrase_file: PassFile = None,
) -> None:
    """Re-share a received alert with other members, as a new alert from this node that
    references the original. TLP:RED and TLP:AMBER+STRICT are refused (and audited).

    Example: lali forward --config node.toml --to VU,SB 01a227fe-65f6-75e2-9c4c-e63a029e2f83
    """
    try:
        settings = NodeSettings.load(config)
        recipients = parse_recipients(to)
        passphrase = read_passphrase(passphrase_file or settings.identity_passphrase_file)
        result = asyncio.run(_forward(settings, message_id, recipients, passphrase))
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(result.message_id)
    typer.echo(f"{result.state}: forwarded to {', '.join(result.recipients)}", err=True)


async def _forward(
    settings: NodeSettings, message_id: str, to: list[str], passphrase: bytes | None
) -> SendResult:
    return await _one_shot(settings, passphrase, lambda node: node.forward(message_id, to))
