"""The ``[handlers.*]`` and ``[[routes]]`` sections of ``node.toml``.

An *instance* is a configured handler (a type plus its settings and policy); a *route*
sends the items it matches to one or more instances. See ``docs/handlers.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import Priority, Tlp, Topic

NAME = r"^[a-z0-9][a-z0-9_-]{0,47}$"
Carries = Literal["persons", "documents", "vessels"]


class InstanceConfig(BaseModel):
    """One handler instance. ``max_tlp`` is its policy: the most restricted handling code
    it may receive. Missing, it receives nothing (every item is refused and audited)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, description="built-in name, entry point, or module:Class")
    max_tlp: Tlp | None = None
    allow_external_above_green: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=3600)
    attempts: int = Field(default=5, ge=1, le=100)
    backoff_s: float = Field(default=2.0, gt=0, le=3600)
    workers: int = Field(default=1, ge=1, le=16)
    queue: int = Field(default=100, ge=1, le=100_000)
    settings: dict[str, Any] = Field(default_factory=dict)


class RouteMatch(BaseModel):
    """Every listed condition must hold; an empty list matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on: Literal["alert", "hit"] = "alert"
    topics: list[Topic] = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=list)
    senders: list[str] = Field(default_factory=list)
    tlp: list[Tlp] = Field(default_factory=list)
    carries: list[Carries] = Field(
        default_factory=list, description="the payload names at least one of these"
    )


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    handlers: list[str] = Field(min_length=1)
    match: RouteMatch = Field(default_factory=RouteMatch)
