"""Configured handler instances: their type loaded, settings validated, TLP ceiling
worked out, and the in-memory queue the runner feeds them through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from node.handlers.base import HandlerSpec, HandlerType
from node.handlers.config import InstanceConfig, RouteConfig
from node.handlers.registry import load_type
from node.handlers.routing import ceiling
from schemas.enums import Tlp
from schemas.errors import ConfigError


@dataclass
class Instance:
    name: str
    config: InstanceConfig
    cls: type[HandlerType]
    spec: HandlerSpec
    settings: Any
    ceiling: Tlp | None
    handler: HandlerType | None = None
    queue: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    in_flight: set[int] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def build_instances(configs: Mapping[str, InstanceConfig]) -> dict[str, Instance]:
    """Load each instance's type and validate its settings; ConfigError on any problem."""
    found: dict[str, Instance] = {}
    for name, config in configs.items():
        cls = load_type(config.type)
        try:
            settings = cls.Settings.model_validate(config.settings)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"handlers.{name}.settings: {problems}", instance=name) from exc
        found[name] = Instance(
            name, config, cls, cls.spec, settings, ceiling(config, cls.spec), queue=asyncio.Queue()
        )
    return found


def check_routes(routes: Iterable[RouteConfig], instances: Mapping[str, Any]) -> None:
    names: set[str] = set()
    for route in routes:
        if route.name in names:
            raise ConfigError(f"route {route.name!r} is defined twice")
        names.add(route.name)
        unknown = [h for h in route.handlers if h not in instances]
        if unknown:
            raise ConfigError(f"route {route.name!r} names unknown handlers: {', '.join(unknown)}")
