"""A member rotates its keys with overlap: the node switches when the hub publishes
the new keys, new alerts use them, alerts sealed to the old key still open."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nodekit import Running, accepted
from testkit import sample_alert
from typer.testing import CliRunner

from keys import (
    Directory,
    DirectoryKey,
    load_identity,
    load_root_key,
    sign_directory,
    verify_directory,
)
from node.cli.main import app
from node.exchange.directory_feed import publish_directory
from node.exchange.trust import parse_root_keys
from node.protocol.envelope import open_envelope
from node.storage.audit import list_entries
from schemas.alert import Topic

pytestmark = pytest.mark.integration


async def test_rotation_with_overlap(running: Running, tmp_path: Path) -> None:
    ws, fj = running.nodes["WS"], running.nodes["FJ"]
    old_sign, old_enc = ws.identity.sign_kid, ws.identity.enc_kid
    before = await fj.send(sample_alert(Topic.MARITIME), ["WS"])  # sealed to the old key
    await running.watchers["WS"].wait(accepted(before.message_id))
    old_envelope = list_entries(ws.settings.database, kind="received")[-1].entry.envelope
    # 1. The member rotates (the running node keeps using the old keys for now).
    public = tmp_path / "ws-rotated.pub.json"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["keys", "rotate", str(ws.settings.identity), "--public-out", str(public)],
    )
    assert result.exit_code == 0, result.output
    still_old = await ws.send(sample_alert(Topic.MARITIME), ["FJ"])
    await running.watchers["FJ"].wait(accepted(still_old.message_id))
    assert ws.identity.sign_kid == old_sign
    # 2. The hub adds the new keys, keeps the old ones for the overlap, publishes.
    now = datetime.now(UTC)
    network = running.network
    current = verify_directory(
        network.directory.read_bytes(), parse_root_keys([network.root_public_b64]), now
    )
    new_keys = [DirectoryKey.model_validate(k) for k in json.loads(public.read_text())["keys"]]
    members = [
        m.model_copy(update={"keys": [*m.keys, *new_keys]}) if m.code == "WS" else m
        for m in current.members
    ]
    v2 = Directory(version=2, issued_at=now, expires_at=current.expires_at, members=members)
    switched = asyncio.Event()
    ws.trust.listeners.append(lambda d: switched.set())
    await publish_directory(
        running.nodes["XH"].transport, sign_directory(v2, [load_root_key(network.root_key)])
    )
    await asyncio.wait_for(switched.wait(), 20)
    for _ in range(100):  # the switch happens in a task the listener starts
        if ws.identity.sign_kid != old_sign:
            break
        await asyncio.sleep(0.05)
    rotated = load_identity(ws.settings.identity)
    assert (ws.identity.sign_kid, ws.identity.enc_kid) == (rotated.sign_kid, rotated.enc_kid)
    assert rotated.enc_kid != old_enc
    # 3. New alerts both ways use the new keys; the old alert still opens.
    after = await ws.send(sample_alert(Topic.ASYLUM), ["FJ"])
    await running.watchers["FJ"].wait(accepted(after.message_id))
    back = await fj.send(sample_alert(Topic.ASYLUM), ["WS"])
    await running.watchers["WS"].wait(accepted(back.message_id))
    assert old_envelope is not None
    opened = open_envelope(old_envelope, rotated, ws.trust.directory, datetime.now(UTC))
    assert opened.header.message_id == before.message_id
