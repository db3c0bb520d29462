"""Identifiers checked as agencies check them (issue 17): dates of birth and of issue,
the MMSI's MID and flag, MRZ nationality, placeholder names, phone numbers in E.164.

Each case of the issue is a test here that fails on the code before the fix. What the
fix adds is reached through its module (``checks.mmsi_info``), so that on the code
before it each test fails on its own instead of the whole file failing to import.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from testkit import EXAMPLES

from node.handlers.builtin.watchlist_core import Entry, MatchRules, WatchList
from node.handlers.builtin.watchlist_store import read_csv
from node.hub.correlate import Link, Mention, Sighting, find_links, mentions
from schemas import checks, domain, entities
from schemas.alert import Alert, parse_alert
from schemas.checks import icao_check_digit, mmsi_ok
from schemas.codes import CountryCode3
from schemas.domain import Person, TravelDocument, Vessel
from schemas.entities import Entities, extract
from schemas.errors import SchemaViolation
from schemas.export import schema_documents

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # 2026-12-06 in Kiritimati (UTC+14)
WINDOW = timedelta(days=30)


def _errors(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "valid" / f"{name}.json").read_text())
    return data


# --- 1. dates of birth: from 1900, not in the future ------------------------------------


@pytest.mark.parametrize("dob", ["2099-01-01", "1899-12-31", "0988-07-01"])
def test_implausible_date_of_birth_is_refused(dob: str) -> None:
    with pytest.raises(ValidationError) as info:
        Person.model_validate(
            {"family_name": "FINAU", "date_of_birth": dob},
            context={"now": datetime(2026, 12, 5, tzinfo=UTC)},
        )
    assert _errors(info.value) == ["date_of_birth"]


def test_without_a_time_the_future_rule_is_left_to_the_entry_points() -> None:
    """schemas reads no clock: trusted code re-reading stored content passes no time;
    every entry point of outside input does (parse_alert(..., now=...))."""
    assert Person(family_name="FINAU", date_of_birth="2099-01-01").date_of_birth.year == 2099
    with pytest.raises(ValidationError):
        Person(family_name="FINAU", date_of_birth="1899-12-31")  # no time needed


@pytest.mark.parametrize("dob", ["1900-01-01", "1988-07-01"])
def test_plausible_date_of_birth_is_kept(dob: str) -> None:
    assert Person(family_name="FINAU", date_of_birth=dob).date_of_birth == date.fromisoformat(dob)


@pytest.mark.parametrize(
    ("dob", "ok"),
    [
        ("2026-12-05", True),
        ("2026-12-06", True),  # already today in Kiribati's Line Islands
        ("2026-12-07", False),  # tomorrow everywhere
    ],
)
def test_the_future_is_judged_at_the_context_now(dob: str, ok: bool) -> None:
    data = {"family_name": "FINAU", "date_of_birth": dob}
    if ok:
        Person.model_validate(data, context={"now": NOW})
    else:
        with pytest.raises(ValidationError, match="date of birth is in the future"):
            Person.model_validate(data, context={"now": NOW})


def test_context_now_makes_validation_independent_of_the_clock() -> None:
    data = {"family_name": "FINAU", "date_of_birth": "2031-05-01"}
    later = datetime(2032, 1, 1, tzinfo=UTC)
    assert Person.model_validate(data, context={"now": later}).date_of_birth == date(2031, 5, 1)
    with pytest.raises(ValidationError):
        Person.model_validate(data, context={"now": NOW})
    with pytest.raises(TypeError, match="aware datetime"):
        Person.model_validate(data, context={"now": datetime(2032, 1, 1)})


def test_latest_date_is_the_date_in_utc_plus_14() -> None:
    assert domain.latest_date(NOW) == date(2026, 12, 6)
    assert domain.latest_date(datetime(2026, 12, 5, 9, 59, tzinfo=UTC)) == date(2026, 12, 5)


def _alert_with_dob(dob: str) -> dict[str, Any]:
    data = _example("identity_fraud")
    data["payload"]["persons"][0]["date_of_birth"] = dob
    return data


def test_send_refuses_a_date_of_birth_in_the_future(tmp_path: Path) -> None:
    # ``lali send`` reads the file with load_alert, which parses it with parse_alert.
    from node.cli.node_cmd import load_alert

    path = tmp_path / "alert.json"
    path.write_text(json.dumps(_alert_with_dob("2099-01-01")))
    with pytest.raises(SchemaViolation, match="date of birth is in the future"):
        load_alert(path, None, None, None)
    path.write_text(json.dumps(_alert_with_dob("1987-03-14")))
    assert isinstance(load_alert(path, None, None, None), Alert)


def test_received_alerts_are_held_to_the_same_rule() -> None:
    with pytest.raises(SchemaViolation) as info:
        parse_alert(json.dumps(_alert_with_dob("2099-01-01")), now=NOW)
    (error,) = info.value.fields["errors"]
    assert error["loc"] == "payload.identity_fraud.persons.0.date_of_birth"


def test_watch_list_import_refuses_an_implausible_date_of_birth(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "id,kind,family_name,date_of_birth\n"
        "P1,person,NAWALU,2099-04-22\n"
        "P2,person,NAWALU,1899-04-22\n"
        "P3,person,NAWALU,1979-04-22\n"
    )
    loaded = read_csv(path, now=NOW)
    assert [e.id for e in loaded.entries] == ["P3"]
    assert [(b.line, b.error) for b in loaded.bad_rows] == [
        (2, "date_of_birth: date of birth is in the future"),
        (3, "date_of_birth: date of birth is before 1900-01-01"),
    ]
    with pytest.raises(ValidationError):
        Entry.model_validate(
            {"id": "P4", "kind": "person", "family_name": "NAWALU", "date_of_birth": "2099-01-01"},
            context={"now": NOW},
        )


# --- 2. MMSI: the MID allocated by the ITU, compared with the flag ----------------------


@pytest.mark.parametrize(
    "mmsi",
    [
        "200000000",  # ship station, MID 200 not allocated
        "217123456",  # MID 217 not allocated
        "780123456",  # beyond the last MID (775)
        "002001234",  # coast station, MID 200
        "021712345",  # group call, MID 217
        "111200123",  # SAR aircraft, MID 200
        "820012345",  # handheld VHF, MID 200
        "982001234",  # craft associated with a parent ship, MID 200
        "992001234",  # aid to navigation, MID 200
        "001234567",  # coast station whose MID would start with 1
    ],
)
def test_an_unallocated_mid_is_refused(mmsi: str) -> None:
    assert not mmsi_ok(mmsi)
    with pytest.raises(ValidationError) as info:
        Vessel(name="X", mmsi=mmsi)
    assert _errors(info.value) == ["mmsi"]


@pytest.mark.parametrize(
    ("mmsi", "form", "mid"),
    [
        ("520100345", "ship", "520"),
        ("005201234", "coast", "520"),
        ("052012345", "group", "520"),
        ("111520123", "sar_aircraft", "520"),
        ("852012345", "handheld", "520"),
        ("985201234", "parent_craft", "520"),
        ("995201234", "aid_to_navigation", "520"),
        ("970123456", "ais_sart", None),
        ("972123456", "mob", None),
        ("974123456", "epirb_ais", None),
    ],
)
def test_mmsi_forms_and_their_mid(mmsi: str, form: str, mid: str | None) -> None:
    info = checks.mmsi_info(mmsi)
    assert info is not None and (info.form, info.mid) == (form, mid)
    assert mmsi_ok(mmsi)


def test_a_flag_other_than_the_mids_is_a_warning_not_an_error() -> None:
    vessel = Vessel(name="OCEAN STAR", mmsi="520100345", flag="TO")
    (warning,) = vessel.warnings
    assert warning == domain.FieldWarning(
        "flag",
        "mmsi_flag_mismatch",
        "the MMSI's MID 520 is allocated to Fiji (FJ), the flag is TO",
    )


@pytest.mark.parametrize(
    ("mmsi", "flag"),
    [
        ("520100345", "FJ"),
        ("518100345", "CK"),  # Cook Islands ship
        ("518100345", "NZ"),  # ... New Zealand is the administration
        ("559100345", "AS"),  # American Samoa
        ("306100345", "CW"),  # Curaçao (306 is shared by the Dutch Caribbean)
        ("970123456", "FJ"),  # an AIS-SART carries no MID
    ],
)
def test_flags_that_agree_with_the_mid_raise_no_warning(mmsi: str, flag: str) -> None:
    assert Vessel(name="X", mmsi=mmsi, flag=flag).warnings == ()


def test_warnings_are_not_on_the_wire() -> None:
    vessel = Vessel(name="OCEAN STAR", mmsi="520100345", flag="TO")
    assert vessel.warnings
    assert "warnings" not in vessel.model_dump()
    assert "warnings" not in json.loads(vessel.model_dump_json())
    assert "warnings" not in schema_documents()["vessel.schema.json"]["properties"]


def test_the_examples_flags_agree_with_their_mmsis() -> None:
    vessels = [v for path in (EXAMPLES / "valid").glob("*.json") for v in _vessels(path)]
    assert vessels and all(v.warnings == () for v in vessels)


def _vessels(path: Path) -> list[Vessel]:
    return extract(parse_alert(path.read_bytes())).vessels


# --- 3. MRZ nationality and issuing state: ISO 3166 alpha-3 or ICAO 9303 ----------------


def _td3(nationality: str, state: str = "TON", number: str = "TN4827193") -> list[str]:
    line1 = f"P<{state}FINAU<<SIOSAIA".ljust(44, "<")
    num = number.ljust(9, "<")
    line2 = num + str(icao_check_digit(num)) + nationality.ljust(3, "<")
    line2 += "870314" + str(icao_check_digit("870314")) + "M"
    line2 += "290611" + str(icao_check_digit("290611")) + "<" * 15
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return [line1, line2 + str(icao_check_digit(composite))]


def _passport(nationality: str, **context: Any) -> TravelDocument:
    data = {"kind": "passport", "number": "TN4827193", "issuing_state": "TON"}
    return TravelDocument.model_validate({**data, "mrz": _td3(nationality)}, context=context)


@pytest.mark.parametrize("nationality", ["QQQ", "ZZZ", "UTO", "AAA"])
def test_mrz_nationality_must_be_a_real_code(nationality: str) -> None:
    with pytest.raises(ValidationError, match="MRZ nationality is not") as info:
        _passport(nationality)
    assert _errors(info.value) == [""]  # the document as a whole, like the other MRZ checks


@pytest.mark.parametrize("nationality", ["TON", "FJI", "D", "XXA", "XPO", "XOM", "GBN", "UNO"])
def test_mrz_nationality_accepts_iso_and_icao_codes(nationality: str) -> None:
    assert _passport(nationality).mrz is not None


def test_uto_is_accepted_only_in_icao_specimen_mode() -> None:
    specimen = {
        "kind": "passport",
        "number": "L898902C3",
        "issuing_state": "UTO",
        "mrz": [
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ],
    }
    with pytest.raises(ValidationError):
        TravelDocument.model_validate(specimen)
    doc = TravelDocument.model_validate(specimen, context={"icao_specimens": True})
    assert doc.issuing_state == "UTO"
    assert _passport("UTO", icao_specimens=True).mrz is not None
    with pytest.raises(ValidationError):
        TypeAdapter(CountryCode3).validate_python("UTO", context={"icao_specimens": "yes"})
    assert "UTO" not in json.dumps(schema_documents())


@pytest.mark.parametrize(
    "code", ["XBA", "XIM", "XCC", "XCE", "XCO", "XEC", "XPO", "XOM", "XES", "XMP", "XDC"]
)
def test_icao_organisation_codes_are_accepted(code: str) -> None:
    assert TypeAdapter(CountryCode3).validate_python(code) == code


# --- 4. the document's date of issue ----------------------------------------------------


def _document(**fields: Any) -> TravelDocument:
    return TravelDocument.model_validate(
        {"kind": "passport", "number": "TN4827193", "issuing_state": "TON", **fields},
        context={"now": NOW},
    )


def test_document_issue_date_before_expiry() -> None:
    doc = _document(issue_date="2019-06-12", expiry="2029-06-11")
    assert doc.issue_date == date(2019, 6, 12)
    assert json.loads(doc.model_dump_json(exclude_none=True))["issue_date"] == "2019-06-12"
    assert _document(issue_date="2026-12-06").issue_date == date(2026, 12, 6)


@pytest.mark.parametrize(
    ("fields", "where", "message"),
    [
        ({"issue_date": "2019-06-11", "expiry": "2019-06-11"}, "", "before the expiry"),
        ({"issue_date": "2020-01-02", "expiry": "2020-01-01"}, "", "before the expiry"),
        ({"issue_date": "2026-12-07"}, "issue_date", "date of issue is in the future"),
        ({"issue_date": "2026-12-07T00:00:00Z"}, "issue_date", "YYYY-MM-DD"),
    ],
)
def test_document_issue_date_refused(fields: dict[str, str], where: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        _document(**fields)
    assert _errors(info.value) == [where]


def test_issue_date_in_an_alert() -> None:
    data = _example("identity_fraud")
    data["payload"]["documents"][0]["issue_date"] = "2019-06-12"
    alert = parse_alert(json.dumps(data))
    assert alert.payload.documents[0].issue_date == date(2019, 6, 12)  # type: ignore[union-attr]


# --- 5. placeholder names link nothing ------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["UNKNOWN", "Unknown", "NIL", "XXX", "NFN", "FNU", "LNU", "N/A", "NONE", "TEST", "FNU LNU",
     "N/A UNKNOWN", "NIL NIL", "not known", "John Doe", "?", ""],
)  # fmt: skip
def test_placeholder_names(name: str) -> None:
    assert entities.is_placeholder_name(name)


@pytest.mark.parametrize(
    "name", ["Sione Tupou", "FNU Ahmed", "Nil Yilmaz", "Na Young-hee", "Malcolm X", "Doe"]
)
def test_names_beside_placeholder_words_are_names(name: str) -> None:
    assert not entities.is_placeholder_name(name)


def _person_alert(family: str, given: str = "", dob: str | None = None) -> Alert:
    person: dict[str, Any] = {"family_name": family, "given_names": given}
    if dob:
        person["date_of_birth"] = dob
    return parse_alert(
        json.dumps(
            {
                "title": "Person of interest",
                "summary": "Seen at the port.",
                "priority": "routine",
                "tlp": "GREEN",
                "payload": {"topic": "asylum", "claim_status": "lodged", "persons": [person]},
            }
        )
    )


def _sightings(alerts: list[tuple[str, str, Alert]]) -> list[Sighting]:
    return [
        Sighting(mid, sender, NOW + timedelta(days=n), mention)
        for n, (mid, sender, alert) in enumerate(alerts)
        for mention in mentions(alert)
    ]


def _person_links(links: list[Link]) -> list[Link]:
    return [link for link in links if link.kind == "person"]


@pytest.mark.parametrize(
    ("family", "given", "dob"),
    [
        ("UNKNOWN", "", "1990-04-02"),  # same date of birth: would be a strong link
        ("UNKNOWN", "", None),  # equal names, no date: would be a weak link
        ("N/A", "NIL", None),
        ("XXX", "", "1990-04-02"),
        ("TEST", "", None),
        ("LNU", "FNU", "1990-04-02"),
    ],
)
def test_placeholder_persons_make_no_correlation_link(
    family: str, given: str, dob: str | None
) -> None:
    one, two = _person_alert(family, given, dob), _person_alert(family, given, dob)
    links = find_links(_sightings([("a", "WS", one), ("b", "FJ", two)]), window=WINDOW)
    assert _person_links(links) == []


def test_placeholders_indexed_before_the_fix_make_no_link() -> None:
    # Mentions already in the hub's store, written by the code before the fix.
    stored = Mention("person", "unknown", "UNKNOWN", dob="1990-04-02", names=("unknown",))
    sightings = [Sighting(m, s, NOW, stored) for m, s in (("a", "WS"), ("b", "FJ"))]
    assert find_links(sightings, window=WINDOW) == []


def test_real_names_still_link() -> None:
    one, two = _person_alert("TUPOU", "Sione", "1990-04-02"), _person_alert("Tupou", "SIONE")
    links = find_links(_sightings([("a", "WS", one), ("b", "FJ", two)]), window=WINDOW)
    assert [link.strength for link in _person_links(links)] == ["weak"]


@pytest.mark.parametrize("name", ["NIL", "N/A", "NONE", "TEST", "XXX", "UNKNOWN"])
def test_placeholder_names_make_no_watch_list_hit(name: str) -> None:
    listed = WatchList([Entry(id="P1", kind="person", family_name=name)])
    reported = Entities(persons=[Person(family_name=name)])
    assert listed.match(reported, MatchRules()) == []


def test_watch_list_still_matches_names_that_contain_placeholder_words() -> None:
    listed = WatchList([Entry(id="P1", kind="person", family_name="YILMAZ", given_names="NIL")])
    reported = Entities(persons=[Person(family_name="Yilmaz", given_names="Nil")])
    assert [m.entry_id for m in listed.match(reported, MatchRules())] == ["P1"]


# --- 6. phone numbers in E.164, local numbers in the sender's country -------------------


@pytest.mark.parametrize(
    ("number", "region", "e164"),
    [
        ("+679 999 1234", None, "+6799991234"),
        ("9991234", "FJ", "+6799991234"),
        ("999-1234", "FJ", "+6799991234"),
        ("00679 999 1234", "FJ", "+6799991234"),
        ("+679 999 1234", "WS", "+6799991234"),  # a + number ignores the region
        ("+44 (0) 20 7946 0958", None, "+442079460958"),  # the national 0 dropped
        ("+6799991234", "TO", "+6799991234"),  # idempotent
        ("9991234", None, "9991234"),  # no region: the digits, as written
        ("9991234", "XH", "9991234"),  # the hub's code is no country
        ("20250314", "FJ", "20250314"),  # no Fijian number has 8 digits
    ],
)
def test_normalise_phone(number: str, region: str | None, e164: str) -> None:
    assert entities.normalise_phone(number, region) == e164


def _contact_alert(contact: str) -> Alert:
    data = _example("maritime")
    data["contact"] = contact
    data["summary"] = "Vessel arrived; master cooperative."
    return parse_alert(json.dumps(data))


def test_extract_reads_local_numbers_in_the_region() -> None:
    alert = _contact_alert("duty officer 999 1234")
    assert extract(alert, region="FJ").phones == ["+6799991234"]
    assert extract(alert).phones == ["9991234"]
    assert extract(_contact_alert("call 9991234"), region="FJ").phones == ["+6799991234"]


def test_international_and_local_forms_of_one_number_correlate() -> None:
    international = _contact_alert("duty officer +679 999 1234")
    local = _contact_alert("duty officer 9991234")
    links = find_links(_sightings([("a", "WS", international), ("b", "FJ", local)]), window=WINDOW)
    (link,) = [link for link in links if link.kind == "phone"]
    assert (link.label, link.strength, link.rule) == ("+6799991234", "strong", "members")
    assert link.keys == ("phone|+6799991234",)
    assert [a.label for a in link.alerts] == ["+6799991234", "9991234"]  # as each wrote it


def test_the_same_local_digits_in_two_countries_are_two_numbers() -> None:
    fiji, samoa = _contact_alert("call 777 1234"), _contact_alert("call 777 1234")
    links = find_links(_sightings([("a", "FJ", fiji), ("b", "WS", samoa)]), window=WINDOW)
    assert [link for link in links if link.kind == "phone"] == []
