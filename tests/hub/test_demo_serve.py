"""``lali demo --serve``: the demo's hub runs the console, prints its address and a
one-time login, and the network stays up until stopped."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from hubkit import BusWatch

from node.ops.demo import run_demo
from node.ops.demo_console import DemoConsole

pytestmark = pytest.mark.integration


async def test_demo_serves_the_console_until_stopped(tmp_path: Path) -> None:
    lines: list[str] = []
    printed = asyncio.Event()

    def out(line: str) -> None:
        lines.append(line)
        printed.set()

    console = DemoConsole(port=0)
    demo = asyncio.create_task(run_demo(tmp_path / "demo", out, 60, console))
    try:
        async with asyncio.timeout(120):
            while not any("Ctrl-C to stop" in line for line in lines):
                printed.clear()
                await printed.wait()
        text = "\n".join(lines)
        url = re.search(r"hub console on (http://127\.0\.0\.1:\d+)", text)
        password = re.search(r"one-time password (\S+)", text)
        assert url and password, text
        assert "receipts back at the senders" in text
        assert console.hub is not None
        bus = BusWatch(console.hub)
        await console.hub.index.idle.wait()
        links = await console.hub.reader.all("SELECT kind, rule FROM hub_links")
        assert ("document", "members") in {(r["kind"], r["rule"]) for r in links}
        async with httpx.AsyncClient(base_url=url.group(1)) as client:
            form = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            login = await client.post(
                "/login",
                data={"csrf": csrf.group(1), "user": "operator", "password": password.group(1)},
            )
            assert login.status_code == 303 and login.headers["location"] == "/password"
        await bus.status("WS", "online")
        assert not demo.done()
    finally:
        console.stop.set()
        code = await asyncio.wait_for(demo, 60)
    assert code == 0, "\n".join(lines)
    assert re.search(r"^demo: sent=\d+ .*audit=ok$", lines[-1]), lines[-1]
