"""The Prometheus endpoint of a node: counters from the audit log and the listener
seams, gauges sampled, served on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest
from natskit import tls_connect
from nodekit import Watcher, accepted, outcome
from testkit import sample_alert

from node import metrics
from node.config import NodeSettings
from node.exchange.inbound.decisions import Outcome
from node.ops.provision import Network
from node.runtime import Node
from schemas.alert import Topic

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in an exposition, 0 if absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def scrape_until(port: int, what: str, check: object, timeout: float = 30.0) -> str:
    """A bounded, named poll of the endpoint (another thread serves it)."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            if check(text):
                return text
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for metrics: {what}\n{text[-2000:]}")
            await asyncio.sleep(0.2)


async def test_node_metrics(network: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "SAMPLE_S", 0.2)
    port = free_port()
    nodes: dict[str, Node] = {}
    try:
        for code in ("XH", "WS", "FJ"):
            settings = NodeSettings.load(network.configs[code])
            if code == "WS":
                settings = settings.model_copy(update={"metrics_port": port})
            nodes[code] = Node(settings)
            await nodes[code].start()
            await asyncio.wait_for(nodes[code].ready.wait(), 20)
        ws_watch, fj_watch = Watcher(), Watcher()
        nodes["WS"].inbound.listeners.append(ws_watch)
        nodes["FJ"].inbound.listeners.append(fj_watch)
        await scrape_until(port, "endpoint up", lambda t: "lali_outbox_depth" in t)
        sent = await nodes["WS"].send(sample_alert(Topic.MARITIME), ["FJ"])
        await fj_watch.wait(accepted(sent.message_id))
        back = await nodes["FJ"].send(sample_alert(Topic.ASYLUM), ["WS"])
        await ws_watch.wait(accepted(back.message_id))
        # A forgery on FJ's subject: WS rejects it, with a reason.
        raw = await tls_connect(nodes["WS"].settings.nats_url, nodes["WS"].settings.nats_tls_ca)
        try:
            await raw.jetstream().publish("lali.alert.maritime.FJ", b"not an envelope")
        finally:
            await raw.close()
        await ws_watch.wait(lambda d: d.outcome is Outcome.REJECTED)
        await ws_watch.wait(outcome(sent.message_id, Outcome.OWN))
        text = await scrape_until(
            port,
            "sent, received, rejected, receipt",
            lambda t: (
                value(t, "lali_alerts_sent_total", node="WS", topic="maritime") == 1
                and value(t, "lali_alerts_received_total", node="WS", topic="asylum") == 1
                and value(t, "lali_alerts_rejected_total", node="WS", topic="maritime") == 1
                and value(t, "lali_receipts_total", node="WS", outcome="recorded") >= 1
            ),
        )
        assert value(text, "lali_alert_latency_seconds_count", node="WS", topic="asylum") == 1
        assert value(text, "lali_receipt_latency_seconds_count", node="WS") >= 1
        assert value(text, "lali_inbound_decisions_total", node="WS", outcome="rejected") == 1
        assert 'lali_outbox_depth{kind="alert",node="WS"}' in text
        assert 'lali_consumer_lag_messages{consumer="node-WS",node="WS"}' in text
        assert "# TYPE lali_handler_failures_total counter" in text
        assert metrics.served["WS"] == port
        assert listening_ip(port) == "127.0.0.1"  # loopback only
    finally:
        await asyncio.gather(*(n.aclose() for n in nodes.values()))
    assert "WS" not in metrics.served
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics")


def listening_ip(port: int) -> str | None:
    """The IPv4 address a socket listens on for ``port`` (from /proc/net/tcp)."""
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            host, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                return socket.inet_ntoa(bytes.fromhex(host)[::-1])
    return None
