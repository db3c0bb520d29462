"""Correlation: which alerts talk about the same document, vessel, person, phone or
port. Pure: alerts and sightings in, links out; no I/O, no clock.

``mentions`` turns one alert into the entities it names (``schemas.entities`` does the
extraction and normalisation, shared with the watch-list handler). ``find_links``
groups sightings of one entity across alerts and raises a link when the alerts come
from two or more members, or when one member reports the entity again within the
window. Every link says why its alerts match.

Matching rules:

============  ===========================================  ========
entity        same when                                    strength
============  ===========================================  ========
document      normalised number and issuing state          strong
vessel        IMO, MMSI or call sign                       strong
phone         E.164; a number written without + is read    strong
              in the sender's country (``FJ``: ``999 1234``
              = ``+679 999 1234``)
person        same date of birth and names alike           strong if the names are
              (token-sorted similarity ≥ threshold,        equal, else medium
              aliases count)
person        equal names (in any word order), a date of   weak
              birth missing
port          UN/LOCODE                                    weak
============  ===========================================  ========

A person's names are compared in two forms (``schemas.names``): Latin (any script
transliterated as ICAO Doc 9303 has it: ``李伟明`` is ``li weiming``, ``Юлия`` is
``iuliia``) and the original script beside it, so the same Chinese or Arabic name from
two members is equal however either transliterated it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from schemas.alert import Alert
from schemas.domain import Person, TravelDocument, Vessel
from schemas.entities import (
    extract,
    is_placeholder_name,
    normalise_document_number,
    normalise_phone,
    person_name,
)
from schemas.names import name_forms

KINDS = ("document", "vessel", "person", "phone", "port")
STRENGTHS = ("strong", "medium", "weak")
MAX_REASONS = 12


@dataclass(frozen=True)
class Mention:
    """One entity as an alert names it. ``key`` is exact-match identity; persons are
    matched on ``names`` and ``dob`` instead (``key`` is then the first name form)."""

    kind: str
    key: str
    label: str
    dob: str = ""
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sighting:
    """A mention in one alert."""

    message_id: str
    sender: str
    at: datetime
    mention: Mention


@dataclass(frozen=True)
class LinkedAlert:
    """An alert in a link, and how it names the linked entity."""

    message_id: str
    sender: str
    at: datetime
    label: str  # how this alert names the entity


@dataclass(frozen=True)
class Link:
    """Alerts that name the same entity, with the rule that linked them and why."""

    id: str
    kind: str
    label: str
    strength: str
    rule: str  # "members" (two or more senders) or "recurrence" (within the window)
    alerts: tuple[LinkedAlert, ...]
    reasons: tuple[str, ...]
    keys: tuple[str, ...] = ()  # "kind|key" of every mention it joins (for bulletins)

    @property
    def senders(self) -> list[str]:
        """The members whose alerts are in the link, sorted."""
        return sorted({a.sender for a in self.alerts})


_DOC_WORDS = {
    "passport": "passport",
    "id_card": "identity card",
    "visa": "visa",
    "seaman_book": "seaman's book",
    "travel_document": "travel document",
    "other": "document",
}


def document_key(d: TravelDocument) -> str:
    """A travel document's identity: normalised number and issuing state."""
    return f"{normalise_document_number(d.number)}|{d.issuing_state}"


def vessel_keys(v: Vessel) -> list[str]:
    """A vessel's identities: IMO, MMSI and call sign, those it has."""
    ids = (("IMO", v.imo), ("MMSI", v.mmsi), ("call sign", v.call_sign))
    return [f"{scheme}:{value}" for scheme, value in ids if value]


def person_key(p: Person) -> str:
    """A person's normalised full name: its Latin form in any script
    (``schemas.names``), or the original script when nothing transliterates."""
    forms = person_name(p)
    return forms.latin or forms.original


def _person_mention(p: Person) -> Mention:
    full = person_key(p)
    # Each name in Latin (and its other ICAO spelling: Müller is MUELLER or MULLER) and,
    # beside it, in its own script: the same Chinese or Arabic name from two members is
    # equal in both, however either was transliterated.
    forms = [person_name(p), *(name_forms(a) for a in p.aliases)]
    names = [full, *(n for f in forms for n in (f.latin, f.plain, f.original))]
    dob = p.date_of_birth.isoformat() if p.date_of_birth else ""
    given = f", {p.given_names}" if p.given_names else ""
    label = f"{p.family_name}{given} (born {dob})" if dob else f"{p.family_name}{given}"
    # A placeholder ("UNKNOWN", "N/A", "FNU LNU") names nobody: it links nothing.
    names = [n for n in names if not is_placeholder_name(n)]
    return Mention(
        "person", full, label, dob=dob, names=tuple(dict.fromkeys(n for n in names if n))
    )


def mentions(alert: Alert) -> list[Mention]:
    """Every entity ``alert`` names, de-duplicated within the alert."""
    found = extract(alert)
    out: list[Mention] = []
    for d in found.documents:
        number = normalise_document_number(d.number)
        label = f"{_DOC_WORDS.get(d.kind, 'document')} {number} ({d.issuing_state})"
        out.append(Mention("document", document_key(d), label))
    for v in found.vessels:
        for key in vessel_keys(v):
            out.append(Mention("vessel", key, f"{v.name} ({key.replace(':', ' ', 1)})"))
    for phone in found.phones:
        out.append(Mention("phone", phone, phone))
    for port in found.ports:
        out.append(Mention("port", port, port))
    for person in found.persons:
        mention = _person_mention(person)
        if mention.names:
            out.append(mention)
    unique: dict[tuple[str, str, str], Mention] = {}
    for m in out:
        unique.setdefault((m.kind, m.key, m.dob), m)
    return list(unique.values())


def name_similarity(a: Mention, b: Mention) -> tuple[int, str, str]:
    """Best token-sorted similarity (0-100) between any name forms of two persons."""
    best = (-1, "", "")
    for x in a.names:
        for y in b.names:
            score = round(fuzz.token_sort_ratio(x, y))
            if score > best[0]:
                best = (score, x, y)
    return best


@dataclass
class _Groups:
    """Union-find over sighting indices, remembering why two were joined."""

    parent: dict[int, int] = field(default_factory=dict)
    why: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def find(self, i: int) -> int:
        self.parent.setdefault(i, i)
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int, strength: str, reason: str) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[b] = a
            self.why[a].extend(self.why.pop(b, []))
        self.why[a].append((strength, reason))

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in list(self.parent):
            out[self.find(i)].append(i)
        return out


def _stable_id(kind: str, key: str) -> str:
    return hashlib.sha256(f"{kind}|{key}".encode()).hexdigest()[:16]


def _rule(alerts: Sequence[LinkedAlert], window: timedelta) -> tuple[str, str] | None:
    """Why this set of alerts makes a link: several members, or a recurrence."""
    senders = sorted({a.sender for a in alerts})
    if len(senders) >= 2:
        return "members", f"reported by {len(senders)} members: {', '.join(senders)}"
    times = sorted(a.at for a in alerts)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if gaps and min(gaps) <= window:
        days = min(gaps).total_seconds() / 86400
        return (
            "recurrence",
            f"{senders[0]} reported it {len(times)} times; two of them {days:.1f} days apart"
            f" (window {window.total_seconds() / 86400:g} days)",
        )
    return None


def _linked(sightings: Sequence[Sighting], members: Iterable[int]) -> tuple[LinkedAlert, ...]:
    seen: dict[str, LinkedAlert] = {}
    for i in members:
        s = sightings[i]
        seen.setdefault(s.message_id, LinkedAlert(s.message_id, s.sender, s.at, s.mention.label))
    return tuple(sorted(seen.values(), key=lambda a: (a.at, a.message_id)))


def _make_link(
    kind: str,
    key: str,
    label: str,
    strength: str,
    alerts: tuple[LinkedAlert, ...],
    reasons: list[str],
    window: timedelta,
    keys: tuple[str, ...],
) -> Link | None:
    if len(alerts) < 2:
        return None
    rule = _rule(alerts, window)
    if rule is None:
        return None
    unique = list(dict.fromkeys(reasons))
    if len(unique) > MAX_REASONS:
        unique = [*unique[:MAX_REASONS], f"… and {len(unique) - MAX_REASONS} more"]
    return Link(
        _stable_id(kind, key), kind, label, strength, rule[0], alerts, (rule[1], *unique), keys
    )


def _exact_links(sightings: Sequence[Sighting], window: timedelta) -> list[Link]:
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(sightings):
        if s.mention.kind == "phone":
            # At link time, so numbers indexed before now are read the same way.
            by_key[("phone", normalise_phone(s.mention.key, s.sender))].append(i)
        elif s.mention.kind != "person":
            by_key[(s.mention.kind, s.mention.key)].append(i)
    links = []
    for (kind, key), members in by_key.items():
        alerts = _linked(sightings, members)
        label = key if kind == "phone" else sightings[members[0]].mention.label
        strength = "weak" if kind == "port" else "strong"
        what = {
            "document": f"the same {label}",
            "vessel": f"the same vessel identifier ({key.replace(':', ' ', 1)})",
            "phone": f"the same phone number {key}",
            "port": f"the same port {key}",
        }[kind]
        reasons = [f"{what} in each alert"]
        link = _make_link(kind, key, label, strength, alerts, reasons, window, (f"{kind}|{key}",))
        if link is not None:
            links.append(link)
    return _merge_vessels(links)


def _merge_vessels(links: list[Link]) -> list[Link]:
    """One vessel named by IMO and MMSI in the same alerts is one link, not two."""
    merged: dict[tuple[str, tuple[str, ...]], Link] = {}
    out = []
    for link in links:
        if link.kind != "vessel":
            out.append(link)
            continue
        ids = (link.kind, tuple(a.message_id for a in link.alerts))
        first = merged.get(ids)
        if first is None:
            merged[ids] = link
            continue
        reasons = tuple(dict.fromkeys((*first.reasons, *link.reasons[1:])))
        keys = (*first.keys, *link.keys)
        merged[ids] = Link(
            first.id,
            first.kind,
            first.label,
            first.strength,
            first.rule,
            first.alerts,
            reasons,
            keys,
        )
    return out + list(merged.values())


def _person_links(sightings: Sequence[Sighting], window: timedelta, threshold: int) -> list[Link]:
    persons = [i for i, s in enumerate(sightings) if s.mention.kind == "person"]
    groups = _Groups()
    by_dob: dict[str, list[int]] = defaultdict(list)
    for i in persons:
        if sightings[i].mention.dob:
            by_dob[sightings[i].mention.dob].append(i)
    # 1. Same date of birth and similar names (blocked by date: the pairs stay few).
    for dob, members in by_dob.items():
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                a, b = sightings[i], sightings[j]
                if a.message_id == b.message_id:
                    continue
                score, x, y = name_similarity(a.mention, b.mention)
                if score >= threshold:
                    strength = "strong" if score == 100 else "medium"
                    how = "the same name" if score == 100 else f"names alike ({score}%)"
                    groups.join(i, j, strength, f"'{x}' and '{y}': {how}, both born {dob}")
    links = []
    for root, members in groups.members().items():
        alerts = _linked(sightings, members)
        strengths = [s for s, _ in groups.why[root]]
        strength = "strong" if all(s == "strong" for s in strengths) else "medium"
        first = min(members, key=lambda i: (sightings[i].at, sightings[i].message_id))
        key = f"{sightings[first].message_id}|{sightings[first].mention.key}"
        reasons = [r for _, r in groups.why[root]]
        label = sightings[first].mention.label
        keys = tuple(dict.fromkeys(f"person|{sightings[i].mention.key}" for i in members))
        link = _make_link("person", key, label, strength, alerts, reasons, window, keys)
        if link is not None:
            links.append(link)
    # 2. Equal names where a date of birth is missing: shown, but weak. Equal in any
    # word order ("Li Weiming", "Weiming Li"). A name equal in Latin and in its own
    # script is one link, named by the first spelling, with a reason for each.
    by_name: dict[str, list[int]] = defaultdict(list)
    spelt: dict[str, str] = {}
    for i in persons:
        for name in sightings[i].mention.names:
            words = " ".join(sorted(name.split()))
            spelt.setdefault(words, name)
            if i not in by_name[words]:
                by_name[words].append(i)
    same_names: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for words, members in by_name.items():
        if not all(sightings[i].mention.dob for i in members):
            same_names[tuple(members)].append(spelt[words])
    for group, names in same_names.items():
        name = names[0]
        alerts = _linked(sightings, group)
        reasons = [f"the same name '{n}'; not every alert gives a date of birth" for n in names]
        keys = tuple(dict.fromkeys(f"person|{sightings[i].mention.key}" for i in group))
        link = _make_link("person", f"name|{name}", name, "weak", alerts, reasons, window, keys)
        if link is not None:
            links.append(link)
    return links


def _without_placeholders(s: Sighting) -> Sighting:
    """A person sighting without placeholder names; also for mentions stored before
    :func:`mentions` dropped them."""
    if s.mention.kind != "person":
        return s
    names = tuple(n for n in s.mention.names if not is_placeholder_name(n))
    return s if names == s.mention.names else replace(s, mention=replace(s.mention, names=names))


def find_links(
    sightings: Sequence[Sighting], *, window: timedelta, threshold: int = 88
) -> list[Link]:
    """Every link among ``sightings``, strongest first, then the most recent."""
    sightings = [_without_placeholders(s) for s in sightings]
    links = _exact_links(sightings, window) + _person_links(sightings, window, threshold)
    rank = {s: n for n, s in enumerate(STRENGTHS)}
    links.sort(key=lambda link: (link.alerts[-1].at, link.id), reverse=True)
    links.sort(key=lambda link: rank[link.strength])
    return links
