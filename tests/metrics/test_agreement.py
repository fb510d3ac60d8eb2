"""Cohen's kappa (plain, linear, quadratic) against scikit-learn, with its interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics import DegenerateMetricWarning, cohen_kappa

skm = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(3))
def test_kappa_matches_sklearn(weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, 150)
    b = np.clip(a + rng.integers(-1, 2, 150), 0, 4)
    a.setflags(write=False)
    est = cohen_kappa(a, b, weights, n_resamples=300)
    assert est.value == pytest.approx(skm.cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    assert est.ci_low < est.value < est.ci_high and est.method == "bootstrap"


def test_labels_fix_the_ordinal_scale():
    a = np.array([0, 2, 4, 4, 0])
    b = np.array([0, 4, 4, 2, 2])
    want = skm.cohen_kappa_score(a, b, weights="quadratic", labels=[0, 1, 2, 3, 4])
    got = cohen_kappa(a, b, "quadratic", labels=[0, 1, 2, 3, 4], ci=None)
    assert got.value == pytest.approx(want)


def test_degenerate_and_bad_input():
    with pytest.warns(DegenerateMetricWarning, match="undefined"):
        assert math.isnan(cohen_kappa(np.ones(5), np.ones(5)).value)
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa(np.ones(3), np.ones(3), "cubic")
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        cohen_kappa(np.ones(3), np.ones(2))
