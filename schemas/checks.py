"""Check-digit arithmetic for travel documents (ICAO 9303) and vessels (IMO, MMSI).

Pure functions on strings; no I/O. ``verify_mrz`` checks structure, character set and
every check digit only: whether the issuing state or nationality is a real country is
the models' business (ICAO's own specimens use the fictional state ``UTO``). MMSIs are
read by their form (ITU-R M.585-9) and their MID looked up in the ITU table
(``schemas.data.itu_mid``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from schemas.data.itu_mid import MID_ALLOCATIONS, MidAllocation

__all__ = [
    "MmsiForm",
    "MmsiInfo",
    "MrzData",
    "icao_check_digit",
    "imo_check_ok",
    "mid_allocation",
    "mmsi_info",
    "mmsi_ok",
    "verify_mrz",
]

_WEIGHTS = (7, 3, 1)
_MRZ_LINE_RE = re.compile(r"^[A-Z0-9<]+$")
_DATE_RE = re.compile(r"^[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$")
# ICAO 9303 lets an unknown part of the date of birth be written as fillers.
_BIRTH_DATE_RE = re.compile(r"^([0-9]{2}|<<)([0-9]{2}|<<)([0-9]{2}|<<)$")
_SEXES = frozenset("MFX<")


def _char_value(char: str) -> int:
    if "0" <= char <= "9":
        return ord(char) - ord("0")
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise ValueError("character outside the MRZ character set [A-Z0-9<]")


def icao_check_digit(s: str) -> int:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating; ``<`` = 0, ``A`` = 10 … ``Z`` = 35.

    Raises ``ValueError`` for characters outside ``[A-Z0-9<]``.
    """
    return sum(_char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(s)) % 10


@dataclass(frozen=True, slots=True)
class MrzData:
    """The fields of a verified machine-readable zone, fillers removed.

    Dates are kept as the ``YYMMDD`` text of the MRZ: the century is not encoded, and an
    unknown part of a birth date is written ``<<``.
    """

    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str
    sex: str
    expiry_date: str


def _expect_digit(field: str, data: str, check: str, *, filler_ok: bool = False) -> None:
    """Raise unless ``check`` is the check digit of ``data``.

    ``filler_ok``: ICAO 9303 allows ``<`` as the check digit of an optional field that
    holds only fillers.
    """
    if filler_ok and check == "<" and set(data) <= {"<"}:
        return
    if not check.isdigit() or int(check) != icao_check_digit(data):
        raise ValueError(f"MRZ check digit for {field} does not match")


def _strip(field: str) -> str:
    return field.replace("<", " ").strip()


def _name(field: str) -> tuple[str, str]:
    surname, _, given = field.partition("<<")
    return _strip(surname), _strip(given)


def _document_number(number: str, check: str, optional: str) -> tuple[str, str]:
    """Return ``(document number, its check digit)``.

    A document number longer than 9 characters (TD1, TD2) puts ``<`` in the check digit
    position and continues in the optional data, whose last character before the first
    filler is then the check digit.
    """
    if check != "<" or number.endswith("<"):
        return number, check
    overflow = optional.split("<", 1)[0]
    if len(overflow) < 2:
        raise ValueError("MRZ long document number has no check digit in the optional data")
    return number + overflow[:-1], overflow[-1]


def _check_common(code: str, birth: str, sex: str, expiry: str) -> None:
    if not ("A" <= code[0] <= "Z"):
        raise ValueError("MRZ document code must start with a letter")
    if not _BIRTH_DATE_RE.match(birth):
        raise ValueError("MRZ date of birth is not YYMMDD")
    if sex not in _SEXES:
        raise ValueError("MRZ sex must be M, F, X or <")
    if not _DATE_RE.match(expiry):
        raise ValueError("MRZ date of expiry is not a valid YYMMDD date")


def _result(
    code: str,
    state: str,
    name_field: str,
    number: str,
    nationality: str,
    birth: str,
    sex: str,
    expiry: str,
) -> MrzData:
    surname, given = _name(name_field)
    return MrzData(
        document_code=code.rstrip("<"),
        issuing_state=_strip(state),
        surname=surname,
        given_names=given,
        document_number=number.rstrip("<"),
        nationality=_strip(nationality),
        birth_date=birth,
        sex=sex,
        expiry_date=expiry,
    )


def _verify_td1(l1: str, l2: str, l3: str) -> MrzData:
    code, state = l1[0:2], l1[2:5]
    number, number_check = _document_number(l1[5:14], l1[14], l1[15:30])
    birth, birth_check, sex = l2[0:6], l2[6], l2[7]
    expiry, expiry_check, nationality = l2[8:14], l2[14], l2[15:18]
    _check_common(code, birth, sex, expiry)
    _expect_digit("document number", number, number_check)
    _expect_digit("date of birth", birth, birth_check)
    _expect_digit("date of expiry", expiry, expiry_check)
    _expect_digit(
        "composite (line 2, position 30)", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]
    )
    return _result(code, state, l3, number, nationality, birth, sex, expiry)


def _verify_two_line(l1: str, l2: str) -> MrzData:
    """TD2 (36), TD3 (44) and machine-readable visas MRV-B (36), MRV-A (44)."""
    code, state = l1[0:2], l1[2:5]
    number, number_check = l2[0:9], l2[9]
    if len(l2) == 36:
        number, number_check = _document_number(number, number_check, l2[28:])
    nationality, birth, birth_check = l2[10:13], l2[13:19], l2[19]
    sex, expiry, expiry_check = l2[20], l2[21:27], l2[27]
    _check_common(code, birth, sex, expiry)
    _expect_digit("document number", number, number_check)
    _expect_digit("date of birth", birth, birth_check)
    _expect_digit("date of expiry", expiry, expiry_check)
    # Visas (code "V…") carry no composite and no personal-number check digit: the
    # positions after the expiry check digit are optional data to the end of the line.
    if code[0] != "V":
        if len(l2) == 44:
            _expect_digit("personal number", l2[28:42], l2[42], filler_ok=True)
        composite = l2[0:10] + l2[13:20] + l2[21:-1]
        _expect_digit(f"composite (line 2, position {len(l2)})", composite, l2[-1])
    return _result(code, state, l1[5:], number, nationality, birth, sex, expiry)


def verify_mrz(lines: Sequence[str]) -> MrzData:
    """Verify an ICAO 9303 machine-readable zone and return its fields.

    Accepts TD1 (3 lines of 30), TD2 (2 × 36) and TD3 (2 × 44), and the visa formats
    MRV-B (2 × 36) and MRV-A (2 × 44). Checks line lengths, the character set and every
    check digit that the format defines (document number, date of birth, date of expiry,
    personal number on TD3, composite). Raises ``ValueError`` naming what failed; the
    message never repeats the MRZ content.
    """
    if isinstance(lines, str):
        raise TypeError("verify_mrz takes a sequence of lines, not one string")
    shape = tuple(len(line) for line in lines)
    if shape not in {(30, 30, 30), (36, 36), (44, 44)}:
        raise ValueError("MRZ must be 3 lines of 30 (TD1), 2 of 36 (TD2) or 2 of 44 (TD3)")
    for number, line in enumerate(lines, start=1):
        if not _MRZ_LINE_RE.match(line):
            raise ValueError(f"MRZ line {number} has characters outside [A-Z0-9<]")
    if len(lines) == 3:
        return _verify_td1(lines[0], lines[1], lines[2])
    return _verify_two_line(lines[0], lines[1])


def imo_check_ok(imo: str) -> bool:
    """True for a 7-digit IMO ship number whose last digit is its check digit.

    The first six digits are weighted 7, 6, 5, 4, 3, 2; the sum's last digit is the
    seventh digit (``9074729``: 63+0+35+16+21+4 = 139 → 9).
    """
    if len(imo) != 7 or not imo.isascii() or not imo.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(imo[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(imo[6])


class MmsiForm(StrEnum):
    """The kinds of maritime identity ITU-R M.585-9 defines, by their leading digits."""

    SHIP = "ship"  # MIDXXXXXX
    GROUP = "group"  # 0MIDXXXXX: group ship station call
    COAST = "coast"  # 00MIDXXXX: coast station
    SAR_AIRCRAFT = "sar_aircraft"  # 111MIDXXX
    HANDHELD = "handheld"  # 8MIDXXXXX: handheld VHF with DSC and GNSS
    PARENT_CRAFT = "parent_craft"  # 98MIDXXXX: craft associated with a parent ship
    AID_TO_NAVIGATION = "aid_to_navigation"  # 99MIDXXXX
    AIS_SART = "ais_sart"  # 970XXYYYY: XX the manufacturer, no MID
    MOB = "mob"  # 972XXYYYY: man-overboard device
    EPIRB_AIS = "epirb_ais"  # 974XXYYYY


@dataclass(frozen=True, slots=True)
class MmsiInfo:
    """An MMSI's form and, for the forms that carry one, its MID (``None`` otherwise)."""

    form: MmsiForm
    mid: str | None


# Leading digits → (form, where the MID starts); the longest prefix is tried first.
_FORMS: tuple[tuple[str, MmsiForm, int | None], ...] = (
    ("111", MmsiForm.SAR_AIRCRAFT, 3),
    ("970", MmsiForm.AIS_SART, None),
    ("972", MmsiForm.MOB, None),
    ("974", MmsiForm.EPIRB_AIS, None),
    ("00", MmsiForm.COAST, 2),
    ("98", MmsiForm.PARENT_CRAFT, 2),
    ("99", MmsiForm.AID_TO_NAVIGATION, 2),
    ("0", MmsiForm.GROUP, 1),
    ("8", MmsiForm.HANDHELD, 1),
)
_MID_FIRST_DIGITS = "234567"  # a MID is 201-775: its first digit is its region


def mmsi_info(mmsi: str) -> MmsiInfo | None:
    """The form of a 9-digit MMSI and its MID, or ``None`` when it has no defined form.

    The MID is returned as written, allocated or not: :func:`mmsi_ok` checks that.
    """
    if len(mmsi) != 9 or not mmsi.isascii() or not mmsi.isdigit():
        return None
    if mmsi[0] in _MID_FIRST_DIGITS:
        return MmsiInfo(MmsiForm.SHIP, mmsi[:3])
    for prefix, form, at in _FORMS:
        if mmsi.startswith(prefix):
            if at is None:
                return MmsiInfo(form, None)
            mid = mmsi[at : at + 3]
            return MmsiInfo(form, mid) if mid[0] in _MID_FIRST_DIGITS else None
    return None


def mid_allocation(mid: str) -> MidAllocation | None:
    """Where the ITU has allocated ``mid`` (``"520"`` → Fiji), or ``None``."""
    return MID_ALLOCATIONS.get(mid)


def mmsi_ok(mmsi: str) -> bool:
    """True for a 9-digit Maritime Mobile Service Identity of a form ITU-R M.585-9
    defines whose MID, when the form has one, is allocated in the ITU table.

    Accepted, by leading digits:

    - ``2``–``7``: a ship station (``MID`` + 6 digits), the usual case for a vessel;
    - ``0``: group ship call (``0`` + MID) or coast station (``00`` + MID);
    - ``111``: SAR aircraft (``111`` + MID); ``8``: handheld VHF with DSC (``8`` + MID);
    - ``98``: craft associated with a parent ship; ``99``: aid to navigation (+ MID);
    - ``970``/``972``/``974``: AIS-SART, man-overboard device, EPIRB-AIS (no MID).

    Refused: any other form, and a MID the ITU has not allocated (``123456789``,
    ``200000000``, ``000000000``).
    """
    info = mmsi_info(mmsi)
    if info is None:
        return False
    return info.mid is None or info.mid in MID_ALLOCATIONS
