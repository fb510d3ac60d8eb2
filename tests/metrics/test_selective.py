"""Selective prediction: hand-computed risk-coverage curves, AURC, E-AURC, accuracy at a
coverage, and an abstain rule that follows validation only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics.selective import (
    AbstainRule,
    accuracy_at_coverage,
    aurc,
    confidence_scores,
    excess_aurc,
    optimal_aurc,
    risk_coverage_curve,
)

CONF = np.array([0.6, 0.9, 0.7, 0.8])  # sorted: 0.9 right, 0.8 wrong, 0.7 right, 0.6 wrong
RIGHT = np.array([0, 1, 1, 0], dtype=bool)


def test_curve_by_hand():
    curve = risk_coverage_curve(CONF, RIGHT)
    np.testing.assert_allclose(curve["coverage"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve["risk"], [0.0, 0.5, 1 / 3, 0.5])
    np.testing.assert_allclose(curve["threshold"], [0.9, 0.8, 0.7, 0.6])


def test_aurc_and_excess_by_hand():
    assert aurc(CONF, RIGHT) == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    # the oracle keeps both right cases first: risks 0, 0, 1/3, 1/2
    assert optimal_aurc(4, 2) == pytest.approx((1 / 3 + 1 / 2) / 4)
    assert excess_aurc(CONF, RIGHT) == pytest.approx(0.125)
    assert excess_aurc(np.array([2.0, 1.0]), np.array([1, 0])) == pytest.approx(0.0)


def test_ties_enter_together():
    curve = risk_coverage_curve([0.9, 0.9, 0.5], [1, 0, 1])
    np.testing.assert_allclose(curve["coverage"], [2 / 3, 1.0])
    np.testing.assert_allclose(curve["risk"], [0.5, 1 / 3])
    assert aurc([0.9, 0.9, 0.5], [1, 0, 1]) == pytest.approx(2 / 3 * 0.5 + 1 / 3 * 1 / 3)


def test_accuracy_at_coverage_by_hand():
    half = accuracy_at_coverage(CONF, RIGHT, 0.5)
    assert half.value == 0.5 and half.n == 2 and half.method == "wilson"
    assert accuracy_at_coverage(CONF, RIGHT, 0.25).value == 1.0
    assert accuracy_at_coverage(CONF, RIGHT, 1.0).value == 0.5


def test_confidence_scores():
    p = np.array([[0.7, 0.3], [0.4, 0.6]])
    np.testing.assert_allclose(confidence_scores(p), [0.7, 0.6])
    members = np.stack([p, np.array([[0.1, 0.9], [0.4, 0.6]])])
    np.testing.assert_allclose(confidence_scores(members, "ensemble"), [0.6, 0.6])
    sets = np.array([[1, 1], [0, 1]], dtype=bool)
    np.testing.assert_allclose(confidence_scores(p, "set_size", sets), [-2.0, -1.0])
    with pytest.raises(ValueError, match="set_size"):
        confidence_scores(p, "set_size")
    with pytest.raises(ValueError, match=r"\(M members, N, K\)"):
        confidence_scores(p, "ensemble")


def test_abstain_rule_by_hand():
    rule = AbstainRule(target_accuracy=0.6).fit(CONF, RIGHT)
    # kept accuracies 1, 0.5, 0.667, 0.5: the most cases reaching 0.6 keep conf >= 0.7
    assert rule.threshold_ == 0.7 and rule.val_coverage_ == 0.75
    assert rule.val_accuracy_ == pytest.approx(2 / 3)
    np.testing.assert_array_equal(rule.abstain(np.array([0.65, 0.7, 0.95])), [True, False, False])
    same = AbstainRule(target_risk=0.4).fit(CONF, RIGHT)
    assert same.threshold_ == rule.threshold_


def test_abstain_threshold_follows_validation_only():
    """Validation and test disagree on purpose: on val the confident cases are right, on test
    they are wrong. The rule fitted on val keeps val's threshold on test."""
    rng = np.random.default_rng(0)
    conf_val = rng.uniform(size=400)
    right_val = conf_val > 0.3  # accuracy 1 above 0.3
    conf_test = rng.uniform(size=400)
    right_test = conf_test < 0.3  # the opposite
    rule = AbstainRule(target_accuracy=1.0).fit(conf_val, right_val)
    assert rule.threshold_ == pytest.approx(conf_val[right_val].min())
    before = rule.threshold_
    abstain = rule.abstain(conf_test)
    np.testing.assert_array_equal(abstain, conf_test < before)
    with pytest.warns(UserWarning, match="abstains on every case"):
        refit_on_test = AbstainRule(target_accuracy=1.0).fit(conf_test, right_test)
    assert math.isinf(refit_on_test.threshold_) and rule.threshold_ == before
    assert right_test[~abstain].mean() < 0.5  # what test would say: the rule did not look


def test_unreachable_target_abstains_everywhere():
    with pytest.warns(UserWarning, match="abstains on every case"):
        rule = AbstainRule(target_accuracy=0.99).fit(CONF[[0, 3]], RIGHT[[0, 3]])
    assert rule.abstain(np.array([1.0, 0.0])).all()
    back = AbstainRule.from_dict(rule.to_dict())
    assert math.isinf(back.threshold_)


def test_round_trip_and_refusals():
    rule = AbstainRule(target_accuracy=0.6).fit(CONF, RIGHT)
    assert AbstainRule.from_dict(rule.to_dict()).threshold_ == rule.threshold_
    with pytest.raises(ValueError, match="exactly one"):
        AbstainRule().fit(CONF, RIGHT)
    with pytest.raises(ValueError, match="exactly one"):
        AbstainRule(0.9, 0.1).fit(CONF, RIGHT)
    with pytest.raises(ValueError, match="0/1"):
        aurc(CONF, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="NaN"):
        aurc([0.5, np.nan], [0, 1])
    with pytest.raises(RuntimeError, match="fit"):
        AbstainRule(0.9).abstain(CONF)
    with pytest.raises(ValueError, match="stored abstain rule"):
        AbstainRule.from_dict({})
    assert math.isnan(aurc([], []))
