"""The strict base model and the constrained string types every model is built from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, TypedDict

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
)

__all__ = [
    "MULTI_LINE_PATTERN",
    "SINGLE_LINE_PATTERN",
    "Date",
    "MessageId",
    "StrictModel",
    "Timestamp",
    "ValidationContext",
    "context_now",
    "icao_specimens_allowed",
    "multi_line",
    "single_line",
]

# Characters no field may hold: C0 and C1 controls, DEL, and the Unicode bidirectional
# overrides and line separators. They have no place in an alert and are the raw material
# of log injection and of text that displays differently from what it says.
_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
SINGLE_LINE_PATTERN = rf"^[^\t\n\r{_FORBIDDEN}]*$"
"""Printable text on one line."""
MULTI_LINE_PATTERN = rf"^[^{_FORBIDDEN}]*$"
"""Printable text; tabs and line breaks allowed."""

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class StrictModel(BaseModel):
    """Base of every wire model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def single_line(max_length: int, *, min_length: int = 1) -> StringConstraints:
    """Constraint for a one-line text field (names, titles, codes written by people)."""
    return StringConstraints(
        min_length=min_length, max_length=max_length, pattern=SINGLE_LINE_PATTERN
    )


def multi_line(max_length: int, *, min_length: int = 1) -> StringConstraints:
    """Constraint for free text that may span lines (summaries, analysis)."""
    return StringConstraints(
        min_length=min_length, max_length=max_length, pattern=MULTI_LINE_PATTERN
    )


MessageId = Annotated[str, StringConstraints(min_length=36, max_length=36, pattern=_UUID_PATTERN)]
"""A message id in canonical form: a lowercase, hyphenated UUID (time-ordered UUIDv7)."""


def _reject_numbers(value: object) -> object:
    # pydantic reads a JSON number as seconds since the epoch; on the wire a time is an
    # ISO 8601 string, so that a unit mix-up (ms vs s) cannot pass silently.
    if isinstance(value, int | float):
        raise ValueError("a date or time must be an ISO 8601 string, not a number")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_reject_numbers)]
"""An ISO 8601 date and time with a UTC offset ("2025-03-14T09:30:00+13:00")."""


def _iso_date_only(value: object) -> object:
    # pydantic would also take a number, or a datetime at midnight, as a date.
    value = _reject_numbers(value)
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("a date must be written YYYY-MM-DD")
    if isinstance(value, datetime):
        raise ValueError("a date must not carry a time")
    return value


Date = Annotated[date, BeforeValidator(_iso_date_only)]
"""An ISO 8601 calendar date ("1988-07-01")."""


class ValidationContext(TypedDict, total=False):
    """What a caller may pass as ``model_validate(..., context=...)`` (and the ``_json``
    variant); every key is optional.

    - ``now``: an aware ``datetime``, the time the rules that depend on it are judged at
      (a date of birth or a document's issue date not in the future). Code that has a
      clock of its own (the envelope core, tests, a replay) passes it, so that the
      outcome depends on its inputs only. Without it those rules are not applied: see
      :func:`context_now`.
    - ``icao_specimens``: ``True`` to accept ICAO's specimen state ``UTO`` (Utopia, the
      state of the Doc 9303 specimen documents) wherever a nationality or issuing state
      is checked. For tests of specimen MRZs only: no node, example or vector sets it,
      and the JSON Schema does not list ``UTO``.
    """

    now: datetime
    icao_specimens: bool


def _context(info: ValidationInfo) -> Mapping[str, object]:
    context = info.context
    return context if isinstance(context, Mapping) else {}


def context_now(info: ValidationInfo) -> datetime | None:
    """The time a validation is judged at: the context's ``now``, or None.

    ``schemas`` reads no clock: whoever takes input from outside passes the time it
    judges it at (``parse_alert(data, now=...)``: ``lali send``, the envelope core on
    receipt, ``lali check``; a watch-list import). Without a time the rules that need
    one are not applied: that is trusted code re-reading content it validated earlier
    (the inbox, the hub's tables), and those rules only ever refuse a date *later* than
    now, so content valid once stays valid. A ``now`` that is not an aware datetime is a
    programming error (``TypeError``), not invalid input.
    """
    now = _context(info).get("now")
    if now is None:
        return None
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise TypeError("validation context 'now' must be an aware datetime")
    return now


def icao_specimens_allowed(info: ValidationInfo) -> bool:
    """True when the validation context asks to accept ICAO's specimen state ``UTO``."""
    return _context(info).get("icao_specimens") is True
