"""``lali check``: validate alert files exactly as ``lali send`` will, with no node."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from node.cli.common import Unreadable
from node.cli.node_cmd import load_alert, offline_checks, parse_recipients
from schemas.alert import Priority, Tlp, Topic
from schemas.errors import LaliError

OK, INVALID, USAGE = 0, 1, 2


def check(
    alert_files: Annotated[
        list[Path], typer.Argument(help="alert JSON files (see schemas/examples)")
    ],
    to: Annotated[
        str | None, typer.Option(help="also check --to as `lali send` would (codes or 'all')")
    ] = None,
    topic: Annotated[Topic | None, typer.Option(help="must match the alert's topic")] = None,
    tlp: Annotated[Tlp | None, typer.Option(help="override the alert's TLP")] = None,
    priority: Annotated[Priority | None, typer.Option(help="override the priority")] = None,
) -> None:
    """Validate alert files as `lali send` will (schema, expiry, TLP rules), offline.

    Needs no node and no configuration; `--to` checks the rules that need no directory.
    Prints `ok FILE` or `FILE: error (reason): message`, one line per file.
    Exit 0 if all are valid, 1 if any is not, 2 if a file cannot be read.

    Example: lali check schemas/examples/valid/*.json ;
    lali check --to all --tlp RED schemas/examples/valid/maritime.json
    """
    recipients = parse_recipients(to) if to is not None else None
    code = OK
    for path in alert_files:
        try:
            alert = load_alert(path, topic, tlp, priority)
            offline_checks(alert, recipients, datetime.now(UTC))
        except LaliError as exc:
            code = max(code, USAGE if isinstance(exc, Unreadable) else INVALID)
            typer.secho(f"{path}: error ({exc.reason}): {exc}", fg=typer.colors.RED, err=True)
        else:
            typer.echo(f"ok {path}")
    raise typer.Exit(code)
