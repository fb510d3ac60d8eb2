"""Wilson and Clopper-Pearson intervals against scipy; the bootstrap, plain, stratified and by
whole groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics import DegenerateMetricWarning, bootstrap_ci, proportion_ci
from healthcnn.metrics.intervals import resample_indices

stats = pytest.importorskip("scipy.stats")

CASES = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (1, 7), (47, 53), (120, 400), (999, 1000)]


@pytest.mark.parametrize(("k", "n"), CASES)
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("ours", "theirs"), [("wilson", "wilson"), ("clopper-pearson", "exact")])
def test_proportion_intervals_equal_scipy(k, n, level, ours, theirs):
    est = proportion_ci(k, n, ours, level)
    want = stats.binomtest(k, n).proportion_ci(confidence_level=level, method=theirs)
    assert est.value == pytest.approx(k / n)
    assert est.ci_low == pytest.approx(want.low, abs=1e-10)
    assert est.ci_high == pytest.approx(want.high, abs=1e-10)
    assert est.method == ours and est.n == n


def test_proportion_bad_and_degenerate_input():
    with pytest.warns(DegenerateMetricWarning, match="0 cases"):
        assert math.isnan(proportion_ci(0, 0).value)
    with pytest.raises(ValueError, match="successes <= total"):
        proportion_ci(5, 3)
    with pytest.raises(TypeError, match="int count"):
        proportion_ci(1.5, 3)
    with pytest.raises(ValueError, match="method"):
        proportion_ci(1, 3, "wald")
    with pytest.raises(ValueError, match="level"):
        proportion_ci(1, 3, level=95)


def test_bootstrap_of_a_mean_matches_the_normal_theory_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, 400)
    x.setflags(write=False)
    est = bootstrap_ci(np.mean, x, n_resamples=2000, seed=1)
    half = 1.959963984540054 * x.std(ddof=1) / math.sqrt(len(x))
    assert est.value == pytest.approx(x.mean())
    assert est.ci_low == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert est.ci_high == pytest.approx(x.mean() + half, abs=0.1 * half)
    assert est.method == "bootstrap" and est.n == 400
    assert bootstrap_ci(np.mean, x, n_resamples=300, seed=4) == bootstrap_ci(
        np.mean, x, n_resamples=300, seed=4
    )


def test_stratified_resamples_keep_the_class_counts():
    y = np.array([0] * 30 + [1] * 7)
    est = bootstrap_ci(lambda a: a.sum(), y, stratify=y, n_resamples=200)
    assert est.ci_low == est.ci_high == 7


def test_grouped_resamples_draw_whole_groups():
    groups = np.repeat(np.arange(12), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6, 7])
    member = np.arange(len(groups))

    def check(g, m):
        for value in np.unique(g):
            taken = m[g == value]
            size = (groups == value).sum()
            counts = np.bincount(taken, minlength=len(groups))[groups == value]
            if len(taken) % size or len(set(counts.tolist())) != 1:
                raise AssertionError(f"group {value} was split: members {taken}")
        return float(len(np.unique(g)))

    est = bootstrap_ci(check, groups, member, groups=groups, n_resamples=300)
    assert est.value == 12 and est.ci_high <= 12
    # with stratification too: still whole groups
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 2, 12), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6, 7])
    for _ in range(50):
        i = resample_indices(len(y), rng, stratify=y, groups=groups)
        check(groups[i], member[i])


def test_grouped_interval_is_wider_for_clustered_values():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(30), 10)
    x = np.repeat(rng.normal(size=30), 10)  # each patient's 10 images agree
    naive = bootstrap_ci(np.mean, x, n_resamples=500)
    grouped = bootstrap_ci(np.mean, x, groups=groups, n_resamples=500)
    ratio = (grouped.ci_high - grouped.ci_low) / (naive.ci_high - naive.ci_low)
    assert ratio == pytest.approx(math.sqrt(10), rel=0.25)


def test_bootstrap_errors_and_undefined_resamples():
    with pytest.raises(ValueError, match="array 1 has 3"):
        bootstrap_ci(lambda a, b: 0.0, np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="groups has 2"):
        bootstrap_ci(np.mean, np.zeros(4), groups=[1, 2], n_resamples=5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(np.mean, np.zeros(4), n_resamples=0)

    def mostly_nan(a):
        return float("nan") if a.sum() < 100 else 1.0

    with pytest.warns(DegenerateMetricWarning, match="undefined in"):
        est = bootstrap_ci(mostly_nan, np.ones(10), n_resamples=20)
    assert math.isnan(est.ci_low)
