import math

import numpy as np
import pytest

from casenotes.eval.stats import bootstrap_mean, paired


def test_bootstrap_ci_of_a_known_distribution_matches_the_normal_theory_interval():
    # N(10, 2^2), n=400: the mean's 95% CI half-width is 1.96 * 2 / sqrt(400) = 0.196.
    x = np.random.default_rng(1).normal(10, 2, 400)
    ci = bootstrap_mean(x)
    half = (ci.high - ci.low) / 2
    assert ci.mean == pytest.approx(x.mean())
    assert ci.low < x.mean() < ci.high
    assert half == pytest.approx(1.96 * x.std(ddof=1) / math.sqrt(400), rel=0.08)


def test_bootstrap_is_reproducible_and_ignores_missing_values():
    a = bootstrap_mean([1.0, 2.0, float("nan"), 4.0])
    b = bootstrap_mean([1.0, 2.0, 4.0])
    assert (a.mean, a.low, a.high, a.n) == (b.mean, b.low, b.high, 3)
    assert math.isnan(bootstrap_mean([]).mean)


def test_paired_comparison_sees_a_small_consistent_shift_an_unpaired_view_would_miss():
    rng = np.random.default_rng(7)
    base = rng.normal(30, 10, 100)  # large between-case spread
    better = base + 1.0 + rng.normal(0, 0.5, 100)  # every case a little better
    c = paired("rougeL", "new", "old", better, base)
    assert c.diff.low > 0.8 and c.diff.high < 1.2
    assert c.p < 1e-10 and c.t > 0
    same = paired("rougeL", "a", "b", base, base)
    assert same.diff.mean == 0 and same.p == 1.0


def test_paired_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        paired("m", "a", "b", [1.0, 2.0], [1.0])
