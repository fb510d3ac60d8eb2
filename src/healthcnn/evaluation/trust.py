"""The trust steps of :func:`~healthcnn.evaluation.evaluate_predictions`: split-conformal
prediction sets and selective prediction (risk-coverage, AURC, the abstain rule).

Both are fitted on the validation predictions only and applied unchanged to the scored split.
They need one distribution over the classes per row, so single-label tasks (binary,
multi-class, ordinal) only; for multi-label tasks both parts are ``None`` and a note says why.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..metrics import proportion_ci
from ..metrics.conformal import (
    ConformalClassifier,
    coverage_by_class,
    coverage_spread,
    mean_set_size,
    set_coverage,
)
from ..metrics.selective import (
    AbstainRule,
    accuracy_at_coverage,
    aurc,
    confidence_scores,
    excess_aurc,
    risk_coverage_curve,
)
from ..tasks import Task
from .config import EvaluationConfig

MULTILABEL_NOTE = (
    "multi-label task: no prediction sets or selective prediction (per-label probabilities "
    "are not one distribution over the classes)"
)
CURVE_POINTS = 200  # the most points of a risk-coverage curve kept in the result


def class_probabilities(task: Task, split: Any) -> np.ndarray:
    """``(N, K)`` class probabilities of a split (binary: ``[1 - p, p]``)."""
    return np.asarray(task.class_columns(split.scores), dtype=np.float64)


def fit_sets(task: Task, val: Any, config: EvaluationConfig) -> ConformalClassifier:
    """The conformal rule of ``config`` fitted on the validation predictions."""
    rule = ConformalClassifier(
        config.set_coverage, config.set_method, config.class_conditional, seed=config.seed
    )
    return rule.fit(class_probabilities(task, val), np.asarray(val.labels))


def prediction_sets(
    task: Task, val: Any, test: Any, config: EvaluationConfig
) -> tuple[dict[str, Any] | None, np.ndarray | None, list[str]]:
    """Sets fitted on val, their coverage on the scored split overall and per class (Wilson
    intervals), their sizes, and the spread of coverage one validation draw allows.
    Returns ``(part, sets, notes)``."""
    if not task.single_label or config.set_coverage is None:
        return None, None, [MULTILABEL_NOTE] if not task.single_label else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rule = fit_sets(task, val, config)
    sets = rule.predict_sets(class_probabilities(task, test))
    y = np.asarray(test.labels)
    sizes = np.bincount(sets.sum(axis=1), minlength=task.num_classes + 1)
    part = {
        **rule.to_dict(),
        "fitted_on": "val",
        "coverage_achieved": set_coverage(sets, y, config.level),
        "mean_set_size": mean_set_size(sets),
        "size_counts": sizes.tolist(),
        "per_class": coverage_by_class(sets, y, task.classes, config.level),
        "expected_spread": coverage_spread(rule.n_, float(config.set_coverage)),
    }
    return part, sets, [f"prediction sets: {w.message}" for w in caught]


def _thin(curve: dict[str, np.ndarray]) -> dict[str, list[float]]:
    n = len(curve["coverage"])
    keep = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int))
    return {k: curve[k][keep].tolist() for k in ("coverage", "risk")}


def selective_scores(confidence: np.ndarray, correct: np.ndarray, level: float) -> dict[str, Any]:
    """AURC, E-AURC, accuracy at 50% coverage and the (thinned) risk-coverage curve."""
    return {
        "aurc": aurc(confidence, correct),
        "e_aurc": excess_aurc(confidence, correct),
        "accuracy_at_50": accuracy_at_coverage(confidence, correct, 0.5, level),
        "curve": _thin(risk_coverage_curve(confidence, correct)),
    }


def _confidences(task: Task, split: Any, sets: np.ndarray | None) -> dict[str, np.ndarray]:
    probs = class_probabilities(task, split)
    out = {"softmax": confidence_scores(probs)}
    members = getattr(split, "member_scores", None)
    if members is not None:
        cols = np.stack([task.class_columns(m) for m in np.asarray(members)])
        out["ensemble"] = confidence_scores(cols, "ensemble")
    if sets is not None:
        out["set_size"] = confidence_scores(probs, "set_size", sets)
    return out


def selective(
    task: Task, val: Any, test: Any, sets: np.ndarray | None, config: EvaluationConfig
) -> tuple[dict[str, Any] | None, list[str]]:
    """Risk-coverage for each confidence score (softmax; the ensemble mean when the split has
    ``member_scores``; minus the set size when there are sets) and, with a target, the abstain
    rule fitted on val and applied to the scored split. Returns ``(part, notes)``."""
    if not task.single_label:
        return None, []
    y = np.asarray(test.labels)
    correct = task.decisions(test.scores) == y
    scores = {
        name: selective_scores(c, correct, config.level)
        for name, c in _confidences(task, test, sets).items()
    }
    abstain, notes = abstain_step(task, val, test, config)
    accuracy = float(correct.mean()) if len(y) else None
    return {"accuracy_all": accuracy, "scores": scores, "abstain": abstain}, notes


def abstain_step(
    task: Task, val: Any, test: Any, config: EvaluationConfig
) -> tuple[dict[str, Any] | None, list[str]]:
    """The softmax-confidence abstain rule fitted on val, and what it does on the scored split."""
    if config.abstain_accuracy is None:
        return None, []
    right_val = task.decisions(val.scores) == np.asarray(val.labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rule = AbstainRule(target_accuracy=config.abstain_accuracy).fit(
            confidence_scores(class_probabilities(task, val)), right_val
        )
    off = rule.abstain(confidence_scores(class_probabilities(task, test)))
    right = task.decisions(test.scores) == np.asarray(test.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # everything abstained: accuracy NaN, said by n = 0
        kept_acc = accuracy_at_kept(right, off, config.level)
    part = {
        **rule.to_dict(),
        "confidence": "softmax",
        "fitted_on": "val",
        "coverage": float((~off).mean()) if len(off) else None,
        "n_abstained": int(off.sum()),
        "accuracy_kept": kept_acc,
    }
    return part, [f"abstain rule: {w.message}" for w in caught]


def accuracy_at_kept(right: np.ndarray, abstain: np.ndarray, level: float) -> Any:
    """Accuracy of the cases the rule kept (Wilson interval)."""
    kept = ~abstain
    return proportion_ci(int(right[kept].sum()), int(kept.sum()), "wilson", level)
