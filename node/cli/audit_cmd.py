"""``lali audit``: verify and read the tamper-evident audit log."""

from pathlib import Path
from typing import Annotated

import typer

from node.audit import list_entries, verify_file
from node.cli.common import fail
from node.config import NodeSettings
from schemas.errors import LaliError

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

Config = Annotated[Path | None, typer.Option("--config", "-c", help="node.toml")]
Db = Annotated[Path | None, typer.Option(help="audit database (instead of --config)")]


def _db(config: Path | None, db: Path | None) -> Path:
    if (config is None) == (db is None):
        raise typer.BadParameter("give exactly one of --config or --db")
    return db if db is not None else NodeSettings.load(config).database  # type: ignore[arg-type]


@app.command("verify")
def verify(config: Config = None, db: Db = None) -> None:
    """Recompute the hash chain; exit 1 naming the first bad entry.

    Example: lali audit verify --db /var/lib/lali/lali.db
    """
    try:
        result = verify_file(_db(config, db))
    except LaliError as exc:
        raise fail(exc, code=1) from exc
    typer.echo(f"audit ok: {result.count} entries, head {result.head.hex()}")


@app.command("list")
def list_(
    config: Config = None,
    db: Db = None,
    kind: Annotated[str | None, typer.Option(help="sent, received, rejected, ...")] = None,
    limit: Annotated[int, typer.Option(help="newest N entries")] = 50,
) -> None:
    """Print the newest audit entries (metadata only; envelopes stay encrypted).

    Example: lali audit list --db lali.db --kind rejected
    """
    try:
        entries = list_entries(_db(config, db), limit=limit, kind=kind)
    except LaliError as exc:
        raise fail(exc) from exc
    for stored in entries:
        e = stored.entry
        size = "" if e.envelope is None else f"{len(e.envelope)}B"
        typer.echo(
            f"{e.seq:>6} {e.at} {e.kind:<9} {e.message_id or '-':<36} {e.peer or '-':<12}"
            f" {e.topic or '-':<20} {e.reason or '':<18} {size}"
        )
