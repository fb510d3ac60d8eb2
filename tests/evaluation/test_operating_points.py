"""Operating points: the threshold rules on hand-worked data, and thresholds fitted on val
applied unchanged to test."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.evaluation import OperatingPoint, OperatingPoints, parse_points

stats = pytest.importorskip("scipy.stats")

# val: thresholds (descending) .8 .6 .4 .3 .2 .1 -> sensitivity 1/3 2/3 2/3 1 1 1,
# specificity 1 1 2/3 2/3 1/3 0 (positive when score >= threshold)
Y_VAL = np.array([0, 0, 1, 0, 1, 1])
S_VAL = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.8])


@pytest.mark.parametrize(
    ("rule", "target", "want"),
    [
        ("sensitivity", 0.6, 0.6),  # largest threshold with sensitivity >= .6
        ("sensitivity", 1.0, 0.3),
        ("specificity", 0.6, 0.3),  # smallest threshold with specificity >= .6
        ("specificity", 1.0, 0.6),
        ("youden", None, 0.6),  # J = 2/3 at .6 and at .3: the larger threshold
        ("accuracy", None, 0.6),  # 5 of 6 right at .6 and at .3: the one nearer 0.5
    ],
)
def test_rules_choose_the_documented_threshold(rule, target, want):
    y, s = Y_VAL.copy(), S_VAL.copy()
    y.setflags(write=False)
    s.setflags(write=False)
    point = OperatingPoint(rule, target).fit(y, s)
    assert point.threshold_ == pytest.approx(want)


def test_accuracy_rule_breaks_ties_towards_one_half():
    # thresholds .9 .7 .45 .1 -> 3 2 3 2 of 4 right; Youden ties (.5) too and takes the larger
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.45, 0.7, 0.9])
    point = OperatingPoint("accuracy").fit(y, s)
    assert point.threshold_ == pytest.approx(0.45) and point.name == "max accuracy"
    assert OperatingPoint("youden").fit(y, s).threshold_ == pytest.approx(0.9)
    assert point.predict(s).tolist() == [False, True, True, True]


def test_fixed_threshold_and_validation():
    assert OperatingPoint("fixed", threshold=0.25).fit(Y_VAL, S_VAL).threshold_ == 0.25
    with pytest.raises(ValueError, match="needs a target"):
        OperatingPoint("sensitivity")
    with pytest.raises(ValueError, match="rule must be"):
        OperatingPoint("f1")
    with pytest.raises(ValueError, match="not fitted"):
        OperatingPoint("youden").apply(Y_VAL, S_VAL)
    with pytest.raises(ValueError, match="only one class"):
        OperatingPoint("youden").fit(np.ones(4, int), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="unknown key"):
        parse_points([{"rule": "youden", "level": 3}])


def test_thresholds_come_from_val_and_are_applied_unchanged_to_test():
    rng = np.random.default_rng(0)
    y_val = rng.integers(0, 2, 300)
    s_val = rng.normal(size=300) + 1.5 * y_val
    # test scores are shifted: the test set's own 90%-sensitivity threshold is different
    y_test = rng.integers(0, 2, 400)
    s_test = rng.normal(size=400) + 1.5 * y_test + 0.7
    points = OperatingPoints.default(sensitivity=0.9, specificity=0.9)
    assert points.fit(y_val, s_val) is points
    before = [p.threshold_ for p in points]
    rows = points.apply(y_test, s_test)
    assert [p.threshold_ for p in points] == before  # apply never refits
    refit = OperatingPoints.default(0.9, 0.9).fit(y_test, s_test)
    assert [p.threshold_ for p in refit] != pytest.approx(before, abs=0.05)
    for row, thr in zip(rows, before, strict=True):
        assert row["threshold"] == thr and row["fitted_on"] == "val"
        called = s_test >= thr
        tp = int((called & (y_test == 1)).sum())
        n_pos = int((y_test == 1).sum())
        want = stats.binomtest(tp, n_pos).proportion_ci(method="wilson")
        assert row["sensitivity"].value == pytest.approx(tp / n_pos)
        assert row["sensitivity"].ci_low == pytest.approx(want.low)
        assert row["sensitivity"].method == "wilson"
        assert set(row) >= {"name", "rule", "target", "specificity", "ppv", "npv"}
    # on val the targets are met
    val_sens = (s_val[y_val == 1] >= before[0]).mean()
    val_spec = (s_val[y_val == 0] < before[1]).mean()
    assert val_sens >= 0.9 and val_spec >= 0.9
    assert [p.name for p in points] == ["high sensitivity", "high specificity"]


def test_constant_scores_cannot_reach_a_specificity_target():
    # an untrained network that gives every case the same score: no finite threshold has
    # specificity 0.9; found by the crash-point harness as an IndexError traceback
    y = np.array([0, 1, 0, 1, 0, 0])
    s = np.full(6, 0.5)
    with pytest.raises(ValueError, match=r"no threshold .* reaches specificity 0\.9 .*1 distinct"):
        OperatingPoint("specificity", 0.9).fit(y, s)
    assert OperatingPoint("sensitivity", 0.9).fit(y, s).threshold_ == 0.5
