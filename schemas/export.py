"""Generate the JSON Schema files of the wire contract (the only I/O in ``schemas``).

The files in ``schemas/json/`` are committed so that other implementations can
validate against them without Python; ``tests/unit/test_schemas_export.py`` fails when
they drift from the models. Regenerate with ``lali schemas export`` or
``python -m schemas.export``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.alert import Alert
from schemas.domain import Movement, Person, TravelDocument, Vessel

__all__ = ["default_schema_dir", "export_json_schemas", "render_schema", "schema_documents"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "urn:lali:schema:"

_MODELS: dict[str, type[BaseModel]] = {
    "alert.schema.json": Alert,
    "person.schema.json": Person,
    "travel_document.schema.json": TravelDocument,
    "vessel.schema.json": Vessel,
    "movement.schema.json": Movement,
}


def default_schema_dir() -> Path:
    """The ``schemas/json`` directory inside the installed package."""
    return Path(__file__).resolve().parent / "json"


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (draft 2020-12, validation mode) of each exported model."""
    documents: dict[str, dict[str, Any]] = {}
    for filename, model in _MODELS.items():
        schema = model.model_json_schema(mode="validation")
        documents[filename] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": SCHEMA_ID_BASE + filename.removesuffix(".schema.json"),
            **schema,
        }
    return documents


def render_schema(document: dict[str, Any]) -> str:
    """The exact text written for ``document``: sorted keys, indent 2, final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write every schema document into ``out_dir`` and return the paths written.

    Files are replaced only when their content changes, so that a re-export of an
    unchanged contract touches nothing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for filename, document in sorted(schema_documents().items()):
        path = out_dir / filename
        text = render_schema(document)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8", newline="\n")
            tmp.replace(path)
        written.append(path)
    return written


def main() -> None:
    """``python -m schemas.export [DIR]``: write the schemas (default: the package's)."""
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_schema_dir()
    for path in export_json_schemas(out_dir):
        print(path)


if __name__ == "__main__":
    main()
