"""An item as a STIX 2.1 bundle: the pure conversion used by the ``stix`` handler.

Mapping (see ``docs/handlers-builtins.md``):

- the sending member and the receiving node: ``identity`` (organization);
- the alert: a ``report`` (title, summary, ``lali:*`` labels, the message id as an
  external reference) that refers to everything else;
- persons: ``identity`` (individual) with ``roles``; date of birth, sex, nationality,
  the name parts and aliases go into a property extension;
- travel documents and vessels: STIX 2.1 has no object for either, so they are new SCO
  types ``lali-travel-document`` and ``lali-vessel`` defined by a Lali extension
  definition (STIX 2.1 §7.3; the custom ``x-`` objects of §11 are deprecated) and shown
  in one ``observed-data``; a document reported lost, stolen, fraudulent or counterfeit
  also gets an ``indicator`` whose pattern matches its number and issuing state;
- ports (UN/LOCODE) and a reported position: ``location``;
- a watch-list hit: a ``note`` on the report.

Every object that carries alert content is marked with the official TLP 2.0 marking
definition (OASIS ``cti-stix-common-objects``, extension
``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``). Ids are uuid5 names
derived from the message id (member identities and ports from their codes, SCOs by the
STIX deterministic-id rule) and times come from the message id, so a retry produces
the identical bundle.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stix2  # type: ignore[import-untyped]

from node.handlers.base import (
    Hit,
    Item,
)
from node.protocol.wire import message_time
from schemas.domain import Person, TravelDocument, Vessel
from schemas.entities import Entities, extract
from schemas.enums import Tlp

__all__ = [
    "LALI_EXTENSION_ID",
    "TLP_MARKING_IDS",
    "to_stix_bundle",
]


TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_MARKING_IDS: Mapping[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:lali:stix")
_SCO_NS = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")  # STIX 2.1 §2.9
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # created/modified of objects shared by bundles
# Document status → indicator type (STIX 2.1 indicator-type-ov).
_ADVERSE = {
    "lost": "compromised",
    "stolen": "compromised",
    "fraudulent": "malicious-activity",
    "counterfeit": "malicious-activity",
}
# Payload fields whose value becomes a ``lali:<field>=<value>`` label on the report.
_LABEL_FIELDS = (
    "fraud_type",
    "substance",
    "exploitation",
    "category",
    "activity",
    "claim_status",
    "confidence",
)


def _id(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(_NS, '/'.join(str(p) for p in parts))}"


LALI_IDENTITY_ID = _id("identity", "lali")
LALI_EXTENSION_ID = _id("extension-definition", "entities", 1)


def _tlp_marking(tlp: Tlp) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKING_IDS[tlp],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{tlp.value}",
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.value.lower(),
            }
        },
    }


def _lali_definitions() -> list[Any]:
    creator = stix2.Identity(
        id=LALI_IDENTITY_ID, created=_EPOCH, modified=_EPOCH, name="Lali", identity_class="system"
    )
    extension = stix2.ExtensionDefinition(
        id=LALI_EXTENSION_ID,
        created_by_ref=LALI_IDENTITY_ID,
        created=_EPOCH,
        modified=_EPOCH,
        name="Lali border alert entities",
        description=(
            "New SCOs lali-travel-document (kind, number, issuing_state, expiry, status, mrz) "
            "and lali-vessel (name, imo, mmsi, call_sign, flag, kind, last_port, next_port, "
            "eta); on identity (individual): family_name, given_names, date_of_birth, sex, "
            "nationality (ISO 3166 alpha-3), aliases."
        ),
        schema="Lali docs/handlers-builtins.md, section stix; values as in the Lali alert schema",
        version="1.0.0",
        extension_types=["new-sco", "property-extension"],
    )
    return [creator, extension]


def _member(code: str) -> stix2.Identity:
    return stix2.Identity(
        id=_id("identity", "member", code),
        created=_EPOCH,
        modified=_EPOCH,
        name=f"Lali member {code}",
        identity_class="organization",
        sectors=["government-national"],
    )


def _sco(kind: str, key: dict[str, str], props: dict[str, Any], mark: str) -> dict[str, Any]:
    """A new-SCO object; its id follows the STIX rule (uuid5 over the canonical JSON of
    its id-contributing properties ``key``), so the same document or vessel has the same
    id in every bundle."""
    name = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    values = {k: v for k, v in props.items() if v not in (None, [], "")}
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.uuid5(_SCO_NS, name)}",
        **values,
        "object_marking_refs": [mark],
        "extensions": {LALI_EXTENSION_ID: {"extension_type": "new-sco"}},
    }


def _document(doc: TravelDocument, mark: str) -> dict[str, Any]:
    key = {"issuing_state": doc.issuing_state, "number": doc.number}
    return _sco("lali-travel-document", key, doc.model_dump(mode="json"), mark)


def _vessel(vessel: Vessel, mark: str) -> dict[str, Any]:
    # The strongest identifier present: IMO, else MMSI, else call sign, else name + flag.
    key = next(
        ({k: v} for k in ("imo", "mmsi", "call_sign") if (v := getattr(vessel, k))),
        {"name": vessel.name, "flag": vessel.flag or ""},
    )
    return _sco("lali-vessel", key, vessel.model_dump(mode="json"), mark)


def _person(person: Person, oid: str, common: dict[str, Any]) -> stix2.Identity:
    attrs = person.model_dump(mode="json", exclude={"role"})
    attrs = {k: v for k, v in attrs.items() if v not in (None, "", [])}
    return stix2.Identity(
        id=oid,
        name=" ".join(filter(None, (person.given_names, person.family_name))),
        identity_class="individual",
        roles=[person.role],
        extensions={LALI_EXTENSION_ID: {"extension_type": "property-extension", **attrs}},
        **common,
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _indicator(
    doc: TravelDocument, oid: str, common: dict[str, Any], until: datetime | None
) -> stix2.Indicator:
    t = "lali-travel-document"
    number, state = _quote(doc.number), _quote(doc.issuing_state)
    valid_from = common["created"]
    extra = {"valid_until": until} if until is not None and until > valid_from else {}
    return stix2.Indicator(
        id=oid,
        name=f"{doc.status} {doc.kind} issued by {doc.issuing_state}".replace("_", " "),
        indicator_types=[_ADVERSE[doc.status]],
        pattern=f"[{t}:number = {number} AND {t}:issuing_state = {state}]",
        pattern_type="stix",
        valid_from=valid_from,
        **extra,
        **common,
    )


def _observables(item: Item, entities: Entities, common: dict[str, Any]) -> list[Any]:
    """Documents and vessels as SCOs in one observed-data, plus indicators for documents
    reported lost, stolen, fraudulent or counterfeit."""
    alert, mid, mark = item.alert, item.message_id, common["object_marking_refs"][0]
    scos = [_document(d, mark) for d in entities.documents]
    scos += [_vessel(v, mark) for v in entities.vessels]
    unique = list({sco["id"]: sco for sco in scos}.values())
    if not unique:
        return []
    seen = alert.observed_at or common["created"]
    observed = stix2.ObservedData(
        id=_id("observed-data", mid),
        first_observed=seen,
        last_observed=seen,
        number_observed=1,
        object_refs=[sco["id"] for sco in unique],
        allow_custom=True,  # the refs name our new SCO types
        **common,
    )
    indicators = [
        _indicator(doc, _id("indicator", mid, "document", i), common, alert.expires_at)
        for i, doc in enumerate(entities.documents)
        if doc.status in _ADVERSE
    ]
    return [*unique, observed, *indicators]


def _locations(item: Item, entities: Entities, common: dict[str, Any]) -> list[stix2.Location]:
    """Ports as shared locations (same id in every bundle, no content), and the
    reported position as a marked one."""
    found = [
        stix2.Location(
            id=_id("location", "unlocode", port),
            created=_EPOCH,
            modified=_EPOCH,
            name=port,
            country=port[:2],
        )
        for port in entities.ports
    ]
    position = getattr(item.alert.payload, "position", None)
    if position is not None:
        oid = _id("location", item.message_id, "position")
        found.append(
            stix2.Location(
                id=oid, latitude=position.latitude, longitude=position.longitude, **common
            )
        )
    return found


def _report(item: Item, refs: list[str], common: dict[str, Any]) -> stix2.Report:
    payload = item.alert.payload
    labels = [f"lali:topic={item.topic.value}", f"lali:priority={item.priority.value}"]
    labels += [f"lali:{f}={v}" for f in _LABEL_FIELDS if (v := getattr(payload, f, None))]
    return stix2.Report(
        id=_id("report", item.message_id),
        name=item.alert.title,
        description=item.alert.summary,
        published=common["created"],
        report_types=["threat-report"],
        labels=labels,
        object_refs=refs,
        external_references=[{"source_name": "lali", "external_id": item.message_id}],
        allow_custom=True,
        **common,
    )


def _hit_note(item: Item, hit: Hit, report: str, common: dict[str, Any]) -> stix2.Note:
    fields = ", ".join(hit.fields) or "no fields"
    return stix2.Note(
        id=_id("note", item.message_id, "hit", hit.hit_id),
        abstract="Lali watch-list hit",
        content=(
            f"Local watch-list hit on a {hit.entity}: entry {hit.list_entry}, "
            f"score {hit.score:.1f}, matched on {fields}."
        ),
        object_refs=[report],
        **common,
    )


def to_stix_bundle(item: Item, receiver: str | None = None) -> dict[str, Any]:
    """The STIX 2.1 bundle for ``item`` as a JSON-ready dict. Pure and deterministic:
    the same item gives the same bundle, ids and bytes. ``receiver`` is this node's code."""
    sender = _member(item.sender)
    at = message_time(item.message_id)
    common = {
        "created": at,
        "modified": at,
        "created_by_ref": sender.id,
        "object_marking_refs": [TLP_MARKING_IDS[item.tlp]],
    }
    entities = extract(item.alert)
    content: list[Any] = [
        *(
            _person(p, _id("identity", item.message_id, "person", i), common)
            for i, p in enumerate(entities.persons)
        ),
        *_observables(item, entities, common),
        *_locations(item, entities, common),
    ]
    report = _report(item, [sender.id, *(obj["id"] for obj in content)], common)
    objects = [_tlp_marking(item.tlp), *_lali_definitions(), sender, *content, report]
    if receiver is not None:
        objects.append(_member(receiver))
    kind = "alert"
    if item.hit is not None:
        objects.append(_hit_note(item, item.hit, report.id, common))
        kind = f"hit/{item.hit.hit_id}"
    bundle = stix2.Bundle(
        objects=objects, id=_id("bundle", item.message_id, kind), allow_custom=True
    )
    result: dict[str, Any] = json.loads(bundle.serialize())
    return result
