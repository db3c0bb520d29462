"""Which instances get an item, and which are refused: pure, no I/O.

The TLP rule: an instance receives an item only if the item's handling code is at most
the instance's ceiling. The ceiling is the instance's ``max_tlp``; for a type that
passes content outside the node it is capped at ``GREEN`` unless the operator set
``allow_external_above_green``. No ``max_tlp`` means no ceiling at all: refuse everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from node.handlers.base import HandlerSpec, ItemKind
from node.handlers.config import InstanceConfig, RouteConfig
from schemas.alert import Alert
from schemas.entities import extract
from schemas.enums import Priority, Tlp, Topic

EXTERNAL_DEFAULT_CEILING = Tlp.GREEN


def ceiling(config: InstanceConfig, spec: HandlerSpec) -> Tlp | None:
    """The most restricted code the instance may receive; None: nothing at all."""
    if config.max_tlp is None:
        return None
    if spec.external and not config.allow_external_above_green:
        return min(config.max_tlp, EXTERNAL_DEFAULT_CEILING, key=lambda t: t.code)
    return config.max_tlp


def permits(limit: Tlp | None, tlp: Tlp) -> bool:
    return limit is not None and tlp.code <= limit.code


@dataclass(frozen=True)
class Facts:
    """What routes match on, taken once per item."""

    kind: ItemKind
    topic: Topic
    priority: Priority
    sender: str
    tlp: Tlp
    carries: frozenset[str]

    @classmethod
    def of(cls, kind: ItemKind, sender: str, alert: Alert) -> Facts:
        found = extract(alert)
        carries = {
            name
            for name, present in (
                ("persons", found.persons),
                ("documents", found.documents),
                ("vessels", found.vessels),
            )
            if present
        }
        return cls(kind, alert.topic, alert.priority, sender, alert.tlp, frozenset(carries))


@dataclass(frozen=True)
class Planned:
    instance: str
    route: str
    allowed: bool
    ceiling: Tlp | None


def matches(route: RouteConfig, facts: Facts) -> bool:
    m = route.match
    return (
        m.on == facts.kind
        and (not m.topics or facts.topic in m.topics)
        and (not m.priorities or facts.priority in m.priorities)
        and (not m.senders or facts.sender in m.senders)
        and (not m.tlp or facts.tlp in m.tlp)
        and (not m.carries or bool(facts.carries.intersection(m.carries)))
    )


def plan(
    facts: Facts, routes: Iterable[RouteConfig], ceilings: Mapping[str, Tlp | None]
) -> list[Planned]:
    """One entry per instance that a matching route names (first route wins), each
    marked allowed or refused by the instance's ceiling."""
    seen: dict[str, Planned] = {}
    for route in routes:
        if not matches(route, facts):
            continue
        for name in route.handlers:
            if name not in seen:
                limit = ceilings[name]
                seen[name] = Planned(name, route.name, permits(limit, facts.tlp), limit)
    return list(seen.values())
