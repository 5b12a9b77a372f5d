"""Paired statistics between systems: every system is scored on the same dialogues, so compare
per-dialogue differences (paired bootstrap CIs and paired t-tests), not two independent means."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES = 10_000
SEED = 20240601


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


def bootstrap_mean(values: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED,
                   level: float = 0.95) -> Interval:
    """Percentile bootstrap CI of the mean (fixed seed: a rerun gives the same interval)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(x.mean()), float(low), float(high), int(x.size))


@dataclass(frozen=True)
class Comparison:
    """``system`` minus ``reference`` on one metric, over the dialogues both were scored on."""

    metric: str
    system: str
    reference: str
    diff: Interval
    t: float
    p: float

    def to_dict(self) -> dict:
        return {"metric": self.metric, "system": self.system, "reference": self.reference,
                "mean_diff": self.diff.mean, "ci_low": self.diff.low, "ci_high": self.diff.high,
                "n": self.diff.n, "t": self.t, "p": self.p}


def paired(metric: str, system: str, reference: str, a: Sequence[float], b: Sequence[float],
           resamples: int = RESAMPLES, seed: int = SEED) -> Comparison:
    """Bootstrap CI of mean(a - b) and the paired t-test (scipy) on the pairs where both exist."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{metric}: paired samples differ in length ({x.size} vs {y.size})")
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    diff = bootstrap_mean(x - y, resamples, seed)
    if x.size < 2 or np.allclose(x - y, (x - y)[0]):
        t, p = (0.0, 1.0) if x.size and np.allclose(x, y) else (math.nan, math.nan)
    else:
        res = stats.ttest_rel(x, y)
        t, p = float(res.statistic), float(res.pvalue)
    return Comparison(metric, system, reference, diff, t, p)
