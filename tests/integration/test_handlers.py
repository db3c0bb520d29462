"""Handlers on real nodes and a real nats-server: isolation, the TLP policy, the failed
list, and pending work surviving SIGKILL (issue 5)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from faultkit import NodeProcess, wait_until
from handlerkit import recorded
from nodekit import accepted, start_node
from testkit import sample_alert
from typer.testing import CliRunner

from node.cli.main import app
from node.config import NodeSettings
from node.exchange.receipts import ReceiptDecision
from node.ops.provision import Network
from node.runtime import Node
from node.storage.audit import verify_file
from schemas.enums import Tlp, Topic

pytestmark = pytest.mark.integration
TESTS = Path(__file__).resolve().parents[1]


def configure(network: Network, code: str, text: str) -> Path:
    """Append handler sections to a member's node.toml; return the config path."""
    config = network.configs[code]
    config.write_text(config.read_text() + "\n" + text)
    return config


class Outcomes:
    """Awaitable record of handler job outcomes (the runner's listener seam)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, instance: str, message_id: str, kind: str, state: str) -> None:
        self.seen.append((instance, message_id, kind, state))
        self._changed.set()

    def count(self, instance: str, state: str) -> int:
        return sum(1 for i, _, _, s in self.seen if (i, s) == (instance, state))

    async def until(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()


def watch(node: Node) -> Outcomes:
    outcomes = Outcomes()
    assert node.handlers is not None
    node.handlers.listeners.append(outcomes)
    return outcomes


def jobs(db: Path) -> Counter[tuple[str, str]]:
    if not db.exists():
        return Counter()
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute("SELECT instance, state FROM handler_jobs").fetchall()
        except sqlite3.OperationalError:  # created, schema not written yet
            return Counter()
    return Counter((r[0], r[1]) for r in rows)


def audit_kinds(db: Path) -> Counter[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return Counter(r[0] for r in conn.execute("SELECT kind FROM audit"))


async def test_a_hanging_and_a_failing_handler_hold_up_nothing_else(
    network: Network, tmp_path: Path
) -> None:
    rec = tmp_path / "rec.log"
    configure(
        network,
        "FJ",
        f"""
[handlers.hang]
type = "handlerkit:Hang"
max_tlp = "RED"
timeout_s = 3600
[handlers.boom]
type = "handlerkit:Boom"
max_tlp = "RED"
attempts = 2
backoff_s = 0.05
[handlers.rec]
type = "handlerkit:Recorder"
max_tlp = "RED"
settings = {{ path = "{rec}" }}
[[routes]]
name = "everything"
handlers = ["hang", "boom", "rec"]
""",
    )
    fj, fj_watch = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")
    outcomes = watch(fj)
    receipts: list[ReceiptDecision] = []
    all_receipts = asyncio.Event()
    ids: list[str] = []

    def on_receipt(decision: ReceiptDecision) -> None:
        receipts.append(decision)
        if {d.message_id for d in receipts if d.outcome == "recorded"} >= set(ids):
            all_receipts.set()

    ws.receipt_listeners.append(on_receipt)
    try:
        for topic in (Topic.MARITIME, Topic.ASYLUM, Topic.IDENTITY_FRAUD, Topic.DRUG_SMUGGLING):
            ids.append((await ws.send(sample_alert(topic), ["FJ"])).message_id)
        for message_id in ids:
            await fj_watch.wait(accepted(message_id))
        # Acknowledged and receipted although "hang" never returns.
        await asyncio.wait_for(all_receipts.wait(), 30)
        await outcomes.until(lambda: outcomes.count("rec", "done") == len(ids))
        await outcomes.until(lambda: outcomes.count("boom", "failed") == len(ids))
        assert sorted(r[1] for r in recorded(rec)) == sorted(ids)
        assert outcomes.count("boom", "retry") == len(ids)  # attempt 1 retried, 2 final
        assert outcomes.count("hang", "done") == 0
        counts = jobs(fj.settings.database)
        assert counts[("hang", "pending")] == len(ids)
        assert counts[("boom", "failed")] == len(ids)

        cli = CliRunner()
        config = str(network.configs["FJ"])
        listed = await asyncio.to_thread(cli.invoke, app, ["handlers", "failed", "-c", config])
        assert listed.exit_code == 0, listed.output
        assert all(message_id in listed.output for message_id in ids)
        assert "attempts=2" in listed.output
        retried = await asyncio.to_thread(
            cli.invoke, app, ["handlers", "retry", "-c", config, "--all"]
        )
        assert retried.exit_code == 0, retried.output
        assert f"queued {len(ids)} job(s) again" in retried.output
        # The running node takes the retried work up by itself and fails it again.
        await outcomes.until(lambda: outcomes.count("boom", "failed") == 2 * len(ids))
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    kinds = audit_kinds(fj.settings.database)
    assert kinds["handled"] == len(ids)
    assert kinds["handler_failed"] == 2 * len(ids)
    assert kinds["handler_retry"] == len(ids)
    verify_file(fj.settings.database)


async def test_a_handler_never_receives_above_its_policy(network: Network, tmp_path: Path) -> None:
    logs = {name: tmp_path / f"{name}.log" for name in ("low", "ext", "extok", "nopolicy")}
    configure(
        network,
        "FJ",
        f"""
[handlers.low]
type = "handlerkit:Recorder"
max_tlp = "GREEN"
settings = {{ path = "{logs["low"]}" }}
[handlers.ext]
type = "handlerkit:ExternalRecorder"
max_tlp = "RED"
settings = {{ path = "{logs["ext"]}" }}
[handlers.extok]
type = "handlerkit:ExternalRecorder"
max_tlp = "AMBER"
allow_external_above_green = true
settings = {{ path = "{logs["extok"]}" }}
[handlers.nopolicy]
type = "handlerkit:Recorder"
settings = {{ path = "{logs["nopolicy"]}" }}
[[routes]]
name = "everything"
handlers = ["low", "ext", "extok", "nopolicy"]
""",
    )
    fj, fj_watch = await start_node(network, "FJ")
    ws, _ = await start_node(network, "WS")
    outcomes = watch(fj)
    sent: dict[Tlp, str] = {}
    try:
        for tlp in (Tlp.RED, Tlp.AMBER, Tlp.GREEN):
            alert = sample_alert(Topic.MARITIME).model_copy(update={"tlp": tlp})
            sent[tlp] = (await ws.send(alert, ["FJ"])).message_id
        for message_id in sent.values():
            await fj_watch.wait(accepted(message_id))
        await outcomes.until(lambda: len([s for s in outcomes.seen if s[3] == "done"]) == 4)
    finally:
        await asyncio.gather(ws.aclose(), fj.aclose())
    got = {name: {r[2] for r in recorded(path)} for name, path in logs.items()}
    assert got == {
        "low": {"GREEN"},
        "ext": {"GREEN"},  # external: capped at GREEN although max_tlp is RED
        "extok": {"GREEN", "AMBER"},
        "nopolicy": set(),  # no policy: nothing
    }
    # Every refusal is on the record: RED x4, AMBER x3, GREEN x1.
    assert audit_kinds(fj.settings.database)["handler_refused"] == 8


async def test_pending_handler_work_survives_kill_9(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    rec = tmp_path / "rec.log"
    base = network.configs["FJ"].read_text()
    route = '[[routes]]\nname = "everything"\nhandlers = ["slow"]\n'
    config = configure(
        network,
        "FJ",
        f'[handlers.slow]\ntype = "handlerkit:Hang"\nmax_tlp = "RED"\ntimeout_s = 3600\n{route}',
    )
    settings = NodeSettings.load(config)
    fj = NodeProcess(config, tmp_path / "fj.log")
    fj.start()
    ws, _ = await start_node(network, "WS")
    try:
        ids = [
            (await ws.send(sample_alert(t), ["FJ"])).message_id
            for t in (Topic.MARITIME, Topic.ASYLUM, Topic.PEOPLE_SMUGGLING)
        ]
        await asyncio.to_thread(
            wait_until,
            lambda: jobs(settings.database)[("slow", "pending")] == len(ids),
            60,
            "FJ to queue the handler work",
        )
        fj.kill()  # mid-handling: every job is in a worker or its queue
        # Same instance name, now a handler that finishes: the queued work must run.
        config.write_text(
            f'{base}\n[handlers.slow]\ntype = "handlerkit:Recorder"\nmax_tlp = "RED"\n'
            f'settings = {{ path = "{rec}" }}\n{route}'
        )
        fj.start()
        await asyncio.to_thread(
            wait_until, lambda: len(recorded(rec)) >= len(ids), 60, "the work after restart"
        )
        assert fj.stop() == 0
    finally:
        fj.kill()
        await ws.aclose()
    assert sorted(r[1] for r in recorded(rec)) == sorted(ids)  # each once, none lost
    assert jobs(settings.database)[("slow", "done")] == len(ids)
    verify_file(settings.database)
