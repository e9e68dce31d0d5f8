"""Confidence intervals for the report: small samples, so every figure comes with one.

- `wilson`: the Wilson score interval of a proportion (format compliance, echo rate); unlike
  the normal approximation it stays inside [0, 1] and behaves at 0/n and n/n.
- `bootstrap_mean`: the percentile bootstrap of a mean over chunks (paired NLL differences,
  the judge's preference score), resampling whole chunks with a fixed seed so that a report
  is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 5000


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def bootstrap_mean(
    values: Sequence[float], *, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> Interval | None:
    """The mean of `values` with a 95 % percentile-bootstrap interval (None when empty; a
    single value gives a zero-width interval, which the report shows as n = 1)."""
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(samples, data.size))
    means = data[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))
