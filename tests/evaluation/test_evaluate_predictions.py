"""``evaluate_predictions`` on small synthetic predictions (no data folder, no model): the
numbers against independent computations, every kind's result shape, thresholds and the
temperature fitted on val only, purity and clear errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from _synthetic import multiclass_logits, split_predictions
from sklearn.metrics import accuracy_score, cohen_kappa_score, roc_auc_score

from healthcnn.evaluation import (
    EvaluationConfig,
    OperatingPoint,
    OperatingPoints,
    SplitPredictions,
    evaluate_predictions,
)
from healthcnn.metrics import TemperatureScaler
from healthcnn.tasks import make_task

FAST = {"n_resamples": 40}


def _split(task, logits: np.ndarray, labels: np.ndarray, groups=None) -> SplitPredictions:
    return split_predictions(task, logits, labels, groups=groups)


def _multiclass(seed: int, n: int = 60, k: int = 5, signal: float = 1.5):
    return multiclass_logits(seed, n, k, signal)


def _binary(seed: int, n: int, shift: float, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    z = (rng.normal(size=n) + shift * (2 * y - 1)) * scale
    return z[:, None], y


def test_multiclass_numbers_match_independent_computations():
    task = make_task("multiclass", list("01234"))
    val = _split(task, *_multiclass(0))
    test = _split(task, *_multiclass(1, signal=1.0))
    config = EvaluationConfig(data="retinamnist.npz", **FAST)
    r = evaluate_predictions(val, test, task, config)
    y, p = test.labels, test.scores
    m = r.metrics
    assert m["auc"].value == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    assert m["acc"].value == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert m["kappa_quadratic"].value == pytest.approx(
        cohen_kappa_score(y, p.argmax(1), weights="quadratic")
    )
    referable = np.isin(y, [2, 3, 4])
    assert r.positive == {"classes": ["2", "3", "4"], "name": "referable"}
    assert m["auc_positive"].value == pytest.approx(roc_auc_score(referable, p[:, 2:].sum(1)))
    assert [row["n"] for row in r.per_class] == np.bincount(y).tolist()
    assert r.per_class[3]["auc"].value == pytest.approx(roc_auc_score(y == 3, p[:, 3]))
    cm = np.asarray(r.confusion_matrix["matrix"])
    assert cm.sum() == len(y) and np.trace(cm) == (p.argmax(1) == y).sum()
    assert r.bundle == "" and r.data == "retinamnist.npz" and r.n == len(y)


def test_thresholds_and_temperature_follow_val_only():
    """val and test disagree on purpose: val is sharp and well separated, test is shifted and
    overconfident. Everything fitted comes from val; changing test changes none of it."""
    task = make_task("binary", ["neg", "pos"])
    val = _split(task, *_binary(0, 80, shift=1.5))
    test_a = _split(task, *_binary(1, 80, shift=0.3, scale=4.0))
    test_b = _split(task, *_binary(2, 50, shift=-0.5, scale=0.5))
    points = [OperatingPoint("sensitivity", 0.9), OperatingPoint("youden")]
    config = EvaluationConfig(operating_points=points, **FAST)
    a = evaluate_predictions(val, test_a, task, config)
    b = evaluate_predictions(val, test_b, task, config)
    for point, row_a, row_b in zip(points, a.operating_points, b.operating_points, strict=True):
        expected = copy.deepcopy(point).fit(val.labels, val.scores).threshold_
        on_test = copy.deepcopy(point).fit(test_a.labels, test_a.scores).threshold_
        assert row_a["threshold"] == row_b["threshold"] == expected != on_test
        called = test_a.scores >= expected
        positives = test_a.labels == 1
        assert row_a["sensitivity"].value == pytest.approx(called[positives].mean())
    t_val = TemperatureScaler("sigmoid").fit(val.logits[:, 0], val.labels).temperature_
    t_test = TemperatureScaler("sigmoid").fit(test_a.logits[:, 0], test_a.labels).temperature_
    assert a.calibration["temperature"] == b.calibration["temperature"] == t_val
    assert not math.isclose(t_val, t_test, rel_tol=0.05)
    # another val moves them
    c = evaluate_predictions(_split(task, *_binary(3, 80, shift=0.8)), test_a, task, config)
    assert c.calibration["temperature"] != t_val
    assert [r["threshold"] for r in c.operating_points] != [
        r["threshold"] for r in a.operating_points
    ]


def test_inputs_and_operating_points_are_left_unchanged():
    task = make_task("binary", ["neg", "pos"])
    val = _split(task, *_binary(0, 40, shift=1.0))
    test = _split(task, *_binary(1, 40, shift=1.0))
    before = [x.copy() for x in (val.logits, val.scores, test.logits, test.scores, test.labels)]
    points = OperatingPoints.default()
    evaluate_predictions(val, test, task, EvaluationConfig(operating_points=points, **FAST))
    after = (val.logits, val.scores, test.logits, test.scores, test.labels)
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not any(hasattr(p, "threshold_") for p in points)


def test_binary_per_class_uses_both_columns():
    task = make_task("binary", ["neg", "pos"])
    val = _split(task, *_binary(0, 40, shift=1.0))
    test = _split(task, *_binary(1, 40, shift=1.0))
    r = evaluate_predictions(val, test, task, EvaluationConfig(**FAST))
    assert r.positive == {"classes": ["pos"], "name": "pos"}
    y, p = test.labels, test.scores
    assert r.per_class[0]["auc"].value == pytest.approx(roc_auc_score(y == 0, 1 - p))
    assert r.per_class[1]["sensitivity"].value == pytest.approx((p[y == 1] > 0.5).mean())
    assert "kappa_quadratic" not in r.metrics and "roc" in r.curves


def test_multilabel_has_no_binary_view_and_scores_each_label():
    task = make_task("multilabel", ["x", "y", "z"])
    rng = np.random.default_rng(0)
    y = (rng.random((50, 3)) < 0.4).astype(np.int64)
    z = rng.normal(size=(50, 3)) + 2.0 * (y - 0.5)
    val, test = _split(task, z[:25], y[:25]), _split(task, z[25:], y[25:])
    r = evaluate_predictions(val, test, task, EvaluationConfig(**FAST))
    assert r.positive is None and r.operating_points == [] and r.confusion_matrix is None
    assert r.metrics["acc"].value == pytest.approx(((test.scores > 0.5) == y[25:]).mean())
    assert "a multi-label task" in r.notes[-1]
    assert set(r.curves) == {"reliability"}
    with pytest.raises(ValueError, match="needs a binary view"):
        evaluate_predictions(val, test, task, EvaluationConfig(readers_csv="r.csv", **FAST))


def test_ordinal_defaults_to_referable_and_grouped_rows_use_the_grouped_bootstrap():
    task = make_task("ordinal", list("01234"))
    rng = np.random.default_rng(0)
    y = np.arange(60) % 5
    z = rng.normal(size=(60, 4)) + 2.0 * (y[:, None] > np.arange(4)) - 1.0
    groups = [f"p{i // 2}" for i in range(30)]
    val = _split(task, z[:30], y[:30])
    test = _split(task, z[30:], y[30:], groups=groups)
    r = evaluate_predictions(val, test, task, EvaluationConfig(**FAST))
    assert r.positive["name"] == "referable" and "kappa_linear" in r.metrics
    assert r.metrics["auc"].method.startswith("bootstrap")
    assert any("patient groups" in n for n in r.notes)
    assert r.metrics["acc"].value == pytest.approx((test.scores.argmax(1) == y[30:]).mean())


def test_subgroups_take_the_given_values_and_need_one_per_row():
    task = make_task("binary", ["neg", "pos"])
    val = _split(task, *_binary(0, 40, shift=1.0))
    test = _split(task, *_binary(1, 40, shift=1.0))
    values = ["A" if i % 3 else "B" for i in range(40)]
    config = EvaluationConfig(groups_column="site", group_values=values, **FAST)
    table = evaluate_predictions(val, test, task, config).subgroups["site"]
    assert [(r["group"], r["n"]) for r in table] == [("(all)", 40), ("A", 26), ("B", 14)]
    b = np.array(values) == "B"
    expected = roc_auc_score(test.labels[b], test.scores[b])
    assert table[2]["metrics"]["auc"].value == pytest.approx(expected)
    with pytest.raises(ValueError, match="one group value per scored row"):
        evaluate_predictions(val, test, task, EvaluationConfig(groups_column="site", **FAST))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ci": "wald"}, "ci must be 'delong' or 'bootstrap'"),
        ({"n_bins": 0}, "n_bins must be an int >= 1"),
        ({"level": 1.5}, "level must be a number in"),
        ({"n_resamples": 2.5}, "n_resamples must be an int"),
    ],
)
def test_config_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        EvaluationConfig(**options)


def test_predictions_need_one_row_per_sample():
    with pytest.raises(ValueError, match="one row per sample"):
        SplitPredictions(logits=np.zeros((3, 1)), scores=np.zeros(2), labels=np.zeros(3))


def test_binary_positive_0_scores_class_0():
    """--positive 0 on a binary task: the view's label and score are both class 0's, so it
    scores exactly as the mirrored task (labels and logits flipped) with class 1 positive."""
    task = make_task("binary", ["healthy", "sick"])
    mirror = make_task("binary", ["sick", "healthy"])
    (zv, yv), (zt, yt) = _binary(0, 60, shift=0.7), _binary(1, 60, shift=0.7)
    yt[:9] = 0  # unequal classes, so that class 0 and class 1 differ in every count
    config = EvaluationConfig(positive="healthy", **FAST)
    r = evaluate_predictions(_split(task, zv, yv), _split(task, zt, yt), task, config)
    m_config = EvaluationConfig(positive="healthy", **FAST)
    m = evaluate_predictions(
        _split(mirror, -zv, 1 - yv), _split(mirror, -zt, 1 - yt), mirror, m_config
    )
    assert r.positive["classes"] == ["healthy"]
    assert r.metrics["auc_positive"].value == pytest.approx(m.metrics["auc_positive"].value)
    for ours, theirs in zip(r.operating_points, m.operating_points, strict=True):
        assert ours["threshold"] == pytest.approx(theirs["threshold"])
        assert ours["sensitivity"].n == int((yt == 0).sum())  # class 0 rows are the positives
        assert ours["sensitivity"].value == pytest.approx(theirs["sensitivity"].value)
        assert ours["specificity"].value == pytest.approx(theirs["specificity"].value)
    slope = r.metrics["calibration_slope"].value
    assert slope == pytest.approx(m.metrics["calibration_slope"].value, rel=1e-4)


def test_multilabel_subgroup_accuracy_counts_labels_decided_right():
    task = make_task("multilabel", ["x", "y", "z"])
    rng = np.random.default_rng(2)
    y = (rng.random((60, 3)) < 0.4).astype(np.int64)
    z = rng.normal(size=(60, 3)) + 2.0 * (y - 0.5)
    values = ["A" if i % 3 else "B" for i in range(30)]
    config = EvaluationConfig(groups_column="site", group_values=values, **FAST)
    val, test = _split(task, z[:30], y[:30]), _split(task, z[30:], y[30:])
    r = evaluate_predictions(val, test, task, config)
    hits = ((test.scores > 0.5) == y[30:]).mean(1)
    rows = {row["group"]: row for row in r.subgroups["site"]}
    assert rows["(all)"]["metrics"]["acc"].value == pytest.approx(r.metrics["acc"].value)
    for group in ("A", "B"):
        in_group = np.array(values) == group
        assert rows[group]["metrics"]["acc"].value == pytest.approx(hits[in_group].mean())
        assert rows[group]["metrics"]["acc"].value > 0.5  # informative logits, not 0
