"""Provision a local network in one directory: root key, identities, signed directory
and one ``node.toml`` per member. Used by ``lali demo`` and by the tests; an operator
does the same steps by hand with ``lali keys`` and ``lali directory``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from keys import Directory, Identity, Member, Role, RootKey, save_identity, save_root_key
from keys import sign_directory as _sign
from node.ops.natsconfig import new_user_nkey, write_seed
from schemas.alert import Topic


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
    valid_for: timedelta = timedelta(days=30),
    extra_config: dict[str, object] | None = None,
) -> Network:
    """Keys, directory and node.toml files for ``members``, in ``root``."""
    network = provision_keys(root, members, now, valid_for=valid_for)
    write_node_configs(network, nats_url, extra_config)
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


def write_node_configs(
    network: Network, nats_url: str, extra_config: dict[str, object] | None = None
) -> None:
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
                **(extra_config or {}),
            },
        )
