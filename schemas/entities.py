"""The things an alert names, pulled out of any payload: persons, travel documents,
vessels, phone numbers and ports. Pure; used by the watch-list handler and the hub's
correlation index.

Normalisation is deliberately simple and shared: two alerts match on a document when
``(number, issuing_state)`` agree after :func:`normalise_document_number`; on a vessel
when IMO, MMSI or call sign agree; on a person through :func:`normalise_name` and
:func:`person_name` (:mod:`schemas.names`: the Latin form in every script, the original
script beside it; the fuzzy comparison itself belongs to the caller).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers

from schemas.alert import Alert
from schemas.domain import Movement, Person, TravelDocument, Vessel
from schemas.names import NameForms, latin, person_forms

__all__ = [
    "PLACEHOLDER_WORDS",
    "Entities",
    "extract",
    "is_placeholder_name",
    "normalise_document_number",
    "normalise_name",
    "normalise_phone",
    "person_name",
]

# 7 to 15 digits (counted in _phones): a local number has 7 in Fiji ("9991234").
_PHONE = re.compile(r"\+?\d[\d ()./-]{5,20}\d")


def normalise_name(name: str) -> str:
    """The Latin form of a name in any script (:func:`schemas.names.latin`: ICAO Doc 9303
    transliteration), lower case, punctuation dropped, spaces collapsed:
    ``"Tūpou-Fifita, Sione"`` → ``"tupou fifita sione"``, ``"Müller"`` → ``"mueller"``,
    ``"李伟明"`` → ``"li weiming"``, ``"Юлия"`` → ``"iuliia"``; ``""`` only for a name
    without letters."""
    return latin(name)


def person_name(person: Person) -> NameForms:
    """A person's name (given names, then family name) in Latin and in its own script."""
    return person_forms(person.family_name, person.given_names)


def normalise_document_number(number: str) -> str:
    """Upper case without spaces, hyphens or MRZ fillers."""
    return re.sub(r"[\s<-]", "", number).upper()


# Words that stand for "no name" wherever they appear in one (FNU: first name unknown,
# LNU: last name unknown, NFN: no first name, NMN: no middle name).
PLACEHOLDER_WORDS: frozenset[str] = frozenset(
    {"unknown", "unk", "unkn", "fnu", "lnu", "mnu", "nfn", "nmn", "xxx", "xxxx", "unnamed"}
)
# Words and phrases (after normalise_name) that say "no name" when nothing else is
# written, but can be real names beside others ("Nil" is a given name, "Na" a family
# name, "Doe" both).
_PLACEHOLDER_ONLY_WORDS = frozenset(
    {"nil", "null", "none", "na", "nk", "noname", "anonymous", "test", "tba", "tbc", "tbd",
     "x", "xx"}
)  # fmt: skip
_PHRASES = (
    "n a", "n k", "not known", "not stated", "not given", "not applicable", "no name",
    "name unknown", "john doe", "jane doe",
)  # fmt: skip
_PLACEHOLDER_PHRASES = re.compile(r"\b(?:" + "|".join(_PHRASES) + r")\b")
_PLACEHOLDER_VOCABULARY = (
    PLACEHOLDER_WORDS | _PLACEHOLDER_ONLY_WORDS | {w for p in _PHRASES for w in p.split()}
)


def is_placeholder_name(name: str) -> bool:
    """True when a name only says that the name is not known: nothing left after
    :func:`normalise_name`, or nothing but the placeholders officers write (``UNKNOWN``,
    ``N/A``, ``NIL``, ``NONE``, ``TEST``, ``XXX``, ``FNU``, ``LNU``, ``NFN``,
    ``JOHN DOE`` …), alone or together (``FNU LNU``, ``N/A UNKNOWN``). Such a name must
    never make two alerts, or an alert and a watch-list entry, look like the same
    person; ``"FNU Ahmed"`` is not a placeholder (the watch list drops the word, the
    hub keeps the name as written)."""
    # Most names hold a plain word no placeholder has: they stop here, before the
    # (slower) normalisation. The hub asks this of every name it holds, at every relink.
    if name.isascii() and any(
        w.isalpha() and w not in _PLACEHOLDER_VOCABULARY for w in name.lower().split()
    ):
        return False
    folded = normalise_name(name)
    if any(word not in _PLACEHOLDER_VOCABULARY for word in folded.split()):
        return False
    words = _PLACEHOLDER_PHRASES.sub(" ", folded).split()
    return all(w in PLACEHOLDER_WORDS or w in _PLACEHOLDER_ONLY_WORDS for w in words)


def _raw_phone(number: str) -> str:
    return ("+" if number.lstrip().startswith("+") else "") + re.sub(r"\D", "", number)


def normalise_phone(number: str, region: str | None = None) -> str:
    """A phone number in E.164 form (``"+6799991234"``) when it can be read as one.

    ``region`` (ISO 3166-1 alpha-2: the reporting member's country) is where a number
    written without ``+`` or an international prefix was dialled, so ``"999 1234"``
    reported from ``FJ`` and ``"+679 999 1234"`` are the same number. A number that
    cannot be read that way (no ``+`` and no usable region, or a length no number in
    that country has) stays as its digits, a leading ``+`` kept. Idempotent.
    """
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return _raw_phone(number)
    if not phonenumbers.is_possible_number(parsed):
        return _raw_phone(number)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _phones(text: str, region: str | None) -> list[str]:
    found = []
    for match in _PHONE.findall(text):
        digits = re.sub(r"\D", "", match)
        if 7 <= len(digits) <= 15:
            found.append(normalise_phone(match, region))
    return found


@dataclass(frozen=True)
class Entities:
    persons: list[Person] = field(default_factory=list)
    documents: list[TravelDocument] = field(default_factory=list)
    vessels: list[Vessel] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.persons, self.documents, self.vessels, self.phones, self.ports))


def extract(alert: Alert, *, region: str | None = None) -> Entities:
    """Every person, document, vessel, phone number and port the alert names.

    Phone numbers are normalised by :func:`normalise_phone`, ``region`` (the sender's
    country, when known) reading those written without ``+``.
    """
    p = alert.payload
    persons: list[Person] = []
    for name in ("persons", "victims", "suspects"):
        persons.extend(getattr(p, name, None) or [])
    documents: list[TravelDocument] = list(getattr(p, "documents", None) or [])
    vessels: list[Vessel] = list(getattr(p, "vessels", None) or [])
    vessel = getattr(p, "vessel", None)
    if vessel is not None:
        vessels.insert(0, vessel)
    movements: list[Movement] = list(getattr(p, "movements", None) or [])
    ports = [m.port for m in movements]
    for v in vessels:
        ports.extend(port for port in (v.last_port, v.next_port) if port)
    texts = [alert.summary, alert.contact or ""]
    phones = [number for text in texts for number in _phones(text, region)]
    return Entities(
        persons=persons,
        documents=documents,
        vessels=vessels,
        phones=list(dict.fromkeys(phones)),
        ports=list(dict.fromkeys(ports)),
    )
