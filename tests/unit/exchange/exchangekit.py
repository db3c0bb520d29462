"""The exchange pipelines of a few members, wired as the runtime wires them, on real
SQLite files and the in-memory stream simulator (``transportkit``).

This is the one place that calls the pipelines' constructors: when a signature
changes, adapt ``Exchange.station`` and nothing else. The ``net`` fixture
(``conftest.py`` beside this file) yields an ``Exchange``.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from testkit import NOW, sample_alert
from transportkit import Broker, FakeTransport, ManualClock, Stored

from keys import Directory, Identity, RootKey
from node.exchange.attach import consumer_filters
from node.exchange.consumer import Consumer
from node.exchange.inbound.decisions import Decision
from node.exchange.inbound.pipeline import Inbound
from node.exchange.outbound import Outbound
from node.exchange.policy import StreamPolicy
from node.exchange.receipts import ReceiptDecision, ReceiptIntake
from node.exchange.trust import Trust, parse_root_keys
from node.exchange.witness import Witness
from node.ops.vectors import signed_directory
from node.protocol.envelope import Opened, seal
from node.protocol.subjects import STREAM_SUBJECTS, alert_subject
from node.protocol.wire import Header
from node.storage.database import Database
from schemas.alert import Priority, Topic

STREAM = "LALI_ALERTS"
CODES = ("XH", "WS", "FJ", "TO")  # XH is the hub


@dataclass(frozen=True)
class Sealed:
    """An alert envelope as a sender's node would put it on the stream."""

    subject: str
    header: Header
    data: bytes

    @property
    def message_id(self) -> str:
        return self.header.message_id


class Blocker:
    """Another connection holding the write lock: the node's commits fail with
    ``StorageError`` (database is locked) until ``release``."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("BEGIN IMMEDIATE")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._conn.rollback()
            self._conn.close()


@dataclass
class Station:
    """One member: its pipelines, its database file and its connection to the broker."""

    code: str
    identity: Identity
    db: Database
    trust: Trust
    transport: FakeTransport
    policy: StreamPolicy
    inbound: Inbound
    outbound: Outbound
    receipts: ReceiptIntake
    witness: Witness
    consumer: Consumer
    stopping: asyncio.Event
    decisions: list[Decision] = field(default_factory=list)  # every inbound decision
    receipt_decisions: list[ReceiptDecision] = field(default_factory=list)
    outbox_wakes: list[None] = field(default_factory=list)  # one per wake_outbox() call
    audit_base: int = 0  # the audit entries there were once the station was built

    async def consume(self) -> None:
        """Run the consumer loop over our durable consumer until nothing is due."""
        batches = await self.transport.durable_pull(
            self.policy.stream,
            self.policy.durable,
            consumer_filters(self.policy),
            ack_wait_s=self.policy.ack_wait_s,
            max_deliver=self.policy.max_deliver,
            batch=self.policy.fetch_batch,
        )
        await self.consumer.run(batches)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """What is committed in our database file now (synchronous, so a broker
        observer can look at the moment of an ack)."""
        with closing(sqlite3.connect(f"file:{self.db.path}?mode=ro", uri=True)) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    def audit(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        """(kind, message_id, peer, reason, detail, envelope) of the entries written
        since the station was built (loading the directory writes one), in chain order."""
        sql = "SELECT kind, message_id, peer, reason, detail, envelope FROM audit WHERE seq > ?"
        if kind is None:
            return self.rows(sql + " ORDER BY seq", (self.audit_base,))
        return self.rows(sql + " AND kind = ? ORDER BY seq", (self.audit_base, kind))

    def outbox(self, message_id: str) -> tuple[Any, ...] | None:
        """(kind, subject, envelope, state, attempts, stream_seq) of one outbox row."""
        rows = self.rows(
            "SELECT kind, subject, envelope, state, attempts, stream_seq FROM outbox"
            " WHERE message_id = ?",
            (message_id,),
        )
        return rows[0] if rows else None

    async def lock_database(self) -> Blocker:
        """Make our commits fail fast until the blocker is released."""
        await self.db.set_busy_timeout(50)
        return Blocker(self.db.path)


@dataclass
class Exchange:
    tmp: Path
    clock: ManualClock
    broker: Broker
    root: RootKey
    ids: dict[str, Identity]
    directory: Directory
    signed_directory: bytes
    stations: list[Station] = field(default_factory=list)

    @property
    def root_b64(self) -> str:
        return base64.b64encode(bytes(self.root.verify_key)).decode("ascii")

    async def station(
        self, code: str, *, max_deliver: int = 10, priority_catch_up: bool = True
    ) -> Station:
        """Build ``code``'s pipelines as ``node.runtime.Node.start`` does, connected."""
        home = self.tmp / code
        home.mkdir()
        (home / "directory.json").write_bytes(self.signed_directory)
        db = await Database.open(home / "node.db")
        trust = Trust(parse_root_keys([self.root_b64]), 1, home / "directory.json", db)
        try:
            await trust.load(self.clock())
        except BaseException:
            await db.close()
            raise
        me = self.ids[code]
        policy = StreamPolicy(
            code=code,
            stream=STREAM,
            topics=tuple(Topic),
            duplicate_window_s=600.0,
            replicas=1,
            ack_wait_s=30.0,
            max_deliver=max_deliver,
            fetch_batch=64,
            priority_catch_up=priority_catch_up,
        )
        decisions: list[Decision] = []
        receipt_decisions: list[ReceiptDecision] = []
        wakes: list[None] = []
        stopping = asyncio.Event()

        def on_decision(decision: Decision, opened: Opened | None) -> None:
            decisions.append(decision)

        transport = FakeTransport(self.broker, on_reconnect=lambda: wakes.append(None))
        await transport.connect()
        inbound = Inbound(me, trust, db, self.clock, listeners=[on_decision])
        receipts = ReceiptIntake(me, trust, db, self.clock)
        witness = Witness(me, trust, db, self.clock)
        station = Station(
            code=code,
            identity=me,
            db=db,
            trust=trust,
            transport=transport,
            policy=policy,
            inbound=inbound,
            outbound=Outbound(me, trust, db, transport, self.clock),
            receipts=receipts,
            witness=witness,
            consumer=Consumer(
                policy=policy,
                transport=transport,
                db=db,
                trust=trust,
                inbound=inbound,
                receipts=receipts,
                witness=witness,
                clock=self.clock,
                stopping=stopping,
                wake_outbox=lambda: wakes.append(None),
                receipt_listeners=[receipt_decisions.append],
            ),
            stopping=stopping,
            decisions=decisions,
            receipt_decisions=receipt_decisions,
            outbox_wakes=wakes,
        )
        self.stations.append(station)
        (station.audit_base,) = station.rows("SELECT count FROM audit_head")[0]
        return station

    def seal(
        self,
        sender: str,
        to: list[str],
        *,
        topic: Topic = Topic.MARITIME,
        priority: Priority | None = None,
        new_keys: Identity | None = None,
    ) -> Sealed:
        """An alert sealed by ``sender`` now. With ``new_keys``: sealed with keys of
        ``sender``'s that only a newer directory lists (the stations have the old one)."""
        alert = sample_alert(topic)
        if priority is not None:
            alert = alert.model_copy(update={"priority": priority})
        me, directory = self.ids[sender], self.directory
        if new_keys is not None:
            me = new_keys
            ids = {**self.ids, sender: new_keys}
            directory, _ = signed_directory(ids, self.root, self.clock(), timedelta(days=30))
        header, data = seal(alert, me, to, directory, self.clock())
        return Sealed(alert_subject(topic, sender), header, data)

    def put(self, subject: str, data: bytes, msg_id: str | None = None) -> Stored:
        """Store a message in the stream directly, as another member's node would."""
        seq = self.broker.store(subject, data, msg_id, {})
        return self.broker.stream(STREAM).messages[seq - 1]


@asynccontextmanager
async def open_exchange(tmp_path: Path) -> AsyncIterator[Exchange]:
    """Keys and a signed directory for XH (hub), WS, FJ and TO; an empty alert stream.
    The stations' databases are closed on the way out."""
    clock = ManualClock(NOW)
    broker = Broker(clock)
    broker.add_stream(STREAM, STREAM_SUBJECTS, duplicate_window_s=600.0)
    root = RootKey.generate()
    ids = {code: Identity.generate(code) for code in CODES}
    directory, signed = signed_directory(ids, root, NOW, timedelta(days=30))
    exchange = Exchange(tmp_path, clock, broker, root, ids, directory, signed)
    try:
        yield exchange
    finally:
        for station in exchange.stations:
            await station.db.close()
