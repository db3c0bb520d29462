"""The committed JSON Schema files must equal what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.export import (
    default_schema_dir,
    export_json_schemas,
    render_schema,
    schema_documents,
)

REGENERATE = "JSON Schemas drifted from the models: run `lali schemas export` and commit"


def test_committed_schemas_match_the_models() -> None:
    directory = default_schema_dir()
    documents = schema_documents()
    committed = {p.name for p in directory.glob("*.json")}
    assert committed == set(documents), REGENERATE
    for filename, document in documents.items():
        text = (directory / filename).read_text(encoding="utf-8")
        assert json.loads(text) == document, f"{filename}: {REGENERATE}"
        assert text == render_schema(document), f"{filename} is not canonical: {REGENERATE}"


def test_export_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    first = export_json_schemas(tmp_path / "a")
    second = export_json_schemas(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert "alert.schema.json" in {p.name for p in first}
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes().endswith(b"}\n")
    mtimes = [p.stat().st_mtime_ns for p in first]
    export_json_schemas(tmp_path / "a")
    assert [p.stat().st_mtime_ns for p in first] == mtimes
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_alert_schema_is_strict() -> None:
    alert = schema_documents()["alert.schema.json"]
    assert alert["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert alert["additionalProperties"] is False
    assert set(alert["required"]) == {"title", "summary", "priority", "tlp", "payload"}
    assert alert["properties"]["payload"]["discriminator"]["propertyName"] == "topic"
    for name, definition in alert["$defs"].items():
        if definition.get("type") == "object":
            assert definition["additionalProperties"] is False, name
        if name.endswith("Payload"):
            assert definition["required"][0] == "topic", name


def _walk(node: object, path: str = "#") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk(value, f"{path}/{i}")
    return found


def test_every_string_and_array_is_bounded() -> None:
    for filename, document in schema_documents().items():
        for path, node in _walk(document):
            if node.get("type") == "string" and not {"enum", "const", "format"} & set(node):
                assert "maxLength" in node, f"{filename} {path}: string without maxLength"
            if node.get("type") == "array":
                assert "maxItems" in node, f"{filename} {path}: array without maxItems"
