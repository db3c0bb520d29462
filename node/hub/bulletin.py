"""Analysis bulletins: the hub's product, sent as a normal signed, encrypted alert
(topic ``bulletin``) through the node's ``send``.

A bulletin may cite only alerts the hub holds (its inbox) and links among them. The
handling codes of what it cites bind it (TLP 2.0):

1. its TLP is at least as restrictive as that of every alert it cites;
2. an alert marked TLP:RED or TLP:AMBER+STRICT may inform a bulletin only to the
   member that reported it (it may not be re-shared);
3. ``all`` is refused for TLP:RED and AMBER+STRICT bulletins (the node's ``send`` does it).

``check_bulletin`` is pure; ``compose`` reads the inbox and builds the alert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from node.exchange.outbound import NO_RESHARE, SendResult
from node.exchange.receipts import RecipientStatus, delivery_status
from node.hub import store
from node.hub.correlate import document_key, person_key, vessel_keys
from node.storage.database import Database
from node.storage.readonly import Reader
from schemas.alert import Alert, Priority, Tlp, Topic, parse_alert
from schemas.domain import Person, TravelDocument, Vessel
from schemas.entities import extract
from schemas.errors import PolicyViolation, SchemaViolation

TLP_ORDER = list(Tlp)  # CLEAR < GREEN < AMBER < AMBER+STRICT < RED
MAX_REFERENCES = 200


class Sender(Protocol):
    """What sending a bulletin needs from the hub's node: its database (to keep the
    bulletin) and its ``send`` (validate, seal, commit, publish)."""

    @property
    def db(self) -> Database:
        """The node's database."""
        ...

    async def send(self, alert: Alert, to: Sequence[str]) -> SendResult:
        """Send ``alert`` to the members ``to``."""
        ...


@dataclass(frozen=True)
class Cited:
    """An alert a bulletin cites, with what the TLP rules need to know of it."""

    message_id: str
    sender: str
    tlp: Tlp
    topic: Topic


def check_bulletin(tlp: Tlp, recipients: Sequence[str], cited: Sequence[Cited]) -> None:
    """Raise ``PolicyViolation`` if a bulletin with ``tlp`` to ``recipients`` may not
    carry what it cites."""
    for c in cited:
        if TLP_ORDER.index(tlp) < TLP_ORDER.index(c.tlp):
            raise PolicyViolation(
                f"bulletin is TLP:{tlp.value} but cites {c.message_id}, which is"
                f" TLP:{c.tlp.value}: choose TLP:{c.tlp.value} or stricter"
            )
        if c.tlp in NO_RESHARE:
            others = [code for code in recipients if code != c.sender]
            if others:
                raise PolicyViolation(
                    f"{c.message_id} is TLP:{c.tlp.value}: a bulletin citing it may go only"
                    f" to {c.sender}, not {', '.join(others)}"
                )


@dataclass
class Draft:
    """A bulletin as the analyst writes it, before the rules and composition."""

    title: str
    summary: str
    analysis: str
    priority: Priority
    tlp: Tlp
    recipients: list[str]
    confidence: str | None = None
    references: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    include_entities: bool = False


async def _cited(reader: Reader, ids: Sequence[str]) -> list[tuple[Cited, Alert]]:
    out = []
    for mid in ids:
        row = await store.citable(reader, mid)
        if row is None:
            raise PolicyViolation(f"{mid} is not an alert the hub holds")
        cited = Cited(mid, str(row[0]), Tlp(str(row[1])), Topic(str(row[2])))
        out.append((cited, parse_alert(str(row[3]))))
    return out


async def _link_alerts(reader: Reader, link_ids: Sequence[str]) -> tuple[list[str], set[str]]:
    """The alerts of the chosen links, and the entities ("kind|key") they are about."""
    ids: list[str] = []
    keys: set[str] = set()
    for link_id in link_ids:
        found = await store.link_contents(reader, link_id)
        if found is None:
            raise PolicyViolation(f"no link {link_id}")
        ids += found[0]
        keys |= set(found[1])
    return ids, keys


def _entities(
    alerts: Sequence[Alert], keys: set[str]
) -> tuple[list[Person], list[TravelDocument], list[Vessel]]:
    """The persons, documents and vessels of the cited alerts that the links are about."""
    persons: dict[str, Person] = {}
    documents: dict[str, TravelDocument] = {}
    vessels: dict[str, Vessel] = {}
    for alert in alerts:
        found = extract(alert)
        for d in found.documents:
            if f"document|{document_key(d)}" in keys:
                documents.setdefault(document_key(d), d)
        for v in found.vessels:
            ids = vessel_keys(v)
            if any(f"vessel|{k}" in keys for k in ids):
                vessels.setdefault(ids[0], v)
        for p in found.persons:
            if f"person|{person_key(p)}" in keys:
                persons.setdefault(f"{person_key(p)}|{p.date_of_birth}", p)
    return list(persons.values())[:100], list(documents.values())[:100], list(vessels.values())[:50]


async def compose(reader: Reader, draft: Draft) -> Alert:
    """The bulletin as an alert, after the TLP rules; PolicyViolation or
    SchemaViolation with a clear message otherwise."""
    link_ids, keys = await _link_alerts(reader, draft.links)
    ids = list(dict.fromkeys([*draft.references, *link_ids]))
    if len(ids) > MAX_REFERENCES:
        raise PolicyViolation(f"a bulletin cites at most {MAX_REFERENCES} alerts")
    cited = await _cited(reader, ids)
    check_bulletin(draft.tlp, draft.recipients, [c for c, _ in cited])
    persons: list[Person] = []
    documents: list[TravelDocument] = []
    vessels: list[Vessel] = []
    if draft.include_entities:
        persons, documents, vessels = _entities([a for _, a in cited], keys)
    topics = list(dict.fromkeys(c.topic for c, _ in cited if c.topic is not Topic.BULLETIN))
    payload = {
        "topic": Topic.BULLETIN.value,
        "analysis": draft.analysis,
        "referenced_alerts": ids,
        "related_topics": [t.value for t in topics][:8],
        "persons": [p.model_dump(mode="json", exclude_none=True) for p in persons],
        "documents": [d.model_dump(mode="json", exclude_none=True) for d in documents],
        "vessels": [v.model_dump(mode="json", exclude_none=True) for v in vessels],
    }
    if draft.confidence:
        payload["confidence"] = draft.confidence
    alert = {
        "title": draft.title,
        "summary": draft.summary or draft.title,
        "priority": draft.priority.value,
        "tlp": draft.tlp.value,
        "references": ids[:50],
        "payload": payload,
    }
    return parse_alert(json.dumps(alert))


async def send(node: Sender, reader: Reader, draft: Draft) -> SendResult:
    """Compose, check, send through the node (sealed to the chosen recipients), and
    keep the bulletin for the console."""
    if not draft.recipients:
        raise PolicyViolation("choose at least one recipient")
    alert = await compose(reader, draft)
    result = await node.send(alert, draft.recipients)
    await store.record_bulletin(node.db, result, alert, draft.links)
    return result


def status(
    reader: Reader, message_id: str, now: datetime, overdue: timedelta
) -> list[RecipientStatus]:
    """Per-recipient delivery state, as ``lali status`` shows it (blocking)."""
    rows = delivery_status(reader.path, message_id, now, overdue)
    if rows is None:
        raise SchemaViolation(f"{message_id} was not sent from this hub")
    return rows
