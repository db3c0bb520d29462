"""The STIX 2.1 conversion (validated by the stix2 library) and the stix handler's two
outputs: a spool directory and a MISP instance (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stix2  # type: ignore[import-untyped]
from handlerkit import AuditLog, example_item, fake_ctx
from pydantic import ValidationError
from testkit import example_alerts

from node.handlers.base import Context, HandlerEnv, Hit, Item, PermanentHandlerError
from node.handlers.builtin.spool import spool_name
from node.handlers.builtin.stix import StixHandler, to_stix_bundle

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MISP_KEY = "Zq4bM1xV8nT2kL5pR7sW9yA3cE6gH0jN4uF2dK8o"  # 40 characters, like a MISP key

# TLP 2.0 marking definitions as published by OASIS (cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0); written out here, not imported, so
# that a typo in the module fails this test.
OFFICIAL_TLP = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
SHARED = ("marking-definition", "extension-definition")


def make_item(name: str, n: int = 0, hit: Hit | None = None) -> Item:
    return example_item(name, NOW, n, hit)


def make_ctx(audit: AuditLog) -> Context:
    return fake_ctx(audit, "misp-bridge", NOW)


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def is_shared(obj: dict[str, Any]) -> bool:
    """Objects every bundle carries alike (no alert content), hence unmarked: the TLP and
    Lali definitions, member and node identities, ports."""
    return (
        obj["type"] in SHARED
        or (obj["type"] == "identity" and obj["identity_class"] != "individual")
        or (obj["type"] == "location" and "latitude" not in obj)
    )


@pytest.mark.parametrize("name", sorted(example_alerts()))
def test_every_example_becomes_a_valid_bundle_marked_with_its_tlp(name: str) -> None:
    item = make_item(name)
    bundle = to_stix_bundle(item, receiver="FJ")
    parsed = stix2.parse(bundle, allow_custom=True)
    assert parsed.type == "bundle" and len(parsed.objects) == len(bundle["objects"])
    tlp = OFFICIAL_TLP[item.alert.tlp.value]
    [marking] = by_type(bundle, "marking-definition")
    assert marking["id"] == tlp
    assert marking["name"] == f"TLP:{item.alert.tlp.value}"
    for obj in bundle["objects"]:
        if not is_shared(obj):
            assert obj["object_marking_refs"] == [tlp], obj["type"]
    [report] = by_type(bundle, "report")
    assert report["name"] == item.alert.title
    assert report["external_references"] == [
        {"source_name": "lali", "external_id": item.message_id}
    ]
    listed = {o["id"] for o in bundle["objects"]} - {report["id"]}
    assert set(report["object_refs"]) <= listed
    assert f"lali:topic={item.topic.value}" in report["labels"]


def test_documents_vessels_and_persons_are_represented() -> None:
    bundle = to_stix_bundle(make_item("identity_fraud.json"))
    [document] = by_type(bundle, "lali-travel-document")
    assert (document["number"], document["issuing_state"], document["status"]) == (
        "TN4827193",
        "TON",
        "stolen",
    )
    [indicator] = by_type(bundle, "indicator")
    assert indicator["indicator_types"] == ["compromised"]
    assert "'TN4827193'" in indicator["pattern"] and "'TON'" in indicator["pattern"]
    [observed] = by_type(bundle, "observed-data")
    assert observed["object_refs"] == [document["id"]]
    persons = [o for o in by_type(bundle, "identity") if o["identity_class"] == "individual"]
    assert [p["name"] for p in persons] == ["SIOSAIA MOSESE FINAU", "UNKNOWN"]
    [extension] = by_type(bundle, "extension-definition")
    assert persons[0]["extensions"][extension["id"]]["date_of_birth"] == "1987-03-14"

    maritime = to_stix_bundle(make_item("maritime.json"))
    [vessel] = by_type(maritime, "lali-vessel")
    assert (vessel["name"], vessel["imo"]) == ("CORAL MERIDIAN", "9074729")
    assert any("latitude" in loc for loc in by_type(maritime, "location"))


def test_ids_are_deterministic() -> None:
    first = to_stix_bundle(make_item("identity_fraud.json", n=1), receiver="FJ")
    again = to_stix_bundle(make_item("identity_fraud.json", n=1), receiver="FJ")
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    other = to_stix_bundle(make_item("identity_fraud.json", n=2), receiver="FJ")
    assert other["id"] != first["id"]
    assert by_type(other, "report")[0]["id"] != by_type(first, "report")[0]["id"]
    # The same document and the same sender are the same objects in every bundle.
    assert by_type(other, "lali-travel-document") == by_type(first, "lali-travel-document")
    assert by_type(other, "identity")[0]["id"] == by_type(first, "identity")[0]["id"]


def test_a_hit_adds_a_note_on_the_report() -> None:
    hit = Hit(list_entry="WL-7", entity="document", score=100.0, fields=("number",), hit_id=3)
    alert_bundle = to_stix_bundle(make_item("identity_fraud.json"))
    bundle = to_stix_bundle(make_item("identity_fraud.json", hit=hit))
    stix2.parse(bundle, allow_custom=True)
    [note] = by_type(bundle, "note")
    [report] = by_type(bundle, "report")
    assert note["object_refs"] == [report["id"]]
    assert "WL-7" in note["content"]
    assert bundle["id"] != alert_bundle["id"]


async def test_spool_output_writes_the_bundle_once(tmp_path: Path) -> None:
    (tmp_path / "stix").mkdir()
    settings = StixHandler.Settings(output="spool", spool_dir=Path("stix"))
    handler = StixHandler.from_settings(settings, HandlerEnv("FJ", tmp_path, tmp_path))
    item, audit = make_item("maritime.json"), AuditLog()
    await handler(item, make_ctx(audit))
    await handler(item, make_ctx(audit))  # a retry
    await handler.aclose()
    [written] = list((tmp_path / "stix").iterdir())
    assert written.name == spool_name(item, ".stix.json")
    assert json.loads(written.read_bytes()) == to_stix_bundle(item, receiver="FJ")
    assert [detail["written"] for _, detail in audit.entries] == [True, False]


class Misp(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MispHandler)
        self.status = 200
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _MispHandler(BaseHTTPRequestHandler):
    server: Misp

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        reply = b'{"Event": {"id": "1"}}'
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def misp() -> Iterator[Misp]:
    server = Misp()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def misp_handler(tmp_path: Path, url: str) -> StixHandler:
    (tmp_path / "misp.key").write_text(MISP_KEY + "\n")
    settings = StixHandler.Settings(output="misp", misp_url=url, misp_key_file=Path("misp.key"))
    return StixHandler.from_settings(settings, HandlerEnv("FJ", tmp_path, tmp_path))


async def test_misp_output_posts_to_the_stix2_import_with_the_key(
    tmp_path: Path, misp: Misp
) -> None:
    handler = misp_handler(tmp_path, misp.url)
    item, audit = make_item("identity_fraud.json"), AuditLog()
    try:
        await handler(item, make_ctx(audit))
    finally:
        await handler.aclose()
    [request] = misp.requests
    assert request["path"] == "/events/upload_stix/2"
    assert request["headers"]["Authorization"] == MISP_KEY
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Accept"] == "application/json"
    assert json.loads(request["body"]) == to_stix_bundle(item, receiver="FJ")
    bundle_id = json.loads(request["body"])["id"]
    assert audit.entries == [
        ("stix_exported", {"bundle": bundle_id, "host": "127.0.0.1", "status": 200})
    ]


async def test_misp_refusal_is_permanent(tmp_path: Path, misp: Misp) -> None:
    misp.status = 403
    handler = misp_handler(tmp_path, misp.url)
    try:
        with pytest.raises(PermanentHandlerError) as info:
            await handler(make_item("maritime.json"), make_ctx(AuditLog()))
    finally:
        await handler.aclose()
    assert info.value.fields["status"] == 403


@pytest.mark.parametrize(
    "settings",
    [
        {"output": "spool"},
        {"output": "misp", "misp_url": "https://misp.example.gov"},
        {"output": "misp", "misp_url": "http://misp.example.gov", "misp_key_file": "k"},
        {"output": "misp", "misp_url": "https://misp.example.gov", "misp_key": "inline"},
    ],
)
def test_incomplete_or_unsafe_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        StixHandler.Settings.model_validate(settings)
