"""Enumerations that travel in the envelope header as one-byte wire codes.

The order of members is part of the wire format: a member's code is its index.
Add new members at the end only; never reorder or remove one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from schemas.errors import MalformedMessage

__all__ = ["Priority", "Tlp", "Topic"]


class _WireCoded(StrEnum):
    @property
    def code(self) -> int:
        """The one-byte wire code of this member (its position in the enumeration)."""
        return list(type(self)).index(self)

    @classmethod
    def from_code(cls, code: int) -> Self:
        """The member with wire code ``code``; ``MalformedMessage`` if there is none."""
        members = list(cls)
        if not 0 <= code < len(members):
            raise MalformedMessage(f"unknown {cls.__name__} wire code", code=code)
        return members[code]


class Topic(_WireCoded):
    """Alert topic; one NATS subject family each."""

    PEOPLE_SMUGGLING = "people_smuggling"
    HUMAN_TRAFFICKING = "human_trafficking"
    IDENTITY_FRAUD = "identity_fraud"
    DRUG_SMUGGLING = "drug_smuggling"
    IRREGULAR_MIGRATION = "irregular_migration"
    MARITIME = "maritime"
    ASYLUM = "asylum"
    BULLETIN = "bulletin"


class Priority(_WireCoded):
    """How fast a recipient must act: FLASH now, URGENT within hours, ROUTINE in due course."""

    FLASH = "flash"
    URGENT = "urgent"
    ROUTINE = "routine"


class Tlp(_WireCoded):
    """FIRST Traffic Light Protocol 2.0 handling code, from least to most restricted."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"
