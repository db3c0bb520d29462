"""When the link sidecar re-creates a stream source (node/ops/linkresync.py, pure part)."""

from __future__ import annotations

import math

import pytest

from node.ops.linkresync import Renewer, SourceStatus, parse_sources, reachable, subject_matches

WS = SourceStatus("LALI_ALERTS", "$JS.ws.API", 42.0)  # Samoa's, silent since a cut
# What the hub server holding Samoa's link sees in /leafz?subs=1.
SAMOA_LINK = ["$JS.ws.API.CONSUMER.>", "$LDS.CUYeYZTcQ4G4zHBzJp30xJ"]
TONGA_LINK = ["$JS.to.API.CONSUMER.>"]


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.*.c", "a.b.c", True),
        ("a.>", "a.b.c", True),
        ("a.b.c.>", "a.b.c", False),  # ">" needs at least one token
        ("a.*", "a.b.c", False),
        ("a.b", "a.b.c", False),
        ("a.b.c", "a.b", False),
        ("$JS.ws.API.CONSUMER.>", "$JS.ws.API.CONSUMER.CREATE.LALI_ALERTS", True),
        ("$JS.hub.API.CONSUMER.>", "$JS.ws.API.CONSUMER.CREATE.LALI_ALERTS", False),
    ],
)
def test_subject_matching(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def test_a_source_is_reachable_only_over_the_link_of_its_own_domain() -> None:
    assert reachable(WS, SAMOA_LINK)
    assert not reachable(WS, TONGA_LINK)
    assert not reachable(WS, [])  # no link up on this server


# Rows: (what, silent seconds, links on this server, seconds since start) -> renewed?
ROWS = [
    ("healthy: heartbeats arrive", 0.8, SAMOA_LINK, 0.0, False),
    ("silent, link still down", 42.0, [], 0.0, False),
    ("silent, link up elsewhere only", 42.0, TONGA_LINK, 0.0, False),
    ("silent, its link is back", 42.0, SAMOA_LINK, 0.0, True),
    ("silent just past the heartbeats", 3.0, SAMOA_LINK, 0.0, True),
    ("never heard from, first seen", math.inf, SAMOA_LINK, 0.0, False),
]


@pytest.mark.parametrize(("what", "silent", "links", "now", "renewed"), ROWS)
def test_renewal_rows(
    what: str, silent: float, links: list[str], now: float, renewed: bool
) -> None:
    source = SourceStatus(WS.name, WS.api, silent)
    assert (Renewer().due([source], links, now) == [source]) is renewed, what


def test_local_sources_are_never_touched() -> None:
    local = SourceStatus("OTHER", "", math.inf)
    assert Renewer().due([local], ["$JS.API.>", ">"], 0.0) == []


def test_renewals_back_off_while_the_source_stays_silent_and_reset_when_it_speaks() -> None:
    renewer = Renewer(retry_s=3.0, retry_max_s=10.0)
    times = [t / 10 for t in range(0, 400)]  # 40 s, polled every 0.1 s
    renewed = [t for t in times if renewer.due([WS], SAMOA_LINK, t)]
    assert renewed == [0.0, 3.0, 9.0, 19.0, 29.0, 39.0]  # 3, 6, then capped at 10
    healthy = SourceStatus(WS.name, WS.api, 0.5)
    assert renewer.due([healthy], SAMOA_LINK, 40.0) == []
    assert renewer.due([WS], SAMOA_LINK, 40.1) == [WS]  # a new cut: at once again


def test_a_new_source_gets_a_few_heartbeats_before_it_is_renewed() -> None:
    fresh = SourceStatus(WS.name, WS.api, math.inf)  # just added: "active" is -1
    renewer = Renewer(stall_s=3.0)
    assert renewer.due([fresh], SAMOA_LINK, 10.0) == []
    assert renewer.due([fresh], SAMOA_LINK, 12.9) == []
    assert renewer.due([fresh], SAMOA_LINK, 13.0) == [fresh]


def test_only_the_silent_source_of_several_is_renewed() -> None:
    tonga = SourceStatus("LALI_ALERTS", "$JS.to.API", 0.4)
    assert Renewer().due([tonga, WS], SAMOA_LINK + TONGA_LINK, 0.0) == [WS]


def test_parse_sources_from_stream_info() -> None:
    info = {
        "config": {"name": "LALI_ALERTS"},
        "sources": [
            {"name": "LALI_ALERTS", "external": {"api": "$JS.ws.API"}, "active": 1_500_000_000},
            {"name": "LALI_ALERTS", "external": {"api": "$JS.to.API"}, "active": -1},
            {"name": "LOCAL", "lag": 0},
        ],
    }
    assert parse_sources(info) == [
        SourceStatus("LALI_ALERTS", "$JS.ws.API", 1.5),
        SourceStatus("LALI_ALERTS", "$JS.to.API", math.inf),
        SourceStatus("LOCAL", "", math.inf),
    ]
    assert parse_sources({"config": {}}) == []
