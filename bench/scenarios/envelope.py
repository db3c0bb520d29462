"""fanout and overhead: the envelope itself, in this process (no server, no disk).

The baseline sends the alert JSON as it is, so its bytes on the wire are the
plaintext's and its seal/open cost is zero.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import RECIPIENTS, Bench
from bench.scenarios import Result
from keys import Directory, Identity, Role, load_identity
from node.ops.demo import sample_alerts
from node.ops.provision import MemberSpec, provision_keys
from node.protocol.envelope import open_envelope, seal
from node.protocol.wire import pad
from schemas.alert import Alert, Topic, alert_to_json

# The hub, the sender and 20 recipients (Pacific and Pacific-rim members).
FANOUT = ["FJ", "TO", "AU", "NZ", "PG", "SB", "VU", "KI", "TV", "NR"]
FANOUT += ["PW", "FM", "MH", "CK", "NU", "NC", "PF", "AS", "GU", "XH"]


@dataclass(frozen=True)
class Keyring:
    ids: dict[str, Identity]
    directory: Directory
    alert: Alert
    now: datetime


@functools.cache
def keyring() -> Keyring:
    """Real key files and a signed directory from ``node.ops.provision``, read back."""
    now = datetime.now(UTC)
    specs = [MemberSpec("WS", "Samoa")]
    specs += [MemberSpec(c, c, Role.HUB if c == "XH" else Role.MEMBER) for c in FANOUT]
    with tempfile.TemporaryDirectory(prefix="lali-bench-keys-") as tmp:
        net = provision_keys(Path(tmp), specs, now, valid_for=timedelta(days=1))
        ids = {s.code: load_identity(Path(tmp) / s.code / "identity.key", None) for s in specs}
    return Keyring(ids, net.members, sample_alerts(now)[Topic.MARITIME], now)


def sealed(recipients: list[str]) -> bytes:
    kr = keyring()
    return seal(kr.alert, kr.ids["WS"], recipients, kr.directory, kr.now)[1]


def envelope_size() -> int:
    """Bytes of the benchmark's alert sealed for its three recipients."""
    return len(sealed(RECIPIENTS))


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Median of 5 batches of ``n // 5`` calls, in microseconds per call."""
    batches = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(max(1, n // 5)):
            fn()
        batches.append((time.perf_counter() - t0) / max(1, n // 5) * 1e6)
    return round(statistics.median(batches), 1)


async def fanout(bench: Bench) -> Result:
    kr = keyring()
    n = 200 if bench.smoke else 1000
    plaintext = len(alert_to_json(kr.alert))
    data20, data3 = sealed(FANOUT), sealed(RECIPIENTS)
    ws = kr.ids["WS"]
    seal20 = per_call_us(lambda: seal(kr.alert, ws, FANOUT, kr.directory, kr.now), n)
    seal3 = per_call_us(lambda: seal(kr.alert, ws, RECIPIENTS, kr.directory, kr.now), n)
    # Open as the recipient whose wrap sorts last (the longest tag scan) and as FJ.
    open20 = per_call_us(lambda: open_envelope(data20, kr.ids["XH"], kr.directory, kr.now), n)
    open3 = per_call_us(lambda: open_envelope(data3, kr.ids["FJ"], kr.directory, kr.now), n)
    bench.say(f"fanout: 20 recipients {len(data20)} B, seal {seal20} us, open {open20} us")
    return Result(
        name="fanout",
        lali=len(data20),
        baseline=plaintext,
        unit="bytes on the wire (20 recipients)",
        better="lower",
        target="(none; seal and open cost reported)",
        met=None,
        metrics={
            "seal_us_20": {"lali": seal20, "baseline": 0, "unit": "us"},
            "open_us_20": {"lali": open20, "baseline": 0, "unit": "us"},
            "seal_us_3": {"lali": seal3, "baseline": 0, "unit": "us"},
            "open_us_3": {"lali": open3, "baseline": 0, "unit": "us"},
            "bytes_3": {"lali": len(data3), "baseline": plaintext, "unit": "B"},
        },
        settings={"recipients": 20, "alert_json_bytes": plaintext, "calls": n},
    )


def structural(recipients: list[str]) -> int:
    """Envelope bytes beyond the padded, compressed alert (what the format adds)."""
    kr = keyring()
    body = len(pad(zlib.compress(alert_to_json(kr.alert), 6)))
    return len(sealed(recipients)) - body


async def overhead(bench: Bench) -> Result:
    kr = keyring()
    plain = alert_to_json(kr.alert)
    sizes = {r: structural(FANOUT[:r]) for r in (1, 2, 3, 10, 20)}
    per = sizes[2] - sizes[1]
    fixed = sizes[1] - per
    linear = all(sizes[r] == fixed + per * r for r in sizes)
    compressed = len(zlib.compress(plain, 6))
    padded = len(pad(zlib.compress(plain, 6)))
    bench.say(f"overhead: fixed {fixed} B + {per} B per recipient (linear: {linear})")
    return Result(
        name="overhead",
        lali=fixed,
        baseline=0,
        unit="bytes fixed (+ per recipient in metrics)",
        better="lower",
        target="<= 200 B fixed + 60 B per recipient",
        met=fixed <= 200 and per <= 60 and linear,
        metrics={
            "per_recipient": {"lali": per, "baseline": 0, "unit": "B"},
            "envelope_minus_plaintext_3": {
                "lali": len(sealed(RECIPIENTS)) - len(plain),
                "baseline": 0,
                "unit": "B (negative: zlib gains more than the envelope adds)",
            },
            "compressed_plus_padding": {
                "lali": padded,
                "baseline": len(plain),
                "unit": f"B (zlib {compressed} B, Padmé pads to {padded} B)",
            },
        },
        settings={"alert_json_bytes": len(plain), "structural_by_recipients": sizes},
    )
