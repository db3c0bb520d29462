"""The spool handler on a real file system: JSON-lines and directory modes, retries,
torn tails and temporary files."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from handlerkit import AuditLog, example_item, fake_ctx
from pydantic import ValidationError

from node.handlers.base import Context, HandlerEnv, HandlerError, Hit, Item
from node.handlers.builtin.spool import SpoolHandler, spool_name
from schemas.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)


def make_item(n: int = 0, name: str = "asylum.json", hit: Hit | None = None) -> Item:
    return example_item(name, NOW, n, hit)


def make_ctx(audit: AuditLog) -> Context:
    return fake_ctx(audit, "national-spool", NOW)


def build(tmp_path: Path, **settings: Any) -> SpoolHandler:
    env = HandlerEnv(code="FJ", config_dir=tmp_path, state_dir=tmp_path / "state")
    return SpoolHandler.from_settings(SpoolHandler.Settings.model_validate(settings), env)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


async def test_jsonl_appends_one_line_per_item(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    handler = build(tmp_path, mode="jsonl", path="out/alerts.jsonl")
    items, audit = [make_item(1), make_item(2)], AuditLog()
    for item in items:
        await handler(item, make_ctx(audit))
    path = tmp_path / "out" / "alerts.jsonl"
    assert [json.loads(line) for line in records(path)] == [i.as_dict() for i in items]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert audit.entries == [("spooled", {"mode": "jsonl", "file": "alerts.jsonl"})] * 2


async def test_jsonl_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build(tmp_path, mode="jsonl", path="absent/alerts.jsonl")


async def test_jsonl_retry_of_a_written_item_adds_no_line(tmp_path: Path) -> None:
    handler = build(tmp_path, mode="jsonl", path="alerts.jsonl")
    item, audit = make_item(1), AuditLog()
    await handler(item, make_ctx(audit))
    await handler(make_item(2), make_ctx(audit))
    await handler(item, make_ctx(audit))  # the runner did not record the first call
    assert len(records(tmp_path / "alerts.jsonl")) == 2
    assert audit.entries[-1] == ("spool_already_present", {"mode": "jsonl", "file": "alerts.jsonl"})


async def test_jsonl_without_dedupe_window_duplicates_a_retried_item(tmp_path: Path) -> None:
    handler = build(tmp_path, mode="jsonl", path="alerts.jsonl", dedupe_window_bytes=0)
    item = make_item(1)
    await handler(item, make_ctx(AuditLog()))
    await handler(item, make_ctx(AuditLog()))
    lines = records(tmp_path / "alerts.jsonl")
    assert len(lines) == 2 and lines[0] == lines[1]  # consumers de-duplicate on message_id


async def test_jsonl_torn_tail_never_merges_with_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    first = make_item(1).to_json()
    path.write_bytes(first + b"\n" + first[:40])  # a crash mid-write left a fragment
    handler = build(tmp_path, mode="jsonl", path="alerts.jsonl")
    item = make_item(2)
    await handler(item, make_ctx(AuditLog()))
    lines = records(path)
    assert lines == [first, first[:40], item.to_json()]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])  # readers skip it
    assert json.loads(lines[2]) == item.as_dict()


async def test_jsonl_concurrent_appends_stay_whole(tmp_path: Path) -> None:
    handler = build(tmp_path, mode="jsonl", path="alerts.jsonl")
    items = [make_item(n) for n in range(20)]
    await asyncio.gather(*(handler(item, make_ctx(AuditLog())) for item in items))
    parsed = [json.loads(line) for line in records(tmp_path / "alerts.jsonl")]
    assert sorted(p["message_id"] for p in parsed) == sorted(i.message_id for i in items)


async def test_directory_writes_one_file_per_item(tmp_path: Path) -> None:
    (tmp_path / "pickup").mkdir()
    handler = build(tmp_path, mode="directory", path="pickup", file_mode=0o640)
    item, audit = make_item(1), AuditLog()
    await handler(item, make_ctx(audit))
    name = f"20261129T120005Z-{item.message_id}-alert.json"
    assert names(tmp_path / "pickup") == [name]
    target = tmp_path / "pickup" / name
    assert json.loads(target.read_bytes()) == item.as_dict()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert audit.entries == [("spooled", {"mode": "directory", "file": name})]


async def test_directory_retry_is_idempotent(tmp_path: Path) -> None:
    handler = build(tmp_path, mode="directory", path=".")
    item, audit = make_item(1), AuditLog()
    await handler(item, make_ctx(audit))
    await handler(item, make_ctx(audit))
    assert names(tmp_path) == [spool_name(item)]
    assert audit.entries[1][0] == "spool_already_present"


async def test_hits_get_their_own_file(tmp_path: Path) -> None:
    handler = build(tmp_path, mode="directory", path=".")
    hit = Hit(list_entry="WL-7", entity="document", score=100.0, fields=("number",), hit_id=42)
    item = make_item(1, name="identity_fraud.json", hit=hit)
    await handler(make_item(1, name="identity_fraud.json"), make_ctx(AuditLog()))
    await handler(item, make_ctx(AuditLog()))
    assert names(tmp_path) == sorted([spool_name(make_item(1)), spool_name(item)])
    assert spool_name(item).endswith(f"{item.message_id}-hit-42.json")
    assert json.loads((tmp_path / spool_name(item)).read_bytes())["hit"]["hit_id"] == 42


async def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = build(tmp_path, mode="directory", path=".")

    def no_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(HandlerError) as info:
        await handler(make_item(1), make_ctx(AuditLog()))
    assert info.value.fields["errno"] == 28
    assert names(tmp_path) == []


def test_stale_temporary_files_are_removed_at_start(tmp_path: Path) -> None:
    stale = tmp_path / ".x-alert.json.0badcafe.lali-tmp"
    fresh = tmp_path / ".y-alert.json.0badcafe.lali-tmp"
    other = tmp_path / ".somebody-elses.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"{")
    os.utime(stale, (0, 0))
    os.utime(other, (0, 0))
    build(tmp_path, mode="directory", path=".")
    assert names(tmp_path) == sorted([fresh.name, other.name])


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o700, 0o040])
def test_file_mode_never_reaches_others(mode: int) -> None:
    with pytest.raises(ValidationError):
        SpoolHandler.Settings(mode="jsonl", path=Path("a.jsonl"), file_mode=mode)
