"""The alert: a common header and one topic-specific payload; parsing and serialising.

``parse_alert`` is the one way bytes from the network become an ``Alert``; it raises
``SchemaViolation`` whose message lists where and why validation failed, never the
offending values (alert content must not leak into logs or audit reasons).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, ValidationError, model_validator

from schemas.base import MessageId, StrictModel, Timestamp, multi_line, single_line
from schemas.enums import Priority, Tlp, Topic
from schemas.errors import SchemaViolation
from schemas.payloads import (
    AsylumPayload,
    BulletinPayload,
    DrugSmugglingPayload,
    HumanTraffickingPayload,
    IdentityFraudPayload,
    IrregularMigrationPayload,
    MaritimePayload,
    PeopleSmugglingPayload,
)

__all__ = [
    "Alert",
    "AsylumPayload",
    "BulletinPayload",
    "DrugSmugglingPayload",
    "HumanTraffickingPayload",
    "IdentityFraudPayload",
    "IrregularMigrationPayload",
    "MaritimePayload",
    "Payload",
    "PeopleSmugglingPayload",
    "Priority",
    "Tlp",
    "Topic",
    "alert_to_json",
    "parse_alert",
]

Payload = Annotated[
    PeopleSmugglingPayload
    | HumanTraffickingPayload
    | IdentityFraudPayload
    | DrugSmugglingPayload
    | IrregularMigrationPayload
    | MaritimePayload
    | AsylumPayload
    | BulletinPayload,
    Field(discriminator="topic"),
]
"""The topic payload; ``topic`` selects the model."""


def _unique_ids(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("references must be unique")
    return values


class Alert(StrictModel):
    """An alert as written by an officer or a handler, before sealing / after opening.

    Sender, recipients, message id and time belong to the envelope header, not here.
    """

    title: Annotated[str, single_line(200)]
    summary: Annotated[str, multi_line(4000)]
    priority: Priority
    tlp: Tlp
    expires_at: Timestamp | None = None
    observed_at: Timestamp | None = None
    references: Annotated[list[MessageId], Field(max_length=50), AfterValidator(_unique_ids)] = (
        Field(default_factory=list)
    )
    contact: Annotated[str, single_line(200)] | None = None
    payload: Payload

    @property
    def topic(self) -> Topic:
        """The payload's topic (also the NATS subject family)."""
        return self.payload.topic

    @model_validator(mode="after")
    def _expires_after_observed(self) -> Self:
        if (
            self.expires_at is not None
            and self.observed_at is not None
            and self.expires_at <= self.observed_at
        ):
            raise ValueError("expires_at must be later than observed_at")
        return self


_MAX_LISTED_ERRORS = 10
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_+]{1,64}$")


def _location(loc: tuple[int | str, ...]) -> str:
    # Keys in ``loc`` can come from the input (an unknown field's name): keep only
    # ones that look like identifiers so that nothing odd reaches a log line.
    parts = [str(p) if isinstance(p, int) or _SAFE_KEY.match(p) else "<key>" for p in loc]
    return ".".join(parts) or "<root>"


def _message(error: Any) -> str:
    if error["type"] == "union_tag_invalid":
        # pydantic's own message repeats the input tag; name the expected ones only.
        return "unknown topic; expected one of: " + ", ".join(t.value for t in Topic)
    return str(error["msg"])


def _violation(exc: ValidationError) -> SchemaViolation:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    items = [{"loc": _location(e["loc"]), "type": e["type"], "msg": _message(e)} for e in errors]
    listed = "; ".join(f"{i['loc']}: {i['msg']}" for i in items[:_MAX_LISTED_ERRORS])
    more = len(items) - _MAX_LISTED_ERRORS
    if more > 0:
        listed += f"; … and {more} more"
    noun = "error" if len(items) == 1 else "errors"
    return SchemaViolation(
        f"alert does not match the schema ({len(items)} {noun}): {listed}",
        errors=items,
    )


def parse_alert(data: bytes | str, *, now: datetime | None = None) -> Alert:
    """Validate JSON ``data`` as an ``Alert``; raise ``SchemaViolation`` if it is not one.

    Takes the exact (already authenticated and decompressed) bytes; the caller caps
    their size. ``now``: the time input from outside is judged at (a date of birth or of
    issue not in the future); every entry point of outside input passes it. Without it
    those rules are skipped: re-reading content validated before (``context_now``).
    """
    _refuse_duplicate_keys(data)
    try:
        return Alert.model_validate_json(data, context=None if now is None else {"now": now})
    except ValidationError as exc:
        raise _violation(exc) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise SchemaViolation("alert JSON repeats a key (readers could disagree on it)")
    return dict(pairs)


def _refuse_duplicate_keys(data: bytes | str) -> None:
    """Pydantic keeps the last of two equal keys; another implementation might keep the
    first and read a different alert from the same signed bytes. Refuse both."""
    try:
        json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        return  # not JSON, bad UTF-8, nested too deep: pydantic reports it, with where


def alert_to_json(alert: Alert) -> bytes:
    """Compact UTF-8 JSON of ``alert``, absent optional fields left out."""
    return alert.model_dump_json(exclude_none=True).encode("utf-8")
