"""throughput_durable and throughput_fast: alerts per second, end to end.

Lali: WS's node sends (validate, seal, audit + outbox commit, publish, PubAck, mark
published), FJ's node, in another process, receives (fetch, verify, open, validate,
audit + inbox + receipt commit, ack). The rate is n ÷ (first send → FJ's n-th commit).
FJ also publishes a signed receipt per alert, which WS verifies and records: the
real node's work, included.

Baseline: a raw nats-py publisher (``publish_async``, the same window of PubAcks in
flight, each checked) and, in another process, a raw durable pull consumer with the
node's consumer settings, acking each message; same payload size (a sealed envelope's),
same stream (created by the node's ``ensure_stream``), same server durability.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Bench, BenchError, Worker, loadavg, median, stop_all
from bench.scenarios import Result
from bench.scenarios.envelope import envelope_size


async def drive(bench: Bench, send: Worker, recv: Worker, n: int) -> dict[str, float]:
    """A warm-up, then n as fast as the window allows; returns the measured rates."""
    timeout = 300.0
    warm = min(200, max(20, n // 10))
    cpu: dict[str, float] = {}
    for count in (warm, n):
        await recv.command("expect", n=count, timeout=timeout)
        await recv.next("armed", timeout=30)
        for side, worker in (("send", send), ("recv", recv)):
            await worker.command("cpu")
            cpu[side] = (await worker.next("cpu", timeout=30))["cpu_s"]
        await send.command("send", n=count, window=bench.window)
        sent = await send.next("sent", timeout=timeout)
        got = await recv.next("received", timeout=timeout + 10)
        if got["event"] == "timeout" or sent["errors"]:
            raise BenchError(f"{recv.name} got {got['n']}/{count}; send errors {sent['errors']}")
        for side, worker in (("send", send), ("recv", recv)):
            await worker.command("cpu")
            cpu[side] = (await worker.next("cpu", timeout=30))["cpu_s"] - cpu[side]
    wall = got["t_last"] - sent["t0"]
    return {
        "end_to_end": n / wall,
        "publish": n / (sent["t1"] - sent["t0"]),
        "queued": float(sent["queued"]),
        # CPU per alert and the share of one core each side used over the run (both
        # include every thread of the process; slightly over the run's wall time).
        "send_cpu_us": cpu["send"] / n * 1e6,
        "recv_cpu_us": cpu["recv"] / n * 1e6,
        "send_core": cpu["send"] / wall,
        "recv_core": cpu["recv"] / wall,
    }


async def run_lali(bench: Bench, durable: bool, n: int) -> dict[str, float]:
    home = bench.fresh(f"lali-{'durable' if durable else 'fast'}")
    async with bench.server(home, durable) as server:
        net = await bench.network(home, server)
        recv = send = None
        try:
            recv = await bench.lali(net, "FJ")
            send = await bench.lali(net, "WS")
            await recv.next("ready", timeout=60)
            await send.next("ready", timeout=60)
            return await drive(bench, send, recv, n)
        finally:
            await stop_all(send, recv)


async def run_baseline(bench: Bench, durable: bool, n: int) -> dict[str, float]:
    home = bench.fresh(f"raw-{'durable' if durable else 'fast'}")
    async with bench.server(home, durable) as server:
        recv = send = None
        try:
            recv = await bench.raw(server, home, "--durable", "raw-FJ")
            await recv.next("ready", timeout=60)
            send = await bench.raw(server, home, "--size", str(envelope_size()))
            await send.next("ready", timeout=60)
            return await drive(bench, send, recv, n)
        finally:
            await stop_all(send, recv)


async def compare(bench: Bench, name: str, durable: bool, n: int) -> Result:
    """Alternate Lali and baseline rounds (L B, B L, …) so load drifts hit both."""
    runs: dict[str, list[dict[str, float]]] = {"lali": [], "baseline": []}
    load: dict[str, Any] = {"start": loadavg()}
    for r in range(bench.rounds):
        order = ("lali", "baseline") if r % 2 == 0 else ("baseline", "lali")
        for side in order:
            run = run_lali if side == "lali" else run_baseline
            rates = await run(bench, durable, n)
            runs[side].append(rates)
            bench.say(
                f"{name} round {r + 1}/{bench.rounds} {side:<8}: "
                f"{rates['end_to_end']:8.0f} alerts/s end to end "
                f"(publish {rates['publish']:.0f}/s)  load {loadavg()[0]}"
            )
    load["end"] = loadavg()
    lali = round(median([x["end_to_end"] for x in runs["lali"]]), 1)
    base = round(median([x["end_to_end"] for x in runs["baseline"]]), 1)
    if durable:
        target, met = "ratio >= 0.8 of baseline", lali / base >= 0.8
    else:
        target, met = ">= 5000 alerts/s end to end", lali >= 5000
    return Result(
        name=name,
        lali=lali,
        baseline=base,
        unit="alerts/s",
        better="higher",
        target=target,
        met=met,
        metrics={
            "publish_rate": {
                "lali": round(median([x["publish"] for x in runs["lali"]]), 1),
                "baseline": round(median([x["publish"] for x in runs["baseline"]]), 1),
                "unit": "alerts/s accepted by the sender (PubAck in)",
            },
            **{
                key: {
                    "lali": round(median([x[key] for x in runs["lali"]]), digits),
                    "baseline": round(median([x[key] for x in runs["baseline"]]), digits),
                    "unit": unit,
                }
                for key, digits, unit in _CPU_METRICS
            },
        },
        runs={side: [round(x["end_to_end"], 1) for x in v] for side, v in runs.items()},
        settings={
            "n": n,
            "window": bench.window,
            "sync_interval": "always" if durable else "default",
            "recipients": 3,
            "payload_bytes": envelope_size(),
        },
        load=load,
    )


_CPU_METRICS = (
    ("send_cpu_us", 0, "us CPU per alert, sending process (all threads)"),
    ("recv_cpu_us", 0, "us CPU per alert, receiving process (all threads)"),
    ("send_core", 2, "cores busy, sending process (1.0 = one core, the GIL's limit)"),
    ("recv_core", 2, "cores busy, receiving process"),
)


async def durable(bench: Bench) -> Result:
    return await compare(bench, "throughput_durable", True, 300 if bench.smoke else 3000)


async def fast(bench: Bench) -> Result:
    return await compare(bench, "throughput_fast", False, 600 if bench.smoke else 6000)
