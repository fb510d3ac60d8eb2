"""The contract of names shared with scikit-learn: a metric named like one of scikit-learn's
takes its arguments in the same order, with the same meaning, and gives the same value."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import healthcnn.metrics as hm

skm = pytest.importorskip("sklearn.metrics")

#: our name -> scikit-learn's (the suffixes _score / _loss dropped)
SKLEARN_NAMES = {
    "accuracy": "accuracy_score",
    "balanced_accuracy": "balanced_accuracy_score",
    "f1": "f1_score",
    "roc_auc": "roc_auc_score",
    "cohen_kappa": "cohen_kappa_score",
    "brier_score": "brier_score_loss",
    "confusion_matrix": "confusion_matrix",
    "roc_curve": "roc_curve",
    "precision_recall_curve": "precision_recall_curve",
}


def _sklearn_name(name: str) -> str | None:
    for candidate in (name, f"{name}_score", f"{name}_loss"):
        if hasattr(skm, candidate):
            return candidate
    return None


def test_every_exported_name_shared_with_sklearn_is_checked_here() -> None:
    shared = {n: _sklearn_name(n) for n in hm.__all__ if callable(getattr(hm, n))}
    shared = {n: s for n, s in shared.items() if s is not None}
    assert shared == SKLEARN_NAMES


@pytest.mark.parametrize("name", sorted(SKLEARN_NAMES))
def test_first_two_arguments_are_sklearns(name: str) -> None:
    ours = list(inspect.signature(getattr(hm, name)).parameters)[:2]
    theirs = list(inspect.signature(getattr(skm, SKLEARN_NAMES[name])).parameters)[:2]
    # the same roles in the same order: truth first, then decisions / scores / probabilities
    assert ours[0] in ("y_true", "a") and theirs[0] in ("y_true", "y1")
    assert ours[1] == theirs[1] or (ours[1], theirs[1]) in {
        ("b", "y2"),
        ("y_prob", "y_proba"),
    }


def test_accuracy_is_sklearns_on_labels_binary_multiclass_and_multilabel() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 5):
        y = rng.integers(0, k, 200)
        p = np.where(rng.random(200) < 0.7, y, rng.integers(0, k, 200))
        assert hm.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
        assert hm.accuracy(y, p, normalize=False) == skm.accuracy_score(y, p, normalize=False)
        assert hm.accuracy(y, y) == 1.0  # perfect multi-class labels: 1, never 0.5
    ym = rng.integers(0, 2, (100, 4))
    pm = np.where(rng.random((100, 4)) < 0.8, ym, 1 - ym)
    assert hm.accuracy(ym, pm) == pytest.approx(skm.accuracy_score(ym, pm))  # subset accuracy
    names = np.array(["cat", "dog", "dog", "cat"])
    assert hm.accuracy(names, names[::-1]) == skm.accuracy_score(names, names[::-1])


def test_accuracy_refuses_scores_naming_accuracy_from_scores() -> None:
    y = np.array([0, 1, 2, 1])
    probs = np.eye(3)[y] * 0.8 + 0.2 / 3
    with pytest.raises(ValueError, match="accuracy_from_scores"):
        hm.accuracy(y, probs)
    with pytest.raises(ValueError, match="accuracy_from_scores"):
        hm.accuracy(np.array([0, 1]), np.array([0.2, 0.9]))
    assert hm.accuracy_from_scores(y, probs) == 1.0
    assert hm.accuracy(y, np.array([0.0, 1.0, 2.0, 0.0])) == 0.75  # integral floats are labels


def test_threshold_and_score_metrics_give_sklearns_values() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1)
    p = (s > 0.5).astype(int)
    assert float(hm.f1(y, p, ci=None)) == pytest.approx(skm.f1_score(y, p))
    assert float(hm.balanced_accuracy(y, p, ci=None)) == pytest.approx(
        skm.balanced_accuracy_score(y, p)
    )
    assert float(hm.roc_auc(y, s, ci=None)) == pytest.approx(skm.roc_auc_score(y, s))
    assert float(hm.brier_score(y, s, ci=None)) == pytest.approx(skm.brier_score_loss(y, s))
    np.testing.assert_array_equal(hm.confusion_matrix(y, p), skm.confusion_matrix(y, p))
    r = rng.integers(0, 4, 300)
    q = np.where(rng.random(300) < 0.6, r, rng.integers(0, 4, 300))
    for weights in (None, "linear", "quadratic"):
        ours = float(hm.cohen_kappa(r, q, weights, ci=None))
        assert ours == pytest.approx(skm.cohen_kappa_score(r, q, weights=weights))
    assert float(hm.balanced_accuracy(r, q, ci=None)) == pytest.approx(
        skm.balanced_accuracy_score(r, q)
    )
