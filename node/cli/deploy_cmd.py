"""``lali deploy``: configuration for the servers, generated from the directory."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from keys import verify_directory
from node.cli.common import fail
from node.exchange.trust import parse_root_keys
from node.ops.natsconfig import render_nats_config
from schemas.errors import LaliError

app = typer.Typer(help="Server configuration generated from the directory.", no_args_is_help=True)


@app.command("nats-config")
def nats_config(
    directory: Annotated[Path, typer.Option(help="signed directory file")],
    root_public: Annotated[
        list[str], typer.Option(help="trusted root public key (base64); repeatable")
    ],
    out: Annotated[Path, typer.Option(help="nats-server config file to write")],
    store_dir: Annotated[str, typer.Option(help="JetStream store directory")] = "/var/lib/nats",
    listen: Annotated[str, typer.Option(help="client listen address")] = "0.0.0.0:4222",
    stream: Annotated[str, typer.Option(help="alert stream name")] = "LALI_ALERTS",
) -> None:
    """Write a nats-server config: one nkey user per member, each allowed to publish
    only as itself and to use only its own consumer and inbox; sync_interval always.

    Example: lali deploy nats-config --directory directory.json --root-public 3q2+7w...= \\
        --out /etc/nats/nats-server.conf
    """
    try:
        verified = verify_directory(
            directory.read_bytes(), parse_root_keys(root_public), datetime.now(UTC)
        )
        text = render_nats_config(verified, stream=stream, store_dir=store_dir, listen=listen)
    except LaliError as exc:
        raise fail(exc) from exc
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(verified.members)} users from directory v{verified.version}")
