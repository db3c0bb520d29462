"""resources: a node's resident memory at steady state and its time from start to ready.

The receiving node (FJ) runs in its own process under a steady 200 alerts/s from WS
for a few seconds; its RSS is read from /proc at the end (and its peak, VmHWM). Ready
is timed from the process being spawned (interpreter start and imports included, as an
operator running ``lali node run`` sees it) and from ``Node.start()``, to the node
having its stream and durable consumer. Baseline: the raw consumer process under the
same load.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Bench, BenchError, Worker, loadavg, stop_all
from bench.scenarios import Result
from bench.scenarios.envelope import envelope_size

RATE = 200.0


async def steady(bench: Bench, send: Worker, recv: Worker, ready: dict[str, Any]) -> dict[str, Any]:
    await send.next("ready", timeout=60)
    n = int(RATE * (2 if bench.smoke else 8))
    await recv.command("expect", n=n, timeout=120)
    await recv.next("armed", timeout=30)
    await send.command("send", n=n, rate=RATE)
    await send.next("sent", timeout=n / RATE + 60)
    got = await recv.next("received", timeout=130)
    if got["event"] == "timeout":
        raise BenchError(f"{recv.name} got {got['n']}/{n}")
    await recv.command("stats")
    stats = await recv.next("stats", timeout=30)
    await send.command("stats")
    sender = await send.next("stats", timeout=30)
    return {
        "rss_mb": stats["rss_kib"] / 1024,
        "hwm_mb": stats["hwm_kib"] / 1024,
        "sender_rss_mb": sender["rss_kib"] / 1024,
        "ready_s": ready["t_ready"] - recv.spawned_at,
        "start_to_ready_s": ready["t_ready"] - ready["t_start"],
    }


async def run_lali(bench: Bench) -> dict[str, Any]:
    home = bench.fresh("lali-resources")
    async with bench.server(home, durable=True) as server:
        net = await bench.network(home, server)
        recv = send = None
        try:
            recv = await bench.lali(net, "FJ")
            ready = await recv.next("ready", timeout=60)  # alone: no other start competes
            send = await bench.lali(net, "WS")
            return await steady(bench, send, recv, ready)
        finally:
            await stop_all(send, recv)


async def run_baseline(bench: Bench) -> dict[str, Any]:
    home = bench.fresh("raw-resources")
    async with bench.server(home, durable=True) as server:
        recv = send = None
        try:
            recv = await bench.raw(server, home, "--durable", "raw-FJ")
            ready = await recv.next("ready", timeout=60)
            send = await bench.raw(server, home, "--size", str(envelope_size()))
            return await steady(bench, send, recv, ready)
        finally:
            await stop_all(send, recv)


async def resources(bench: Bench) -> Result:
    load: dict[str, Any] = {"start": loadavg()}
    lali = await run_lali(bench)
    base = await run_baseline(bench)
    load["end"] = loadavg()
    for side, r in (("lali", lali), ("baseline", base)):
        bench.say(
            f"resources {side:<8}: RSS {r['rss_mb']:.1f} MB (peak {r['hwm_mb']:.1f}),"
            f" ready {r['ready_s']:.2f} s after spawn ({r['start_to_ready_s']:.2f} s"
            f" after start)"
        )

    def both(key: str, unit: str) -> dict[str, Any]:
        return {"lali": round(lali[key], 3), "baseline": round(base[key], 3), "unit": unit}

    return Result(
        name="resources",
        lali=round(lali["rss_mb"], 1),
        baseline=round(base["rss_mb"], 1),
        unit="MB RSS of the receiving process at steady state",
        better="lower",
        target="RSS <= 100 MB, ready <= 1.5 s",
        met=lali["rss_mb"] <= 100 and lali["ready_s"] <= 1.5,
        metrics={
            "rss_peak": both("hwm_mb", "MB (VmHWM)"),
            "ready_after_spawn": both("ready_s", "s (process spawn → ready)"),
            "ready_after_start": both("start_to_ready_s", "s (Node.start() → ready)"),
            "sender_rss": both("sender_rss_mb", "MB"),
        },
        settings={"rate_per_s": RATE, "seconds": 2 if bench.smoke else 8},
        load=load,
    )
