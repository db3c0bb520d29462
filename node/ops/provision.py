"""Provision a local network in one directory: root key, identities, signed directory
and one ``node.toml`` per member; once its server runs, the alert stream and the
members' durable consumers (``provision_consumers``, what the hub's node does as it
starts). Used by ``lali demo`` and by the tests; an operator does the same steps by hand
with ``lali keys``, ``lali directory`` and ``lali deploy consumers``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from keys import Directory, Identity, Member, Role, RootKey, save_identity, save_root_key
from keys import sign_directory as _sign
from keys.files import write_atomic
from node.config import NodeSettings
from node.exchange.consumers import ConsumerSpec, configure_consumers
from node.exchange.policy import StreamPolicy
from node.ops.natsconfig import new_user_nkey, write_seed
from node.protocol.subjects import STREAM_SUBJECTS
from node.transport import ConnectOptions, Transport
from schemas.alert import Topic
from schemas.errors import ConfigError, TransportError


@dataclass(frozen=True)
class MemberSpec:
    code: str
    name: str
    role: Role = Role.MEMBER


@dataclass(frozen=True)
class Network:
    root: Path
    root_key: Path
    directory: Path
    configs: dict[str, Path]
    root_public_b64: str
    members: Directory


def toml_value(value: object) -> str:
    """A TOML literal for the few value kinds node.toml uses (str, int, float, list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def write_node_config(path: Path, values: dict[str, object]) -> None:
    lines = ["# Lali node configuration (see deploy/node.example.toml)"]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def provision(
    root: Path,
    members: list[MemberSpec],
    nats_url: str,
    now: datetime,
    *,
    tls_ca: Path,
    valid_for: timedelta = timedelta(days=30),
    extra_config: dict[str, object] | None = None,
) -> Network:
    """Keys, directory and node.toml files for ``members``, in ``root``; the nodes
    trust ``tls_ca`` for the server's TLS certificate (``NatsServer.tls.ca``)."""
    network = provision_keys(root, members, now, valid_for=valid_for)
    write_node_configs(network, nats_url, extra_config, tls_ca=tls_ca)
    return network


def provision_keys(
    root: Path, members: list[MemberSpec], now: datetime, *, valid_for: timedelta
) -> Network:
    """Root key, identities, NATS nkeys and the signed directory (no node.toml yet)."""
    root.mkdir(parents=True, exist_ok=True)
    root_key = RootKey.generate()
    root_key_path = root / "hub-root.key"
    save_root_key(root_key_path, root_key, overwrite=True)
    root_b64 = base64.b64encode(bytes(root_key.verify_key)).decode("ascii")
    not_before = now - timedelta(minutes=5)
    entries: list[Member] = []
    for spec in members:
        home = root / spec.code
        home.mkdir(exist_ok=True)
        identity = Identity.generate(spec.code)
        save_identity(home / "identity.key", identity, overwrite=True)
        seed, nkey = new_user_nkey()
        write_seed(home / "nats.seed", seed)
        entries.append(
            Member(
                code=spec.code,
                name=spec.name,
                role=spec.role,
                keys=identity.directory_keys(not_before, now + valid_for),
                topics=[t.value for t in Topic],
                nats_nkey=nkey,
            )
        )
    directory = Directory(version=1, issued_at=now, expires_at=now + valid_for, members=entries)
    directory_path = root / "directory.json"
    directory_path.write_bytes(_sign(directory, [root_key]))
    configs = {spec.code: root / spec.code / "node.toml" for spec in members}
    return Network(root, root_key_path, directory_path, configs, root_b64, directory)


NATS_CA = "nats-ca.pem"  # in the network directory: the CA the nodes trust for NATS


def write_node_configs(
    network: Network,
    nats_url: str,
    extra_config: dict[str, object] | None = None,
    *,
    tls_ca: Path,
) -> None:
    """One node.toml per member. The server's CA ``tls_ca`` is copied into the network
    directory (``nats-ca.pem``) and named there: every connection is TLS."""
    ca = network.root / NATS_CA
    if tls_ca.resolve() != ca.resolve():
        write_atomic(ca, tls_ca.read_bytes(), 0o644)
    for code, config in network.configs.items():
        write_node_config(
            config,
            {
                "code": code,
                "identity": "identity.key",
                "directory": "../directory.json",
                "root_keys": [network.root_public_b64],
                "database": "lali.db",
                "nats_url": nats_url,
                "nats_nkey_seed_file": "nats.seed",
                "nats_tls_ca": f"../{NATS_CA}",
                **(extra_config or {}),
            },
        )


async def configure_stream_consumers(
    options: ConnectOptions,
    policy: StreamPolicy,
    directory: Directory,
    *,
    only: Sequence[str] = (),
    create_stream: bool = False,
    wait_s: float = 30.0,
) -> list[ConsumerSpec]:
    """Connect with ``options`` and create or update the durable consumers of the
    members of ``directory`` (of those in ``only``, if given), configured by ``policy``,
    as the hub's node does (`lali deploy consumers`, and the networks of the demo and
    the tests). ``create_stream``: create the alert stream first if it is missing. A
    server that does not answer yet (a cluster electing its leaders) is retried for
    ``wait_s``; a refusal is raised with what the server said."""
    if only:
        unknown = sorted(set(only) - set(directory.codes()))
        if unknown:
            raise ConfigError(f"not in the directory: {', '.join(unknown)}")
        members = [m for m in directory.members if m.code in only]
        directory = directory.model_copy(update={"members": members})
    transport = Transport(options)
    await transport.connect()
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            try:
                if create_stream:
                    await transport.ensure_stream(
                        policy.stream,
                        STREAM_SUBJECTS,
                        duplicate_window_s=policy.duplicate_window_s,
                        replicas=policy.replicas,
                    )
                return await configure_consumers(transport, directory, policy)
            except TransportError as exc:
                waiting = "timeout" in str(exc).lower() and not transport.last_refusal
                if not waiting or asyncio.get_running_loop().time() > deadline:
                    if transport.last_refusal:
                        raise TransportError(
                            f"{exc} (the server said: {transport.last_refusal})"
                        ) from exc
                    raise
            await asyncio.sleep(0.5)
    finally:
        await transport.close()


async def provision_consumers(network: Network) -> list[ConsumerSpec]:
    """What the hub's node does as it starts, for a local network whose hub node may not
    be running (the demo, the tests): the alert stream and every member's durable
    consumer, with the hub's credentials and the hub's node.toml settings."""
    hub = next((m.code for m in network.members.members if m.role is Role.HUB), None)
    if hub is None:
        raise ConfigError("the network has no hub to configure the members' consumers")
    settings = NodeSettings.load(network.configs[hub])
    return await configure_stream_consumers(
        settings.connect_options("provision", one_shot=True),
        settings.stream_policy(),
        network.members,
        create_stream=True,
    )
