"""``lali deploy``: configuration for the servers, generated from the directory, and
the TLS certificates of the NATS links."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from keys import RootSet, verify_directory_update
from node.cli.common import fail
from node.exchange.trust import parse_root_keys
from node.ops.natsconfig import render_nats_config
from node.ops.tls import (
    CA_VALIDITY,
    CLIENT_VALIDITY,
    SERVER_VALIDITY,
    CertificateAuthority,
    TlsDir,
    nats_tls_block,
    trust_bundle,
    trusted_names,
    write_tls_dir,
)
from schemas.errors import ConfigError, LaliError

app = typer.Typer(
    help="Server configuration generated from the directory; TLS certificates.",
    no_args_is_help=True,
)


@app.command("nats-config")
def nats_config(
    directory: Annotated[Path, typer.Option(help="signed directory file")],
    root_public: Annotated[
        list[str], typer.Option(help="trusted root public key (base64); repeatable")
    ],
    out: Annotated[Path, typer.Option(help="nats-server config file to write")],
    threshold: Annotated[
        int, typer.Option(min=1, help="how many root keys must sign (directory_threshold)")
    ] = 1,
    store_dir: Annotated[str, typer.Option(help="JetStream store directory")] = "/var/lib/nats",
    listen: Annotated[str, typer.Option(help="client listen address")] = "0.0.0.0:4222",
    stream: Annotated[str, typer.Option(help="alert stream name")] = "LALI_ALERTS",
    tls_dir: Annotated[
        Path, typer.Option(help="the server's certificates (`lali deploy tls --out`)")
    ] = Path("/etc/nats/tls"),
) -> None:
    """Write a nats-server config: one nkey user per member, each allowed to publish
    only as itself and to use only its own consumer and inbox; sync_interval always;
    TLS required for every client (server.pem, server-key.pem, ca.pem in --tls-dir).

    Example: lali deploy nats-config --directory directory.json --root-public 3q2+7w...= \\
        --out /etc/nats/nats-server.conf
    """
    try:
        # As a node: `threshold` of the given keys and the directory's declared roots.
        trusted = RootSet(parse_root_keys(root_public), threshold)
        verified, _ = verify_directory_update(directory.read_bytes(), trusted, datetime.now(UTC))
        text = render_nats_config(verified, stream=stream, store_dir=store_dir, listen=listen)
        text += nats_tls_block(TlsDir(tls_dir).server)
    except LaliError as exc:
        raise fail(exc) from exc
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(verified.members)} users from directory v{verified.version}")


@app.command("consumers")
def consumers(
    config: Annotated[Path, typer.Option("--config", "-c", help="the hub's node.toml")],
    member: Annotated[
        list[str] | None,
        typer.Option(help="only this member's consumer (e.g. a country's, on its leaf)"),
    ] = None,
    nkey_seed: Annotated[
        Path | None,
        typer.Option(help="log in with this nkey seed instead of node.toml's (an operator)"),
    ] = None,
    inbox_prefix: Annotated[
        str | None, typer.Option(help="the reply inbox prefix that nkey may read")
    ] = None,
    create_stream: Annotated[
        bool,
        typer.Option(help="create the alert stream if it is missing (not on a leaf)"),
    ] = True,
) -> None:
    """Create or update the members' durable consumers node-<CODE> from the directory,
    as the hub's node does when it starts and after every new directory. Members may
    not create or change their own: each consumer delivers the member's topics (as the
    directory lists them), the receipts for the alerts it sent, at the hub every
    checkpoint, and never a dead letter. ack_wait_s, max_deliver and fetch_batch come
    from this node.toml (the hub's). The alert stream is created first if it is missing,
    as the hub's node does; a leaf's stream comes from its JSON file instead
    (--no-create-stream).

    Example: lali deploy consumers --config /etc/lali/hub.toml
    """
    import asyncio
    import dataclasses

    from node.config import NodeSettings
    from node.ops.provision import configure_stream_consumers

    try:
        settings = NodeSettings.load(config)
        trusted = RootSet(parse_root_keys(settings.root_keys), settings.directory_threshold)
        verified, _ = verify_directory_update(
            settings.directory.read_bytes(), trusted, datetime.now(UTC)
        )
        options = settings.connect_options("deploy", one_shot=True)
        if nkey_seed is not None:
            options = dataclasses.replace(options, nkey_seed_file=nkey_seed)
        if inbox_prefix is not None:
            options = dataclasses.replace(options, inbox_prefix=inbox_prefix)
        specs = asyncio.run(
            configure_stream_consumers(
                options,
                settings.stream_policy(),
                verified,
                only=member or (),
                create_stream=create_stream,
            )
        )
    except OSError as exc:
        raise fail(ConfigError(f"cannot read the directory: {exc}")) from exc
    except LaliError as exc:
        raise fail(exc) from exc
    for spec in specs:
        typer.echo(f"{spec.durable}: {' '.join(spec.filters)}")
    typer.echo(
        f"configured {len(specs)} consumer{'s' if len(specs) != 1 else ''} on"
        f" {settings.stream} from directory"
        f" v{verified.version} (ack_wait_s={settings.ack_wait_s:g},"
        f" max_deliver={settings.max_deliver})"
    )


@app.command("tls")
def tls(
    out: Annotated[Path, typer.Option(help="directory of the CA and its certificates")],
    server_name: Annotated[
        list[str] | None,
        typer.Option(help="DNS name or IP address of the servers (SAN); repeatable"),
    ] = None,
    client: Annotated[
        list[str] | None, typer.Option(help="member code to issue a client certificate for")
    ] = None,
    also_trust: Annotated[
        list[Path] | None,
        typer.Option(help="another CA's ca.pem to keep trusting (CA rotation); repeatable"),
    ] = None,
    drop_other_cas: Annotated[
        bool, typer.Option(help="trust only this directory's CA (the end of a rotation)")
    ] = False,
    ca_days: Annotated[int, typer.Option(min=1, help="validity of a new CA")] = CA_VALIDITY.days,
    server_days: Annotated[int, typer.Option(min=1)] = SERVER_VALIDITY.days,
    client_days: Annotated[int, typer.Option(min=1)] = CLIENT_VALIDITY.days,
) -> None:
    """Make the private CA of the NATS links and issue its certificates (EC P-256).

    In a new directory a new CA is made; where ca-key.pem exists, that CA issues
    (renewal, another member). Writes ca.pem (the CAs to trust: servers' ca_file,
    nodes' nats_tls_ca), ca-key.pem (keep it off the servers), server.pem and
    server-key.pem for --server-name (the names plus localhost, 127.0.0.1, ::1), and
    client-CODE.pem, client-CODE-key.pem per --client. Keys are mode 0600.
    docs/operations.md, "TLS certificates", has the rotation steps.

    Example: lali deploy tls --out hub-tls --server-name hub-1.lali.example.org \
        --server-name hub-2.lali.example.org --server-name hub-3.lali.example.org \
        --client WS --client FJ
    """
    now = datetime.now(UTC)
    where = TlsDir(out)
    try:
        ca = where.load_ca()
        made = ca is None
        others: list[bytes] = []
        if ca is None:
            if where.ca.exists():
                raise ConfigError(
                    f"{where.ca} exists without ca-key.pem: a copy for a server or node,"
                    " not a CA directory; choose another --out"
                )
            ca = CertificateAuthority.generate(now, timedelta(days=ca_days))
        elif not drop_other_cas:
            others.append(where.ca.read_bytes())  # keep what this ca.pem already trusts
        others += [path.read_bytes() for path in also_trust or []]
        server = None
        if server_name:
            server = ca.issue_server(server_name, now, timedelta(days=server_days))
        clients = {
            code: ca.issue_client(code, now, timedelta(days=client_days)) for code in client or []
        }
        written = write_tls_dir(
            where, ca, trust=trust_bundle(ca, others), server=server, clients=clients
        )
    except OSError as exc:
        raise fail(ConfigError(f"cannot write or read TLS files: {exc}")) from exc
    except LaliError as exc:
        raise fail(exc) from exc
    if made:
        typer.echo(f"new CA: {ca.cert.subject.rfc4514_string()}")
    typer.echo(f"CA valid until {ca.not_after:%Y-%m-%d}; ca.pem trusts:")
    for name in trusted_names(where.ca.read_bytes()):
        typer.echo(f"  {name}")
    if server is not None:
        typer.echo(f"server certificate valid until {server.not_after:%Y-%m-%d}")
    for code, issued in clients.items():
        typer.echo(f"client certificate {code} valid until {issued.not_after:%Y-%m-%d}")
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"keep {where.ca_key} on the operator's machine only: it signs certificates")
