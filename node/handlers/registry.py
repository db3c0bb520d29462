"""Finding handler types: built-ins, the ``lali.handlers`` entry points, ``module:Class``."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, cast

from node.handlers.base import HandlerSpec, HandlerType
from schemas.errors import ConfigError

BUILTINS = {
    "watchlist": "node.handlers.builtin.watchlist:WatchlistHandler",
    "exec": "node.handlers.builtin.exec:ExecHandler",
    "webhook": "node.handlers.builtin.webhook:WebhookHandler",
    "spool": "node.handlers.builtin.spool:SpoolHandler",
    "stix": "node.handlers.builtin.stix:StixHandler",
}
GROUP = "lali.handlers"


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ConfigError(f"handler type {target!r} is not 'module:Class'")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"handler type {target!r} cannot be imported: {exc}") from exc


def available() -> dict[str, str]:
    """Every type name known without ``module:Class``: built-ins, then entry points."""
    found = dict(BUILTINS)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load_type(name: str) -> type[HandlerType]:
    """The class for a configured ``type``; ConfigError if unknown or malformed."""
    if name in BUILTINS:
        cls = _import(BUILTINS[name])
    elif ":" in name:
        cls = _import(name)
    else:
        matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
        if not matches:
            known = ", ".join(sorted(available()))
            raise ConfigError(f"unknown handler type {name!r} (known: {known})")
        try:
            cls = matches[0].load()
        except Exception as exc:  # a broken plugin: say which, do not start half-configured
            raise ConfigError(f"handler entry point {name!r} failed to load: {exc}") from exc
    spec = getattr(cls, "spec", None)
    if not isinstance(spec, HandlerSpec) or not hasattr(cls, "from_settings"):
        raise ConfigError(f"handler type {name!r} does not provide spec and from_settings")
    return cast(type[HandlerType], cls)
