"""Node configuration: a TOML file, overridable by ``LALI_*`` environment variables.

Relative paths in the file are resolved against the file's own directory, so a
configuration directory can be moved as a whole.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from node.exchange.policy import StreamPolicy
from node.handlers.config import InstanceConfig, RouteConfig
from node.transport import ConnectOptions
from schemas.alert import Topic
from schemas.errors import ConfigError

_PATH_FIELDS = (
    "identity",
    "identity_passphrase_file",
    "directory",
    "database",
    "nats_nkey_seed_file",
    "nats_tls_ca",
    "nats_tls_cert",
    "nats_tls_key",
)


class NodeSettings(BaseSettings):
    """Everything a node needs to run. See ``deploy/node.example.toml``."""

    model_config = SettingsConfigDict(env_prefix="LALI_", extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z]{2}$", description="this member's ISO 3166-1 code")
    identity: Path = Field(description="key file written by `lali keys init`")
    identity_passphrase_file: Path | None = None
    directory: Path = Field(description="signed member directory")
    root_keys: list[str] = Field(min_length=1, description="trusted root public keys (b64)")
    directory_threshold: int = Field(default=1, ge=1)
    directory_grace_h: float = Field(
        default=72.0, ge=0, description="hours an expired directory is still used"
    )
    database: Path = Field(description="SQLite file: audit log, inbox, outbox")
    nats_url: str = "nats://127.0.0.1:4222"
    nats_nkey_seed_file: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    stream: str = Field(default="LALI_ALERTS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    stream_replicas: int = Field(default=1, ge=1, le=5)
    duplicate_window_s: float = Field(default=600.0, gt=0)
    topics: list[Topic] = Field(default_factory=lambda: list(Topic), min_length=1)
    fetch_batch: int = Field(default=256, ge=1, le=1024)
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=10, ge=1)
    outbox_retry_s: float = Field(default=5.0, gt=0)
    checkpoint_interval_s: float = Field(default=300.0, gt=0)
    priority_catch_up: bool = Field(
        default=True, description="work each fetched batch flash-first (else stream order)"
    )
    heartbeat_interval_s: float = Field(
        default=30.0, ge=1.0, le=3600.0, description="seconds between heartbeats to the hub"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Prometheus endpoint on 127.0.0.1 (off)"
    )
    handlers: dict[str, InstanceConfig] = Field(
        default_factory=dict, description="handler instances (docs/handlers.md)"
    )
    routes: list[RouteConfig] = Field(default_factory=list, description="which alerts go where")
    # Where the file was: relative paths in handler settings are resolved against it.
    _config_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("root_keys")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("root key listed twice")
        return value

    @model_validator(mode="after")
    def _routes_name_handlers(self) -> NodeSettings:
        for route in self.routes:
            unknown = [h for h in route.handlers if h not in self.handlers]
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown handlers: {unknown}")
        return self

    @property
    def config_dir(self) -> Path:
        return self._config_dir

    def stream_policy(self) -> StreamPolicy:
        """The slice of this configuration the exchange pipelines read."""
        return StreamPolicy(
            code=self.code,
            stream=self.stream,
            topics=tuple(self.topics),
            duplicate_window_s=self.duplicate_window_s,
            replicas=self.stream_replicas,
            ack_wait_s=self.ack_wait_s,
            max_deliver=self.max_deliver,
            fetch_batch=self.fetch_batch,
            priority_catch_up=self.priority_catch_up,
        )

    def connect_options(self, role: str = "node", *, one_shot: bool = False) -> ConnectOptions:
        """How this member connects to NATS (its own inbox prefix and credentials)."""
        return ConnectOptions(
            url=self.nats_url,
            name=f"lali-{self.code}-{role}",
            inbox_prefix=f"_INBOX_{self.code}",
            nkey_seed_file=self.nats_nkey_seed_file,
            tls_ca=self.nats_tls_ca,
            tls_cert=self.nats_tls_cert,
            tls_key=self.nats_tls_key,
            one_shot=one_shot,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file is passed as init values.
        return (env_settings, init_settings)

    @classmethod
    def load(cls, path: Path) -> NodeSettings:
        data = resolve_paths(read_toml(path), path, _PATH_FIELDS)
        try:
            settings = cls(**data)
        except ValidationError as exc:
            raise config_error(path, exc) from exc
        settings._config_dir = path.resolve().parent
        return settings


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML configuration file; ConfigError naming it if it is missing, unreadable,
    not UTF-8 or not TOML."""
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no configuration file at {path}", path=str(path)) from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", path=str(path)) from exc
    return data


def resolve_paths(data: dict[str, Any], path: Path, fields: Iterable[str]) -> dict[str, Any]:
    """Relative paths among ``fields`` resolved against the directory of ``path``."""
    base = path.resolve().parent
    for name in fields:
        if isinstance(data.get(name), str) and not Path(data[name]).is_absolute():
            data[name] = str(base / data[name])
    return data


def config_error(path: Path, exc: ValidationError) -> ConfigError:
    """Every problem pydantic found, as one line naming the file."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return ConfigError(f"{path}: {problems}", path=str(path))
