"""Correlation rules as a scenario table: sightings in, links (and why) out. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.hub.correlate import Link, Mention, Sighting, find_links, mentions, name_similarity
from schemas.alert import parse_alert

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def doc(number: str, state: str = "TON") -> Mention:
    return Mention("document", f"{number}|{state}", f"passport {number} ({state})")


def person(given: str, family: str, dob: str = "", *aliases: str) -> Mention:
    from schemas.entities import normalise_name

    names = (normalise_name(f"{given} {family}"), *(normalise_name(a) for a in aliases))
    return Mention("person", names[0], f"{family}, {given}", dob=dob, names=names)


def seen(mid: str, sender: str, days: float, mention: Mention) -> Sighting:
    return Sighting(mid, sender, T0 + timedelta(days=days), mention)


@dataclass(frozen=True)
class Case:
    name: str
    sightings: list[Sighting]
    kind: str | None  # the link expected, or None for no link
    strength: str = ""
    rule: str = ""
    alerts: int = 0


CASES = [
    Case(
        "same passport, two members",
        [seen("a", "WS", 0, doc("N1234567")), seen("b", "FJ", 40, doc("N1234567"))],
        "document", "strong", "members", 2,
    ),
    Case(
        "same number, another issuing state: not the same document",
        [seen("a", "WS", 0, doc("N1234567")), seen("b", "FJ", 1, doc("N1234567", "WSM"))],
        None,
    ),
    Case(
        "one member, twice within the window: a recurrence",
        [seen("a", "WS", 0, doc("N1")), seen("b", "WS", 3, doc("N1"))],
        "document", "strong", "recurrence", 2,
    ),
    Case(
        "one member, twice but far apart: nothing",
        [seen("a", "WS", 0, doc("N1")), seen("b", "WS", 45, doc("N1"))],
        None,
    ),
    Case(
        "one alert naming it twice is one alert",
        [seen("a", "WS", 0, doc("N1")), seen("a", "WS", 0, doc("N1"))],
        None,
    ),
    Case(
        "names alike and the same birth date",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02")),
            seen("b", "FJ", 2, person("Sione", "Tupuo", "1990-04-02")),
        ],
        "person", "medium", "members", 2,
    ),
    Case(
        "order of names does not matter",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02")),
            seen("b", "FJ", 2, person("Tupou", "Sione", "1990-04-02")),
        ],
        "person", "strong", "members", 2,
    ),
    Case(
        "an alias counts",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02", "Joe Lolo")),
            seen("b", "FJ", 2, person("Joe", "Lolo", "1990-04-02")),
        ],
        "person", "strong", "members", 2,
    ),
    Case(
        "same name, other birth date: different people",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02")),
            seen("b", "FJ", 2, person("Sione", "Tupou", "1991-04-02")),
        ],
        None,
    ),
    Case(
        "different names, same birth date: different people",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02")),
            seen("b", "FJ", 2, person("Mele", "Fifita", "1990-04-02")),
        ],
        None,
    ),
    Case(
        "same name, a birth date missing: weak",
        [
            seen("a", "WS", 0, person("Sione", "Tupou", "1990-04-02")),
            seen("b", "FJ", 2, person("Sione", "Tupou")),
        ],
        "person", "weak", "members", 2,
    ),
    Case(
        "same port: weak",
        [
            seen("a", "WS", 0, Mention("port", "FJSUV", "FJSUV")),
            seen("b", "FJ", 2, Mention("port", "FJSUV", "FJSUV")),
        ],
        "port", "weak", "members", 2,
    ),
    Case(
        "same phone, three members",
        [
            seen(m, s, d, Mention("phone", "+6797654321", "+6797654321"))
            for m, s, d in (("a", "WS", 0), ("b", "FJ", 1), ("c", "TO", 2))
        ],
        "phone", "strong", "members", 3,
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rules(case: Case) -> None:
    links = find_links(case.sightings, window=WINDOW, threshold=88)
    if case.kind is None:
        assert links == []
        return
    (link,) = [link for link in links if link.kind == case.kind]
    assert (link.strength, link.rule, len(link.alerts)) == (case.strength, case.rule, case.alerts)
    assert link.reasons, "a link says why"


def test_a_person_chain_is_one_link_with_every_reason() -> None:
    a, b, c = (
        person("Sione", "Tupou", "1990-04-02"),
        person("Sione", "Tupuo", "1990-04-02"),
        person("Siones", "Tupuo", "1990-04-02"),
    )
    links = find_links(
        [seen("a", "WS", 0, a), seen("b", "FJ", 1, b), seen("c", "TO", 2, c)], window=WINDOW
    )
    (link,) = links
    assert [x.message_id for x in link.alerts] == ["a", "b", "c"]
    assert "reported by 3 members: FJ, TO, WS" in link.reasons[0]
    assert any("both born 1990-04-02" in r for r in link.reasons)


def test_link_ids_are_stable_when_alerts_join() -> None:
    two = [seen("a", "WS", 0, doc("N1")), seen("b", "FJ", 1, doc("N1"))]
    (first,) = find_links(two, window=WINDOW)
    (later,) = find_links([*two, seen("c", "TO", 2, doc("N1"))], window=WINDOW)
    assert first.id == later.id and len(later.alerts) == 3


def test_strongest_first() -> None:
    links = find_links(
        [
            seen("a", "WS", 0, Mention("port", "FJSUV", "FJSUV")),
            seen("b", "FJ", 2, Mention("port", "FJSUV", "FJSUV")),
            seen("a", "WS", 0, doc("N1")),
            seen("b", "FJ", 2, doc("N1")),
        ],
        window=WINDOW,
    )
    assert [link.strength for link in links] == ["strong", "weak"]


def test_similarity_uses_the_best_name_form() -> None:
    score, x, y = name_similarity(person("A", "B", "", "Sione Tupou"), person("Sione", "Tupou"))
    assert (score, x, y) == (100, "sione tupou", "sione tupou")


def alert(payload: dict[str, Any], summary: str = "Seen at the port.") -> Any:
    return parse_alert(
        json.dumps(
            {
                "title": "t",
                "summary": summary,
                "priority": "routine",
                "tlp": "GREEN",
                "contact": "duty officer +679 765 4321",
                "payload": payload,
            }
        )
    )


def test_mentions_of_an_alert() -> None:
    found = mentions(
        alert(
            {
                "topic": "maritime",
                "activity": "arrival",
                "vessel": {
                    "name": "Ocean Star",
                    "imo": "9074729",
                    "mmsi": "520123456",
                    "last_port": "FJSUV",
                },
                "persons": [
                    {"family_name": "Tūpou", "given_names": "Sione", "date_of_birth": "1990-04-02"}
                ],
            }
        )
    )
    kinds = {(m.kind, m.key) for m in found}
    assert ("vessel", "IMO:9074729") in kinds and ("vessel", "MMSI:520123456") in kinds
    assert ("port", "FJSUV") in kinds and ("phone", "+6797654321") in kinds
    (p,) = [m for m in found if m.kind == "person"]
    assert p.names == ("sione tupou",) and p.dob == "1990-04-02"


def test_one_vessel_by_two_identifiers_is_one_link() -> None:
    def vessel(mid: str, sender: str) -> list[Sighting]:
        return [
            seen(mid, sender, 0, Mention("vessel", "IMO:9074729", "Ocean Star (IMO 9074729)")),
            seen(mid, sender, 0, Mention("vessel", "MMSI:520123456", "Ocean Star (MMSI …)")),
        ]

    links: list[Link] = find_links(vessel("a", "WS") + vessel("b", "FJ"), window=WINDOW)
    (link,) = links
    assert link.kind == "vessel" and len(link.reasons) == 3
    assert set(link.keys) == {"vessel|IMO:9074729", "vessel|MMSI:520123456"}
