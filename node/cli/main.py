"""The ``lali`` command."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from node import logs
from node.cli import (
    audit_cmd,
    check_cmd,
    deploy_cmd,
    directory_cmd,
    handlers_cmd,
    keys_cmd,
    link_cmd,
    node_cmd,
    watchlist_cmd,
)
from node.cli import hub_cmd as hub_cli

app = typer.Typer(
    help="Lali: secure, federated alert exchange for Pacific border agencies.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(directory_cmd.app, name="directory")
app.add_typer(node_cmd.app, name="node")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(deploy_cmd.app, name="deploy")
app.add_typer(hub_cli.app, name="hub")
app.add_typer(handlers_cmd.app, name="handlers")
app.add_typer(watchlist_cmd.app, name="watchlist")
app.add_typer(link_cmd.app, name="link")
schemas_app = typer.Typer(help="The wire contract: JSON Schema files.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.command("send")(node_cmd.send)
app.command("check")(check_cmd.check)
app.command("inbox")(node_cmd.inbox)
app.command("status")(node_cmd.status)
app.command("forward")(node_cmd.forward)


@app.callback()
def _main(
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-text", help="log format (default: auto)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    logs.configure(json=log_json, level=log_level)


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="directory (default: schemas/json)")] = None,
) -> None:
    """Write the JSON Schema files generated from the pydantic models.

    Example: lali schemas export
    """
    from schemas.export import default_schema_dir, export_json_schemas

    for path in export_json_schemas(out or default_schema_dir()):
        typer.echo(f"wrote {path}")


@app.command("demo")
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="keep keys, configs and databases here")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for deliveries")] = 60.0,
    verbose: Annotated[bool, typer.Option(help="show the nodes' info logs")] = False,
    serve: Annotated[
        bool, typer.Option(help="also run the hub console; keep running until Ctrl-C")
    ] = False,
    console_port: Annotated[int, typer.Option(help="console port on 127.0.0.1")] = 8480,
) -> None:
    """Run a local network (hub, WS, FJ, TO) on an embedded nats-server, end to end.

    Example: lali demo --data-dir ./demo-data ; lali demo --serve (then open the console)
    """
    from node.ops.demo import run_demo
    from node.ops.demo_console import DemoConsole

    if not verbose:
        logs.configure(level="warning")
    if data_dir is not None:
        data_dir = data_dir.resolve()
    console = DemoConsole(console_port) if serve else None
    raise typer.Exit(asyncio.run(run_demo(data_dir, typer.echo, timeout, console)))


def main() -> None:
    app()
