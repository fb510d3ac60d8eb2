"""ROC AUC and accuracy against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.metrics import DegenerateMetricWarning, accuracy_from_scores, roc_auc

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_auc_by_hand_with_a_tie():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4), (0.8>0.1), (0.4=0.4 -> 1/2),
    # (0.4>0.1) -> 3.5 / 4
    y = np.array([1, 0, 1, 0])
    s = np.array([0.8, 0.4, 0.4, 0.1])
    assert roc_auc(y, s) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize("seed", range(5))
def test_binary_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 1)  # rounding makes many ties
    assert roc_auc(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_auc_is_unweighted_one_vs_rest_mean_like_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    want = sklearn_metrics.roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert roc_auc(y, p) == pytest.approx(want, abs=1e-12)


def test_multilabel_auc_is_mean_over_labels_like_sklearn():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, (150, 3))
    s = rng.random((150, 3)) + 0.5 * y
    want = sklearn_metrics.roc_auc_score(y, s, average="macro")
    assert roc_auc(y, s) == pytest.approx(want, abs=1e-12)


def test_single_class_gives_nan_with_a_warning():
    with pytest.warns(DegenerateMetricWarning, match="only one class"):
        assert np.isnan(roc_auc(np.ones(5, dtype=int), np.linspace(0, 1, 5)))
    # multi-class with a class missing: averaged over the classes present, with a warning
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.5, 0.2]])
    with pytest.warns(DegenerateMetricWarning, match=r"class indices \[2\]"):
        value = roc_auc(y, p)
    expected = np.mean([sklearn_metrics.roc_auc_score(y == k, p[:, k]) for k in (0, 1)])
    assert value == pytest.approx(expected)


def test_inputs_are_not_mutated_and_bad_input_is_named():
    y = np.array([0, 1, 1, 0])
    s = np.array([0.3, 0.2, 0.9, 0.1])
    y0, s0 = y.copy(), s.copy()
    roc_auc(y, s)
    accuracy_from_scores(y, s)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(s, s0)
    with pytest.raises(ValueError, match="NaN or inf"):
        roc_auc(y, np.array([0.1, np.nan, 0.2, 0.3]))
    with pytest.raises(ValueError, match="y_true in"):
        roc_auc(np.array([0, 2, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="4 samples but y_score has 3"):
        roc_auc(y, s[:3])


def test_accuracy_from_scores_matches_sklearn_on_decisions_for_each_kind():
    rng = np.random.default_rng(3)
    # binary: threshold 0.5, strictly greater (MedMNIST)
    y = rng.integers(0, 2, 100)
    s = rng.random(100)
    s[:3] = 0.5
    assert accuracy_from_scores(y, s) == pytest.approx(sklearn_metrics.accuracy_score(y, s > 0.5))
    # multi-class: argmax
    yk = rng.integers(0, 3, 100)
    p = rng.random((100, 3))
    assert accuracy_from_scores(yk, p) == pytest.approx(
        sklearn_metrics.accuracy_score(yk, p.argmax(1))
    )
    # multi-label: per-label accuracy averaged over labels
    ym = rng.integers(0, 2, (100, 4))
    sm = rng.random((100, 4))
    per_label = [sklearn_metrics.accuracy_score(ym[:, j], sm[:, j] > 0.5) for j in range(4)]
    assert accuracy_from_scores(ym, sm) == pytest.approx(np.mean(per_label))
