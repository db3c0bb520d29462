"""The hub's configuration: ``hub.toml`` (see ``deploy/hub.example.toml``).

It names the hub's own ``node.toml`` rather than repeating it, so every node command
(``lali status``, ``lali inbox``, ``lali audit verify``) works on the hub's node with
that file, and adds the console's and the analysis desk's settings. Relative paths
are resolved against hub.toml's directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from node.config import NodeSettings, config_error, read_toml, resolve_paths


class HubSettings(BaseModel):
    """The console and the analysis desk. Every field is documented in
    ``deploy/hub.example.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: Path = Field(description="the hub's node.toml (a node whose role is hub)")
    console_host: str = Field(default="127.0.0.1", min_length=1)
    console_port: int = Field(default=8480, ge=0, le=65535)
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1", "localhost"])
    password_file: Path = Path("console-passwd.json")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_idle_min: float = Field(default=30.0, gt=0)
    session_max_h: float = Field(default=12.0, gt=0)
    correlation_window_days: float = Field(default=30.0, gt=0)
    name_similarity: int = Field(default=88, ge=50, le=100)
    late_after_beats: float = Field(default=1.5, gt=1)
    offline_after_beats: float = Field(default=3.0, gt=1)
    lag_poll_s: float = Field(default=10.0, gt=0)
    receipt_overdue_min: float = Field(default=15.0, gt=0)
    traffic_keep_days: float = Field(default=90.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> HubSettings:
        if self.offline_after_beats <= self.late_after_beats:
            raise ValueError("offline_after_beats must be more than late_after_beats")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies once the console itself speaks TLS."""
        return self.tls_cert is not None

    @classmethod
    def load(cls, path: Path) -> HubSettings:
        """Read ``hub.toml`` at ``path`` (relative paths against its directory)."""
        data = read_toml(path)
        data.setdefault("password_file", "console-passwd.json")
        resolve_paths(data, path, ("node", "password_file", "tls_cert", "tls_key"))
        try:
            return cls(**data)
        except ValidationError as exc:
            raise config_error(path, exc) from exc


def load_hub_config(path: Path) -> tuple[NodeSettings, HubSettings]:
    """hub.toml and the node.toml it names."""
    hub = HubSettings.load(path)
    return NodeSettings.load(hub.node), hub
