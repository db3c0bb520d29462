"""The scenarios of issue 7, each an ``async (Bench) -> Result``; run in this order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Bench


@dataclass
class Result:
    """One scenario: a headline number for Lali and for the raw baseline, plus the
    secondary ``metrics`` (each ``{"lali": …, "baseline": …, "unit": …}``)."""

    name: str
    lali: float | None
    baseline: float | None
    unit: str
    better: str  # "higher" or "lower": which way the headline improves
    target: str
    met: bool | None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, list[Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Lali ÷ baseline (for throughput ≥ 0.8 is the target; for ms, lower is better)."""
        if self.lali is None or not self.baseline:
            return None
        return round(self.lali / self.baseline, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lali": self.lali,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "unit": self.unit,
            "better": self.better,
            "target": self.target,
            "met": self.met,
            "metrics": self.metrics,
            "runs": self.runs,
            "settings": self.settings,
            "load": self.load,
        }


Scenario = Callable[[Bench], Awaitable[Result]]


def registry() -> dict[str, Scenario]:
    from bench.scenarios import catchup, envelope, latency, resources, throughput

    return {
        "throughput_durable": throughput.durable,
        "throughput_fast": throughput.fast,
        "latency": latency.latency,
        "catchup": catchup.catchup,
        "fanout": envelope.fanout,
        "overhead": envelope.overhead,
        "resources": resources.resources,
    }
