"""The named steps of :func:`~healthcnn.evaluation.evaluate_predictions`: overall metrics, the
binary view (its AUC, calibration fit, operating points and curves), per class, confusion matrix,
subgroups, readers and temperature scaling.

Each step is a function of the task, the predictions and the :class:`EvaluationConfig`; whatever
depends on the task kind is a method of the task. Thresholds and the temperature are fitted on
the validation predictions only.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import (
    TemperatureScaler,
    balanced_accuracy,
    bootstrap_ci,
    brier_score,
    calibration_slope_intercept,
    cohen_kappa,
    confusion_matrix,
    expected_calibration_error,
    maximum_calibration_error,
    precision_recall_curve,
    proportion_ci,
    roc_auc,
    roc_curve,
    sensitivity,
    specificity,
)
from ..metrics.estimate import Estimate
from ..tasks import Task
from .config import EvaluationConfig
from .operating_points import OperatingPoints
from .readers import compare_readers, load_readers
from .subgroups import subgroup_metrics
from .views import quiet, roc_ci_band


@dataclass(frozen=True)
class BinaryView:
    """The binary (e.g. referable) view of the scored and the validation split."""

    classes: list[int]
    positive: dict[str, Any]
    y: np.ndarray
    score: np.ndarray
    y_val: np.ndarray
    score_val: np.ndarray


@dataclass
class BinaryScores:
    """What the binary view measured (all empty without one)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    points: OperatingPoints | None = None
    operating_points: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


# ---- overall ----------------------------------------------------------------------------------


def patient_groups(test: Any) -> list[str] | None:
    """The split's patient groups when rows share them (then AUCs use the grouped bootstrap)."""
    if test.groups is not None and len(set(test.groups)) < len(test.groups):
        return list(test.groups)
    return None


def split_notes(config: EvaluationConfig, groups: list[str] | None) -> list[str]:
    notes = []
    if config.split == "val":
        notes.append("scored on val, the split the thresholds and temperature were fitted on")
    if groups is not None:
        notes.append("rows share patient groups: AUC intervals use the grouped bootstrap")
    return notes


def overall_metrics(
    task: Task, y: np.ndarray, probs: np.ndarray, config: EvaluationConfig, auc_kw: dict
) -> dict[str, Any]:
    """AUC, accuracy (and for single-label tasks balanced accuracy and kappa), ECE, MCE, Brier."""
    metrics: dict[str, Any] = {"auc": roc_auc(y, probs, **auc_kw)}
    metrics.update(accuracy_metrics(task, y, probs, config))
    metrics.update(calibration_metrics(task, y, probs, config))
    return metrics


def accuracy_metrics(
    task: Task, y: np.ndarray, probs: np.ndarray, config: EvaluationConfig
) -> dict[str, Any]:
    boot = config.bootstrap
    if not task.single_label:
        return {"acc": accuracy_estimate(task, y, probs, config)}
    pred = task.decisions(probs)
    out = {
        "acc": accuracy_estimate(task, y, probs, config),
        "balanced_accuracy": quiet(balanced_accuracy, y, pred, **boot),
    }
    if task.scores_kappa:
        labels = list(range(task.num_classes))
        for w in ("quadratic", "linear"):
            out[f"kappa_{w}"] = quiet(cohen_kappa, y, pred, w, labels=labels, **boot)
    return out


def accuracy_estimate(task: Task, y: np.ndarray, probs: np.ndarray, config: EvaluationConfig):
    """Accuracy with its interval: single-label, the share of samples decided right (Wilson);
    multi-label, the mean over samples of the share of labels decided right (bootstrap)."""
    pred = task.decisions(probs)
    if not task.single_label:
        hits = (pred.astype(bool) == y.astype(bool)).mean(1)
        return bootstrap_ci(np.mean, hits, **config.bootstrap)
    return proportion_ci(int((pred == y).sum()), len(y), "wilson", config.level)


def calibration_metrics(
    task: Task, y: np.ndarray, probs: np.ndarray, config: EvaluationConfig
) -> dict[str, Any]:
    yc, pc = task.calibration_pairs(y, probs)
    return {
        "ece": expected_calibration_error(yc, pc, n_bins=config.n_bins),
        "mce": maximum_calibration_error(yc, pc, n_bins=config.n_bins),
        "brier": brier_score(yc, pc, **config.bootstrap),
    }


# ---- the binary view --------------------------------------------------------------------------


def binary_view(task: Task, val: Any, test: Any, config: EvaluationConfig) -> BinaryView | None:
    """The positive classes (``config.positive`` or the task's default for ``config.data``)
    merged, on both splits; ``None`` when the task has no binary view."""
    found = task.resolve_positive(config.positive, config.data or "")
    if found is None:
        return None
    idx, name = found
    y, s = task.binary_view(test.scores, test.labels, idx)
    y_val, s_val = task.binary_view(val.scores, val.labels, idx)
    positive = {"classes": [task.classes[i] for i in idx], "name": name}
    return BinaryView(idx, positive, y, s, y_val, s_val)


def score_binary_view(
    task: Task,
    view: BinaryView | None,
    config: EvaluationConfig,
    groups: list[str] | None,
    auc_kw: dict,
) -> BinaryScores:
    """AUC and calibration fit of the view, operating points fitted on val, ROC/PR curves."""
    if view is None:
        why = task.no_binary_view
        return BinaryScores(
            notes=[f"no binary view ({why}): no operating points, ROC/PR curves or readers"]
        )
    points, note = fit_operating_points(config.operating_points, view)
    rows = [] if points is None else quiet(points.apply, view.y, view.score, level=config.level)
    curves, curve_note = binary_curves(view, groups, config)
    notes = [n for n in (note, curve_note) if n]
    return BinaryScores(binary_metrics(view, config, auc_kw), points, rows, curves, notes)


def binary_metrics(view: BinaryView, config: EvaluationConfig, auc_kw: dict) -> dict[str, Any]:
    """AUC of the view, and the logistic calibration slope and intercept."""
    n, level = len(view.y), config.level
    fit = quiet(calibration_slope_intercept, view.y, view.score)
    return {
        "auc_positive": roc_auc(view.y, view.score, **auc_kw),
        "calibration_slope": Estimate(fit.slope, method="logistic", n=n, level=level),
        "calibration_intercept": Estimate(fit.intercept, method="logistic", n=n, level=level),
    }


def fit_operating_points(spec: Any, view: BinaryView) -> tuple[OperatingPoints | None, str]:
    """A copy of ``spec`` (default: sensitivity and specificity 0.90) fitted on the validation
    view; ``(None, why)`` when they cannot be fitted."""
    if spec is None:
        points = OperatingPoints.default()
    else:
        points = copy.deepcopy(spec if isinstance(spec, OperatingPoints) else OperatingPoints(spec))
    try:
        return points.fit(view.y_val, view.score_val), ""  # validation only
    except ValueError as exc:
        warnings.warn(f"operating points not fitted: {exc}", stacklevel=3)
        return None, f"operating points not fitted: {exc}"


def binary_curves(
    view: BinaryView, groups: list[str] | None, config: EvaluationConfig
) -> tuple[dict[str, Any] | None, str]:
    """ROC (with its bootstrap band) and PR curves; ``(None, why)`` with one class only."""
    y, s = view.y, view.score
    if not (y.any() and not y.all()):
        return None, "the split holds one class of the binary view: no ROC/PR curves"
    fpr, tpr, thr = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    band = roc_ci_band(
        y, s, groups=groups, n_resamples=config.n_resamples, level=config.level, seed=config.seed
    )
    roc = {"fpr": fpr, "tpr": tpr, "thresholds": thr}
    return {"roc": roc, "roc_ci_band": band, "pr": {"recall": recall, "precision": precision}}, ""


def reliability_curve(ece: Any) -> dict[str, list]:
    return {
        "bin_edges": list(ece.bin_edges),
        "confidence": list(ece.confidence),
        "accuracy": list(ece.accuracy),
        "count": list(ece.count),
    }


# ---- per class, confusion ---------------------------------------------------------------------


def per_class(
    task: Task, y: np.ndarray, probs: np.ndarray, auc_kw: dict, level: float
) -> list[dict[str, Any]]:
    """One-vs-rest AUC and sensitivity of each class."""
    rows = []
    for k, name in enumerate(task.classes):
        yk, sk, pk = task.one_vs_rest(y, probs, k)
        rows.append(
            {
                "class": name,
                "auc": quiet(roc_auc, yk.astype(np.int64), sk, **auc_kw),
                "sensitivity": quiet(sensitivity, yk, pk, level=level),
                "n": int(yk.sum()),
            }
        )
    return rows


def confusion(task: Task, y: np.ndarray, probs: np.ndarray) -> dict[str, Any] | None:
    """Rows: truth, columns: decision (single-label tasks only)."""
    if not task.single_label:
        return None
    k = task.num_classes
    matrix = confusion_matrix(y, task.decisions(probs), range(k))
    return {"labels": list(task.classes), "matrix": matrix}


# ---- subgroups, readers -----------------------------------------------------------------------


def subgroups(
    task: Task,
    test: Any,
    view: BinaryView | None,
    points: OperatingPoints | None,
    config: EvaluationConfig,
) -> dict[str, list[dict[str, Any]]] | None:
    """The subgroup table by ``config.groups_column`` (values ``config.group_values``)."""
    column = config.groups_column
    if not column:
        return None
    values = config.group_values
    if values is None or len(values) != len(test.labels):
        got = "none" if values is None else len(values)
        raise ValueError(
            f"subgroups by {column!r} need one group value per scored row ({len(test.labels)}), "
            f"got {got}; pass EvaluationConfig(group_values=...)"
        )
    fns = subgroup_functions(task, view, points, config)
    rows = subgroup_metrics(test.labels, test.scores, values, fns, min_size=config.min_group_size)
    return {column: rows}


def subgroup_functions(
    task: Task, view: BinaryView | None, points: OperatingPoints | None, config: EvaluationConfig
) -> dict[str, Any]:
    """AUC (and sensitivity/specificity at each fitted operating point) of the binary view when
    there is one; otherwise the task's AUC and accuracy, counted as the overall accuracy is (see
    :func:`accuracy_estimate`: multi-label, the share of labels decided right per sample)."""
    level = config.level
    if view is None:

        def accuracy(y, s):
            return accuracy_estimate(task, y, s, config)

        return {"auc": lambda y, s: roc_auc(y, s, ci="delong", level=level), "acc": accuracy}

    def on_view(y, s):
        return task.binary_view(s, y, view.classes)

    fns: dict[str, Any] = {"auc": lambda y, s: roc_auc(*on_view(y, s), ci="delong", level=level)}
    for p in points or []:
        fns[f"sensitivity@{p.name}"] = lambda y, s, p=p: sensitivity(
            on_view(y, s)[0], p.predict(on_view(y, s)[1]), level=level
        )
        fns[f"specificity@{p.name}"] = lambda y, s, p=p: specificity(
            on_view(y, s)[0], p.predict(on_view(y, s)[1]), level=level
        )
    return fns


def check_readers(view: BinaryView | None, config: EvaluationConfig) -> None:
    if config.readers_csv is not None and view is None:
        raise ValueError("reader comparison needs a binary view; pass positive classes")


def readers(view: BinaryView | None, config: EvaluationConfig) -> list[dict[str, Any]] | None:
    """The model against each reader of ``config.readers_csv`` on the binary view."""
    if config.readers_csv is None:
        return None
    check_readers(view, config)
    return compare_readers(load_readers(config.readers_csv), view.y, view.score, **config.bootstrap)


# ---- temperature scaling ----------------------------------------------------------------------


def temperature_scaling(
    task: Task, val: Any, test: Any, config: EvaluationConfig
) -> dict[str, Any]:
    """A temperature fitted on the validation logits, and the scored split's ECE after it."""
    scaler = TemperatureScaler(task.temperature_link()).fit(val.logits, val.labels)
    after = task.probabilities_array(scaler.transform(test.logits))
    return {
        "temperature": scaler.temperature_,
        "fitted_on": "val",
        "nll_val_before": scaler.nll_before_,
        "nll_val_after": scaler.nll_after_,
        "ece_after": expected_calibration_error(
            *task.calibration_pairs(test.labels, after), n_bins=config.n_bins
        ),
    }
