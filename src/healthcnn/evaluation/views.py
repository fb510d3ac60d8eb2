"""Helpers of :func:`~healthcnn.evaluation.evaluate_bundle`: the binary (e.g. referable) view of a
task, decisions, the bootstrap ROC band, subgroup columns and the temperature-scaling link."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..metrics import roc_curve
from ..metrics.estimate import DegenerateMetricWarning
from ..metrics.intervals import resample_indices
from ..tasks import Task

#: datasets whose classes are graded, with the positive classes of their clinical binary view
DEFAULT_POSITIVE = {"retinamnist": ((2, 3, 4), "referable")}
FPR_GRID = np.linspace(0.0, 1.0, 101)


def resolve_positive(
    task: Task, positive: str | Sequence[int | str] | None, source: str
) -> tuple[list[int], str] | None:
    """The class indices of the binary view and its name (``None``: no binary view)."""
    classes = list(task.classes)
    if task.kind == "multilabel":
        if positive is not None:
            raise ValueError("a multi-label task has no single positive class; drop --positive")
        return None
    if positive is None:
        if task.kind == "binary":
            return [1], classes[1]
        stem = Path(str(source)).stem.lower()
        for key, (idx, name) in DEFAULT_POSITIVE.items():
            if stem.startswith(key) and len(classes) == 5:
                return list(idx), name
        if task.kind == "ordinal" and len(classes) == 5:
            return [2, 3, 4], "referable"
        return None
    items = positive.split(",") if isinstance(positive, str) else list(positive)
    idx = []
    for item in items:
        text = str(item).strip()
        if text in classes:
            idx.append(classes.index(text))
        elif text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
            idx.append(int(text))
        else:
            raise ValueError(
                f"positive class {text!r} is neither a class name nor an index "
                f"0..{len(classes) - 1} of {classes}"
            )
    idx = sorted(set(idx))
    if not idx or len(idx) == len(classes):
        raise ValueError(f"positive must name some but not all classes of {classes}, got {idx}")
    return idx, "positive: " + "+".join(classes[i] for i in idx)


def binary_view(task: Task, probs: np.ndarray, targets: np.ndarray, idx: list[int]):
    if task.kind == "binary":
        return targets.astype(bool), probs
    return np.isin(targets, idx), probs[:, idx].sum(1)


def decisions(kind: str, probs: np.ndarray) -> np.ndarray:
    """MedMNIST conventions: binary ``p > 0.5``, otherwise argmax."""
    if kind == "binary":
        return (probs > 0.5).astype(np.int64)
    return probs.argmax(1)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        return fn(*args, **kwargs)


def roc_ci_band(
    y: np.ndarray,
    s: np.ndarray,
    *,
    groups: Sequence[Any] | None = None,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Pointwise percentile band of the ROC curve's sensitivity on a fixed false-positive-rate
    grid (101 points), from class-stratified (or grouped) bootstrap resamples."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_resamples):
        i = resample_indices(len(y), rng, stratify=y, groups=groups)
        yb = y[i]
        if yb.all() or not yb.any():
            continue
        fpr, tpr, _ = quiet(roc_curve, yb, s[i])
        rows.append(np.interp(FPR_GRID, fpr, tpr))
    if not rows:
        nan = [float("nan")] * len(FPR_GRID)
        return {"fpr": FPR_GRID.tolist(), "tpr_low": nan, "tpr_high": nan}
    alpha = 1.0 - level
    lo, hi = np.quantile(np.stack(rows), [alpha / 2, 1 - alpha / 2], axis=0)
    return {"fpr": FPR_GRID.tolist(), "tpr_low": lo.tolist(), "tpr_high": hi.tolist()}


def group_values(ds: Any, source: str, column: str) -> list[str]:
    if column == "group" and ds.groups is not None:
        return [str(g) for g in ds.groups]
    if not str(source).endswith(".csv"):
        raise ValueError(
            f"data {source} has no column {column!r}: subgroups need an image CSV with that "
            f"column (MedMNIST files carry no patient attributes)"
        )
    with Path(source).open(newline="") as fh:
        reader = csv.DictReader(fh)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{source} has no column {column!r}; columns: {reader.fieldnames}")
        by_id = {row["path"]: row[column] for row in reader}
    if ds.ids is None:
        raise ValueError("the dataset has no ids to match CSV rows to; cannot form subgroups")
    return [by_id[i] for i in ds.ids]


def temperature_link(task: Task):
    if task.kind in ("binary", "multilabel"):
        return "sigmoid"
    if task.kind == "multiclass":
        return "softmax"

    def decode(z: np.ndarray) -> np.ndarray:
        return task.probabilities(torch.from_numpy(np.asarray(z, dtype=np.float32))).numpy()

    return decode


def task_probabilities(task: Task, logits: np.ndarray) -> np.ndarray:
    return task.probabilities(torch.from_numpy(logits.astype(np.float32))).numpy()


def calibration_data(kind: str, y: np.ndarray, probs: np.ndarray):
    """(labels, probabilities) in the form the calibration metrics take (multi-label: every
    label as one binary prediction)."""
    if kind == "multilabel":
        return y.reshape(-1).astype(np.int64), probs.reshape(-1)
    return y, probs
