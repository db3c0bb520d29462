"""The watch list in every script (issue "names in every script"): Chinese, Arabic,
Cyrillic and Devanagari names hit when the same name is listed, in its own script or as
the passport romanises it, in either name order. Pure: entries and persons in, hits out
(only the API the matcher had before, so these run against the old code too)."""

from __future__ import annotations

import pytest

from node.handlers.builtin.watchlist_core import Entry, MatchRules, WatchList, name_keys
from node.handlers.builtin.watchlist_store import entry_from_fields
from schemas.domain import Person
from schemas.entities import Entities

RULES = MatchRules()
DOB = "1985-06-15"


def listed(id: str, family: str, given: str = "", dob: str | None = None, **more: str) -> Entry:
    fields = {"family_name": family, "given_names": given, "date_of_birth": dob, **more}
    return entry_from_fields({"id": id, "kind": "person", **fields})


def alert_person(family: str, given: str = "", dob: str | None = None) -> Person:
    return Person.model_validate(
        {"family_name": family, "given_names": given, "date_of_birth": dob}
    )


def hits(entries: list[Entry], person: Person) -> list[tuple[str, tuple[str, ...]]]:
    matches = WatchList(entries).match(Entities(persons=[person]), RULES)
    return [(m.entry_id, m.fields) for m in matches]


# --- the same name in its own script ---------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "given"),
    [
        ("李伟明", ""),
        ("李", "伟明"),
        ("الرشيد", "محمد"),
        ("عبد الرحمن", "فاطمة"),
        ("Иванова", "Юлия"),
        ("शर्मा", "पूजा"),
    ],
    ids=["chinese-whole", "chinese-split", "arabic", "arabic-compound", "cyrillic", "hindi"],
)
def test_the_same_non_latin_name_hits(family: str, given: str) -> None:
    # Before: normalise_name() dropped every letter, so neither side had a key.
    assert hits([listed("P1", family, given)], alert_person(family, given)) == [
        ("P1", ("name", "original_script"))
    ]


def test_the_same_name_hits_whether_split_into_fields_or_not() -> None:
    assert hits([listed("P1", "李", "伟明")], alert_person("李伟明")) == [
        ("P1", ("name", "original_script"))
    ]
    assert hits([listed("P1", "Юлия Иванова")], alert_person("Иванова", "Юлия")) == [
        ("P1", ("name", "original_script"))
    ]


@pytest.mark.parametrize(
    ("entry", "alert"),
    [
        (("أحمد", "حسن"), ("احمد", "حسن")),  # hamza on the alef, or not
        (("فاطمة",), ("فاطمه",)),  # ta marbuta as ha
        (("Фёдоров", "Пётр"), ("Федоров", "Петр")),  # ё as е
        (("張偉",), ("張 偉",)),  # spaces in Chinese
        (("ज़ाकिर", "ख़ान"), ("जाकिर", "खान")),  # nukta
    ],
)
def test_spellings_writers_vary_in_the_original_script_hit(
    entry: tuple[str, ...], alert: tuple[str, ...]
) -> None:
    [(entry_id, fields)] = hits([listed("P1", *entry)], alert_person(*alert))
    assert entry_id == "P1" and "name" in fields


def test_an_alias_in_the_original_script_hits() -> None:
    entry = listed("P1", "LEE", "WAI MING", aliases="李伟明")  # a Hong Kong spelling
    assert hits([entry], alert_person("李伟明")) == [("P1", ("alias", "original_script"))]


# --- the original script against the passport's Latin ---------------------------------------


@pytest.mark.parametrize(
    ("entry", "alert"),
    [
        (("LI", "WEIMING"), ("李伟明",)),  # Pinyin, as PRC passports print it
        (("OUYANG", "NANA"), ("欧阳娜娜",)),  # compound family name
        (("ZENG", "WEI"), ("曾伟",)),  # 曾 read as a family name
        (("IVANOVA", "IULIIA"), ("Иванова", "Юлия")),  # ICAO Cyrillic table
        (("SHCHERBAKOV", "ALEKSEI"), ("Щербаков", "Алексей")),
        (("SHARMA", "RAJESH"), ("राजेश शर्मा",)),  # Hindi romanisation
        (("SINGH", "KRISHNA"), ("सिंह", "कृष्ण")),
        (("MUELLER", "JUERGEN"), ("Müller", "Jürgen")),  # ICAO multinational Latin
        (("WALESA", "LUKASZ"), ("Wałęsa", "Łukasz")),  # Ł used to vanish
        (("AL-RASHID", "MOHAMMED"), ("محمد الرشيد",)),  # Arabic: consonants agree
    ],
)
def test_the_original_script_hits_the_passport_romanisation(
    entry: tuple[str, str], alert: tuple[str, ...]
) -> None:
    assert [e for e, _ in hits([listed("P1", *entry)], alert_person(*alert))] == ["P1"]


@pytest.mark.parametrize(
    ("entry", "alert"),
    [
        (("李伟明",), ("WEIMING LI",)),  # family name first in Chinese, last in English
        (("LI", "WEIMING"), ("Weiming Li",)),
        (("李伟明",), ("Li Weiming",)),
        (("Иванова Юлия",), ("IULIIA IVANOVA",)),  # Russian documents: family first
        (("VINOGRADOVA", "EKATERINA"), ("Yekaterina Vinogradova",)),
        (("शर्मा पूजा",), ("Pooja Sharma",)),
    ],
)
def test_name_order_does_not_matter(entry: tuple[str, ...], alert: tuple[str, ...]) -> None:
    assert [e for e, _ in hits([listed("P1", *entry)], alert_person(*alert))] == ["P1"]


@pytest.mark.parametrize(
    "alert", ["Wei Ming Li", "Li Wei-Ming", "LI WEI MING"], ids=["spaced", "hyphen", "upper"]
)
def test_given_name_syllables_written_apart_hit(alert: str) -> None:
    assert [e for e, _ in hits([listed("P1", "LI", "WEIMING")], alert_person(alert))] == ["P1"]


def test_given_name_variants_hit() -> None:
    entry = listed("P1", "IVANOVA", "IULIIA")  # ICAO
    assert [e for e, _ in hits([entry], alert_person("Ivanova", "Yulia"))] == ["P1"]
    entry = listed("P2", "SAXENA", "POOJA", dob=DOB)
    assert [e for e, _ in hits([entry], alert_person("सक्सेना", "पूजा", DOB))] == ["P2"]


# --- what must not hit -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "alert"),
    [
        (("李伟明",), ("张伟明",)),  # another family name
        (("李伟明",), ("李明伟",)),  # the given name's characters the other way round
        (("Иванова", "Юлия"), ("Петрова", "Юлия")),
        (("शर्मा", "पूजा"), ("गुप्ता", "नेहा")),
        (("الرشيد", "محمد"), ("حداد", "سارة")),
    ],
)
def test_different_people_do_not_hit(entry: tuple[str, ...], alert: tuple[str, ...]) -> None:
    assert hits([listed("P1", *entry)], alert_person(*alert)) == []


def test_the_same_original_name_born_on_another_day_is_no_hit() -> None:
    entry = listed("P1", "李伟明", dob="1980-01-01")
    assert hits([entry], alert_person("李伟明", dob="1980-01-02")) == []
    assert hits([entry], alert_person("李伟明", dob="1980-01-01")) == [
        ("P1", ("name", "original_script", "date_of_birth"))
    ]


def test_names_that_leave_nothing_match_nobody() -> None:
    entries = [listed("P1", "???"), listed("P2", "UNKNOWN", "FNU"), listed("P3", "李伟明")]
    assert hits(entries, alert_person("???")) == []
    assert hits(entries, alert_person("UNKNOWN")) == []
    assert name_keys("-- / --") == ("", "")
