"""Prediction sets and selective prediction inside ``evaluate_predictions``: fitted on val only,
the numbers against the metrics computed directly, strict JSON, every kind's shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _synthetic import multiclass_logits, split_predictions

from healthcnn._json import dumps
from healthcnn.evaluation import EvaluationConfig, SplitPredictions, evaluate_predictions
from healthcnn.metrics.conformal import ConformalClassifier
from healthcnn.metrics.selective import AbstainRule, aurc
from healthcnn.tasks import make_task

FAST = {"n_resamples": 40}


def _split(task, logits, labels, members=None) -> SplitPredictions:
    return split_predictions(task, logits, labels, member_scores=members)


def _multiclass(seed: int, n: int = 200, k: int = 4, signal: float = 1.5):
    return multiclass_logits(seed, n, k, signal)


def test_sets_and_selective_match_the_metrics_fitted_on_val():
    task = make_task("multiclass", list("abcd"))
    val, test = _split(task, *_multiclass(0)), _split(task, *_multiclass(1, signal=0.8))
    config = EvaluationConfig(set_coverage=0.8, set_method="raps", abstain_accuracy=0.7, **FAST)
    r = evaluate_predictions(val, test, task, config)
    rule = ConformalClassifier(0.8, "raps").fit(val.scores, val.labels)
    sets = rule.predict_sets(test.scores)
    ps = r.prediction_sets
    assert ps["thresholds"] == pytest.approx(rule.thresholds().tolist())
    hit = sets[np.arange(len(sets)), test.labels].mean()
    assert ps["coverage_achieved"].value == pytest.approx(hit)
    assert ps["mean_set_size"] == pytest.approx(sets.sum(1).mean())
    assert [row["n"] for row in ps["per_class"]] == [50] * 4
    assert ps["expected_spread"]["n"] == 200 and ps["fitted_on"] == "val"
    right = test.scores.argmax(1) == test.labels
    sel = r.selective
    assert sel["scores"]["softmax"]["aurc"] == pytest.approx(aurc(test.scores.max(1), right))
    assert set(sel["scores"]) == {"softmax", "set_size"}
    fitted = AbstainRule(0.7).fit(val.scores.max(1), val.scores.argmax(1) == val.labels)
    assert sel["abstain"]["threshold"] == pytest.approx(fitted.threshold_)
    kept = test.scores.max(1) >= fitted.threshold_
    assert sel["abstain"]["n_abstained"] == int((~kept).sum())
    assert sel["abstain"]["accuracy_kept"].value == pytest.approx(right[kept].mean())


def test_rules_follow_val_only():
    """Val and test disagree on purpose; changing test changes nothing that was fitted."""
    task = make_task("multiclass", list("abcd"))
    val = _split(task, *_multiclass(0))
    z, y = _multiclass(1, signal=-2.0)  # on test the model is confidently wrong
    config = EvaluationConfig(abstain_accuracy=0.8, **FAST)
    r1 = evaluate_predictions(val, _split(task, z, y), task, config)
    r2 = evaluate_predictions(val, _split(task, z[::-1].copy(), y), task, config)
    assert r1.prediction_sets["thresholds"] == r2.prediction_sets["thresholds"]
    assert r1.selective["abstain"]["threshold"] == r2.selective["abstain"]["threshold"]
    assert r1.prediction_sets["coverage_achieved"].value < 0.5  # test says so, val did not


def test_binary_ordinal_and_ensemble_shapes():
    binary = make_task("binary", ["neg", "pos"])
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    z = (rng.normal(size=120) + 1.5 * (2 * y - 1))[:, None]
    members = np.stack([_split(binary, z + d, y).scores for d in (-0.5, 0.5)])
    split = _split(binary, z, y, members=members)
    r = evaluate_predictions(split, split, binary, EvaluationConfig(**FAST))
    assert len(r.prediction_sets["per_class"]) == 2
    assert set(r.selective["scores"]) == {"softmax", "ensemble", "set_size"}
    ordinal = make_task("ordinal", list("01234"))
    zo, yo = _multiclass(2, n=100, k=5)
    split = _split(ordinal, zo[:, :4], yo)
    r = evaluate_predictions(split, split, ordinal, EvaluationConfig(set_method="lac", **FAST))
    assert len(r.prediction_sets["size_counts"]) == 6


def test_multilabel_has_none_and_says_why():
    task = make_task("multilabel", ["a", "b", "c"])
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=(60, 3)) > 0.5).astype(np.int64)
    split = _split(task, rng.normal(size=(60, 3)), y)
    r = evaluate_predictions(split, split, task, EvaluationConfig(**FAST))
    assert r.prediction_sets is None and r.selective is None
    assert any("multi-label task: no prediction sets" in n for n in r.notes)


def test_json_is_strict_and_sets_can_be_turned_off():
    task = make_task("multiclass", list("abcd"))
    tiny = _split(task, *_multiclass(0, n=8))  # 8 val rows: too few for 90% sets
    r = evaluate_predictions(tiny, tiny, task, EvaluationConfig(abstain_accuracy=0.99, **FAST))
    text = dumps(r.to_dict())
    assert "NaN" not in text and "Infinity" not in text
    d = json.loads(text)
    assert d["prediction_sets"]["thresholds"] == [None] * 4
    assert any("too few" in n for n in d["notes"])
    off = evaluate_predictions(tiny, tiny, task, EvaluationConfig(set_coverage=None, **FAST))
    assert off.prediction_sets is None and set(off.selective["scores"]) == {"softmax"}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"set_coverage": 90}, "set_coverage"),
        ({"abstain_accuracy": 1.5}, "abstain_accuracy"),
        ({"set_method": "thr"}, "set_method"),
        ({"class_conditional": "yes"}, "class_conditional"),
    ],
)
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        EvaluationConfig(**options)


def test_member_scores_must_match_the_rows():
    with pytest.raises(ValueError, match="member_scores"):
        SplitPredictions(np.zeros((3, 2)), np.zeros(3), np.zeros(3), member_scores=np.zeros((2, 4)))
