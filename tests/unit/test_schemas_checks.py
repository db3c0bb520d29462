"""ICAO 9303 MRZ check digits, IMO and MMSI checks: known answers and properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas.checks import MrzData, icao_check_digit, imo_check_ok, mmsi_ok, verify_mrz

# ICAO Doc 9303 specimens (fictional state Utopia, "UTO").
TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD2 = [
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
]
TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
MRV_A = [
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
ALNUM = ALPHABET[:-1]


def _value(char: str) -> int:
    return ALPHABET.index(char) if char != "<" else 0


def _replace(line: str, index: int, char: str) -> str:
    return line[:index] + char + line[index + 1 :]


@pytest.mark.parametrize(
    ("data", "digit"),
    [
        ("L898902C3", 6),
        ("740812", 2),
        ("120415", 9),
        ("ZE184226B<<<<<", 1),
        ("D23145890", 7),
        ("<<<<<<<<<", 0),
        ("", 0),
        ("AB2134<<<", 5),
    ],
)
def test_icao_check_digit_known_answers(data: str, digit: int) -> None:
    assert icao_check_digit(data) == digit


@pytest.mark.parametrize("data", ["l898902c3", "L898 902", "Ä", "L898-902"])
def test_icao_check_digit_refuses_characters_outside_the_mrz_set(data: str) -> None:
    with pytest.raises(ValueError, match="character set"):
        icao_check_digit(data)


def test_td3_specimen() -> None:
    assert verify_mrz(TD3) == MrzData(
        document_code="P",
        issuing_state="UTO",
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        document_number="L898902C3",
        nationality="UTO",
        birth_date="740812",
        sex="F",
        expiry_date="120415",
    )


@pytest.mark.parametrize("lines", [TD1, TD2], ids=["td1", "td2"])
def test_td1_and_td2_specimens(lines: list[str]) -> None:
    data = verify_mrz(lines)
    assert (data.document_code, data.issuing_state, data.document_number) == (
        "I",
        "UTO",
        "D23145890",
    )
    assert (data.surname, data.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (data.birth_date, data.sex, data.expiry_date) == ("740812", "F", "120415")


def test_visa_has_no_composite_check_digit() -> None:
    data = verify_mrz(MRV_A)
    assert (data.document_code, data.document_number, data.nationality) == (
        "V",
        "L8988901C",
        "XXX",
    )
    # The last two characters are optional data on a visa, not check digits.
    verify_mrz([MRV_A[0], MRV_A[1][:-2] + "AB"])


def test_td1_long_document_number_continues_in_optional_data() -> None:
    number = "D23145890123"
    line1 = ("I<UTO" + number[:9] + "<" + number[9:] + str(icao_check_digit(number))).ljust(30, "<")
    line2 = "7408122F1204159UTO<<<<<<<<<<<"
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += str(icao_check_digit(composite))
    assert verify_mrz([line1, line2, TD1[2]]).document_number == number


@pytest.mark.parametrize(
    ("lines", "line", "index", "field"),
    [
        (TD3, 1, 9, "document number"),
        (TD3, 1, 19, "date of birth"),
        (TD3, 1, 27, "date of expiry"),
        (TD3, 1, 42, "personal number"),
        (TD3, 1, 43, "composite"),
        (TD2, 1, 9, "document number"),
        (TD2, 1, 19, "date of birth"),
        (TD2, 1, 27, "date of expiry"),
        (TD2, 1, 35, "composite"),
        (TD1, 0, 14, "document number"),
        (TD1, 1, 6, "date of birth"),
        (TD1, 1, 14, "date of expiry"),
        (TD1, 1, 29, "composite"),
    ],
)
def test_each_wrong_check_digit_is_named(
    lines: list[str], line: int, index: int, field: str
) -> None:
    wrong = str((int(lines[line][index]) + 1) % 10)
    bad = list(lines)
    bad[line] = _replace(lines[line], index, wrong)
    with pytest.raises(ValueError, match=f"check digit for {field}"):
        verify_mrz(bad)


def test_personal_number_check_digit_may_be_filler_when_field_is_empty() -> None:
    line2 = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<<"
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    verify_mrz([TD3[0], line2 + str(icao_check_digit(composite))])


@pytest.mark.parametrize(
    "lines",
    [
        [TD3[0]],
        [TD3[0], TD3[1][:-1]],
        [TD3[0], TD2[1]],
        [TD1[0], TD1[1]],
        [*TD3, TD3[1]],
    ],
    ids=["one-line", "short-line", "mixed-lengths", "td1-two-lines", "three-td3-lines"],
)
def test_wrong_shape_is_refused(lines: list[str]) -> None:
    with pytest.raises(ValueError, match="MRZ must be"):
        verify_mrz(lines)


@pytest.mark.parametrize("char", ["a", " ", "-", "É"])
def test_charset_is_enforced(char: str) -> None:
    with pytest.raises(ValueError, match="line 1 has characters outside"):
        verify_mrz([_replace(TD3[0], 10, char), TD3[1]])


def test_a_single_string_is_not_a_sequence_of_lines() -> None:
    with pytest.raises(TypeError):
        verify_mrz(TD3[0] + TD3[1])


def test_error_message_does_not_repeat_the_mrz() -> None:
    with pytest.raises(ValueError) as info:
        verify_mrz([TD3[0], _replace(TD3[1], 9, "5")])
    assert "L898902C3" not in str(info.value)
    assert "ERIKSSON" not in str(info.value)


def test_invalid_dates_and_sex_are_refused() -> None:
    with pytest.raises(ValueError, match="date of expiry"):
        verify_mrz([TD3[0], _replace(TD3[1], 23, "3")])  # expiry month 34
    with pytest.raises(ValueError, match="sex"):
        verify_mrz([TD3[0], _replace(TD3[1], 20, "Q")])


@given(
    number=st.text(alphabet="0123456789", min_size=9, max_size=9),
    position=st.integers(min_value=0, max_value=8),
    shift=st.integers(min_value=1, max_value=9),
)
def test_any_digit_substitution_in_a_numeric_document_number_is_detected(
    number: str, position: int, shift: int
) -> None:
    replacement = str((int(number[position]) + shift) % 10)
    changed = _replace(number, position, replacement)
    assert icao_check_digit(changed) != icao_check_digit(number)


@given(
    number=st.text(alphabet=ALNUM, min_size=9, max_size=9),
    position=st.integers(min_value=0, max_value=8),
    replacement=st.sampled_from(ALPHABET),
)
def test_substitution_detected_exactly_when_values_differ_mod_10(
    number: str, position: int, replacement: str
) -> None:
    # Letters count 10..35, so a substitution between characters whose values agree
    # mod 10 (0/A/K/U/<, 1/B/L/V, ...) is a known blind spot of the 7-3-1 scheme.
    original = number[position]
    changed = _replace(number, position, replacement)
    detected = icao_check_digit(changed) != icao_check_digit(number)
    assert detected == (_value(original) % 10 != _value(replacement) % 10)


def test_known_blind_spot_of_the_check_digit() -> None:
    assert icao_check_digit("L898902C3") == icao_check_digit("L898902M3")


@given(position=st.integers(min_value=0, max_value=8), shift=st.integers(1, 9))
def test_verify_mrz_rejects_a_changed_digit_in_the_document_number(
    position: int, shift: int
) -> None:
    line2 = TD3[1]
    original = line2[position]
    replacement = str((_value(original) + shift) % 10)
    assume(replacement != original)
    with pytest.raises(ValueError, match="check digit for document number"):
        verify_mrz([TD3[0], _replace(line2, position, replacement)])


@pytest.mark.parametrize("imo", ["9074729", "9345128", "9218765", "8802131", "9533048"])
def test_imo_valid(imo: str) -> None:
    assert imo_check_ok(imo)


@pytest.mark.parametrize(
    "imo", ["9074728", "907472", "90747290", "IMO9074729", "907472x", "９０７４７２９", ""]
)
def test_imo_invalid(imo: str) -> None:
    assert not imo_check_ok(imo)


@given(
    six=st.text(alphabet="0123456789", min_size=6, max_size=6),
    position=st.integers(0, 5),
    shift=st.integers(1, 9),
)
def test_imo_detects_single_digit_errors_except_where_weight_times_shift_is_0_mod_10(
    six: str, position: int, shift: int
) -> None:
    check = sum(int(d) * w for d, w in zip(six, range(7, 1, -1), strict=True)) % 10
    imo = six + str(check)
    assert imo_check_ok(imo)
    changed = _replace(imo, position, str((int(six[position]) + shift) % 10))
    weight = 7 - position
    assert imo_check_ok(changed) == ((weight * shift) % 10 == 0)


@pytest.mark.parametrize(
    "mmsi",
    [
        "520100345",  # Fiji ship
        "561000123",  # Samoa ship
        "311000517",  # Bahamas ship
        "005201234",  # coast station
        "052012345",  # group call
        "111520123",  # SAR aircraft
        "970123456",  # AIS-SART
        "985201234",  # craft associated with a parent ship
        "995201234",  # aid to navigation
        "852012345",  # handheld VHF
    ],
)
def test_mmsi_valid(mmsi: str) -> None:
    assert mmsi_ok(mmsi)


@pytest.mark.parametrize(
    "mmsi",
    ["52010034", "5201003456", "000000000", "123456789", "900000000", "96012345A", "52010034x"],
)
def test_mmsi_invalid(mmsi: str) -> None:
    assert not mmsi_ok(mmsi)
