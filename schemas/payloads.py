"""One payload model per topic. ``topic`` is the discriminator of the ``Payload`` union.

Every list is bounded and defaults to empty; every count is a strict integer (a JSON
string such as ``"12"`` is refused, not coerced).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from schemas.base import MessageId, StrictModel, multi_line, single_line
from schemas.codes import CountryCode2, CountryCode3
from schemas.domain import Movement, Person, TravelDocument, Vessel
from schemas.enums import Topic

__all__ = [
    "AsylumPayload",
    "BulletinPayload",
    "ClaimStatus",
    "DrugSmugglingPayload",
    "Exploitation",
    "FraudType",
    "HumanTraffickingPayload",
    "IdentityFraudPayload",
    "IrregularMigrationPayload",
    "MaritimePayload",
    "MigrationCategory",
    "PeopleSmugglingPayload",
    "Position",
    "Substance",
    "TraffickingIndicator",
    "VesselActivity",
    "Vulnerability",
]

_H = TypeVar("_H", bound=Hashable)


def _unique(values: list[_H]) -> list[_H]:
    if len(set(values)) != len(values):
        raise ValueError("list items must be unique")
    return values


def _require_topic(schema: dict[str, Any]) -> None:
    # ``topic`` has a default for convenience in Python, but the wire always carries it:
    # the discriminated union cannot pick a model without it.
    required = schema.setdefault("required", [])
    if "topic" not in required:
        required.insert(0, "topic")


Exploitation = Literal[
    "sexual",
    "labour",
    "domestic_servitude",
    "forced_marriage",
    "forced_criminality",
    "organ_removal",
    "unknown",
]

FraudType = Literal[
    "counterfeit",
    "forgery",
    "fraudulently_obtained",
    "impostor",
    "stolen_blank",
    "lost_or_stolen_in_use",
    "other",
]

Substance = Literal[
    "methamphetamine",
    "cocaine",
    "heroin",
    "cannabis",
    "mdma",
    "fentanyl",
    "ketamine",
    "precursor_chemicals",
    "other",
    "unknown",
]

MigrationCategory = Literal[
    "illegal_entry",
    "overstay",
    "absconded_crew",
    "refused_entry",
    "attempted_illegal_exit",
    "document_abuse",
    "removal",
    "other",
]

VesselActivity = Literal[
    "arrival",
    "departure",
    "transit",
    "unscheduled_arrival",
    "loitering",
    "transshipment",
    "ais_gap",
    "distress",
    "crew_desertion",
    "other",
]

ClaimStatus = Literal[
    "intention_expressed",
    "lodged",
    "under_assessment",
    "recognised",
    "rejected",
    "withdrawn",
    "unknown",
]

PersonCount = Annotated[int, Field(strict=True, ge=1, le=100_000)]
Remarks = Annotated[str, multi_line(2000)]
Kilograms = Annotated[float, Field(strict=True, gt=0, le=1_000_000, allow_inf_nan=False)]


class _Payload(StrictModel):
    model_config = ConfigDict(json_schema_extra=_require_topic)


class PeopleSmugglingPayload(_Payload):
    """Organised, for-profit movement of people across a border without authorisation."""

    topic: Literal[Topic.PEOPLE_SMUGGLING] = Topic.PEOPLE_SMUGGLING
    number_of_persons: PersonCount | None = None
    persons: list[Person] = Field(default_factory=list, max_length=200)
    documents: list[TravelDocument] = Field(default_factory=list, max_length=200)
    vessels: list[Vessel] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=50)
    destination_country: CountryCode2 | None = None
    route_description: Remarks | None = None


TraffickingIndicator = Literal[
    "deceptive_recruitment",
    "debt_bondage",
    "documents_withheld",
    "restricted_movement",
    "controlled_communication",
    "third_party_paid_travel",
    "scripted_answers",
    "signs_of_abuse",
    "minor_unaccompanied",
    "excessive_working_hours",
    "wages_withheld",
    "other",
]


class HumanTraffickingPayload(_Payload):
    """Recruitment or movement of people for exploitation (Palermo Protocol)."""

    topic: Literal[Topic.HUMAN_TRAFFICKING] = Topic.HUMAN_TRAFFICKING
    exploitation: Exploitation = "unknown"
    victims: list[Person] = Field(default_factory=list, max_length=200)
    suspects: list[Person] = Field(default_factory=list, max_length=50)
    indicators: Annotated[
        list[TraffickingIndicator], Field(max_length=12), AfterValidator(_unique)
    ] = Field(default_factory=list)
    minors_involved: Annotated[bool, Field(strict=True)] | None = None
    documents: list[TravelDocument] = Field(default_factory=list, max_length=200)
    vessels: list[Vessel] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=50)
    circumstances: Remarks | None = None

    @model_validator(mode="after")
    def _roles_agree(self) -> Self:
        if any(p.role in ("suspect", "facilitator") for p in self.victims):
            raise ValueError("a person listed as a victim has a suspect role")
        if any(p.role == "victim" for p in self.suspects):
            raise ValueError("a person listed as a suspect has the victim role")
        return self


class IdentityFraudPayload(_Payload):
    """Fraudulent, stolen or misused travel documents; at least one document."""

    topic: Literal[Topic.IDENTITY_FRAUD] = Topic.IDENTITY_FRAUD
    fraud_type: FraudType
    documents: list[TravelDocument] = Field(min_length=1, max_length=50)
    persons: list[Person] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=20)
    modus_operandi: Remarks | None = None


class DrugSmugglingPayload(_Payload):
    """Illicit drugs or precursors detected or suspected in a consignment or on a person."""

    topic: Literal[Topic.DRUG_SMUGGLING] = Topic.DRUG_SMUGGLING
    substance: Substance
    quantity_kg: Kilograms | None = None
    concealment: Annotated[str, single_line(500)] | None = None
    persons: list[Person] = Field(default_factory=list, max_length=50)
    vessels: list[Vessel] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=50)


class IrregularMigrationPayload(_Payload):
    """Entry, stay or departure outside the law, not (known to be) organised for profit."""

    topic: Literal[Topic.IRREGULAR_MIGRATION] = Topic.IRREGULAR_MIGRATION
    category: MigrationCategory
    number_of_persons: PersonCount | None = None
    persons: list[Person] = Field(default_factory=list, max_length=200)
    documents: list[TravelDocument] = Field(default_factory=list, max_length=200)
    vessels: list[Vessel] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=50)
    details: Remarks | None = None


class Position(StrictModel):
    """WGS 84 position in decimal degrees."""

    latitude: Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]


class MaritimePayload(_Payload):
    """A vessel of interest: arrival, departure, suspicious activity, distress."""

    topic: Literal[Topic.MARITIME] = Topic.MARITIME
    vessel: Vessel
    activity: VesselActivity
    position: Position | None = None
    persons_on_board: Annotated[int, Field(strict=True, ge=0, le=10_000)] | None = None
    persons: list[Person] = Field(default_factory=list, max_length=100)
    movements: list[Movement] = Field(default_factory=list, max_length=50)
    remarks: Remarks | None = None


Vulnerability = Literal[
    "unaccompanied_minor",
    "family_with_children",
    "medical_needs",
    "pregnancy",
    "elderly",
    "survivor_of_violence",
    "other",
]


class AsylumPayload(_Payload):
    """Movement of asylum seekers and refugees. Handle with the confidentiality that
    refugee protection requires: never share with the country of claimed persecution."""

    topic: Literal[Topic.ASYLUM] = Topic.ASYLUM
    claim_status: ClaimStatus = "unknown"
    group_size: PersonCount | None = None
    persons: list[Person] = Field(default_factory=list, max_length=200)
    documents: list[TravelDocument] = Field(default_factory=list, max_length=200)
    vessels: list[Vessel] = Field(default_factory=list, max_length=20)
    movements: list[Movement] = Field(default_factory=list, max_length=50)
    transit_countries: Annotated[
        list[CountryCode3], Field(max_length=20), AfterValidator(_unique)
    ] = Field(default_factory=list)
    vulnerabilities: Annotated[
        list[Vulnerability], Field(max_length=7), AfterValidator(_unique)
    ] = Field(default_factory=list)
    remarks: Remarks | None = None

    @model_validator(mode="after")
    def _group_holds_persons(self) -> Self:
        if self.group_size is not None and len(self.persons) > self.group_size:
            raise ValueError("more persons listed than group_size")
        return self


class BulletinPayload(_Payload):
    """An analysis product from the hub, linking earlier alerts and entities."""

    topic: Literal[Topic.BULLETIN] = Topic.BULLETIN
    analysis: Annotated[str, multi_line(20_000)]
    confidence: Literal["low", "moderate", "high"] | None = None
    referenced_alerts: Annotated[
        list[MessageId], Field(max_length=200), AfterValidator(_unique)
    ] = Field(default_factory=list)
    related_topics: Annotated[list[Topic], Field(max_length=8), AfterValidator(_unique)] = Field(
        default_factory=list
    )
    persons: list[Person] = Field(default_factory=list, max_length=100)
    documents: list[TravelDocument] = Field(default_factory=list, max_length=100)
    vessels: list[Vessel] = Field(default_factory=list, max_length=50)
