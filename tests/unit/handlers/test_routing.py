"""The router: which instances get an item, and the TLP ceiling (pure)."""

from __future__ import annotations

import pytest
from testkit import sample_alert

from node.handlers.base import HandlerSpec
from node.handlers.config import InstanceConfig, RouteConfig, RouteMatch
from node.handlers.routing import Facts, ceiling, plan
from schemas.enums import Priority, Tlp, Topic

INTERNAL = HandlerSpec("internal", "", external=False)
EXTERNAL = HandlerSpec("external", "", external=True)


def cfg(max_tlp: Tlp | None, allow: bool = False) -> InstanceConfig:
    return InstanceConfig(type="x", max_tlp=max_tlp, allow_external_above_green=allow)


@pytest.mark.parametrize(
    ("spec", "config", "expected"),
    [
        (INTERNAL, cfg(None), None),  # no policy: nothing at all
        (EXTERNAL, cfg(None, allow=True), None),
        (INTERNAL, cfg(Tlp.RED), Tlp.RED),
        (INTERNAL, cfg(Tlp.AMBER), Tlp.AMBER),
        (EXTERNAL, cfg(Tlp.RED), Tlp.GREEN),  # external: GREEN unless allowed
        (EXTERNAL, cfg(Tlp.CLEAR), Tlp.CLEAR),
        (EXTERNAL, cfg(Tlp.AMBER_STRICT, allow=True), Tlp.AMBER_STRICT),
    ],
)
def test_ceiling(spec: HandlerSpec, config: InstanceConfig, expected: Tlp | None) -> None:
    assert ceiling(config, spec) == expected


def facts(tlp: Tlp, topic: Topic = Topic.MARITIME, sender: str = "WS") -> Facts:
    alert = sample_alert(topic).model_copy(update={"tlp": tlp})
    return Facts.of("alert", sender, alert)


ROUTES = [
    RouteConfig(name="all", handlers=["a", "b"]),
    RouteConfig(name="maritime", handlers=["b", "c"], match=RouteMatch(topics=[Topic.MARITIME])),
    RouteConfig(name="hits", handlers=["d"], match=RouteMatch(on="hit")),
]
CEILINGS = {"a": Tlp.RED, "b": Tlp.GREEN, "c": None, "d": Tlp.RED}


def test_first_matching_route_names_the_instance_and_each_is_planned_once() -> None:
    planned = plan(facts(Tlp.GREEN), ROUTES, CEILINGS)
    assert [(p.instance, p.route, p.allowed) for p in planned] == [
        ("a", "all", True),
        ("b", "all", True),
        ("c", "maritime", False),  # no policy: refused even for GREEN
    ]


@pytest.mark.parametrize("tlp", list(Tlp))
def test_an_item_above_the_ceiling_is_refused(tlp: Tlp) -> None:
    allowed = {p.instance: p.allowed for p in plan(facts(tlp), ROUTES, CEILINGS)}
    assert allowed["a"] is True
    assert allowed["b"] is (tlp.code <= Tlp.GREEN.code)
    assert allowed["c"] is False


def test_routes_match_on_topic_sender_priority_tlp_and_content() -> None:
    f = facts(Tlp.AMBER, Topic.MARITIME, sender="FJ")
    assert "vessels" in f.carries
    cases = [
        (RouteMatch(topics=[Topic.ASYLUM]), False),
        (RouteMatch(senders=["WS"]), False),
        (RouteMatch(senders=["FJ"]), True),
        (RouteMatch(priorities=[p for p in Priority if p is not f.priority]), False),
        (RouteMatch(tlp=[Tlp.AMBER]), True),
        (RouteMatch(tlp=[Tlp.RED]), False),
        (RouteMatch(carries=["vessels"]), True),
        (RouteMatch(on="hit"), False),
    ]
    for match, expected in cases:
        route = RouteConfig(name="r", handlers=["a"], match=match)
        assert bool(plan(f, [route], CEILINGS)) is expected, match
