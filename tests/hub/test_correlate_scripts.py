"""Hub correlation in every script (issue "names in every script"): the same Chinese,
Arabic, Cyrillic or Hindi name reported by two members links them, in its own script or
as a passport romanises it. Pure: alerts in, links out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.hub.correlate import Link, Sighting, find_links, mentions, person_key
from schemas.alert import parse_alert
from schemas.domain import Person

EXAMPLE = Path(__file__).resolve().parents[2] / "schemas/examples/valid/people_smuggling.json"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def person(family: str, given: str = "", dob: str | None = None) -> dict[str, object]:
    return {"family_name": family, "given_names": given, "date_of_birth": dob, "role": "other"}


def sightings(*reports: tuple[str, dict[str, object]]) -> list[Sighting]:
    """One alert per report, from its member, a day apart; only the person in it."""
    template = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for key in ("vessels", "movements"):
        template["payload"].pop(key)
    template["contact"] = None
    out = []
    for n, (sender, named) in enumerate(reports):
        template["payload"]["persons"] = [{k: v for k, v in named.items() if v is not None}]
        alert = parse_alert(json.dumps(template).encode())
        for mention in mentions(alert):
            assert mention.kind == "person"
            out.append(Sighting(f"m{n}", sender, T0 + timedelta(days=n), mention))
    return out


def person_links(*reports: tuple[str, dict[str, object]]) -> list[Link]:
    return [link for link in find_links(sightings(*reports), window=WINDOW) if link.alerts]


@pytest.mark.parametrize(
    ("family", "given"),
    [("李伟明", ""), ("الرشيد", "محمد"), ("Иванова", "Юлия"), ("शर्मा", "पूजा")],
    ids=["chinese", "arabic", "cyrillic", "hindi"],
)
def test_the_same_non_latin_name_from_two_members_links(family: str, given: str) -> None:
    # Before: the name normalised to "" and the person was not even a mention.
    born = person(family, given, "1990-04-02")
    [link] = person_links(("WS", born), ("FJ", born))
    assert (link.kind, link.strength, link.rule) == ("person", "strong", "members")
    assert "the same name" in " ".join(link.reasons)
    [weak] = person_links(("WS", person(family, given)), ("FJ", person(family, given)))
    assert (weak.kind, weak.strength) == ("person", "weak")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person("李伟明", dob="1990-04-02"), person("LI", "WEIMING", "1990-04-02")),
        (person("李", "伟明", "1990-04-02"), person("李伟明", dob="1990-04-02")),
        (person("Иванова", "Юлия", "1990-04-02"), person("IVANOVA", "IULIIA", "1990-04-02")),
        (person("राजेश शर्मा", dob="1990-04-02"), person("SHARMA", "RAJESH", "1990-04-02")),
        (person("Müller", "Jürgen", "1990-04-02"), person("MUELLER", "JUERGEN", "1990-04-02")),
    ],
    ids=["chinese-passport", "chinese-split", "cyrillic-icao", "hindi", "umlaut-icao"],
)
def test_the_original_script_links_the_passport_romanisation(
    a: dict[str, object], b: dict[str, object]
) -> None:
    [link] = person_links(("WS", a), ("FJ", b))
    assert (link.kind, link.strength) == ("person", "strong")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person("李伟明"), person("Weiming Li")),
        (person("Иванова Юлия"), person("Юлия Иванова")),
        (person("LI", "WEIMING"), person("Li Weiming")),
        (person("Müller", "Jürgen"), person("MULLER", "JURGEN")),  # ICAO's other spelling
    ],
    ids=["chinese-english-order", "russian-document-order", "latin", "umlaut-dropped"],
)
def test_equal_names_in_another_order_link_without_a_date_of_birth(
    a: dict[str, object], b: dict[str, object]
) -> None:
    [link] = person_links(("WS", a), ("FJ", b))
    assert (link.kind, link.strength) == ("person", "weak")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person("李伟明", dob="1990-04-02"), person("张伟明", dob="1990-04-02")),
        (person("Иванова", "Юлия", "1990-04-02"), person("Петрова", "Юлия", "1990-04-02")),
        (person("李伟明", dob="1990-04-02"), person("李伟明", dob="1991-04-02")),
    ],
    ids=["chinese", "cyrillic", "another-birthday"],
)
def test_different_people_do_not_link(a: dict[str, object], b: dict[str, object]) -> None:
    assert person_links(("WS", a), ("FJ", b)) == []


def test_person_key_is_the_latin_form_in_every_script() -> None:
    assert person_key(Person(family_name="李", given_names="伟明")) == "weiming li"
    assert person_key(Person(family_name="محمد")) == "mhmd"
    assert person_key(Person(family_name="Иванова", given_names="Юлия")) == "iuliia ivanova"
    assert person_key(Person(family_name="Tūpou", given_names="Sione")) == "sione tupou"


def test_a_mention_keeps_the_original_script_beside_the_latin_form() -> None:
    [s] = sightings(("WS", person("李", "伟明")))
    assert s.mention.names == ("weiming li", "李伟明")
    assert s.mention.key == "weiming li"
