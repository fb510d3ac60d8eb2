"""Sensitivity, specificity, PPV, NPV (Wilson/Clopper-Pearson), F1, balanced accuracy and the
confusion matrix, against scikit-learn, scipy and hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics.estimate import DegenerateMetricWarning
from healthcnn.metrics.threshold import (
    balanced_accuracy,
    confusion_matrix,
    f1,
    npv,
    ppv,
    sensitivity,
    specificity,
)

skm = pytest.importorskip("sklearn.metrics")
stats = pytest.importorskip("scipy.stats")

# 6 positives (4 caught), 8 negatives (6 correctly negative): TP 4, FN 2, TN 6, FP 2
Y = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
P = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])


@pytest.mark.parametrize(
    ("fn", "k", "n"),
    [(sensitivity, 4, 6), (specificity, 6, 8), (ppv, 4, 6), (npv, 6, 8)],
)
@pytest.mark.parametrize(
    ("ci", "scipy_method"), [("wilson", "wilson"), ("clopper-pearson", "exact")]
)
def test_rates_are_hand_counted_proportions_with_scipy_intervals(fn, k, n, ci, scipy_method):
    y, p = Y.copy(), P.copy()
    y.setflags(write=False)
    p.setflags(write=False)
    est = fn(y, p, ci=ci)
    want = stats.binomtest(k, n).proportion_ci(method=scipy_method)
    assert est.value == pytest.approx(k / n) and est.n == n
    assert (est.ci_low, est.ci_high) == pytest.approx((want.low, want.high), abs=1e-10)


def test_f1_and_balanced_accuracy_match_sklearn_with_bootstrap_intervals():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.where(rng.random(200) < 0.8, y, 1 - y)
    est = f1(y, p, n_resamples=400)
    assert est.value == pytest.approx(skm.f1_score(y, p))
    assert est.ci_low < est.value < est.ci_high and est.method == "bootstrap"
    ba = balanced_accuracy(y, p, n_resamples=400)
    assert ba.value == pytest.approx(skm.balanced_accuracy_score(y, p))
    yk = rng.integers(0, 4, 200)
    pk = np.where(rng.random(200) < 0.6, yk, rng.integers(0, 4, 200))
    assert balanced_accuracy(yk, pk, ci=None).value == pytest.approx(
        skm.balanced_accuracy_score(yk, pk)
    )


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 100)
    p = rng.integers(0, 4, 100)
    np.testing.assert_array_equal(confusion_matrix(y, p), skm.confusion_matrix(y, p))
    labels = [3, 1, 0, 2, 5]
    np.testing.assert_array_equal(
        confusion_matrix(y, p, labels), skm.confusion_matrix(y, p, labels=labels)
    )
    with pytest.raises(ValueError, match="not in labels"):
        confusion_matrix(y, p, [0, 1])


def test_degenerate_and_bad_input():
    with pytest.warns(DegenerateMetricWarning, match="denominator is 0"):
        assert math.isnan(sensitivity(np.zeros(4, int), np.array([0, 1, 0, 1])).value)
    with pytest.warns(DegenerateMetricWarning):
        assert math.isnan(f1(np.zeros(4, int), np.zeros(4, int)).value)
    with pytest.raises(ValueError, match="y_true has 3, y_pred has 2"):
        specificity(np.array([0, 1, 0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="y_pred must hold 0/1"):
        ppv(np.array([0, 1]), np.array([0.2, 0.7]))
    with pytest.raises(ValueError, match="ci must be"):
        npv(Y, P, ci="wald")
