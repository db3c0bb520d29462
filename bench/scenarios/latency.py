"""latency: milliseconds from ``send`` to committed at the receiver, at 200 alerts/s.

Each send starts on its own task at its scheduled time, so a slow one does not hold
back the next (no coordinated omission). Lali: from ``Node.send`` being called to the
receiving node's inbound listener (which runs after the audit commit, before the ack).
Baseline: from ``publish_async`` to the raw consumer holding the message. Server with
``sync_interval: always``, as in production.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Bench, BenchError, Worker, loadavg, percentile, stop_all
from bench.scenarios import Result
from bench.scenarios.envelope import envelope_size

RATE = 200.0


async def measure(bench: Bench, send: Worker, recv: Worker, n: int) -> list[float]:
    warm = 40
    for count, record in ((warm, False), (n, True)):
        await recv.command("expect", n=count, record=record, timeout=120)
        await recv.next("armed", timeout=30)
        await send.command("send", n=count, rate=RATE, record=record)
        sent = await send.next("sent", timeout=count / RATE + 120)
        got = await recv.next("received", timeout=130)
        if got["event"] == "timeout" or sent["errors"]:
            raise BenchError(f"{recv.name} got {got['n']}/{count}; send errors {sent['errors']}")
    t_sent, t_got = sent["times"], got["times"]
    return [(t_got[k] - t) * 1000 for k, t in t_sent.items() if k in t_got]


async def run_lali(bench: Bench, n: int) -> list[float]:
    home = bench.fresh("lali-latency")
    async with bench.server(home, durable=True) as server:
        net = await bench.network(home, server)
        recv = send = None
        try:
            recv = await bench.lali(net, "FJ")
            send = await bench.lali(net, "WS")
            await recv.next("ready", timeout=60)
            await send.next("ready", timeout=60)
            return await measure(bench, send, recv, n)
        finally:
            await stop_all(send, recv)


async def run_baseline(bench: Bench, n: int) -> list[float]:
    home = bench.fresh("raw-latency")
    async with bench.server(home, durable=True) as server:
        recv = send = None
        try:
            recv = await bench.raw(server, home, "--durable", "raw-FJ")
            send = await bench.raw(server, home, "--size", str(envelope_size()))
            await recv.next("ready", timeout=60)
            await send.next("ready", timeout=60)
            return await measure(bench, send, recv, n)
        finally:
            await stop_all(send, recv)


async def latency(bench: Bench) -> Result:
    n = int(RATE * (2 if bench.smoke else 10))
    rounds = 1 if bench.smoke else 2
    samples: dict[str, list[float]] = {"lali": [], "baseline": []}
    per_round: dict[str, list[dict[str, float]]] = {"lali": [], "baseline": []}
    load: dict[str, Any] = {"start": loadavg()}
    for r in range(rounds):
        for side in ("lali", "baseline") if r % 2 == 0 else ("baseline", "lali"):
            ms = await (run_lali(bench, n) if side == "lali" else run_baseline(bench, n))
            samples[side] += ms
            stats = {"p50": percentile(ms, 50), "p99": percentile(ms, 99)}
            per_round[side].append({k: round(v, 2) for k, v in stats.items()})
            bench.say(
                f"latency round {r + 1}/{rounds} {side:<8}: p50 {stats['p50']:.2f} ms"
                f"  p99 {stats['p99']:.2f} ms  ({len(ms)} alerts)  load {loadavg()[0]}"
            )
    load["end"] = loadavg()

    def pct(side: str, q: float) -> float:
        return round(percentile(samples[side], q), 2)

    return Result(
        name="latency",
        lali=pct("lali", 50),
        baseline=pct("baseline", 50),
        unit="ms p50 (p99 in metrics)",
        better="lower",
        target="p50 <= 3 ms, p99 <= 15 ms",
        met=pct("lali", 50) <= 3 and pct("lali", 99) <= 15,
        metrics={
            "p99": {"lali": pct("lali", 99), "baseline": pct("baseline", 99), "unit": "ms"},
            "p90": {"lali": pct("lali", 90), "baseline": pct("baseline", 90), "unit": "ms"},
            "max": {
                "lali": round(max(samples["lali"]), 2),
                "baseline": round(max(samples["baseline"]), 2),
                "unit": "ms",
            },
        },
        runs=per_round,
        settings={"rate_per_s": RATE, "n_per_round": n, "sync_interval": "always"},
        load=load,
    )
