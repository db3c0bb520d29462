"""Entities that alerts talk about: persons, travel documents, vessels and movements."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from schemas.base import Date, StrictModel, Timestamp, single_line
from schemas.checks import imo_check_ok, mmsi_ok, verify_mrz
from schemas.codes import CountryCode2, CountryCode3, UnLocode

__all__ = [
    "DocumentKind",
    "DocumentStatus",
    "Movement",
    "Person",
    "PersonRole",
    "TravelDocument",
    "Vessel",
    "VesselKind",
]

Name = Annotated[str, single_line(100)]

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
    """A person named in an alert. Names as written in the travel document, if any."""

    family_name: Name
    given_names: Annotated[str, single_line(100, min_length=0)] = ""
    date_of_birth: Date | None = None
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

    When the machine-readable zone is given it must verify (ICAO 9303 check digits) and
    agree with ``number``, ``issuing_state`` and ``expiry``: a mismatch is more often a
    typing error than a finding, and either way the alert must not go out inconsistent.
    """

    kind: DocumentKind
    number: DocumentNumber
    issuing_state: CountryCode3
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
    def _mrz_agrees(self) -> Self:
        if self.mrz is None:
            return self
        data = verify_mrz(self.mrz)
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


class Vessel(StrictModel):
    """A ship or boat. ``name`` is always required, so a vessel is always identifiable
    at least by name; ``imo``, ``mmsi`` and ``call_sign`` are verified when given."""

    name: Name
    imo: ImoNumber | None = None
    mmsi: Mmsi | None = None
    call_sign: CallSign | None = None
    flag: CountryCode2 | None = None
    kind: VesselKind = "other"
    last_port: UnLocode | None = None
    next_port: UnLocode | None = None
    eta: Timestamp | None = None


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
