"""The committed test vectors: sealing reproduces them, opening accepts them, and every
reason the protocol code can reject a message for has a negative vector that fails with
exactly that reason."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import textwrap
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import keys.directory
import keys.verify
import node.protocol
import schemas.alert
import schemas.errors
from node.ops.vectors import (
    BLOBS_FILE,
    NOW,
    VECTORS_FILE,
    build,
    build_blobs,
    check,
    check_blobs,
    open_case,
    open_directory,
    verify_blob,
)
from schemas.errors import UntrustedMessage

ENVELOPES: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
BLOBS: dict[str, Any] = json.loads(BLOBS_FILE.read_text(encoding="utf-8"))
BLOB_KINDS = ("receipt", "checkpoint", "heartbeat")

# Which vector section answers for the rejections of which code. A module of
# node/protocol that is not listed here must raise no UntrustedMessage at all, so a new
# check (or a new module with one) fails this test until it has a vector.
_LOOKUPS = keys.directory.Directory._find  # UnknownKey for every blob kind
SOURCES: dict[str, list[ModuleType | Callable[..., Any]]] = {
    "envelope": [
        importlib.import_module("node.protocol.wire"),
        importlib.import_module("node.protocol.envelope"),
        importlib.import_module("node.protocol.subjects"),
        keys.directory,  # key look-ups (UnknownKey) and validity (KeyNotValid)
        schemas.alert.parse_alert,
        schemas.alert._no_duplicates,
    ],
    "receipt": [importlib.import_module("node.protocol.receipt"), _LOOKUPS],
    "checkpoint": [importlib.import_module("node.protocol.checkpoint"), _LOOKUPS],
    "heartbeat": [importlib.import_module("node.protocol.heartbeat"), _LOOKUPS],
    "signed_directory": [keys.verify],
}
COVERED_MODULES = {
    "node.protocol.wire",
    "node.protocol.envelope",
    "node.protocol.subjects",
    "node.protocol.receipt",
    "node.protocol.checkpoint",
    "node.protocol.heartbeat",
}
UNTRUSTED: dict[str, str] = {
    name: cls.reason
    for name, cls in vars(schemas.errors).items()
    if isinstance(cls, type) and issubclass(cls, UntrustedMessage)
}


def raised_reasons(source: ModuleType | Callable[..., Any]) -> set[str]:
    """The ``reason`` of every UntrustedMessage class raised (``raise X(...)``) in the
    source of a module or function."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(source)))
    return set(_raised(tree))


def _raised(tree: ast.AST) -> Iterator[str]:
    for item in ast.walk(tree):
        if not isinstance(item, ast.Raise) or item.exc is None:
            continue
        exc = item.exc.func if isinstance(item.exc, ast.Call) else item.exc
        name = exc.id if isinstance(exc, ast.Name) else getattr(exc, "attr", None)
        if name in UNTRUSTED:
            yield UNTRUSTED[name]


def vector_reasons(section: str) -> set[str]:
    if section == "envelope":
        return {case["error"] for case in ENVELOPES["negative"]}
    return {case["error"] for case in BLOBS[section]["negative"]}


def test_committed_vectors_are_current() -> None:
    # Sealing with the recorded randomness must reproduce every envelope bit for bit.
    assert build() == ENVELOPES, "envelope format drifted: run `python -m node.ops.vectors`"
    assert build_blobs() == BLOBS, "blob formats drifted: run `python -m node.ops.vectors`"


def test_committed_vectors_open_and_negatives_fail() -> None:
    assert len(ENVELOPES["positive"]) >= 3 and len(ENVELOPES["negative"]) >= 5
    check(ENVELOPES)
    check_blobs(BLOBS)


def test_the_scan_finds_what_the_code_raises() -> None:
    envelope = importlib.import_module("node.protocol.envelope")
    assert {"bad_signature", "decryption_failed", "schema_violation"} <= raised_reasons(envelope)
    assert raised_reasons(_LOOKUPS) == {"unknown_key"}


@pytest.mark.parametrize("section", sorted(SOURCES))
def test_every_reason_the_code_raises_has_a_negative_vector(section: str) -> None:
    raised: set[str] = set()
    for source in SOURCES[section]:
        raised |= raised_reasons(source)
    missing = raised - vector_reasons(section)
    assert not missing, f"{section}: no negative vector for {sorted(missing)}"
    # ... and no vector claims a reason that code cannot raise.
    assert vector_reasons(section) <= raised


def test_no_protocol_module_rejects_without_a_vector_section() -> None:
    for info in pkgutil.iter_modules(node.protocol.__path__, "node.protocol."):
        if info.name in COVERED_MODULES:
            continue
        reasons = raised_reasons(importlib.import_module(info.name))
        assert not reasons, f"{info.name} raises {sorted(reasons)}: give it vectors"


def test_not_addressed_is_covered_by_the_positive_vectors() -> None:
    # NotAddressed is not a rejection (the message is valid, just not for us): the
    # positive vectors name members that must get it.
    assert any(case["not_recipients"] for case in ENVELOPES["positive"])


@pytest.mark.parametrize("case", ENVELOPES["negative"], ids=lambda c: c["name"])
def test_each_negative_envelope_fails_with_its_reason(case: dict[str, Any]) -> None:
    with pytest.raises(UntrustedMessage) as caught:
        open_case(ENVELOPES, case)
    assert caught.value.reason == case["error"]


@pytest.mark.parametrize("case", ENVELOPES["accept"], ids=lambda c: c["name"])
def test_each_accept_envelope_opens(case: dict[str, Any]) -> None:
    assert open_case(ENVELOPES, case) == case["plaintext"].encode("utf-8")


@pytest.mark.parametrize(
    ("kind", "case"),
    [(kind, case) for kind in BLOB_KINDS for case in BLOBS[kind]["negative"]],
    ids=lambda value: value["name"] if isinstance(value, dict) else value,
)
def test_each_negative_blob_fails_with_its_reason(kind: str, case: dict[str, Any]) -> None:
    with pytest.raises(UntrustedMessage) as caught:
        verify_blob(BLOBS, kind, case)
    assert caught.value.reason == case["error"]


@pytest.mark.parametrize("case", BLOBS["signed_directory"]["negative"], ids=lambda c: c["name"])
def test_each_negative_directory_fails_with_its_reason(case: dict[str, Any]) -> None:
    with pytest.raises(UntrustedMessage) as caught:
        open_directory(BLOBS["signed_directory"], case, NOW)
    assert caught.value.reason == case["error"]


def test_the_vectors_name_every_field_the_spec_documents() -> None:
    """The optional fields a reader of docs/wire-format.md must handle, all in use."""
    seen = {key for case in ENVELOPES["negative"] + ENVELOPES["accept"] for key in case}
    assert seen == {
        "name",
        "envelope",
        "error",
        "open_as",
        "now",
        "received_at",
        "subject",
        "directory_ref",
        "enc_keys",
        "append_zero_bytes",
        "plaintext",
    }
    positive = {key for case in ENVELOPES["positive"] for key in case}
    assert positive >= {"now", "open_at", "directory_ref", "enc_keys"}
    assert set(ENVELOPES["directories"]) == {
        "rotation",
        "revoked",
        "restricted_topics",
        "low_order_key",
    }
