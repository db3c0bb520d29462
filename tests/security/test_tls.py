"""TLS on the NATS connections: the demo's and the tests' server (node/ops/natsserver.py)
refuses plain connections and speaks nothing in clear; a client that trusts another CA
is refused; a node never falls back to plain text, even for a server, or someone on
the path, that says it does not want TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from natskit import tls_connect

from node.config import NodeSettings
from node.ops.natsconfig import new_user_nkey, write_seed
from node.ops.natsserver import NatsServer
from node.ops.provision import Network
from node.ops.tls import local_server_tls
from node.transport import ConnectOptions, Transport
from schemas.errors import TransportError

pytestmark = pytest.mark.integration


async def test_a_plain_connection_is_refused_and_hears_nothing(nats_server: NatsServer) -> None:
    assert nats_server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", nats_server.port)
    try:
        # Handshake first: the server does not even send its INFO in clear.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 1.0)
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(4096), 10.0)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed: no INFO, no PONG, no -ERR to read
    finally:
        writer.close()


async def test_a_client_trusting_another_ca_is_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    other = local_server_tls(tmp_path / "other-ca", datetime.now(UTC))
    # A raw client...
    with pytest.raises(ssl.SSLCertVerificationError):
        await tls_connect(
            nats_server.url, other.ca, allow_reconnect=False, max_reconnect_attempts=0
        )
    # ...and a node's own transport (a node.toml naming the wrong CA).
    transport = Transport(
        ConnectOptions(url=nats_server.url, name="t", tls_ca=other.ca, one_shot=True)
    )
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        await transport.connect()
    await transport.close()


async def test_the_provisioned_nodes_trust_the_servers_ca_and_connect(
    network: Network, nats_server: NatsServer
) -> None:
    settings = NodeSettings.load(network.configs["WS"])
    assert settings.nats_url.startswith("tls://")
    assert settings.nats_tls_ca is not None
    assert settings.nats_tls_ca.read_bytes() == nats_server.tls.ca.read_bytes()
    transport = Transport(settings.connect_options(one_shot=True))
    await transport.connect()
    try:
        assert transport.nc.connected_url is not None
        assert transport.nc.client_id is not None
    finally:
        await transport.close()


async def test_a_node_never_falls_back_to_plain_text(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Someone on the path answers in the server's place with an INFO that asks for no
    TLS. nats-py alone would then log in in clear (its nkey signature over the real
    server's nonce, relayed, would let the impostor in as this member); the node starts
    with the TLS handshake instead, so the impostor gets nothing but a ClientHello."""
    heard = bytearray()
    info = {"server_id": "impostor", "version": "2.15.1", "proto": 1, "max_payload": 1 << 20}
    info |= {"tls_required": False, "auth_required": True, "nonce": "relayed-nonce"}

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"INFO " + json.dumps(info).encode() + b"\r\n")
        await writer.drain()
        try:
            heard.extend(await asyncio.wait_for(reader.read(65536), 5.0))
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seed = tmp_path / "ws.seed"
    write_seed(seed, new_user_nkey()[0])
    transport = Transport(
        ConnectOptions(
            url=f"tls://127.0.0.1:{port}",
            name="t",
            nkey_seed_file=seed,
            tls_ca=nats_server.tls.ca,
            one_shot=True,
        )
    )
    try:
        with pytest.raises(TransportError):
            await transport.connect()
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
    assert b"CONNECT" not in heard
    assert heard[:1] == b"\x16"  # a TLS record (the ClientHello), nothing in clear
