"""Percentiles and latency summaries of measured samples (milliseconds unless a name says otherwise)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by the nearest-rank method: always a value that was measured."""
    if not values:
        raise ValueError("no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0–100")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Spread:
    count: int
    p50: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(len(values), percentile(values, 50), percentile(values, 99))


def paired_differences(measured: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Per-sample `measured - baseline`: what the platform added to each paired measurement."""
    if len(measured) != len(baseline):
        raise ValueError(f"{len(measured)} measurements but {len(baseline)} baselines")
    return [m - b for m, b in zip(measured, baseline, strict=True)]
