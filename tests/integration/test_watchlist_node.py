"""A watch-list hit, raised by a real node process within a second of the alert naming
a listed passport, vessel or (fuzzily) person, and passed on to a hit route (issue 5)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest
from faultkit import NodeProcess, wait_until
from handlerkit import recorded
from nodekit import start_node
from testkit import sample_alert

from node.config import NodeSettings
from node.ops.provision import Network
from node.protocol.wire import message_time
from schemas.enums import Topic

pytestmark = pytest.mark.integration
TESTS = Path(__file__).resolve().parents[1]
LIST = TESTS.parent / "deploy" / "watchlist.example.csv"


def hits(db: Path) -> list[tuple[str, str, str, float, str]]:
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute(
                "SELECT message_id, list_entry, entity, score, raised_at FROM hits"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
    return [(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]


async def test_a_listed_passport_vessel_and_person_raise_hits_within_a_second(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    shutil.copy(LIST, tmp_path / "watchlist.csv")
    duty = tmp_path / "duty.log"
    config = network.configs["FJ"]
    config.write_text(
        config.read_text()
        + f"""
[handlers.watch]
type = "watchlist"
max_tlp = "RED"
settings = {{ path = "{tmp_path / "watchlist.csv"}" }}
[handlers.duty]
type = "handlerkit:Recorder"
max_tlp = "RED"
settings = {{ path = "{duty}" }}
[[routes]]
name = "check"
handlers = ["watch"]
[[routes]]
name = "hits"
handlers = ["duty"]
match = {{ on = "hit" }}
"""
    )
    settings = NodeSettings.load(config)
    fj = NodeProcess(config, tmp_path / "fj.log")
    fj.start()
    ws, _ = await start_node(network, "WS")
    log = tmp_path / "fj.log"
    await asyncio.to_thread(
        wait_until, lambda: b'"node_ready"' in log.read_bytes(), 60, "FJ's node to be ready"
    )
    try:
        passport = (await ws.send(sample_alert(Topic.IDENTITY_FRAUD), ["FJ"])).message_id
        # Names a listed vessel (IMO, call sign) and a listed person spelt differently.
        venture = (await ws.send(sample_alert(Topic.PEOPLE_SMUGGLING), ["FJ"])).message_id
        await asyncio.to_thread(
            wait_until,
            lambda: {r[1] for r in recorded(duty)} >= {passport, venture},
            60,
            "hits passed on to the duty route",
        )
        assert fj.stop() == 0
    finally:
        fj.kill()
        await ws.aclose()
    found = hits(settings.database)
    by_alert = {(m, entry, entity) for m, entry, entity, _, _ in found}
    assert (passport, "WL-D-0001", "document") in by_alert
    assert (venture, "WL-V-0001", "vessel") in by_alert
    assert (venture, "WL-P-0001", "person") in by_alert  # JONE VILIAME ~ JONI VILIAMI
    delays = []
    for message_id, _, _, score, raised_at in found:
        delay = datetime.fromisoformat(raised_at) - message_time(message_id)
        delays.append(round(delay.total_seconds() * 1000))
        assert delay.total_seconds() < 1.0, (message_id, delay)  # issue 5: within 1 s
        assert 0 < score <= 100
    print(f"watch-list hits {len(found)}, ms from sending to hit: {sorted(delays)}")
    # Each hit went on to the duty route as a flash item, once.
    lines = [r for r in recorded(duty) if r[0] == "hit"]
    assert len(lines) == len(found)
