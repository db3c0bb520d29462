"""``lali demo --serve``: the demo's hub also runs its console until Ctrl-C.

The demo prints the console's address and a one-time login; the operator chooses a
password at the first login. One extra alert makes the correlation page worth a
look: Fiji reports the same stolen passport that Samoa reported (``SERVE_PLAN`` in
``node/ops/demo.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from node.hub.auth import DEFAULT_USER, PasswordFile, new_one_time_password
from node.hub.service import Hub
from node.hub.settings import HubSettings
from node.ops.provision import Network
from node.runtime import Node

# Livelier than production defaults, so the console shows change within seconds.
NODE_CONFIG: dict[str, object] = {"heartbeat_interval_s": 5.0, "checkpoint_interval_s": 30.0}


class DemoConsole:
    def __init__(self, port: int = 8480, stop: asyncio.Event | None = None) -> None:
        self.port = port
        self.stop = stop or asyncio.Event()
        self.node_config = NODE_CONFIG
        self.hub: Hub | None = None
        self.url: str | None = None

    async def start(self, node: Node, network: Network, out: Callable[[str], None]) -> None:
        settings = HubSettings(
            node=network.configs[node.code],
            console_port=self.port,
            password_file=network.root / node.code / "console-passwd.json",
            lag_poll_s=5.0,
        )
        password = new_one_time_password()
        await asyncio.to_thread(
            PasswordFile(settings.password_file).set, DEFAULT_USER, password, one_time=True
        )
        self.hub = Hub(node, settings)
        await self.hub.start()
        self.url = self.hub.url
        out(f"demo: hub console on {self.url}")
        out(f"demo: log in as {DEFAULT_USER!r} with the one-time password {password}")

    async def wait(self, out: Callable[[str], None]) -> None:
        """Until Ctrl-C (SIGINT) or SIGTERM, or ``stop`` is set by the caller."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop.set)
                installed.append(sig)
        out("demo: the network keeps running; Ctrl-C to stop")
        try:
            await self.stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.aclose()
