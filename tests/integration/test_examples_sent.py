"""Every valid example alert goes through a real node and is accepted by a recipient,
read from its file as `lali send` reads it (the examples must never go stale)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nodekit import accepted, start_node
from testkit import EXAMPLES
from typer.testing import CliRunner

from node.cli.main import app
from node.cli.node_cmd import load_alert
from node.ops.provision import Network
from schemas.alert import Topic

pytestmark = pytest.mark.integration

VALID = sorted((EXAMPLES / "valid").glob("*.json"))


async def test_every_valid_example_is_accepted_by_a_recipient(
    network: Network, tmp_path: Path
) -> None:
    started = []
    try:
        for code in ("XH", "WS", "FJ"):
            started.append(await start_node(network, code))
        (hub, _), (ws, _), (_, fj_watcher) = started
        for path in VALID:
            alert = load_alert(path, None, None, None)
            sender = hub if alert.topic is Topic.BULLETIN else ws  # bulletins are the hub's
            result = await sender.send(alert, ["FJ"])
            await fj_watcher.wait(accepted(result.message_id))

        # `lali inbox --show` prints the alert's text as UTF-8, not as \u escapes.
        data = json.loads((EXAMPLES / "valid" / "maritime.json").read_text(encoding="utf-8"))
        data["title"] = "Sālote: vessel sighted"
        named = tmp_path / "salote.json"
        named.write_text(json.dumps(data), encoding="utf-8")
        result = await ws.send(load_alert(named, None, None, None), ["FJ"])
        await fj_watcher.wait(accepted(result.message_id))
        shown = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["inbox", "-c", str(network.configs["FJ"]), "--show", result.message_id],
        )
        assert shown.exit_code == 0, shown.output
        assert '"title": "Sālote: vessel sighted"' in shown.output
    finally:
        await asyncio.gather(*(node.aclose() for node, _ in started))
