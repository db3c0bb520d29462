"""The watch list in memory and its matching rules. Pure: no files, no clock, no loop.

Rules (``docs/handlers.md``, watchlist section):

- **document**: normalised number and issuing state both equal (``D`` = ``DEU``); score 100.
- **vessel**: IMO, MMSI or call sign equal; score 100; ``fields`` names every one that
  agreed.
- **person**: a name score ``S`` (0-100) between the alert's name (family + given, or an
  alias) and the entry's name or aliases, from two keys of each name: the *spelling* key
  (:func:`normalise_name`, particles such as ``al``/``de la`` joined to the next word,
  words sorted) and the *sound* key (the same, with common transliteration variants
  folded: ``kh``→``k``, ``sh``→``s``, every vowel → ``a``, doubled letters single).
  ``S = max(spelling, mean(spelling, sound))``: a sound-alike lifts a close spelling
  but cannot make a match of a distant one. Then the date of birth: both known and equal → the
  score goes halfway to 100 (``S + (100 - S) / 2``) and ``date_of_birth`` is a matched
  field; both known and different → no match; either unknown → ``S`` (or no match with
  ``require_dob_match``). A match needs ``score >= person_threshold``.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator
from rapidfuzz import fuzz, process

from node.handlers.base import Hit
from schemas.base import Date, StrictModel, single_line
from schemas.codes import CountryCode3
from schemas.domain import CallSign, DocumentNumber, ImoNumber, Mmsi, Person
from schemas.entities import Entities, normalise_document_number, normalise_name

__all__ = ["Entry", "EntryKind", "Match", "MatchRules", "WatchList", "name_keys", "name_score"]

EntryKind = Literal["person", "document", "vessel"]
_PERSON_FIELDS = ("family_name", "given_names", "aliases", "date_of_birth")
_DOCUMENT_FIELDS = ("document_number", "issuing_state")
_VESSEL_FIELDS = ("imo", "mmsi", "call_sign")
_KIND_FIELDS = frozenset((*_PERSON_FIELDS, *_DOCUMENT_FIELDS, *_VESSEL_FIELDS))


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class Entry(StrictModel):
    """One watch-list row. Only the fields of its ``kind`` may be set (``note`` is free):
    a person row with a passport number would look checked and never be."""

    id: Annotated[str, single_line(64)]
    kind: EntryKind
    family_name: Annotated[str, single_line(100)] | None = None
    given_names: Annotated[str, single_line(100)] | None = None
    aliases: list[Annotated[str, single_line(100)]] = Field(default_factory=list, max_length=20)
    date_of_birth: Date | None = None
    document_number: DocumentNumber | None = None
    issuing_state: Annotated[CountryCode3, BeforeValidator(_upper)] | None = None
    imo: ImoNumber | None = None
    mmsi: Mmsi | None = None
    call_sign: Annotated[CallSign, BeforeValidator(_upper)] | None = None
    note: Annotated[str, single_line(500)] | None = None

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Self:
        own = {
            "person": _PERSON_FIELDS,
            "document": _DOCUMENT_FIELDS,
            "vessel": _VESSEL_FIELDS,
        }[self.kind]
        for name in sorted(self.model_fields_set & _KIND_FIELDS):
            if name not in own and getattr(self, name):
                raise ValueError(f"a {self.kind} entry must not set {name}")
        if self.kind == "person" and not self.family_name:
            raise ValueError("a person entry needs family_name")
        if self.kind == "document" and not (self.document_number and self.issuing_state):
            raise ValueError("a document entry needs document_number and issuing_state")
        if self.kind == "vessel" and not (self.imo or self.mmsi or self.call_sign):
            raise ValueError("a vessel entry needs imo, mmsi or call_sign")
        return self


@dataclass(frozen=True)
class MatchRules:
    """The thresholds of person matching (documents and vessels are exact)."""

    person_threshold: float = 88.0
    require_dob_match: bool = False
    max_candidates: int = 100  # per name and key: bounds the work on look-alike lists

    def __post_init__(self) -> None:
        if not 50 <= self.person_threshold <= 100:
            raise ValueError("person_threshold must be between 50 and 100")
        if self.max_candidates < 1:
            raise ValueError("max_candidates must be at least 1")


@dataclass(frozen=True)
class Match:
    """One watch-list entry matched by one entity the alert names."""

    entry_id: str
    entity: EntryKind
    score: float
    fields: tuple[str, ...]

    def to_hit(self) -> Hit:
        return Hit(
            list_entry=self.entry_id, entity=self.entity, score=self.score, fields=self.fields
        )


# --- name keys -------------------------------------------------------------------------

# Joined to the word after them, so "Al Rashid", "Al-Rashid" and "Alrashid" agree.
_PARTICLES = frozenset({
    "al", "el", "ul", "bin", "ibn", "bint", "binti", "abu", "abd", "abdul", "abdel",
    "van", "von", "der", "den", "de", "da", "di", "del", "dela", "della", "la", "le",
    "dos", "das", "du",
})  # fmt: skip
# Words that stand for "no name": an alert's "UNKNOWN" must not match a listed "UNKNOWN".
_PLACEHOLDERS = frozenset({"unknown", "unk", "fnu", "lnu", "nfn"})
_FOLDS = (
    ("ph", "f"), ("kh", "k"), ("gh", "g"), ("th", "t"), ("dh", "d"), ("sh", "s"),
    ("dj", "j"), ("ck", "k"), ("q", "k"), ("c", "k"), ("z", "s"), ("w", "v"), ("y", "i"),
)  # fmt: skip
_VOWELS = str.maketrans("eiou", "aaaa")
_REPEATS = re.compile(r"(.)\1+")


@functools.lru_cache(maxsize=1 << 16)  # names repeat: a list of 100k has far fewer words
def _sound(word: str) -> str:
    for old, new in _FOLDS:
        word = word.replace(old, new)
    return _REPEATS.sub(r"\1", word.translate(_VOWELS))


def name_keys(name: str) -> tuple[str, str]:
    """The spelling and sound keys of a name; ``("", "")`` when nothing is left."""
    words: list[str] = []
    pending = ""
    for word in normalise_name(name).split():
        if word in _PLACEHOLDERS:
            continue
        if word in _PARTICLES:
            pending += word
        else:
            words.append(pending + word)
            pending = ""
    if pending:
        words.append(pending)
    words.sort()
    return " ".join(words), " ".join(sorted(_sound(w) for w in words))


def name_score(a: tuple[str, str], b: tuple[str, str]) -> float:
    """``max(spelling, mean(spelling, sound))`` of two names' keys."""
    spelling = fuzz.ratio(a[0], b[0])
    return max(spelling, (spelling + fuzz.ratio(a[1], b[1])) / 2)


def _full_name(family: str, given: str | None) -> str:
    return f"{given or ''} {family}".strip()


# --- the list ----------------------------------------------------------------------------


def _state(code: str) -> str:
    return "DEU" if code == "D" else code


@dataclass(frozen=True)
class _Name:
    entry_id: str
    field: str  # "name" or "alias"
    date_of_birth: date | None
    keys: tuple[str, str]


class _NameIndex:
    """Names searched by :func:`rapidfuzz.process.extract` on both keys."""

    def __init__(self) -> None:
        self.names: list[_Name] = []
        self._spelling: list[str] = []
        self._sound: list[str] = []

    def add(self, name: _Name) -> None:
        self.names.append(name)
        self._spelling.append(name.keys[0])
        self._sound.append(name.keys[1])

    def candidates(self, keys: tuple[str, str], score: float, limit: int) -> list[_Name]:
        # S = max(spelling, mean(spelling, sound)) >= score needs spelling or sound
        # >= 2 * score - 100, so that floor loses no match (beyond ``limit`` per key).
        found: set[int] = set()
        for key, choices in ((keys[0], self._spelling), (keys[1], self._sound)):
            found.update(
                index
                for _, _, index in process.extract(
                    key, choices, scorer=fuzz.ratio, score_cutoff=2 * score - 100, limit=limit
                )
            )
        return [self.names[index] for index in sorted(found)]


class WatchList:
    """An immutable, indexed watch list: exact identifiers in dicts; names bucketed by
    date of birth (all scored) and, for entries without one, in a :class:`_NameIndex`.
    Safe to share between threads."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._documents: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._vessels: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._all = _NameIndex()  # for persons the alert gives no date of birth
        self._undated = _NameIndex()  # entries without a date of birth
        self._by_dob: dict[date, list[_Name]] = defaultdict(list)
        self.counts: dict[EntryKind, int] = {"person": 0, "document": 0, "vessel": 0}
        for entry in entries:
            self.counts[entry.kind] += 1
            if entry.kind == "document":
                assert entry.document_number and entry.issuing_state
                number = normalise_document_number(entry.document_number)
                self._documents[number, _state(entry.issuing_state)].append(entry.id)
            elif entry.kind == "vessel":
                for field in _VESSEL_FIELDS:
                    if value := getattr(entry, field):
                        self._vessels[field, value].append(entry.id)
            else:
                assert entry.family_name
                names = [("name", _full_name(entry.family_name, entry.given_names))]
                names += [("alias", alias) for alias in entry.aliases]
                for field, text in names:
                    keys = name_keys(text)
                    if keys[0]:
                        self._add_name(_Name(entry.id, field, entry.date_of_birth, keys))

    def _add_name(self, name: _Name) -> None:
        self._all.add(name)
        if name.date_of_birth is None:
            self._undated.add(name)
        else:
            self._by_dob[name.date_of_birth].append(name)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def match(self, entities: Entities, rules: MatchRules) -> list[Match]:
        """Every entry the entities match, best match per entry, in a stable order."""
        best: dict[str, Match] = {}
        for found in (
            *self._match_documents(entities),
            *self._match_vessels(entities),
            *(m for p in entities.persons for m in self._match_person(p, rules)),
        ):
            held = best.get(found.entry_id)
            if held is None or found.score > held.score:
                best[found.entry_id] = found
        return sorted(best.values(), key=lambda m: (m.entity, -m.score, m.entry_id))

    def _match_documents(self, entities: Entities) -> Iterable[Match]:
        for doc in entities.documents:
            key = (normalise_document_number(doc.number), _state(doc.issuing_state))
            for entry_id in self._documents.get(key, ()):
                yield Match(entry_id, "document", 100.0, _DOCUMENT_FIELDS)

    def _match_vessels(self, entities: Entities) -> Iterable[Match]:
        for vessel in entities.vessels:
            agreed: dict[str, list[str]] = defaultdict(list)
            for field in _VESSEL_FIELDS:
                value = getattr(vessel, field)
                if value:
                    for entry_id in self._vessels.get((field, value), ()):
                        agreed[entry_id].append(field)
            for entry_id, fields in agreed.items():
                yield Match(entry_id, "vessel", 100.0, tuple(fields))

    def _candidates(
        self, keys: tuple[str, str], dob: date | None, rules: MatchRules
    ) -> list[_Name]:
        threshold, limit = rules.person_threshold, rules.max_candidates
        if dob is None:
            return [] if rules.require_dob_match else self._all.candidates(keys, threshold, limit)
        # Entries born that day are all scored (a handful, and the date lowers the bar);
        # entries with another date cannot match; undated entries need the full score.
        same_day = self._by_dob.get(dob, [])
        if rules.require_dob_match:
            return same_day
        return same_day + self._undated.candidates(keys, threshold, limit)

    def _match_person(self, person: Person, rules: MatchRules) -> Iterable[Match]:
        names = [("name", _full_name(person.family_name, person.given_names))]
        names += [("alias", alias) for alias in person.aliases]
        for field, text in names:
            keys = name_keys(text)
            if not keys[0]:
                continue
            for listed in self._candidates(keys, person.date_of_birth, rules):
                score = name_score(keys, listed.keys)
                fields: tuple[str, ...] = (
                    ("alias",) if "alias" in (field, listed.field) else ("name",)
                )
                if person.date_of_birth is not None and listed.date_of_birth is not None:
                    score += (100 - score) / 2  # same day: _candidates saw to that
                    fields += ("date_of_birth",)
                if score >= rules.person_threshold:
                    yield Match(listed.entry_id, "person", score, fields)
