"""Lali's wire contract: strict pydantic models of alerts and their JSON Schemas.

No I/O here except in ``schemas.export``.
"""

from schemas.alert import (
    Alert,
    AsylumPayload,
    BulletinPayload,
    DrugSmugglingPayload,
    HumanTraffickingPayload,
    IdentityFraudPayload,
    IrregularMigrationPayload,
    MaritimePayload,
    Payload,
    PeopleSmugglingPayload,
    alert_to_json,
    parse_alert,
)
from schemas.base import MessageId, StrictModel
from schemas.checks import MrzData, icao_check_digit, imo_check_ok, mmsi_ok, verify_mrz
from schemas.codes import CountryCode2, CountryCode3, UnLocode
from schemas.domain import Movement, Person, TravelDocument, Vessel
from schemas.enums import Priority, Tlp, Topic
from schemas.payloads import Position

__all__ = [
    "Alert",
    "AsylumPayload",
    "BulletinPayload",
    "CountryCode2",
    "CountryCode3",
    "DrugSmugglingPayload",
    "HumanTraffickingPayload",
    "IdentityFraudPayload",
    "IrregularMigrationPayload",
    "MaritimePayload",
    "MessageId",
    "Movement",
    "MrzData",
    "Payload",
    "PeopleSmugglingPayload",
    "Person",
    "Position",
    "Priority",
    "StrictModel",
    "Tlp",
    "Topic",
    "TravelDocument",
    "UnLocode",
    "Vessel",
    "alert_to_json",
    "icao_check_digit",
    "imo_check_ok",
    "mmsi_ok",
    "parse_alert",
    "verify_mrz",
]
