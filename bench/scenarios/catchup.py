"""catchup: alerts per second draining a backlog queued while the receiver was down.

The backlog is sealed by WS and TO with the real ``seal`` (two processes, half each,
all addressed to FJ) and published straight to the stream with ``Nats-Msg-Id``; the
outbox path is what the throughput scenarios time. It is written while the server runs
with the default sync (filling 100,000 alerts at fsync-per-message speed would take most
of the time budget); the server is then restarted on the same store with
``sync_interval: always`` and the receivers drain it. The baseline (a raw durable pull
consumer, acking) drains the very same messages, before and after Lali.
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Bench, BenchError, Worker, loadavg, median, stop_all
from bench.scenarios import Result


def reporter(bench: Bench, label: str, n: int) -> Any:
    last = [time.monotonic()]

    def report(event: dict[str, Any]) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            bench.say(f"catchup {label}: {event['n']:,}/{n:,}")

    return report


async def drain(bench: Bench, worker: Worker, n: int, label: str, cap_s: float) -> dict[str, Any]:
    try:
        ready = await worker.next("ready", timeout=60)
        await worker.command("wait", timeout=cap_s)
        got = await worker.next("received", timeout=cap_s + 30, progress=reporter(bench, label, n))
    finally:
        await stop_all(worker)
    done = int(got["n"])
    if not done or got["t_last"] is None:
        raise BenchError(f"catchup {label}: nothing drained")
    rate = done / (got["t_last"] - ready["t_ready"])
    return {"rate": rate, "drained": done, "complete": done >= n}


async def catchup(bench: Bench) -> Result:
    n = 2000 if bench.smoke else 100_000
    cap_s = 30.0 if bench.smoke else 180.0
    home = bench.fresh("catchup")
    load: dict[str, Any] = {"start": loadavg()}
    async with bench.server(home, durable=False) as server:
        net = await bench.network(home, server)
        ws = to = None
        try:
            ws = await bench.lali(net, "WS", "--send-only", to=["FJ", "TO", "XH"])
            to = await bench.lali(net, "TO", "--send-only", to=["FJ", "WS", "XH"])
            for worker, part in ((ws, n // 2), (to, n - n // 2)):
                await worker.next("ready", timeout=60)
                await worker.command("backlog", n=part)
            t0 = time.monotonic()
            for worker in (ws, to):
                await worker.next("backlog_done", timeout=900)
            bench.say(
                f"catchup: backlog of {n:,} sealed and queued in {time.monotonic() - t0:.1f}s"
            )
        finally:
            await stop_all(ws, to)
    runs: dict[str, list[dict[str, Any]]] = {"lali": [], "baseline": []}
    async with bench.server(home, durable=True) as server:
        bench.repoint(net, server)
        order = ["baseline", "lali"] if bench.smoke else ["baseline", "lali", "baseline"]
        for i, side in enumerate(order):
            if side == "lali":
                worker = await bench.lali(net, "FJ", "--expect", str(n))
            else:
                durable = f"raw-FJ-{i}"
                worker = await bench.raw(server, home, "--durable", durable, "--expect", str(n))
            run = await drain(bench, worker, n, side, cap_s)
            runs[side].append(run)
            bench.say(
                f"catchup {side:<8}: {run['rate']:8.0f} alerts/s"
                f" ({run['drained']:,} drained{'' if run['complete'] else ', capped'})"
                f"  load {loadavg()[0]}"
            )
    load["end"] = loadavg()
    lali = round(median([r["rate"] for r in runs["lali"]]), 1)
    base = round(median([r["rate"] for r in runs["baseline"]]), 1)
    return Result(
        name="catchup",
        lali=lali,
        baseline=base,
        unit="alerts/s",
        better="higher",
        target=">= 2000 alerts/s",
        met=lali >= 2000,
        runs={side: [round(r["rate"], 1) for r in v] for side, v in runs.items()},
        metrics={
            "drained": {
                "lali": runs["lali"][0]["drained"],
                "baseline": runs["baseline"][0]["drained"],
                "unit": f"alerts of {n} (a run stops after {cap_s:.0f} s)",
            }
        },
        settings={"backlog": n, "sync_interval": "always (filled with default sync)"},
        load=load,
    )
