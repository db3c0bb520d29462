"""Mutation fuzzing of the envelope at scale: ``make fuzz``.

Run: .venv/bin/python bench/fuzz_envelope.py [--n 1000000] [--seed 20261129]

Opens N mutants of genuine envelopes as FJ (raw, re-signed and re-sealed mutants; see
tests/security/mutate.py) and checks that each ends in a declared error, or in the
genuine alert where the mutation changed nothing FJ reads. Prints progress every
100,000 mutants, then the count, the time, the outcomes and the unexpected ones.
Exits 1 if any result was unexpected. The same engine runs in the test suite
(tests/security/test_fuzz.py, LALI_FUZZ_N mutants).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from security.mutate import SEED, Report, run, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="mutants to open")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the mutation generator")
    args = parser.parse_args()

    def progress(report: Report) -> None:
        rate = report.count / report.elapsed_s if report.elapsed_s else 0.0
        print(
            f"{report.count:>10,} mutants  {report.elapsed_s:7.1f} s  {rate:8,.0f}/s"
            f"  unexpected {report.unexpected_count}",
            flush=True,
        )

    print(f"fuzzing open_envelope: {args.n:,} mutants, seed {args.seed}", flush=True)
    report = run(args.n, args.seed, progress=progress, every=100_000)
    print(summary(report))
    print("mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(report.mutations.items())))
    for line in report.unexpected:
        print(f"UNEXPECTED {line}")
    print(
        f"count={report.count} time_s={report.elapsed_s:.1f} unexpected={report.unexpected_count}"
    )
    return 1 if report.unexpected_count else 0


if __name__ == "__main__":
    sys.exit(main())
