"""``lali keys``: create and inspect member identities."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from keys import Identity, load_identity, save_identity
from node.cli.common import PassFile, fail, read_passphrase
from node.ops.natsconfig import new_user_nkey, write_seed
from schemas.errors import LaliError

app = typer.Typer(help="Member identities: signing and encryption keys.", no_args_is_help=True)


@app.command("init")
def init(
    code: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code of this member")],
    out: Annotated[Path, typer.Option(help="key file to create (mode 0600)")],
    public_out: Annotated[
        Path | None, typer.Option(help="also write the public keys for the hub here")
    ] = None,
    valid_days: Annotated[int, typer.Option(help="validity of the published keys")] = 365,
    passphrase_file: PassFile = None,
    nats_seed_out: Annotated[
        Path | None, typer.Option(help="also create a NATS user nkey seed here (mode 0600)")
    ] = None,
) -> None:
    """Create a member identity (Ed25519 signing + X25519 encryption key).

    Example: lali keys init --code WS --out /etc/lali/ws.key --public-out ws.pub.json \
        --nats-seed-out /etc/lali/nats.seed
    """
    try:
        identity = Identity.generate(code.upper())
        save_identity(out, identity, read_passphrase(passphrase_file))
    except LaliError as exc:
        raise fail(exc) from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created {out} for {identity.code}")
    typer.echo(f"  signing key id    {identity.sign_kid}")
    typer.echo(f"  encryption key id {identity.enc_kid}")
    nkey = None
    if nats_seed_out is not None:
        seed, nkey = new_user_nkey()
        write_seed(nats_seed_out, seed)
        typer.echo(f"  NATS user nkey     {nkey} (seed in {nats_seed_out})")
    if public_out is not None:
        public = _public_json(identity, valid_days, nkey)
        public_out.write_text(public + "\n", encoding="utf-8")
        typer.echo(f"public keys for the directory written to {public_out}")


def _public_json(identity: Identity, valid_days: int, nats_nkey: str | None = None) -> str:
    now = datetime.now(UTC)
    keys = identity.directory_keys(now - timedelta(minutes=5), now + timedelta(days=valid_days))
    doc: dict[str, object] = {
        "code": identity.code,
        "keys": [k.model_dump(mode="json") for k in keys],
    }
    if nats_nkey is not None:
        doc["nats_nkey"] = nats_nkey
    return json.dumps(doc, indent=2)


@app.command("export-public")
def export_public(
    key_file: Annotated[Path, typer.Argument(help="identity key file")],
    valid_days: Annotated[int, typer.Option(help="validity of the published keys")] = 365,
    passphrase_file: PassFile = None,
) -> None:
    """Print the public keys of an identity as JSON, for `lali directory add`.

    Example: lali keys export-public /etc/lali/ws.key > ws.pub.json
    """
    try:
        identity = load_identity(key_file, read_passphrase(passphrase_file))
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(_public_json(identity, valid_days))


@app.command("show")
def show(
    key_file: Annotated[Path, typer.Argument(help="identity key file")],
    passphrase_file: PassFile = None,
) -> None:
    """Show the code and key ids of an identity (never the secret keys).

    Example: lali keys show /etc/lali/ws.key
    """
    try:
        identity = load_identity(key_file, read_passphrase(passphrase_file))
    except LaliError as exc:
        raise fail(exc, about=key_file) from exc
    typer.echo(f"member {identity.code}")
    typer.echo(f"  signing key id     {identity.sign_kid}")
    for kid in identity.encryption_kids():
        typer.echo(f"  encryption key id  {kid}")


@app.command("rotate")
def rotate(
    key_file: Annotated[Path, typer.Argument(help="identity key file (rewritten in place)")],
    public_out: Annotated[Path, typer.Option(help="new public keys for the hub")],
    valid_days: Annotated[int, typer.Option(help="validity of the new keys")] = 365,
    passphrase_file: PassFile = None,
) -> None:
    """Rotate this member's signing and encryption keys, with overlap.

    The node keeps signing with the old key and sealing to the old encryption key until
    the hub publishes a directory with the new ones (`lali directory add --public ...`
    keeps the old keys valid for an overlap); old encryption keys stay in the file, so
    alerts sealed to them can still be read.

    Example: lali keys rotate /etc/lali/ws.key --public-out ws-rotated.pub.json
    """
    try:
        passphrase = read_passphrase(passphrase_file)
        identity = load_identity(key_file, passphrase).rotate()
        save_identity(key_file, identity, passphrase, overwrite=True)
    except LaliError as exc:
        raise fail(exc) from exc
    public_out.write_text(_public_json(identity, valid_days) + "\n", encoding="utf-8")
    typer.echo(
        f"rotated {key_file}: signing key {identity.sign_kid}, encryption key"
        f" {identity.enc_kid}; send {public_out} to the hub"
    )
