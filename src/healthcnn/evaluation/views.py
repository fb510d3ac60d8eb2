"""Helpers of the evaluation: the bootstrap ROC band, subgroup columns of a dataset, and
``quiet`` (a metric call with its degenerate-input warning silenced). What depends on the task
kind (decisions, the binary view, the temperature link) is a method of the task."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import roc_curve
from ..metrics.estimate import DegenerateMetricWarning
from ..metrics.intervals import resample_indices

FPR_GRID = np.linspace(0.0, 1.0, 101)


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
