"""One benchmark process: a Lali node, or a raw nats-py JetStream client (the baseline).

Started by ``bench/harness.py``, not by hand. Commands arrive as JSON lines on stdin,
events leave as JSON lines on stdout; logs go to stderr, which the harness writes to a
file. Times are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process on
the machine), so the harness can subtract a sender's time from a receiver's.

  python -m bench.worker lali --config NET/WS/node.toml
  python -m bench.worker raw --url tls://127.0.0.1:4222 --tls-ca NET/../nats-tls/ca.pem \
      --durable raw-FJ --code FJ

Commands: ``send`` (n, window or rate, record), ``expect`` (n, record, timeout),
``backlog`` (lali, send-only: seal n alerts and publish them straight to the stream),
``stats``, ``stop``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Command = dict[str, Any]


def now() -> float:
    return time.monotonic()


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def memory() -> dict[str, int]:
    """Resident set size now and at its peak, in KiB (Linux /proc)."""
    out = {"rss_kib": 0, "hwm_kib": 0}
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out["hwm_kib"] = int(line.split()[1])
    return out


def read_commands(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Command]) -> None:
    """stdin → queue, on a thread (end of input means stop: the harness went away)."""
    for line in sys.stdin:
        if line.strip():
            loop.call_soon_threadsafe(queue.put_nowait, json.loads(line))
    loop.call_soon_threadsafe(queue.put_nowait, {"cmd": "stop"})


class Counter:
    """Counts deliveries after an ``expect`` and fires when the expected number is in."""

    def __init__(self) -> None:
        self.n = 0
        self.target: int | None = None
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.times: dict[str, float] | None = None
        self.done = asyncio.Event()

    def expect(self, n: int, record: bool) -> None:
        self.n, self.target = 0, n
        self.t_first = self.t_last = None
        self.times = {} if record else None
        self.done.clear()

    def hit(self, key: str | None) -> None:
        if self.target is None:
            return
        t = now()
        self.n += 1
        if self.t_first is None:
            self.t_first = t
        self.t_last = t
        if self.times is not None and key is not None:
            self.times[key] = t
        if self.n >= self.target:
            self.done.set()

    async def wait(self, timeout: float) -> None:
        """Emit progress each second, then ``received`` (or ``timeout``)."""
        deadline = now() + timeout
        while not self.done.is_set():
            if now() > deadline:
                emit("timeout", n=self.n, t_first=self.t_first, t_last=self.t_last)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), 1.0)
            if not self.done.is_set():
                emit("progress", n=self.n, t=now())
        emit("received", n=self.n, t_first=self.t_first, t_last=self.t_last, times=self.times)


async def send_many(
    one: Callable[[int], Awaitable[str]], cmd: Command
) -> tuple[float, float, dict[str, float] | None, int]:
    """Run ``one(i)`` n times: ``window`` at a time, or started at a fixed ``rate``
    (each on its own task, so a slow one does not delay the next: no coordinated
    omission). Returns start, end, {key: time the call started} and the error count."""
    n, record = int(cmd["n"]), bool(cmd.get("record"))
    times: dict[str, float] | None = {} if record else None
    errors = 0

    async def timed(i: int) -> None:
        nonlocal errors
        t = now()
        try:
            key = await one(i)
        except Exception as exc:
            errors += 1
            print(f"send failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return
        if times is not None:
            times[key] = t

    t0 = now()
    if cmd.get("rate"):
        rate = float(cmd["rate"])
        tasks = []
        for i in range(n):
            delay = t0 + i / rate - now()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(i)))
        await asyncio.gather(*tasks)
    else:
        counter = itertools.count()

        async def lane() -> None:
            while (i := next(counter)) < n:
                await timed(i)

        await asyncio.gather(*(lane() for _ in range(int(cmd.get("window", 64)))))
    return t0, now(), times, errors


async def cpu(_cmd: Command) -> None:
    """CPU seconds this process has used so far (every thread): the harness reads it
    before and after a run to tell a CPU-bound side from a waiting one."""
    emit("cpu", cpu_s=time.process_time())


async def serve(handlers: dict[str, Callable[[Command], Coroutine[Any, Any, None]]]) -> None:
    """Run each command on its own task until ``stop`` (and ``cpu`` in every mode)."""
    handlers = {"cpu": cpu, **handlers}
    queue: asyncio.Queue[Command] = asyncio.Queue()
    threading.Thread(
        target=read_commands, args=(asyncio.get_running_loop(), queue), daemon=True
    ).start()
    tasks: set[asyncio.Task[None]] = set()
    while (cmd := await queue.get())["cmd"] != "stop":
        task = asyncio.create_task(handlers[cmd["cmd"]](cmd))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in tasks:
        task.cancel()


async def run_lali(args: argparse.Namespace) -> None:
    from node import logs
    from node.config import NodeSettings
    from node.exchange.inbound.decisions import Outcome
    from node.ops.demo import sample_alerts
    from node.protocol.subjects import alert_subject
    from node.runtime import Node
    from schemas.alert import Topic

    logs.configure(json=True, level=args.log_level)
    settings = NodeSettings.load(Path(args.config))
    counter = Counter()
    if args.expect:
        counter.expect(args.expect, record=False)  # armed before the consumer starts
    t_start = now()
    node = Node(settings, consume=not args.send_only)
    await node.start()
    node.inbound.listeners.append(
        lambda d, _o: counter.hit(d.message_id) if d.outcome is Outcome.ACCEPTED else None
    )
    await asyncio.wait_for(node.ready.wait(), 60)
    emit("ready", t_start=t_start, t_ready=now(), pid=os.getpid(), **memory())
    alert = sample_alerts(datetime.now(UTC))[Topic.MARITIME]
    queued = 0

    async def one(_i: int) -> str:
        nonlocal queued
        result = await node.send(alert, args.to)
        queued += result.state == "queued"
        return result.message_id

    async def send(cmd: Command) -> None:
        t0, t1, times, errors = await send_many(one, cmd)
        emit("sent", t0=t0, t1=t1, n=cmd["n"], errors=errors, queued=queued, times=times)

    async def expect(cmd: Command) -> None:
        counter.expect(int(cmd["n"]), bool(cmd.get("record")))
        emit("armed")
        await counter.wait(float(cmd.get("timeout", 600)))

    async def wait(cmd: Command) -> None:  # for a counter armed by --expect
        await counter.wait(float(cmd.get("timeout", 600)))

    async def backlog(cmd: Command) -> None:
        """Seal with the real ``seal`` and publish straight to the stream (no outbox):
        only the receiver's drain is measured, the outbox path is timed elsewhere."""
        from node.protocol.envelope import seal

        js = node.transport.nc.jetstream()
        window = asyncio.Semaphore(256)
        t0 = now()

        async def publish(subject: str, data: bytes, mid: str) -> None:
            try:
                fut = await js.publish_async(subject, data, headers={"Nats-Msg-Id": mid})
                await asyncio.wait_for(fut, 30)
            finally:
                window.release()

        pending = set()
        for _ in range(int(cmd["n"])):
            stamp = datetime.now(UTC)
            header, data = seal(alert, node.identity, args.to, node.trust.directory, stamp)
            await window.acquire()
            task = asyncio.create_task(
                publish(alert_subject(header.topic, header.sender), data, header.message_id)
            )
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        emit("backlog_done", t0=t0, t1=now(), n=cmd["n"])

    async def stats(_cmd: Command) -> None:
        emit("stats", counts=dict(node.inbound.counts), **memory())

    try:
        await serve(
            {"send": send, "expect": expect, "wait": wait, "backlog": backlog, "stats": stats}
        )
    finally:
        await node.aclose()
    emit("stopped")


async def run_raw(args: argparse.Namespace) -> None:
    """The baseline: plain nats-py JetStream. The stream is created with the node's own
    code (``Transport.ensure_stream``) so both sides run on identical stream settings;
    the consumer has the node's consumer settings and subject filters."""
    import nats.errors
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from node.config import NodeSettings
    from node.protocol.subjects import STREAM_SUBJECTS, alert_subject, receipt_filter, topic_filter
    from node.transport import ConnectOptions, Transport
    from schemas.alert import Topic

    defaults = {k: f.default for k, f in NodeSettings.model_fields.items()}
    transport = Transport(ConnectOptions(url=args.url, name="bench-raw", tls_ca=args.tls_ca))
    await transport.connect()
    await transport.ensure_stream(
        defaults["stream"], STREAM_SUBJECTS, duplicate_window_s=defaults["duplicate_window_s"]
    )
    nc = transport.nc
    js = nc.jetstream()
    counter = Counter()
    if args.expect:
        counter.expect(args.expect, record=False)
    t_start = now()
    consumer: asyncio.Task[None] | None = None
    if args.durable:
        batch = int(defaults["fetch_batch"])
        config = ConsumerConfig(
            name=args.durable,
            durable_name=args.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=defaults["ack_wait_s"],
            max_deliver=defaults["max_deliver"],
            filter_subjects=[*(topic_filter(t) for t in Topic), receipt_filter(args.code)],
            max_ack_pending=max(1000, batch * 4),
        )
        await js.add_consumer(defaults["stream"], config)
        sub = await js.pull_subscribe_bind(durable=args.durable, stream=defaults["stream"])

        async def consume() -> None:
            while True:
                try:
                    msgs = await sub.fetch(batch, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                for msg in msgs:
                    await msg.ack()
                    if (msg.metadata.num_delivered or 1) == 1:
                        counter.hit((msg.headers or {}).get("Nats-Msg-Id"))

        consumer = asyncio.create_task(consume())
    emit("ready", t_start=t_start, t_ready=now(), pid=os.getpid(), **memory())
    subject = alert_subject(Topic.MARITIME, args.sender)
    payload = os.urandom(args.size)
    tags = itertools.count()

    async def send(cmd: Command) -> None:
        tag = f"raw-{next(tags)}-{os.getpid()}"

        async def one(i: int) -> str:
            key = f"{tag}-{i}"
            fut = await js.publish_async(subject, payload, headers={"Nats-Msg-Id": key})
            ack = await asyncio.wait_for(fut, 10)
            if ack.duplicate or not ack.seq:
                raise RuntimeError(f"bad PubAck for {key}: {ack}")
            return key

        t0, t1, times, errors = await send_many(one, cmd)
        emit("sent", t0=t0, t1=t1, n=cmd["n"], errors=errors, queued=0, times=times)

    async def expect(cmd: Command) -> None:
        counter.expect(int(cmd["n"]), bool(cmd.get("record")))
        emit("armed")
        await counter.wait(float(cmd.get("timeout", 600)))

    async def wait(cmd: Command) -> None:
        await counter.wait(float(cmd.get("timeout", 600)))

    async def stats(_cmd: Command) -> None:
        emit("stats", counts={}, **memory())

    try:
        await serve({"send": send, "expect": expect, "wait": wait, "stats": stats})
    finally:
        if consumer is not None:
            consumer.cancel()
        await transport.close()
    emit("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    lali = sub.add_parser("lali", help="a Lali node (node.toml from node.ops.provision)")
    lali.add_argument("--config", required=True)
    lali.add_argument("--to", type=lambda s: s.split(","), default=["FJ", "TO", "XH"])
    lali.add_argument("--send-only", action="store_true", help="no consumer (Node(consume=False))")
    lali.add_argument("--log-level", default="info")
    raw = sub.add_parser("raw", help="a raw nats-py JetStream publisher and/or consumer")
    raw.add_argument("--url", required=True)
    raw.add_argument("--tls-ca", type=Path, required=True, help="the server's CA (PEM)")
    raw.add_argument("--durable", help="also consume with this durable pull consumer")
    raw.add_argument("--code", default="FJ", help="member whose receipt filter to copy")
    raw.add_argument("--sender", default="WS", help="sender code in the subject")
    raw.add_argument("--size", type=int, default=1200, help="payload bytes")
    for p in (lali, raw):
        p.add_argument("--expect", type=int, default=0, help="arm the counter at start")
    args = parser.parse_args()
    asyncio.run(run_lali(args) if args.role == "lali" else run_raw(args))


if __name__ == "__main__":
    main()
