"""Cost of sealing and opening one alert on this machine (no network, no disk).

Run: .venv/bin/python bench/envelope_cost.py [--n 2000]
Prints mean and median microseconds per seal (to 1 and 3 recipients) and per open,
plus envelope sizes. Used for the numbers quoted in docs/performance notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from testkit import NOW, make_keyring, sample_alert

from node.protocol.envelope import open_envelope, seal
from schemas.alert import Topic, alert_to_json


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    n = parser.parse_args().n
    kr = make_keyring()
    alert = sample_alert(Topic.PEOPLE_SMUGGLING)
    plain = len(alert_to_json(alert))
    print(f"alert JSON: {plain} bytes")
    for recipients in (["FJ"], ["FJ", "TO", "XH"]):
        _, data = seal(alert, kr.ids["WS"], recipients, kr.directory, NOW)
        s = timed(lambda r=recipients: seal(alert, kr.ids["WS"], r, kr.directory, NOW), n)
        o = timed(lambda d=data: open_envelope(d, kr.ids["FJ"], kr.directory, NOW), n)
        print(
            f"{len(recipients)} recipient(s): envelope {len(data)} B | "
            f"seal mean {statistics.mean(s):.0f} us median {statistics.median(s):.0f} us | "
            f"open mean {statistics.mean(o):.0f} us median {statistics.median(o):.0f} us"
        )


if __name__ == "__main__":
    main()
