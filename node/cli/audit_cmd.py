"""``lali audit``: verify and read the tamper-evident audit log."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from keys import Directory, RootSet, verify_directory_update
from node.cli.common import fail
from node.config import NodeSettings
from node.exchange.continuity import accept_restore, hub_checkpoint
from node.exchange.trust import parse_root_keys
from node.exchange.witness import local_checkpoints, published_checkpoint
from node.protocol.checkpoint import Checkpoint, checkpoint_signer, verify_checkpoint
from node.storage.audit import list_entries, verify_file
from node.storage.database import Database
from node.transport import Transport
from schemas.errors import (
    ConfigError,
    DirectoryExpired,
    KeyRevoked,
    LaliError,
    SenderMismatch,
    StorageError,
    TransportError,
    UnknownKey,
    UntrustedMessage,
)

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

Config = Annotated[Path | None, typer.Option("--config", "-c", help="node.toml")]
Db = Annotated[Path | None, typer.Option(help="audit database (instead of --config)")]


def _db(config: Path | None, db: Path | None) -> Path:
    if (config is None) == (db is None):
        raise typer.BadParameter("give exactly one of --config or --db")
    return db if db is not None else NodeSettings.load(config).database  # type: ignore[arg-type]


@app.command("verify")
def verify(
    config: Config = None,
    db: Db = None,
    offline: Annotated[bool, typer.Option(help="do not ask the hub for checkpoints")] = False,
) -> None:
    """Recompute the hash chain; exit 1 naming the first bad entry.

    With --config it also checks the chain against our signed checkpoints: those in the
    database and the newest one the hub's stream holds, so a log cut short, restored
    from an old backup or rewritten in full is caught.

    Example: lali audit verify --config /etc/lali/node.toml
    """
    try:
        path = _db(config, db)
    except ConfigError as exc:
        raise fail(exc) from exc
    heads = []
    # Nothing to check, or no way to check it, is not a failed check: exit 2, as for
    # any command; exit 1 is for a log (or checkpoint, or directory) found wrong.
    if not path.exists():
        raise fail(StorageError(f"no audit database at {path}", path=str(path)))
    try:
        if config is not None:
            settings = NodeSettings.load(config)
            heads = checkpoint_heads(settings, path, offline=offline)
        result = verify_file(path, [c.chain_head for c in heads])
    except ConfigError as exc:
        raise fail(exc) from exc
    except LaliError as exc:
        raise fail(exc, code=1) from exc
    typer.echo(f"audit ok: {result.count} entries, head {result.head.hex()}")
    if heads:
        newest = max(heads, key=lambda c: c.count)
        typer.echo(
            f"matches {len(heads)} signed checkpoint(s), newest at entry {newest.count}"
            f" ({newest.at:%Y-%m-%d %H:%M} UTC)"
        )


def _cached_directory(settings: NodeSettings) -> Directory:
    """The node's cached directory, checked as the node checks it (configured roots at
    their threshold, and the roots the directory declares), with its grace period."""
    try:
        data = settings.directory.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the directory {settings.directory}: {exc.strerror}",
            path=str(settings.directory),
        ) from exc
    roots = parse_root_keys(settings.root_keys)
    trusted = RootSet(roots, settings.directory_threshold)
    now = datetime.now(UTC)
    try:
        directory, _ = verify_directory_update(data, trusted, now)
    except DirectoryExpired:  # within the node's grace period it still serves
        grace = now - timedelta(hours=settings.directory_grace_h)
        directory, _ = verify_directory_update(data, trusted, grace)
    return directory


def checkpoint_heads(settings: NodeSettings, path: Path, *, offline: bool) -> list[Checkpoint]:
    """Our verified checkpoints: from the database and (unless offline) the hub.

    Each is held to the key that signed it, valid at the checkpoint's own time, so one
    made before a rotation still counts after it. A local checkpoint whose key the
    current directory no longer lists (pruned after rotations), or whose key was revoked
    at or before its time, is not evidence either way: it is skipped with a warning
    naming it, unless no checkpoint at all is left to hold the log to. Any other flaw
    (a bad signature, another member's key) fails. The hub's checkpoint only ever
    warns: anything on the subject says nothing about our chain.
    """
    directory = _cached_directory(settings)
    blobs = local_checkpoints(path, settings.code)
    checkpoints: list[Checkpoint] = []
    skipped: list[UntrustedMessage] = []
    for n, blob in enumerate(blobs, 1):
        try:
            checkpoints.append(verify_checkpoint(blob, directory))
        except (UnknownKey, KeyRevoked) as exc:
            skipped.append(exc)
            _warn(f"our checkpoint {n} of {len(blobs)} in the database {_described(blob, exc)}")
    if not offline:
        try:
            remote = asyncio.run(_fetch(settings))
        except TransportError as exc:
            _warn(f"hub unreachable ({exc}); checked local checkpoints only")
        else:
            if remote is not None:
                try:
                    checkpoints.append(verify_checkpoint(remote, directory))
                except UntrustedMessage as exc:
                    _warn(
                        "the newest message on our checkpoint subject is not a valid"
                        f" checkpoint ({exc.reason}: {exc}); checked local checkpoints only"
                    )
    if skipped and not checkpoints:
        error = KeyRevoked if all(isinstance(e, KeyRevoked) for e in skipped) else UnknownKey
        raise error(
            f"none of our {len(skipped)} checkpoint(s) is signed by a key the current"
            " directory lists as good for it; see docs/operations.md, Auditing"
        )
    if any(c.member != settings.code for c in checkpoints):
        raise SenderMismatch("a checkpoint of another member was found for us")
    return checkpoints


def _described(blob: bytes, exc: UntrustedMessage) -> str:
    if isinstance(exc, UnknownKey):
        return (
            f"is signed by key {checkpoint_signer(blob)}, which the current directory no longer"
            " lists: not checked against"
        )
    return f"is {exc}: not checked against"


def _warn(message: str) -> None:
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


async def _fetch(settings: NodeSettings) -> bytes | None:
    transport = Transport(settings.connect_options("audit", one_shot=True))
    await transport.connect()
    try:
        return await published_checkpoint(transport, settings.stream, settings.code)
    finally:
        await transport.close()


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


@app.command("accept-restore")
def accept_restore_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="node.toml")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm: entries after it are lost")] = False,
) -> None:
    """Let a node run on a log restored from an older copy, on the record.

    A node refuses to start when its audit log is behind (or departs from) the newest
    checkpoint of ours that the hub holds. This writes an audit entry
    ``restore_accepted`` naming that checkpoint and how many entries we have, so the
    node starts; the hub sees our next checkpoint and alarms, as it should. Ask the
    hub to redeliver what was lost (docs/operations.md, "A node restored from a backup").

    Example: lali audit accept-restore --config demo-data/FJ/node.toml --yes
    """
    settings = NodeSettings.load(config)
    try:
        checkpoint, ours = asyncio.run(_accept_restore(settings, confirm=yes))
    except LaliError as exc:
        raise fail(exc) from exc
    if checkpoint is None:
        typer.echo("the hub holds no checkpoint of ours: nothing to accept")
    elif not yes:
        typer.echo(
            f"the hub holds our checkpoint at entry {checkpoint.count}; this log has {ours}."
            " Run again with --yes to accept the loss and start the node."
        )
        raise typer.Exit(1)
    else:
        typer.echo(f"accepted: running from entry {ours}, the hub held {checkpoint.count}")


async def _accept_restore(
    settings: NodeSettings, *, confirm: bool
) -> tuple[Checkpoint | None, int]:
    directory = _cached_directory(settings)
    transport = Transport(settings.connect_options("audit", one_shot=True))
    await transport.connect()
    try:
        checkpoint = await hub_checkpoint(transport, settings.stream, directory, settings.code)
    finally:
        await transport.close()
    db = await Database.open(settings.database)
    try:
        row = await db.fetchone("SELECT count FROM audit_head WHERE id = 1")
        ours = int(row[0]) if row else 0
        if checkpoint is not None and confirm:
            await accept_restore(db, checkpoint, ours)
    finally:
        await db.close()
    return checkpoint, ours
