"""Alert parsing and serialisation against the committed examples, and error hygiene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

import schemas
from schemas import Alert, Priority, Tlp, Topic, alert_to_json, parse_alert
from schemas.errors import MalformedMessage, SchemaViolation, UntrustedMessage

EXAMPLES = Path(schemas.__file__).parent / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))

# Each invalid example fails for one reason: exactly one error, at this location.
INVALID_EXPECTED_LOC = {
    "asylum_group_smaller_than_persons_listed": "payload.asylum",
    "bad_imo_check_digit": "payload.maritime.vessel.imo",
    "bad_mrz_check_digit": "payload.identity_fraud.documents.0.mrz",
    "bad_unlocode": "payload.drug_smuggling.movements.0.port",
    "call_sign_lowercase": "payload.maritime.vessel.call_sign",
    "control_character_in_title": "title",
    "count_as_string": "payload.people_smuggling.number_of_persons",
    "date_of_birth_with_time": "payload.asylum.persons.0.date_of_birth",
    "document_number_too_long": "payload.irregular_migration.documents.0.number",
    "duplicate_referenced_alert": "payload.bulletin.referenced_alerts",
    "expires_before_observed": "<root>",
    "extra_field": "classification",
    "identity_fraud_without_documents": "payload.identity_fraud.documents",
    "lowercase_country_code": "payload.maritime.vessel.flag",
    "missing_payload": "payload",
    "mmsi_too_short": "payload.maritime.vessel.mmsi",
    "mrz_bad_characters": "payload.identity_fraud.documents.0.mrz.0",
    "mrz_document_number_mismatch": "payload.identity_fraud.documents.0",
    "mrz_issuing_state_mismatch": "payload.identity_fraud.documents.0",
    "naive_datetime": "observed_at",
    "negative_drug_quantity": "payload.drug_smuggling.quantity_kg",
    "non_canonical_reference_uuid": "references.0",
    "numeric_timestamp": "observed_at",
    "oversized_title": "title",
    "payload_field_from_other_topic": "payload.maritime.substance",
    "payload_without_topic": "payload",
    "tlp_1_0_white": "tlp",
    "too_many_aliases": "payload.people_smuggling.persons.1.aliases",
    "unknown_country_code": "payload.human_trafficking.victims.0.nationality",
    "unlocode_unknown_country": "payload.drug_smuggling.vessels.0.last_port",
    "victim_with_suspect_role": "payload.human_trafficking",
    "wrong_topic_literal": "payload",
}


def _valid(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((EXAMPLES / "valid" / f"{name}.json").read_text())
    return data


def _violation(data: object) -> SchemaViolation:
    with pytest.raises(SchemaViolation) as info:
        parse_alert(json.dumps(data))
    return info.value


def test_examples_exist() -> None:
    assert len(VALID) >= 8
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_parses_and_round_trips(path: Path) -> None:
    raw = path.read_bytes()
    alert = parse_alert(raw)
    assert isinstance(alert, Alert)
    assert parse_alert(raw.decode("utf-8")) == alert
    wire = alert_to_json(alert)
    assert parse_alert(wire) == alert
    assert alert_to_json(parse_alert(wire)) == wire


def test_valid_examples_cover_every_topic() -> None:
    topics = {parse_alert(p.read_bytes()).topic for p in VALID}
    assert topics == set(Topic)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_example_is_rejected_for_its_one_reason(path: Path) -> None:
    assert path.stem in INVALID_EXPECTED_LOC, f"add {path.stem} to INVALID_EXPECTED_LOC"
    with pytest.raises(SchemaViolation) as info:
        parse_alert(path.read_bytes())
    errors = info.value.fields["errors"]
    assert [e["loc"] for e in errors] == [INVALID_EXPECTED_LOC[path.stem]]
    assert info.value.reason == "schema_violation"


def test_every_expected_invalid_example_exists() -> None:
    assert set(INVALID_EXPECTED_LOC) == {p.stem for p in INVALID}


def test_alert_to_json_is_compact_utf8_without_nulls() -> None:
    alert = parse_alert((EXAMPLES / "valid" / "drug_smuggling.json").read_bytes())
    wire = alert_to_json(alert)
    assert isinstance(wire, bytes)
    assert b"\n" not in wire
    assert b'": ' not in wire
    assert b"null" not in wire
    assert "expires_at" not in json.loads(wire)
    assert json.loads(wire) == alert.model_dump(mode="json", exclude_none=True)


def test_alert_to_json_keeps_non_ascii_as_utf8() -> None:
    data = _valid("maritime")
    data["summary"] = "Fa'afetai — ship's agent in Āpia"
    wire = alert_to_json(parse_alert(json.dumps(data)))
    assert "Fa'afetai — ship's agent in Āpia".encode() in wire


def test_topic_property_follows_payload() -> None:
    alert = parse_alert(json.dumps(_valid("asylum")))
    assert alert.topic is Topic.ASYLUM
    assert alert.payload.topic is Topic.ASYLUM


def test_alert_is_frozen() -> None:
    alert = parse_alert(json.dumps(_valid("bulletin")))
    with pytest.raises(ValidationError):
        alert.title = "changed"  # type: ignore[misc]


def test_whitespace_is_stripped_and_blank_title_refused() -> None:
    data = _valid("maritime")
    data["title"] = "  Cruise liner arriving Apia  "
    assert parse_alert(json.dumps(data)).title == "Cruise liner arriving Apia"
    data["title"] = "   "
    assert _violation(data).fields["errors"][0]["loc"] == "title"


def test_summary_allows_line_breaks_but_title_does_not() -> None:
    data = _valid("maritime")
    data["summary"] = "line one\nline two\tindented"
    assert "\n" in parse_alert(json.dumps(data)).summary
    data["title"] = "line one\nline two"
    assert _violation(data).fields["errors"][0]["loc"] == "title"


def test_bidi_override_refused() -> None:
    data = _valid("maritime")
    data["contact"] = "Apia \u202eevil"
    assert _violation(data).fields["errors"][0]["loc"] == "contact"


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b"\xff\xfe", b'{"title": "x"', b"null"],
    ids=["empty", "not-json", "array", "bad-utf8", "truncated", "null"],
)
def test_garbage_is_a_schema_violation(data: bytes) -> None:
    with pytest.raises(SchemaViolation) as info:
        parse_alert(data)
    assert isinstance(info.value, UntrustedMessage)


def test_violation_does_not_chain_the_pydantic_error() -> None:
    # A chained ValidationError would print the offending input in a traceback.
    with pytest.raises(SchemaViolation) as info:
        parse_alert(b"{}")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


SECRET = "TAUFAHEMA7731"


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("payload", "topic"), SECRET, SECRET),
        (("payload", "documents", 0, "issuing_state"), "QZX", "QZX"),
        (("payload", "documents", 0, "number"), SECRET + "X" * 20, SECRET),
        (("payload", "documents", 0, "mrz"), ["P<TON" + SECRET + "<" * 26, "1" * 44], SECRET),
        (("payload", "persons", 0, "family_name"), SECRET + "\x1b[2J", SECRET),
        (("payload", "persons", 0, "sex"), SECRET, SECRET),
        (("observed_at",), SECRET, SECRET),
        (("contact",), SECRET * 20, SECRET),
    ],
    ids=["topic", "state", "number", "mrz", "name", "sex", "time", "contact"],
)
def test_errors_never_echo_input(path: tuple[str | int, ...], value: object, needle: str) -> None:
    data = _valid("identity_fraud")
    cursor: object = data
    for key in path[:-1]:
        cursor = cursor[key]  # type: ignore[index]
    cursor[path[-1]] = value  # type: ignore[index]
    violation = _violation(data)
    assert len(violation.fields["errors"]) == 1
    rendered = str(violation) + json.dumps(violation.fields)
    assert needle not in rendered


def test_unknown_keys_are_not_echoed_verbatim() -> None:
    data = _valid("maritime")
    data["evil\nkey " + SECRET] = 1
    violation = _violation(data)
    assert violation.fields["errors"][0]["loc"] == "<key>"
    assert SECRET not in str(violation)


def test_many_errors_are_listed_up_to_a_limit() -> None:
    data = _valid("irregular_migration")
    data.update({f"extra_{i}": i for i in range(15)})
    violation = _violation(data)
    assert len(violation.fields["errors"]) == 15
    assert "(15 errors)" in str(violation)
    assert "and 5 more" in str(violation)


def test_references_must_be_unique_and_bounded() -> None:
    data = _valid("maritime")
    ids = [f"01980000-0000-7000-8000-{i:012x}" for i in range(51)]
    data["references"] = ids[:50]
    assert len(parse_alert(json.dumps(data)).references) == 50
    data["references"] = ids
    assert _violation(data).fields["errors"][0]["loc"] == "references"
    data["references"] = [ids[0], ids[0]]
    assert _violation(data).fields["errors"][0]["loc"] == "references"


def test_wire_codes_follow_declared_order() -> None:
    assert [t.value for t in Topic] == [
        "people_smuggling",
        "human_trafficking",
        "identity_fraud",
        "drug_smuggling",
        "irregular_migration",
        "maritime",
        "asylum",
        "bulletin",
    ]
    assert [p.value for p in Priority] == ["flash", "urgent", "routine"]
    assert [t.value for t in Tlp] == ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
    assert Topic.PEOPLE_SMUGGLING.code == 0
    assert Topic.BULLETIN.code == 7
    assert Priority.ROUTINE.code == 2
    assert Tlp.AMBER_STRICT.code == 3
    for enum in (Topic, Priority, Tlp):
        for member in enum:
            assert enum.from_code(member.code) is member


@pytest.mark.parametrize("code", [-1, 5, 255])
def test_unknown_wire_code_is_malformed(code: int) -> None:
    with pytest.raises(MalformedMessage):
        Tlp.from_code(code)


def test_public_names_are_exported() -> None:
    for name in (
        "Alert",
        "Topic",
        "Priority",
        "Tlp",
        "parse_alert",
        "alert_to_json",
        "Person",
        "TravelDocument",
        "Vessel",
        "Movement",
    ):
        assert hasattr(schemas, name), name
