"""``evaluate_bundle``: score a trained bundle the way clinical papers report a model.

The bundle predicts the validation split **and** the requested split. Everything that is fitted
(operating-point thresholds, the calibration temperature) is fitted on validation only and then
applied unchanged to the requested split. The result (:class:`EvaluationResult`) serialises to
the JSON contract that ``healthcnn evaluate --format json`` prints and ``healthcnn report`` reads;
every metric there is ``{value, ci_low, ci_high, method, n}`` (NaN where undefined).

**Binary view.** Operating points, ROC/PR curves, reader comparison and calibration slope need
one positive class. Binary tasks have it (``classes[1]``). For multi-class and ordinal tasks the
``positive`` classes are merged (their probabilities summed): RetinaMNIST's 5 DR grades default
to "referable" = grade >= 2 (classes 2, 3, 4), as do 5-class ordinal tasks; otherwise pass
``positive``. Multi-label tasks have no binary view (those parts are ``null``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import load_bundle
from ..data.sources import SPLITS, load_splits
from ..inference.precision import PrecisionPolicy
from ..inference.predict import infer_logits
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
from .operating_points import OperatingPoint, OperatingPoints
from .readers import compare_readers, load_readers
from .result import EvaluationResult
from .subgroups import subgroup_metrics
from .views import (
    binary_view,
    calibration_data,
    decisions,
    group_values,
    quiet,
    resolve_positive,
    roc_ci_band,
    task_probabilities,
    temperature_link,
)

# ---- the evaluation --------------------------------------------------------------------------


def evaluate_bundle(
    bundle_dir: str | Path,
    *,
    split: str = "test",
    data: str | None = None,
    data_dir: str | None = None,
    operating_points: OperatingPoints | Sequence[OperatingPoint | Mapping[str, Any]] | None = None,
    groups_column: str | None = None,
    readers_csv: str | Path | None = None,
    positive: str | Sequence[int | str] | None = None,
    precision: str = "auto",
    ci: str = "delong",
    seed: int = 0,
    level: float = 0.95,
    n_bins: int = 15,
    n_resamples: int = 2000,
    min_group_size: int = 30,
    batch_size: int = 256,
) -> EvaluationResult:
    """Score a bundle on ``split`` of its data (or ``data``) with CIs, operating points fitted on
    val (default: sensitivity 0.90 and specificity 0.90), calibration, subgroups and readers.

    ``ci`` is the AUC interval (``"delong"`` or ``"bootstrap"``); when the split has patient
    groups with several rows each, AUC uses the grouped bootstrap regardless. Bootstrap
    intervals use ``seed``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if ci not in ("delong", "bootstrap"):
        raise ValueError(f"ci must be 'delong' or 'bootstrap', got {ci!r}")
    bundle = load_bundle(bundle_dir)
    meta = bundle.metadata
    task = bundle.task
    source = data or meta.get("data", {}).get("source")
    if source is None:
        raise ValueError(
            f"bundle {bundle_dir} does not say which data it was trained on; pass data"
        )
    split_seed = meta.get("seeds", {}).get("train", 0)
    splits, _ = load_splits(
        source, size=meta.get("data", {}).get("size", 28), data_dir=data_dir, seed=split_seed
    )
    policy = PrecisionPolicy.resolve(precision)
    views = bundle.preprocessing.views_transforms()

    def infer(ds):
        """Mean logits (for temperature scaling) and mean probabilities over the recorded
        views (one view unless the bundle recorded test-time augmentation)."""
        zs = []
        for tf in views:
            logits, raw = infer_logits(
                bundle.model, ds, batch_size=batch_size, policy=policy, transform=tf
            )
            zs.append(logits.numpy().astype(np.float64))
        probs = np.mean([task_probabilities(task, z) for z in zs], axis=0)
        return np.mean(zs, axis=0), probs, task.encode_labels(raw).cpu().numpy()

    ds = splits[split]
    z_val, p_val, y_val = infer(splits["val"])
    z, probs, y = (z_val, p_val, y_val) if split == "val" else infer(ds)
    notes: list[str] = []
    if split == "val":
        notes.append("scored on val, the split the thresholds and temperature were fitted on")
    kind = task.kind
    n = len(y)
    pos = resolve_positive(task, positive, source)
    groups = None
    if ds.groups is not None and len(set(ds.groups)) < len(ds.groups):
        groups = list(ds.groups)
        notes.append("rows share patient groups: AUC intervals use the grouped bootstrap")
    boot = {"n_resamples": n_resamples, "level": level, "seed": seed}
    auc_ci = "bootstrap" if groups is not None else ci
    auc_kw = {"ci": auc_ci, "level": level, "groups": groups, "n_resamples": n_resamples}
    auc_kw["seed"] = seed

    # -- overall metrics
    metrics: dict[str, Any] = {"auc": roc_auc(y, probs, **auc_kw)}
    if kind == "multilabel":
        hits = ((probs > 0.5) == y.astype(bool)).mean(1)
        metrics["acc"] = bootstrap_ci(np.mean, hits, **boot)
        pred = None
    else:
        pred = decisions(kind, probs)
        metrics["acc"] = proportion_ci(int((pred == y).sum()), n, "wilson", level)
        metrics["balanced_accuracy"] = quiet(balanced_accuracy, y, pred, **boot)
        if kind in ("multiclass", "ordinal"):
            labels = list(range(len(task.classes)))
            for w in ("quadratic", "linear"):
                metrics[f"kappa_{w}"] = quiet(cohen_kappa, y, pred, w, labels=labels, **boot)
    yc, pc = calibration_data(kind, y, probs)
    ece = expected_calibration_error(yc, pc, n_bins=n_bins)
    metrics["ece"] = ece
    metrics["mce"] = maximum_calibration_error(yc, pc, n_bins=n_bins)
    metrics["brier"] = brier_score(yc, pc, **boot)

    # -- the binary view: AUC, operating points, curves, readers
    y_bin = s_bin = None
    positive_info = None
    op_rows: list[dict[str, Any]] = []
    curves: dict[str, Any] | None = None
    ops: OperatingPoints | None = None
    if pos is not None:
        idx, name = pos
        positive_info = {"classes": [task.classes[i] for i in idx], "name": name}
        y_bin, s_bin = binary_view(task, probs, y, idx)
        yv_bin, sv_bin = binary_view(task, p_val, y_val, idx)
        metrics["auc_positive"] = roc_auc(y_bin, s_bin, **auc_kw)
        fit = quiet(calibration_slope_intercept, y_bin, s_bin)
        metrics["calibration_slope"] = Estimate(fit.slope, method="logistic", n=n, level=level)
        metrics["calibration_intercept"] = Estimate(
            fit.intercept, method="logistic", n=n, level=level
        )
        if operating_points is None:
            ops = OperatingPoints.default()
        elif isinstance(operating_points, OperatingPoints):
            ops = operating_points
        else:
            ops = OperatingPoints(operating_points)
        try:
            ops.fit(yv_bin, sv_bin)  # validation only
        except ValueError as exc:
            notes.append(f"operating points not fitted: {exc}")
            warnings.warn(f"operating points not fitted: {exc}", stacklevel=2)
            ops = None
        if ops is not None:
            op_rows = quiet(ops.apply, y_bin, s_bin, level=level)
        if y_bin.any() and not y_bin.all():
            fpr, tpr, thr = roc_curve(y_bin, s_bin)
            precision_, recall, _ = precision_recall_curve(y_bin, s_bin)
            curves = {
                "roc": {"fpr": fpr, "tpr": tpr, "thresholds": thr},
                "roc_ci_band": roc_ci_band(
                    y_bin, s_bin, groups=groups, n_resamples=n_resamples, level=level, seed=seed
                ),
                "pr": {"recall": recall, "precision": precision_},
            }
        else:
            notes.append("the split holds one class of the binary view: no ROC/PR curves")
    else:
        why = "a multi-label task" if kind == "multilabel" else "pass positive classes"
        notes.append(f"no binary view ({why}): no operating points, ROC/PR curves or readers")
    curves = dict(curves or {})
    curves["reliability"] = {
        "bin_edges": list(ece.bin_edges),
        "confidence": list(ece.confidence),
        "accuracy": list(ece.accuracy),
        "count": list(ece.count),
    }

    # -- per class
    per_class = _per_class(task, y, probs, pred, auc_kw, level)

    # -- confusion matrix
    cm = None
    if pred is not None:
        k = len(task.classes)
        cm = {"labels": list(task.classes), "matrix": confusion_matrix(y, pred, range(k))}

    # -- subgroups
    subgroups = None
    if groups_column:
        values = group_values(ds, source, groups_column)
        subgroups = {
            groups_column: subgroup_metrics(
                y, probs, values, _subgroup_fns(task, pos, ops, level), min_size=min_group_size
            )
        }

    # -- readers
    readers = None
    if readers_csv is not None:
        if y_bin is None:
            raise ValueError("reader comparison needs a binary view; pass positive classes")
        readers = compare_readers(load_readers(readers_csv), y_bin, s_bin, **boot)

    # -- temperature scaling, fitted on val
    link = temperature_link(task)
    zv = z_val[:, 0] if kind == "binary" else z_val
    scaler = TemperatureScaler(link).fit(zv, y_val)
    zt = scaler.transform(z[:, 0:1] if kind == "binary" else z)
    after = task_probabilities(task, zt.reshape(z.shape))
    calibration = {
        "temperature": scaler.temperature_,
        "fitted_on": "val",
        "nll_val_before": scaler.nll_before_,
        "nll_val_after": scaler.nll_after_,
        "ece_after": expected_calibration_error(*calibration_data(kind, y, after), n_bins=n_bins),
    }

    return EvaluationResult(
        bundle=str(bundle_dir),
        data=str(source),
        split=split,
        task=kind,
        classes=list(task.classes),
        n=n,
        positive=positive_info,
        metrics=metrics,
        per_class=per_class,
        operating_points=op_rows,
        curves=curves,
        confusion_matrix=cm,
        subgroups=subgroups,
        readers=readers,
        calibration=calibration,
        seed=seed,
        level=level,
        notes=notes,
        scores=probs,
        labels=y,
        val_scores=p_val,
        val_labels=y_val,
    )


def _per_class(task, y, probs, pred, auc_kw, level) -> list[dict[str, Any]]:
    rows = []
    kw = {**auc_kw, "groups": auc_kw["groups"]}
    for k, name in enumerate(task.classes):
        if task.kind == "binary":
            yk = y == k
            sk = probs if k == 1 else 1.0 - probs
            pk = pred == k
        elif task.kind == "multilabel":
            yk, sk, pk = y[:, k].astype(bool), probs[:, k], probs[:, k] > 0.5
        else:
            yk, sk, pk = y == k, probs[:, k], pred == k
        rows.append(
            {
                "class": name,
                "auc": quiet(roc_auc, yk.astype(np.int64), sk, **kw),
                "sensitivity": quiet(sensitivity, yk, pk, level=level),
                "n": int(yk.sum()),
            }
        )
    return rows


def _subgroup_fns(task: Task, pos, ops: OperatingPoints | None, level: float) -> dict[str, Any]:
    """AUC (and sensitivity/specificity at each fitted operating point) of the binary view when
    there is one; otherwise the task's AUC and accuracy."""
    if pos is None:
        return {
            "auc": lambda y, s: roc_auc(y, s, ci="delong", level=level),
            "acc": lambda y, s: proportion_ci(
                int((decisions(task.kind, s) == y).sum()) if task.kind != "multilabel" else 0,
                len(y),
                level=level,
            ),
        }
    idx = pos[0]

    def view(y, s):
        return binary_view(task, s, y, idx)

    fns: dict[str, Any] = {"auc": lambda y, s: roc_auc(*view(y, s), ci="delong", level=level)}
    for p in ops or []:
        fns[f"sensitivity@{p.name}"] = lambda y, s, p=p: sensitivity(
            view(y, s)[0], p.predict(view(y, s)[1]), level=level
        )
        fns[f"specificity@{p.name}"] = lambda y, s, p=p: specificity(
            view(y, s)[0], p.predict(view(y, s)[1]), level=level
        )
    return fns
