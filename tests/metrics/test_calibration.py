"""ECE/MCE on hand-computed examples, Brier score against scikit-learn, calibration slope and
intercept against a known logistic model, temperature scaling against a grid search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics.calibration import (
    TemperatureScaler,
    brier_score,
    calibration_slope_intercept,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_diagram,
)
from healthcnn.metrics.estimate import DegenerateMetricWarning

skm = pytest.importorskip("sklearn.metrics")


def test_binary_ece_and_mce_by_hand():
    # 2 uniform bins: [0, .5] holds .1 (y 0), .2 (y 1): confidence .15, frequency .5, gap .35;
    # (.5, 1] holds .7, .9 (both y 1): confidence .8, frequency 1, gap .2.
    # ECE = .5 * .35 + .5 * .2 = .275; MCE = .35
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.9])
    p.setflags(write=False)
    res = expected_calibration_error(y, p, n_bins=2)
    assert res.value == pytest.approx(0.275)
    assert res.n_bins == 2 and res.strategy == "uniform" and res.kind == "binary"
    assert res.count == (2, 2)
    assert res.confidence == pytest.approx((0.15, 0.8))
    assert res.accuracy == pytest.approx((0.5, 1.0))
    assert maximum_calibration_error(y, p, n_bins=2).value == pytest.approx(0.35)


def test_multiclass_ece_is_top_label_by_hand():
    # confidences .5 (right), .6 (wrong), .9 (right), .8 (right); 5 uniform bins:
    # (.4, .6]: .5 and .6 -> conf .55, acc .5, gap .05; (.6, .8]: .8 -> gap .2;
    # (.8, 1]: .9 -> gap .1. ECE = (2 * .05 + .2 + .1) / 4 = .1
    p = np.array([[0.5, 0.3, 0.2], [0.6, 0.4, 0.0], [0.05, 0.05, 0.9], [0.1, 0.8, 0.1]])
    y = np.array([0, 1, 2, 1])
    res = expected_calibration_error(y, p, n_bins=5)
    assert res.value == pytest.approx(0.1)
    assert res.kind == "top-label" and res.count == (0, 0, 2, 1, 1)


def test_quantile_bins_hold_equal_counts_and_the_diagram_has_its_bins():
    rng = np.random.default_rng(0)
    p = rng.random(300) ** 2
    y = (rng.random(300) < p).astype(int)
    res = expected_calibration_error(y, p, n_bins=10, strategy="quantile")
    assert res.count == (30,) * 10
    diagram = reliability_diagram(y, p, n_bins=10, strategy="quantile")
    assert diagram["n_bins"] == 10 and len(diagram["bin_edges"]) == 11
    assert diagram["value"] == pytest.approx(res.value)
    # a perfectly calibrated generator has a small ECE, a distorted one a large one
    assert res.value < 0.1
    assert expected_calibration_error(y, np.sqrt(p)).value > 0.15


def test_brier_matches_sklearn_and_multiclass_is_one_hot_squared_error():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    est = brier_score(y, p, n_resamples=300)
    assert est.value == pytest.approx(skm.brier_score_loss(y, p))
    assert est.ci_low < est.value < est.ci_high
    yk = np.array([0, 2])
    pk = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    # (.09 + .04 + .01 + .01 + .09 + .16) / 2 = .2
    assert brier_score(yk, pk, ci=None).value == pytest.approx(0.2)


def test_calibration_slope_and_intercept_recover_a_known_miscalibration():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.98, 20000)
    logit = np.log(p / (1 - p))
    y = (rng.random(20000) < 1 / (1 + np.exp(-(0.3 + 0.5 * logit)))).astype(int)
    fit = calibration_slope_intercept(y, p)
    assert fit.converged
    assert fit.slope == pytest.approx(0.5, abs=0.05)
    assert fit.intercept == pytest.approx(0.3, abs=0.06)
    lm = pytest.importorskip("sklearn.linear_model")
    ref = lm.LogisticRegression(C=1e12, tol=1e-10, max_iter=1000).fit(logit[:, None], y)
    assert fit.slope == pytest.approx(ref.coef_[0, 0], abs=1e-4)
    assert fit.intercept == pytest.approx(ref.intercept_[0], abs=1e-4)
    with pytest.warns(DegenerateMetricWarning):
        assert math.isnan(calibration_slope_intercept(np.ones(5, int), np.full(5, 0.7)).slope)


def _nll(z, y, t):
    s = z / t
    s = s - s.max(1, keepdims=True)
    return -(s[np.arange(len(y)), y] - np.log(np.exp(s).sum(1))).mean()


def test_temperature_scaling_recovers_the_temperature_and_keeps_the_ranking():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=3.0, size=(3000, 4))
    true_p = np.exp(z / 2.0) / np.exp(z / 2.0).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in true_p])
    z.setflags(write=False)
    scaler = TemperatureScaler("softmax").fit(z, y)
    assert scaler is not None and scaler.temperature_ == pytest.approx(2.0, rel=0.1)
    grid = np.linspace(1.5, 2.5, 401)
    best = grid[np.argmin([_nll(z, y, t) for t in grid])]
    assert scaler.temperature_ == pytest.approx(best, abs=0.01)
    scaled = scaler.transform(z)
    np.testing.assert_array_equal(scaled.argmax(1), z.argmax(1))
    assert scaler.nll_after_ < scaler.nll_before_


def test_binary_temperature_and_errors():
    rng = np.random.default_rng(4)
    z = rng.normal(scale=4.0, size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-z / 3.0))).astype(int)
    assert TemperatureScaler("sigmoid").fit(z, y).temperature_ == pytest.approx(3.0, rel=0.15)
    with pytest.raises(ValueError, match="not fitted"):
        TemperatureScaler().transform(z)
    with pytest.raises(ValueError, match="probabilities in"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 1.3]))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 0.3]), n_bins=0)
