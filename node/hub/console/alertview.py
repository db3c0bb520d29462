"""How the console lays one alert out for reading, whatever its topic: persons,
documents, vessels and movements as tables (a document's MRZ lines kept as lines,
for a monospace block), short fields as label and value, free text as paragraphs.
Pure: an ``Alert`` in, plain values for the template out. A payload field this module
does not know yet still shows, as a "path: value" fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.alert import Alert

# Lists of persons, in the order they are shown, and the heading of each.
PERSON_LISTS = (("persons", "Persons"), ("victims", "Victims"), ("suspects", "Suspects"))
# Free text: shown as paragraphs, after the facts.
TEXT_FIELDS = (
    "analysis", "modus_operandi", "route_description", "circumstances", "details", "remarks",
    "concealment",
)  # fmt: skip
LABELS = {
    "number_of_persons": "Persons",
    "persons_on_board": "Persons on board",
    "quantity_kg": "Quantity (kg)",
    "destination_country": "Destination",
    "minors_involved": "Minors involved",
    "claim_status": "Claim status",
    "group_size": "Group size",
    "transit_countries": "Transit countries",
    "referenced_alerts": "Cited alerts",
    "related_topics": "Related topics",
}


def label(name: str) -> str:
    """A field name as a heading: ``fraud_type`` → "Fraud type"."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def words(value: Any) -> str:
    """A value as text: enumerations with spaces, lists joined, booleans yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(words(v) for v in value)
    text = str(value)
    return text.replace("_", " ") if text.replace("_", "").isalpha() and text.islower() else text


@dataclass
class Layout:
    """One alert's payload as the page shows it."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    vessels: list[dict[str, Any]] = field(default_factory=list)
    movements: list[dict[str, Any]] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)


DOCUMENT = ("kind", "number", "issuing_state", "expiry", "status", "mrz")
VESSEL = ("name", "imo", "mmsi", "call_sign", "flag", "kind", "last_port", "next_port", "eta")
MOVEMENT = ("time", "port", "mode", "direction", "flight_or_voyage")


def _fields(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``item`` with every one of ``names`` (absent ones empty)."""
    return {name: item.get(name) or ([] if name == "mrz" else "") for name in names}


def _flat(value: Any, prefix: str) -> list[tuple[str, str]]:
    """Anything unforeseen as (path, text) rows."""
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in _flat(v, f"{prefix}.{k}")]
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return [row for i, v in enumerate(value) for row in _flat(v, f"{prefix}[{i}]")]
    return [] if value in (None, [], "") else [(prefix, words(value))]


def layout(alert: Alert) -> Layout:
    """``alert``'s payload laid out in tables, facts and paragraphs."""
    data: dict[str, Any] = alert.payload.model_dump(mode="json", exclude_none=True)
    data.pop("topic", None)
    out = Layout()
    for name, heading in PERSON_LISTS:
        for p in data.pop(name, []):
            out.persons.append(
                {
                    "list": heading,
                    "family_name": p.get("family_name", ""),
                    "given_names": p.get("given_names", ""),
                    "date_of_birth": p.get("date_of_birth", ""),
                    "sex": p.get("sex", ""),
                    "nationality": p.get("nationality", ""),
                    "aliases": ", ".join(p.get("aliases", [])),
                    "role": words(p.get("role", "")),
                }
            )
    for d in data.pop("documents", []):
        out.documents.append({**_fields(d, DOCUMENT), "kind": words(d.get("kind", ""))})
    vessels = data.pop("vessels", [])
    if "vessel" in data:
        vessels.insert(0, data.pop("vessel"))
    out.vessels = [{**_fields(v, VESSEL), "kind": words(v.get("kind", ""))} for v in vessels]
    movements = [_fields(m, MOVEMENT) for m in data.pop("movements", [])]
    out.movements = sorted(movements, key=lambda m: str(m["time"]))
    out.cited = list(data.pop("referenced_alerts", []))
    position = data.pop("position", None)
    if position:
        out.facts.append(("Position", f"{position['latitude']:.4f}, {position['longitude']:.4f}"))
    for name in TEXT_FIELDS:
        if name in data:
            out.texts.append((label(name), str(data.pop(name))))
    for name, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
        ):
            out.facts += _flat(value, name)
        elif value not in ([], ""):
            out.facts.append((label(name), words(value)))
    return out
