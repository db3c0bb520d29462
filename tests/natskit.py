"""Helpers for tests that run nats-server with the deploy/ configs, and for raw NATS
clients (every server requires TLS: ``tls_connect`` trusts the given CA)."""

from __future__ import annotations

import re
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from node.ops.natsconfig import new_user_nkey
from node.ops.natsserver import nats_server_binary
from node.ops.tls import TlsDir, local_server_tls

__all__ = [
    "DEPLOY_TLS",
    "deploy_tls",
    "example_nkey",
    "nats_config_test",
    "new_user_nkey",
    "replace_once",
    "tls_connect",
    "tls_context",
    "with_tls_dir",
]

# Where the deploy/nats configs expect the files of `lali deploy tls`.
DEPLOY_TLS = "/etc/nats/tls/"


def replace_once(text: str, old: str, new: str) -> str:
    """Replace ``old`` exactly once, so that a test edit cannot silently miss."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the file"
    return text.replace(old, new)


def nats_config_test(conf: Path) -> subprocess.CompletedProcess[str]:
    """``nats-server -c CONF -t``: the server's own check of a config file."""
    return subprocess.run(
        [str(nats_server_binary()), "-c", str(conf), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def example_nkey(text: str, code: str) -> str:
    """The example public key of the user whose first permission is ``code``'s subject."""
    match = re.search(
        r'nkey: "(U[A-Z2-7]{55})"\s+permissions: \{\s+publish: \{\s+allow: \[\s+'
        + re.escape(f'"lali.alert.*.{code}"'),
        text,
    )
    assert match, f"no user block for {code}"
    return match.group(1)


def with_tls_dir(text: str, tls: TlsDir) -> str:
    """A deploy/nats config whose TLS files are those of ``tls`` (the same names: the
    configs name what `lali deploy tls` writes)."""
    assert DEPLOY_TLS in text, "the config names no TLS file"
    return text.replace(DEPLOY_TLS, f"{tls.root}/")


def deploy_tls(directory: Path, *clients: str) -> TlsDir:
    """A CA, the servers' certificate (loopback names) and member certificates for
    ``clients``, as `lali deploy tls` writes them, for the deploy/nats configs."""
    local_server_tls(directory, datetime.now(UTC), clients=clients)
    return TlsDir(directory)


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Trust ``ca`` only (not the system's CAs); present ``cert`` if given."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


async def tls_connect(servers: str | list[str], ca: Path | None, **kwargs: Any) -> Client:
    """``nats.connect`` over TLS, handshake first as the servers require, trusting
    ``ca`` (a node's ``settings.nats_tls_ca``, a server's ``tls.ca``)."""
    assert ca is not None, "every server requires TLS: give the CA to trust"
    return await nats.connect(
        servers=servers, tls=tls_context(ca), tls_handshake_first=True, **kwargs
    )
