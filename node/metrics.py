"""Prometheus metrics for nodes and the hub, on ``127.0.0.1:<metrics_port>/metrics``.

Where each number comes from, and why:

- sent / received / rejected: counted from the audit log (an incremental scan of new
  entries, read-only, committed data only). The log is the record: it includes alerts
  sent by ``lali send`` in another process and every rejection with its reason, and
  a count can never disagree with ``lali audit list``.
- inbound decisions, delivery latency, receipts: from the listener seams the node
  hands over (its decision and receipt listener lists); they observe, never decide.
- outbox depth, consumer lag: sampled every few seconds.
- handler failures: incremented by the handler runner (``HANDLER_FAILURES``).

Metrics carry a ``node`` label (the member code): one process runs one node in
production, but the demo and the tests run several side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from node.exchange.inbound.decisions import Decision, Listener, Outcome, Recorded
from node.exchange.receipts import ReceiptDecision
from node.protocol.envelope import Opened
from node.protocol.subjects import parse_alert_subject
from node.protocol.wire import message_time
from node.storage.readonly import read_only
from schemas.errors import LaliError, StorageError

log = structlog.get_logger("lali.metrics")

HOST = "127.0.0.1"
SAMPLE_S = 5.0
_SCAN_BATCH = 5000
# Seconds: a LAN delivery takes milliseconds, a satellite outage hours.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)

HANDLER_FAILURES = Counter(
    "lali_handler_failures_total",
    "Handler attempts that failed (raised or timed out), by handler instance",
    ["handler"],
)
ALERTS_SENT = Counter(
    "lali_alerts_sent_total", "Alerts accepted for sending (audit 'sent')", ["node", "topic"]
)
ALERTS_RECEIVED = Counter(
    "lali_alerts_received_total",
    "Alerts accepted from other members (audit 'received')",
    ["node", "topic"],
)
ALERTS_REJECTED = Counter(
    "lali_alerts_rejected_total",
    "Messages rejected (audit 'rejected'), by reason and the topic the subject claimed",
    ["node", "reason", "topic"],
)
INBOUND_DECISIONS = Counter(
    "lali_inbound_decisions_total",
    "Inbound decisions: accepted, duplicate, not_addressed, own, rejected, defer, retry",
    ["node", "outcome"],
)
RECEIPTS = Counter(
    "lali_receipts_total", "Delivery receipts for alerts we sent, by outcome", ["node", "outcome"]
)
DELIVERY_LATENCY = Histogram(
    "lali_alert_latency_seconds",
    "From sealing at the sender to the commit here",
    ["node", "topic"],
    buckets=_LATENCY_BUCKETS,
)
RECEIPT_LATENCY = Histogram(
    "lali_receipt_latency_seconds",
    "From sealing here to the recipient's receipt being recorded here",
    ["node"],
    buckets=_LATENCY_BUCKETS,
)
OUTBOX_DEPTH = Gauge(
    "lali_outbox_depth", "Outbox rows waiting to be published, by kind", ["node", "kind"]
)
CONSUMER_LAG = Gauge(
    "lali_consumer_lag_messages",
    "Stream messages not yet delivered to a durable consumer (the hub reports every member's)",
    ["node", "consumer"],
)
HUB_MEMBERS = Gauge("lali_hub_members", "Members by liveness, as the hub sees them", ["status"])
HUB_LINKS = Gauge("lali_hub_links", "Correlation links the hub holds, by entity kind", ["kind"])

OUTBOX_KINDS = ("alert", "receipt", "checkpoint")


def decision_listener(
    code: str, clock: Callable[[], datetime]
) -> Callable[[Decision, Opened | None], None]:
    def on_decision(decision: Decision, opened: Opened | None) -> None:
        INBOUND_DECISIONS.labels(code, decision.outcome.value).inc()
        if decision.outcome is Outcome.ACCEPTED and opened is not None:
            h = opened.header
            age = (clock() - h.sent_at).total_seconds()
            DELIVERY_LATENCY.labels(code, h.topic.value).observe(max(0.0, age))

    return on_decision


def receipt_listener(code: str, clock: Callable[[], datetime]) -> Callable[[ReceiptDecision], None]:
    def on_receipt(decision: ReceiptDecision) -> None:
        RECEIPTS.labels(code, decision.outcome.value).inc()
        if decision.outcome is Recorded.RECORDED and decision.message_id:
            with contextlib.suppress(ValueError):
                age = (clock() - message_time(decision.message_id)).total_seconds()
                RECEIPT_LATENCY.labels(code).observe(max(0.0, age))

    return on_receipt


def _claimed_topic(detail: str | None) -> str:
    """The topic a rejected message's subject claimed (unauthenticated; a label only)."""
    try:
        subject = str(json.loads(detail or "{}").get("subject", ""))
    except (ValueError, AttributeError):
        return "unknown"
    if subject.startswith("lali.receipt."):
        return "receipt"
    try:
        return parse_alert_subject(subject)[0].value
    except LaliError:
        return "unknown"


class AuditCounter:
    """Counts new audit entries into the sent/received/rejected counters."""

    def __init__(self, path: Path, code: str) -> None:
        self.path = path
        self.code = code
        self.last_seq = 0

    def scan(self) -> None:
        """Blocking (run it in a thread): a read-only connection sees committed rows only."""
        with read_only(self.path) as snap:
            head = snap.one("SELECT count FROM audit_head WHERE id = 1")
            upto = int(head[0]) if head else 0
            while self.last_seq < upto:
                rows = snap.all(
                    "SELECT seq, kind, topic, reason, detail FROM audit"
                    " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (self.last_seq, upto, _SCAN_BATCH),
                )
                if not rows:
                    break
                for _seq, kind, topic, reason, detail in rows:
                    if kind == "sent":
                        ALERTS_SENT.labels(self.code, topic or "unknown").inc()
                    elif kind == "received":
                        ALERTS_RECEIVED.labels(self.code, topic or "unknown").inc()
                    elif kind == "rejected":
                        claimed = _claimed_topic(detail)
                        ALERTS_REJECTED.labels(self.code, reason or "unknown", claimed).inc()
                self.last_seq = int(rows[-1][0])

    def outbox_depth(self) -> dict[str, int]:
        with read_only(self.path) as snap:
            rows = snap.all(
                "SELECT kind, COUNT(*) FROM outbox WHERE state = 'queued' GROUP BY kind"
            )
        depth = dict.fromkeys(OUTBOX_KINDS, 0)
        depth.update({str(kind): int(n) for kind, n in rows})
        return depth


class MetricsServer:
    """The HTTP endpoint (prometheus-client's threaded WSGI server), stopped cleanly."""

    def __init__(self, port: int) -> None:
        self._httpd: WSGIServer
        self._thread: threading.Thread
        self._httpd, self._thread = start_http_server(port, addr=HOST)
        self.port = int(self._httpd.server_port)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# code -> port actually bound (port 0 in the settings picks a free one)
served: dict[str, int] = {}


@dataclass(frozen=True)
class MetricsSource:
    """What the metrics task reads of a running node, handed over by the node."""

    code: str
    port: int
    database: Path
    clock: Callable[[], datetime]
    decision_listeners: list[Listener]
    receipt_listeners: list[Callable[[ReceiptDecision], None]]
    consumer_lag: Callable[[], Awaitable[int | None]]  # None: not known now


async def sample(source: MetricsSource, counter: AuditCounter) -> None:
    """One round: new audit entries, outbox depth, our consumer's lag."""
    try:
        await asyncio.to_thread(counter.scan)
        depth = await asyncio.to_thread(counter.outbox_depth)
    except StorageError as exc:
        log.warning("metrics_sample_failed", error=str(exc))
        return
    for kind, n in depth.items():
        OUTBOX_DEPTH.labels(source.code, kind).set(n)
    lag = await source.consumer_lag()
    if lag is not None:
        CONSUMER_LAG.labels(source.code, f"node-{source.code}").set(lag)


async def serve_metrics(source: MetricsSource) -> None:
    """Run by the node while it runs: hook the listeners, serve the endpoint, sample
    every ``SAMPLE_S`` seconds; undo all of it when cancelled."""
    on_decision = decision_listener(source.code, source.clock)
    on_receipt = receipt_listener(source.code, source.clock)
    source.decision_listeners.append(on_decision)
    source.receipt_listeners.append(on_receipt)
    server: MetricsServer | None = None
    try:
        try:
            server = await asyncio.to_thread(MetricsServer, source.port)
        except OSError as exc:
            log.error("metrics_port_unavailable", port=source.port, error=str(exc))
        else:
            served[source.code] = server.port
            log.info("metrics_serving", url=f"http://{HOST}:{server.port}/metrics")
        counter = AuditCounter(source.database, source.code)
        while True:
            await sample(source, counter)
            await asyncio.sleep(SAMPLE_S)  # a sampling period, not a synchronisation
    finally:
        source.decision_listeners.remove(on_decision)
        source.receipt_listeners.remove(on_receipt)
        if server is not None:
            served.pop(source.code, None)
            # The node may cancel us twice while it drains: the port is closed all the
            # same before this task ends (a second cancel must not leave it listening).
            closing = asyncio.ensure_future(asyncio.to_thread(server.close))
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                await closing
                raise
