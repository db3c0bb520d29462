"""Domain models and code types: normalisation, cross-checks and limits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import (
    AsylumPayload,
    HumanTraffickingPayload,
    IdentityFraudPayload,
    MaritimePayload,
    Movement,
    Person,
    TravelDocument,
    Vessel,
)
from schemas.checks import icao_check_digit
from schemas.codes import (
    ICAO_NATIONALITY,
    ICAO_SPECIAL_CODES,
    ISO3166_ALPHA2,
    ISO3166_ALPHA3,
    CountryCode2,
    CountryCode3,
    UnLocode,
)

TONGA_MRZ = [
    "P<TONFINAU<<SIOSAIA<MOSESE<<<<<<<<<<<<<<<<<<",
    "TN48271932TON8703145M2906117<<<<<<<<<<<<<<<8",
]
PACIFIC_ALPHA2 = {"WS", "FJ", "TO", "AS", "VU", "SB", "PG", "CK", "KI", "NZ", "AU", "NU"}


def _td3(state: str, number: str, expiry: str = "300101") -> list[str]:
    line1 = f"P<{state.ljust(3, '<')}TESTER<<ALEX".ljust(44, "<")
    body = (
        number.ljust(9, "<")
        + str(icao_check_digit(number.ljust(9, "<")))
        + state.ljust(3, "<")
        + "900101"
        + str(icao_check_digit("900101"))
        + "X"
        + expiry
        + str(icao_check_digit(expiry))
        + "<" * 14
        + "0"
    )
    composite = body[0:10] + body[13:20] + body[21:43]
    return [line1, body + str(icao_check_digit(composite))]


def _errors(exc: ValidationError) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in exc.errors()]


# --- codes -----------------------------------------------------------------------------


def test_iso_tables_are_complete_and_consistent() -> None:
    assert len(ISO3166_ALPHA2) == 249
    assert len(ISO3166_ALPHA3) == 249
    assert PACIFIC_ALPHA2 <= ISO3166_ALPHA2
    assert {"WSM", "FJI", "TON", "VUT", "SLB", "PNG", "COK", "KIR", "ASM"} <= ISO3166_ALPHA3
    assert "XK" not in ISO3166_ALPHA2  # user-assigned, not official
    assert "UK" not in ISO3166_ALPHA2  # exceptionally reserved only
    assert ICAO_NATIONALITY == ISO3166_ALPHA3 | ICAO_SPECIAL_CODES
    assert {"D", "XXA", "XXB", "XXC", "XXX", "UNO", "UNA", "UNK", "EUE", "RKS"} <= (
        ICAO_SPECIAL_CODES
    )
    assert {"GBD", "GBN", "GBO", "GBP", "GBS"} <= ICAO_SPECIAL_CODES
    assert "UTO" not in ICAO_NATIONALITY


@pytest.mark.parametrize("code", ["FJ", "WS", "AS", " TO "])
def test_country_code2_accepts(code: str) -> None:
    # Models strip surrounding whitespace before the code is checked.
    assert Vessel(name="X", flag=code).flag == code.strip()


@pytest.mark.parametrize("code", ["fj", "FJI", "XK", "ZZ", "F", ""])
def test_country_code2_refuses(code: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(CountryCode2).validate_python(code)


@pytest.mark.parametrize("code", ["WSM", "D", "XXA", "GBN", "RKS", "UNO"])
def test_country_code3_accepts(code: str) -> None:
    assert TypeAdapter(CountryCode3).validate_python(code) == code


@pytest.mark.parametrize("code", ["wsm", "UTO", "DE", "WS", "DD", "ABCD", "D<<"])
def test_country_code3_refuses(code: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(CountryCode3).validate_python(code)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("FJSUV", "FJSUV"), ("FJ SUV", "FJSUV"), ("WSAPW", "WSAPW"), ("NZAKL", "NZAKL")],
)
def test_unlocode_is_normalised(raw: str, canonical: str) -> None:
    assert Movement(port=raw, mode="sea", direction="inbound", time=_now()).port == canonical


@pytest.mark.parametrize("raw", ["FJSU1", "FJSU0", "fjsuv", "FJ  SUV", "FJ-SUV", "ZZSUV", "FJSU"])
def test_unlocode_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(UnLocode).validate_python(raw)


def _now() -> datetime:
    return datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- person ----------------------------------------------------------------------------


def test_person_defaults_and_limits() -> None:
    person = Person(family_name="TUILAGI")
    assert (person.given_names, person.aliases, person.role) == ("", [], "other")
    with pytest.raises(ValidationError) as info:
        Person(family_name="X" * 101)
    assert _errors(info.value) == ["family_name"]
    with pytest.raises(ValidationError):
        Person(family_name="")
    with pytest.raises(ValidationError):
        Person(family_name="A", sex="U")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Person(family_name="A", aliases=["B"] * 11)


# --- travel document ---------------------------------------------------------------------


def test_document_number_is_normalised() -> None:
    doc = TravelDocument(kind="passport", number="tn 482-7193", issuing_state="TON")
    assert doc.number == "TN4827193"


@pytest.mark.parametrize("number", ["", "TN/4827193", "TN4827193É", "X" * 21])
def test_document_number_refused(number: str) -> None:
    with pytest.raises(ValidationError) as info:
        TravelDocument(kind="passport", number=number, issuing_state="TON")
    assert _errors(info.value) == ["number"]


def test_mrz_accepted_when_consistent() -> None:
    doc = TravelDocument(
        kind="passport",
        number="TN4827193",
        issuing_state="TON",
        expiry=date(2029, 6, 11),
        mrz=TONGA_MRZ,
        status="stolen",
    )
    assert doc.mrz == TONGA_MRZ


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"number": "TN4827194"}, "document number does not match"),
        ({"issuing_state": "WSM"}, "issuing state does not match"),
        ({"expiry": date(2029, 6, 12)}, "expiry date does not match"),
    ],
)
def test_mrz_cross_checks(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "kind": "passport",
        "number": "TN4827193",
        "issuing_state": "TON",
        "mrz": TONGA_MRZ,
    }
    fields.update(changes)
    with pytest.raises(ValidationError, match=message):
        TravelDocument(**fields)


def test_mrz_with_bad_check_digit_is_refused_at_the_mrz_field() -> None:
    with pytest.raises(ValidationError, match="check digit for date of birth") as info:
        TravelDocument(
            kind="passport",
            number="TN4827193",
            issuing_state="TON",
            mrz=[TONGA_MRZ[0], TONGA_MRZ[1][:19] + "6" + TONGA_MRZ[1][20:]],
        )
    assert _errors(info.value) == ["mrz"]


def test_mrz_uto_specimen_fails_on_the_country_not_the_check_digits() -> None:
    with pytest.raises(ValidationError) as info:
        TravelDocument(
            kind="passport",
            number="L898902C3",
            issuing_state="UTO",
            mrz=[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
        )
    assert _errors(info.value) == ["issuing_state"]


@pytest.mark.parametrize("state", ["D", "DEU"])
def test_germany_d_in_mrz_matches_either_spelling(state: str) -> None:
    doc = TravelDocument(
        kind="passport", number="C01X00T47", issuing_state=state, mrz=_td3("D", "C01X00T47")
    )
    assert doc.issuing_state == state


def test_mrz_lines_limited_to_two_or_three() -> None:
    with pytest.raises(ValidationError):
        TravelDocument(kind="passport", number="X1", issuing_state="FJI", mrz=[TONGA_MRZ[0]])


# --- vessel and movement ---------------------------------------------------------------


def test_vessel_checks() -> None:
    vessel = Vessel(name="CORAL MERIDIAN", imo="9074729", mmsi="311000517", call_sign="C6XY7")
    assert vessel.kind == "other"
    for bad in ({"imo": "9074728"}, {"mmsi": "12345678"}, {"call_sign": "C6"}, {"flag": "XX"}):
        with pytest.raises(ValidationError) as info:
            Vessel(name="X", **bad)
        assert _errors(info.value) == [next(iter(bad))]


def test_datetimes_must_be_aware() -> None:
    with pytest.raises(ValidationError):
        Vessel(name="X", eta=datetime(2025, 1, 1, 12, 0))
    with pytest.raises(ValidationError):
        Movement(port="FJSUV", mode="air", direction="inbound", time=datetime(2025, 1, 1))
    assert Vessel(name="X", eta=_now()).eta == _now()


# --- payload rules -----------------------------------------------------------------------


def test_identity_fraud_needs_a_document() -> None:
    with pytest.raises(ValidationError):
        IdentityFraudPayload(fraud_type="impostor", documents=[])


def test_maritime_needs_a_vessel() -> None:
    with pytest.raises(ValidationError):
        MaritimePayload.model_validate({"topic": "maritime", "activity": "arrival"})


def test_trafficking_roles_must_agree_with_lists() -> None:
    suspect = Person(family_name="A", role="suspect")
    victim = Person(family_name="B", role="victim")
    HumanTraffickingPayload(victims=[victim], suspects=[suspect])
    with pytest.raises(ValidationError, match="victim has a suspect role"):
        HumanTraffickingPayload(victims=[suspect])
    with pytest.raises(ValidationError, match="suspect has the victim role"):
        HumanTraffickingPayload(suspects=[victim])
    with pytest.raises(ValidationError, match="unique"):
        HumanTraffickingPayload(indicators=["debt_bondage", "debt_bondage"])


def test_asylum_group_size_covers_listed_persons() -> None:
    people = [Person(family_name="A", role="asylum_seeker")] * 3
    assert AsylumPayload(group_size=3, persons=people).group_size == 3
    with pytest.raises(ValidationError, match="more persons listed than group_size"):
        AsylumPayload(group_size=2, persons=people)


def test_counts_are_strict_integers() -> None:
    with pytest.raises(ValidationError):
        AsylumPayload.model_validate_json('{"topic": "asylum", "group_size": "4"}')
    with pytest.raises(ValidationError):
        AsylumPayload.model_validate_json('{"topic": "asylum", "group_size": 4.0}')
    with pytest.raises(ValidationError):
        AsylumPayload.model_validate_json('{"topic": "asylum", "group_size": true}')
    assert AsylumPayload.model_validate_json('{"topic": "asylum", "group_size": 4}').group_size == 4
