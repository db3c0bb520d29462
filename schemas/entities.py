"""The things an alert names, pulled out of any payload: persons, travel documents,
vessels, phone numbers and ports. Pure; used by the watch-list handler and the hub's
correlation index.

Normalisation is deliberately simple and shared: two alerts match on a document when
``(number, issuing_state)`` agree after :func:`normalise_document_number`; on a vessel
when IMO, MMSI or call sign agree; on a person through :func:`normalise_name` (the
fuzzy comparison itself belongs to the caller).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from schemas.alert import Alert
from schemas.domain import Movement, Person, TravelDocument, Vessel

__all__ = ["Entities", "extract", "normalise_document_number", "normalise_name"]

_PHONE = re.compile(r"\+?\d[\d ()./-]{6,20}\d")
_NOT_LETTER = re.compile(r"[^a-z ]+")


def normalise_name(name: str) -> str:
    """Lower case, accents folded to ASCII, punctuation dropped, spaces collapsed:
    ``"Tūpou-Fifita, Sione"`` → ``"tupou fifita sione"``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NOT_LETTER.sub(" ", folded.lower()).split())


def normalise_document_number(number: str) -> str:
    """Upper case without spaces, hyphens or MRZ fillers."""
    return re.sub(r"[\s<-]", "", number).upper()


def _phones(text: str) -> list[str]:
    found = []
    for match in _PHONE.findall(text):
        digits = re.sub(r"\D", "", match)
        if 7 <= len(digits) <= 15:
            found.append(("+" if match.startswith("+") else "") + digits)
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


def extract(alert: Alert) -> Entities:
    """Every person, document, vessel, phone number and port the alert names."""
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
    phones = [number for text in texts for number in _phones(text)]
    return Entities(
        persons=persons,
        documents=documents,
        vessels=vessels,
        phones=list(dict.fromkeys(phones)),
        ports=list(dict.fromkeys(ports)),
    )
