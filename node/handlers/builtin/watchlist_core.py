"""The watch list in memory and its matching rules. Pure: no files, no clock, no loop.

Rules (``docs/handlers.md``, watchlist section):

- **document**: normalised number and issuing state both equal (``D`` = ``DEU``); score 100.
- **vessel**: IMO, MMSI or call sign equal; score 100; ``fields`` names every one that
  agreed.
- **person**: a name score ``S`` (0-100) between the alert's name (family + given, or an
  alias) and the entry's name or aliases. Each name has two forms
  (:mod:`schemas.names`): the *Latin* form (ICAO Doc 9303 transliteration of any script)
  and the *original* script (folded, words sorted; empty for a Latin-only name). Equal
  original forms score 100 (``original_script`` is then a matched field). Otherwise the
  Latin form gives two keys: the *spelling* key (particles such as ``al``/``de la``
  joined to the next word, words sorted by sound, so name order does not matter) and the
  *sound* key (the same, with common transliteration variants folded: ``kh``→``k``,
  ``sh``→``s``, ``x``→``ks``, every vowel → ``a``, doubled letters single).
  ``S = max(spelling, mean(spelling, sound))``: a sound-alike lifts a close spelling
  but cannot make a match of a distant one. When one name was written in Arabic (no
  short vowels) and the other not, ``S`` is at least ``mean(sound, skeleton)``, the
  skeleton being the sound key without vowels. A name is also compared with its
  particles apart and (an alert's name of three words or more) with two neighbouring
  short words joined (spaced syllables: "Wei Ming Li" and "LI WEIMING"); the best
  score counts. Then the date of birth: both known and equal → the
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
from schemas.base import StrictModel, single_line
from schemas.codes import CountryCode3
from schemas.domain import BirthDate, CallSign, DocumentNumber, ImoNumber, Mmsi, Person
from schemas.entities import (
    PLACEHOLDER_WORDS,
    Entities,
    is_placeholder_name,
    normalise_document_number,
)
from schemas.names import NameForms, name_forms, person_forms

__all__ = [
    "Entry",
    "EntryKind",
    "Match",
    "MatchRules",
    "WatchList",
    "name_keys",
    "name_score",
    "unmatchable_names",
]

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
    date_of_birth: BirthDate | None = None  # from 1900, not in the future
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
_FOLDS = (
    ("ph", "f"), ("kh", "k"), ("gh", "g"), ("th", "t"), ("dh", "d"), ("sh", "s"),
    ("dj", "j"), ("ck", "k"), ("q", "k"), ("x", "ks"), ("c", "k"), ("z", "s"), ("w", "v"),
    ("y", "i"),
)  # fmt: skip
_VOWELS = str.maketrans("eiou", "aaaa")
_REPEATS = re.compile(r"(.)\1+")

_Key = tuple[str, str]  # spelling, sound
_SYLLABLE = 6  # letters: a Pinyin or Vietnamese syllable has at most six


@functools.lru_cache(maxsize=1 << 16)  # names repeat: a list of 100k has far fewer words
def _sound(word: str) -> str:
    for old, new in _FOLDS:
        word = word.replace(old, new)
    return _REPEATS.sub(r"\1", word.translate(_VOWELS))


def _key(words: list[str]) -> _Key:
    # Sorted by sound, so "Yekaterina Vinogradova" and "Vinogradova Ekaterina" line
    # their words up the same way (an alphabetical sort would not: y > v > e).
    pairs = sorted((_sound(w), w) for w in words)
    return " ".join(w for _, w in pairs), " ".join(s for s, _ in pairs)


def _skeleton(sound: str) -> str:
    """A sound key without its vowels: what a name written without short vowels keeps."""
    return " ".join(sorted(w.replace("a", "") or w for w in sound.split()))


def _name_keys(latin: str, *, joins: bool = False) -> tuple[tuple[_Key, ...], tuple[_Key, ...]]:
    """The keys of a name: as written (particles joined to the next word), then with
    the particles apart ("Lê Thị Thảo" is not "Lethi Thao"); and, with ``joins`` (an
    alert's names), the keys of the name with two neighbouring short words joined, for
    a name of three words or more: spaced syllables ("Tao Hong Cao" finds "Cao Taohong",
    "Van Duc Nguyen" finds "Vanduc Nguyen"). Both ``()`` when nothing is left."""
    if is_placeholder_name(latin):
        return (), ()
    plain = [w for w in latin.split() if w not in PLACEHOLDER_WORDS]
    joined: list[str] = []
    pending = ""
    for word in plain:
        if word in _PARTICLES:
            pending += word
        else:
            joined.append(pending + word)
            pending = ""
    if pending:
        joined.append(pending)
    if not joined:
        return (), ()
    keys = (_key(joined), _key(plain)) if plain != joined else (_key(joined),)
    spaced: list[list[str]] = []
    if joins and len(joined) >= 3:
        for i in range(len(joined) - 1):
            if max(len(joined[i]), len(joined[i + 1])) <= _SYLLABLE:
                spaced.append([*joined[:i], joined[i] + joined[i + 1], *joined[i + 2 :]])
    return keys, tuple(dict.fromkeys(_key(words) for words in spaced))


def name_keys(name: str) -> tuple[str, str]:
    """The spelling and sound keys of a name in any script (of its Latin form,
    :func:`schemas.names.latin`); ``("", "")`` when nothing is left.

    Placeholders name nobody: an alert's "UNKNOWN" or "N/A" must not match a listed one
    (``schemas.entities.is_placeholder_name``), and "FNU" in "FNU Ahmed" is dropped.
    """
    keys, _ = _name_keys(name_forms(name).latin)
    return keys[0] if keys else ("", "")


def name_score(a: tuple[str, str], b: tuple[str, str]) -> float:
    """``max(spelling, mean(spelling, sound))`` of two names' keys."""
    spelling = fuzz.ratio(a[0], b[0])
    return max(spelling, (spelling + fuzz.ratio(a[1], b[1])) / 2)


def _score(a: _Key, b: _Key, *, one_abjad: bool) -> float:
    score = name_score(a, b)
    if one_abjad:
        # One name was written without short vowels (Arabic): its consonants are all
        # it can agree on, so the skeletons count as much as the sounds.
        skeletons = fuzz.ratio(_skeleton(a[1]), _skeleton(b[1]))
        score = max(score, (fuzz.ratio(a[1], b[1]) + skeletons) / 2)
    return score


@dataclass(frozen=True)
class _Form:
    """One name of a person, ready to compare: where it came from, its keys (as
    written, then its variants), its original script."""

    field: str  # "name" or "alias"
    keys: tuple[_Key, ...]
    original: str
    abjad: bool
    spaced: tuple[_Key, ...] = ()  # an alert's name with spaced syllables joined

    @classmethod
    def of(cls, field: str, forms: NameForms, *, joins: bool = False) -> _Form:
        keys, spaced = _name_keys(forms.latin, joins=joins)
        return cls(field, keys, forms.original, forms.abjad, spaced)

    def __bool__(self) -> bool:
        return bool(self.keys or self.original)


def _person_forms(
    family: str, given: str | None, aliases: Iterable[str], *, joins: bool = False
) -> list[_Form]:
    forms = [_Form.of("name", person_forms(family, given or ""), joins=joins)]
    forms += [_Form.of("alias", name_forms(alias), joins=joins) for alias in aliases]
    return forms


def unmatchable_names(entry: Entry) -> list[str]:
    """The names of a person entry that leave nothing to match on (no letters, or only
    placeholders such as ``UNKNOWN``): ``"name"``, ``"alias 2"``. Never the values."""
    if entry.kind != "person" or not entry.family_name:
        return []
    forms = _person_forms(entry.family_name, entry.given_names, entry.aliases)
    labels = ["name", *(f"alias {n}" for n in range(1, len(entry.aliases) + 1))]
    return [label for label, form in zip(labels, forms, strict=True) if not form]


# --- the list ----------------------------------------------------------------------------


def _state(code: str) -> str:
    return "DEU" if code == "D" else code


@dataclass(frozen=True)
class _Name:
    """One key of one name of an entry (a name with variants has a row for each)."""

    entry_id: str
    date_of_birth: date | None
    field: str  # "name" or "alias"
    key: _Key | None  # None: the name has only its original script
    original: str  # on the name's first row only
    abjad: bool


def _rows(form: _Form) -> list[tuple[_Key | None, str]]:
    """(key, original) to store for one name: one per key, the original script with the
    first."""
    keys: tuple[_Key | None, ...] = form.keys or (None,)
    return [(key, form.original if n == 0 else "") for n, key in enumerate(keys)]


def _queries(form: _Form) -> list[tuple[_Key | None, str, bool]]:
    """(key, original, spelling only) to look up for one of an alert's names: its rows,
    then its spaced-syllable keys (by spelling alone: they are a second chance)."""
    rows = [(key, original, False) for key, original in _rows(form)] if form else []
    return rows + [(key, "", True) for key in form.spaced]


class _NameIndex:
    """Names searched by :func:`rapidfuzz.process.extract` on both keys, and by their
    original script exactly."""

    def __init__(self) -> None:
        self.names: list[_Name] = []
        self._spelling: list[str] = []
        self._sound: list[str] = []
        self._original: dict[str, list[int]] = defaultdict(list)

    def add(self, name: _Name) -> None:
        if name.original:
            self._original[name.original].append(len(self.names))
        self.names.append(name)
        self._spelling.append(name.key[0] if name.key else "")
        self._sound.append(name.key[1] if name.key else "")

    def candidates(
        self, key: _Key | None, original: str, spelling_only: bool, score: float, limit: int
    ) -> list[_Name]:
        # S = max(spelling, mean(spelling, sound)) >= score needs spelling or sound
        # >= 2 * score - 100 (and the skeleton rule, mean(sound, skeleton), a sound that
        # high), so that floor loses no match (beyond ``limit`` per key).
        found: set[int] = set(self._original.get(original, ())) if original else set()
        floor = 2 * score - 100
        if key:
            queries = [(key[0], self._spelling), (key[1], self._sound)]
            for query, choices in queries[:1] if spelling_only else queries:
                found.update(
                    index
                    for _, _, index in process.extract(
                        query, choices, scorer=fuzz.ratio, score_cutoff=floor, limit=limit
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
        # Person entries with a name or alias that leaves nothing to match on.
        self.unmatchable: list[str] = []
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
                forms = _person_forms(entry.family_name, entry.given_names, entry.aliases)
                if not all(forms):
                    self.unmatchable.append(entry.id)
                for form in forms:
                    for key, original in _rows(form) if form else ():
                        dob, field = entry.date_of_birth, form.field
                        self._add_name(_Name(entry.id, dob, field, key, original, form.abjad))

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
        self, query: tuple[_Key | None, str, bool], dob: date | None, rules: MatchRules
    ) -> list[_Name]:
        threshold, limit = rules.person_threshold, rules.max_candidates
        if dob is None:
            if rules.require_dob_match:
                return []
            return self._all.candidates(*query, threshold, limit)
        # Entries born that day are all scored (a handful, and the date lowers the bar);
        # entries with another date cannot match; undated entries need the full score.
        same_day = self._by_dob.get(dob, [])
        if rules.require_dob_match:
            return same_day
        return same_day + self._undated.candidates(*query, threshold, limit)

    def _match_person(self, person: Person, rules: MatchRules) -> Iterable[Match]:
        names = (person.family_name, person.given_names, person.aliases)
        for form in _person_forms(*names, joins=True):
            for query in _queries(form):
                key, original, _ = query
                for listed in self._candidates(query, person.date_of_birth, rules):
                    found = _person_match(person, form, key, original, listed)
                    if found is not None and found.score >= rules.person_threshold:
                        yield found


def _person_match(
    person: Person, form: _Form, key: _Key | None, original: str, listed: _Name
) -> Match | None:
    """How one of the alert's names (one key of it) matches one listed name."""
    fields: tuple[str, ...] = ("alias",) if "alias" in (form.field, listed.field) else ("name",)
    if original and original == listed.original:
        # The same name in its own script: however it was transliterated.
        score = 100.0
        fields += ("original_script",)
    elif key and listed.key:
        score = _score(key, listed.key, one_abjad=form.abjad != listed.abjad)
    else:
        return None
    if person.date_of_birth is not None and listed.date_of_birth is not None:
        score += (100 - score) / 2  # same day: _candidates saw to that
        fields += ("date_of_birth",)
    return Match(listed.entry_id, "person", score, fields)
