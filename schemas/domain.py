"""Entities that alerts talk about: persons, travel documents, vessels and movements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.base import (
    Date,
    StrictModel,
    Timestamp,
    context_now,
    icao_specimens_allowed,
    single_line,
)
from schemas.checks import imo_check_ok, mid_allocation, mmsi_info, mmsi_ok, verify_mrz
from schemas.codes import CountryCode2, CountryCode3, UnLocode, is_icao_code

__all__ = [
    "EARLIEST_BIRTH_DATE",
    "BirthDate",
    "DocumentKind",
    "DocumentStatus",
    "FieldWarning",
    "IssueDate",
    "Movement",
    "Person",
    "PersonRole",
    "TravelDocument",
    "Vessel",
    "VesselKind",
    "latest_date",
]

Name = Annotated[str, single_line(100)]

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
"""No date of birth before this: an earlier one is a typing error (``0988`` for ``1988``)."""
# UTC+14 (Kiritimati) is the earliest time zone: a date that is not yet today there is
# not today anywhere. Dates of birth and of issue are local dates with no time zone.
_EARLIEST_ZONE = timedelta(hours=14)


def latest_date(now: datetime) -> date:
    """The latest calendar date anywhere on Earth at ``now``: its date in UTC+14."""
    return (now.astimezone(UTC) + _EARLIEST_ZONE).date()


def _not_in_future(value: date, info: ValidationInfo, what: str) -> date:
    now = context_now(info)
    if now is not None and value > latest_date(now):
        raise ValueError(f"{what} is in the future")
    return value


def _plausible_birth_date(value: date, info: ValidationInfo) -> date:
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError("date of birth is before 1900-01-01")
    return _not_in_future(value, info, "date of birth")


def _plausible_issue_date(value: date, info: ValidationInfo) -> date:
    return _not_in_future(value, info, "date of issue")


BirthDate = Annotated[Date, AfterValidator(_plausible_birth_date)]
"""A date of birth: from 1900-01-01, and not later than today anywhere on Earth at the
validation context's ``now`` (``schemas.base.context_now``)."""

IssueDate = Annotated[Date, AfterValidator(_plausible_issue_date)]
"""A document's date of issue: not later than today anywhere on Earth (as ``BirthDate``)."""

PersonRole = Literal[
    "suspect",
    "facilitator",
    "victim",
    "passenger",
    "crew",
    "master",
    "asylum_seeker",
    "migrant",
    "witness",
    "other",
]
DocumentKind = Literal["passport", "id_card", "visa", "seaman_book", "travel_document", "other"]
DocumentStatus = Literal["lost", "stolen", "fraudulent", "counterfeit", "valid", "unknown"]
VesselKind = Literal["cruise", "yacht", "fishing", "cargo", "other"]


class Person(StrictModel):
    """A person named in an alert. Names as written in the travel document, if any.
    A date of birth is not before 1900-01-01 and not later than today anywhere on Earth
    (the date in UTC+14)."""

    family_name: Name
    given_names: Annotated[str, single_line(100, min_length=0)] = ""
    date_of_birth: BirthDate | None = None
    sex: Literal["F", "M", "X"] | None = None
    nationality: CountryCode3 | None = None
    aliases: list[Name] = Field(default_factory=list, max_length=10)
    role: PersonRole = "other"


def _normalise_document_number(value: object) -> object:
    """Upper-case and drop the spaces and hyphens people type into document numbers."""
    if isinstance(value, str):
        return value.upper().replace(" ", "").replace("-", "")
    return value


# The before-validator wraps the constrained string, so it runs first (normalise, then
# check the canonical form) while the length error stays a string-length error.
DocumentNumber = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Z0-9]+$"),
    BeforeValidator(_normalise_document_number),
]

MrzLine = Annotated[str, StringConstraints(min_length=30, max_length=44, pattern=r"^[A-Z0-9<]+$")]


class TravelDocument(StrictModel):
    """A passport, identity card, visa or other travel document.

    When the machine-readable zone is given it must verify (ICAO 9303 check digits),
    name a real nationality (ISO 3166-1 alpha-3 or ICAO 9303 code) and agree with
    ``number``, ``issuing_state`` and ``expiry``: a mismatch is more often a typing error
    than a finding, and either way the alert must not go out inconsistent. ``issue_date``,
    when given, is not in the future and comes before ``expiry``.
    """

    kind: DocumentKind
    number: DocumentNumber
    issuing_state: CountryCode3
    issue_date: IssueDate | None = None
    expiry: Date | None = None
    mrz: Annotated[list[MrzLine], Field(min_length=2, max_length=3)] | None = None
    status: DocumentStatus = "unknown"

    @field_validator("mrz")
    @classmethod
    def _mrz_verifies(cls, lines: list[str] | None) -> list[str] | None:
        if lines is not None:
            verify_mrz(lines)
        return lines

    @model_validator(mode="after")
    def _issued_before_expiry(self) -> Self:
        issued, expiry = self.issue_date, self.expiry
        if issued is not None and expiry is not None and issued >= expiry:
            raise ValueError("date of issue must be before the expiry date")
        return self

    @model_validator(mode="after")
    def _mrz_agrees(self, info: ValidationInfo) -> Self:
        # A model validator, not part of the field's: it runs only once the fields are
        # valid, so an unknown issuing_state is reported there, once.
        if self.mrz is None:
            return self
        data = verify_mrz(self.mrz)
        if not is_icao_code(data.nationality, specimens=icao_specimens_allowed(info)):
            raise ValueError("MRZ nationality is not an ISO 3166-1 alpha-3 or ICAO 9303 code")
        if data.document_number != self.number:
            raise ValueError("document number does not match the MRZ")
        if not _same_state(data.issuing_state, self.issuing_state):
            raise ValueError("issuing state does not match the MRZ")
        if self.expiry is not None and self.expiry.strftime("%y%m%d") != data.expiry_date:
            raise ValueError("expiry date does not match the MRZ")
        return self


def _same_state(mrz_state: str, state: str) -> bool:
    # Germany is "D" in the MRZ and may be written either way in the document record.
    germany = {"D", "DEU"}
    return mrz_state == state or (mrz_state in germany and state in germany)


def _check_imo(value: str) -> str:
    if not imo_check_ok(value):
        raise ValueError("IMO number check digit does not match")
    return value


def _check_mmsi(value: str) -> str:
    if not mmsi_ok(value):
        raise ValueError("not a valid MMSI")
    return value


ImoNumber = Annotated[
    str,
    StringConstraints(min_length=7, max_length=7, pattern=r"^[0-9]{7}$"),
    AfterValidator(_check_imo),
]
Mmsi = Annotated[
    str,
    StringConstraints(min_length=9, max_length=9, pattern=r"^[0-9]{9}$"),
    AfterValidator(_check_mmsi),
]
CallSign = Annotated[str, StringConstraints(min_length=3, max_length=7, pattern=r"^[A-Z0-9]+$")]


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """Something about a valid model that a person should look at: shown, never refused,
    never serialised. ``reason`` is stable (for code and metrics); ``message`` is for
    people and names no field value beyond codes."""

    field: str
    reason: str
    message: str


class Vessel(StrictModel):
    """A ship or boat. ``name`` is always required, so a vessel is always identifiable
    at least by name; ``imo``, ``mmsi`` and ``call_sign`` are verified when given (an
    MMSI's MID must be one the ITU has allocated). A ``flag`` that disagrees with the
    MMSI's MID is not an error, since ships change flag and keep their MMSI for a while:
    receivers compute it as a warning to show (``warnings`` in Python); it is not sent."""

    name: Name
    imo: ImoNumber | None = None
    mmsi: Mmsi | None = None
    call_sign: CallSign | None = None
    flag: CountryCode2 | None = None
    kind: VesselKind = "other"
    last_port: UnLocode | None = None
    next_port: UnLocode | None = None
    eta: Timestamp | None = None

    @property
    def warnings(self) -> tuple[FieldWarning, ...]:
        """What disagrees without being wrong; computed, not part of the wire format."""
        if self.mmsi is None or self.flag is None:
            return ()
        info = mmsi_info(self.mmsi)
        allocation = mid_allocation(info.mid) if info is not None and info.mid else None
        if allocation is None or self.flag in allocation.flags:
            return ()
        return (
            FieldWarning(
                "flag",
                "mmsi_flag_mismatch",
                f"the MMSI's MID {allocation.mid} is allocated to {allocation.name}"
                f" ({', '.join(sorted(allocation.flags))}), the flag is {self.flag}",
            ),
        )


class Movement(StrictModel):
    """One border crossing or port call: where, how, which way and when."""

    port: UnLocode
    mode: Literal["air", "sea", "land"]
    flight_or_voyage: (
        Annotated[
            str,
            StringConstraints(
                min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$"
            ),
        ]
        | None
    ) = None
    direction: Literal["inbound", "outbound", "transit"]
    time: Timestamp
