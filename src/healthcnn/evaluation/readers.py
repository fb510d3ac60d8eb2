"""Reader comparison: human readers' (sensitivity, specificity) points against the model's ROC.

For each reader the model is scored on the same test cases at two matched points:
its **specificity at the reader's sensitivity** (the most specific threshold whose sensitivity is
``>=`` the reader's) and its **sensitivity at the reader's specificity** (the most sensitive
threshold whose specificity is ``>=`` the reader's), each with a class-stratified percentile
bootstrap interval. ``below_curve`` is true when the reader's point lies strictly below the
model's empirical ROC curve (linear interpolation between its points), i.e. the model reaches
a higher sensitivity at the reader's false-positive rate. These are descriptive comparisons on
test data (no threshold from here is used as an operating point).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import bootstrap_ci, roc_curve
from ..metrics.estimate import NAN, as_binary_labels, as_scores

REQUIRED = ("reader", "sensitivity", "specificity")


@dataclass(frozen=True)
class Reader:
    """One reader's operating point (rates in [0, 1]) and optionally the case counts behind it."""

    name: str
    sensitivity: float
    specificity: float
    n_positive: int | None = None
    n_negative: int | None = None


def _float01(text: str, what: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{where}: {what} {text!r} is not a number") from None
    if v > 1.0 and v <= 100.0:
        raise ValueError(f"{where}: {what} {v} looks like a percentage; give a rate in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{where}: {what} {v} is outside [0, 1]")
    return v


def load_readers(path: str | Path) -> list[Reader]:
    """Readers from a CSV with columns ``reader, sensitivity, specificity`` (optionally
    ``n_positive, n_negative``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"readers CSV {path} does not exist")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {missing}; need {list(REQUIRED)} "
                f"(optionally n_positive, n_negative)"
            )
        out = []
        for i, row in enumerate(reader, start=2):
            where = f"{path} line {i}"
            counts = [
                int(row[c]) if row.get(c) not in (None, "") else None
                for c in ("n_positive", "n_negative")
            ]
            out.append(
                Reader(
                    row["reader"].strip(),
                    _float01(row["sensitivity"], "sensitivity", where),
                    _float01(row["specificity"], "specificity", where),
                    *counts,
                )
            )
    if not out:
        raise ValueError(f"{path} lists no readers")
    return out


def specificity_at_sensitivity(y: np.ndarray, s: np.ndarray, target: float) -> float:
    """The model's best specificity among thresholds with sensitivity >= ``target``."""
    fpr, tpr, _ = roc_curve(y, s)
    ok = tpr >= target - 1e-12
    return float(1.0 - fpr[ok].min()) if ok.any() else NAN


def sensitivity_at_specificity(y: np.ndarray, s: np.ndarray, target: float) -> float:
    """The model's best sensitivity among thresholds with specificity >= ``target``."""
    fpr, tpr, _ = roc_curve(y, s)
    ok = 1.0 - fpr >= target - 1e-12
    return float(tpr[ok].max()) if ok.any() else NAN


def compare_readers(
    readers: list[Reader],
    y: Any,
    score: Any,
    *,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One dict per reader: its point, the model's matched specificity/sensitivity Estimates,
    the model's ROC sensitivity at the reader's false-positive rate, and ``below_curve``."""
    yy = as_binary_labels(y)
    s = as_scores(score, len(yy))
    fpr, tpr, _ = roc_curve(yy, s)
    # the curve's highest sensitivity at each false-positive rate (vertical runs keep the top)
    ux, inverse = np.unique(fpr, return_inverse=True)
    top = np.full(len(ux), -np.inf)
    np.maximum.at(top, inverse, tpr)
    boot = {"stratify": yy, "n_resamples": n_resamples, "level": level, "seed": seed}
    out = []
    for r in readers:
        model_tpr = float(np.interp(1.0 - r.specificity, ux, top))
        row = {**_reader_point(r), **_matched(r, yy, s, boot)}
        row["model_sensitivity_at_reader_fpr"] = model_tpr
        row["below_curve"] = bool(model_tpr > r.sensitivity)
        out.append(row)
    return out


def _reader_point(r: Reader) -> dict[str, Any]:
    return {
        "reader": r.name,
        "sensitivity": r.sensitivity,
        "specificity": r.specificity,
        "n_positive": r.n_positive,
        "n_negative": r.n_negative,
    }


def _matched(r: Reader, y: np.ndarray, s: np.ndarray, boot: dict[str, Any]) -> dict[str, Any]:
    """The model's bootstrap specificity at the reader's sensitivity and vice versa."""
    spec = bootstrap_ci(
        lambda a, b, t=r.sensitivity: specificity_at_sensitivity(a, b, t), y, s, **boot
    )
    sens = bootstrap_ci(
        lambda a, b, t=r.specificity: sensitivity_at_specificity(a, b, t), y, s, **boot
    )
    return {
        "model_specificity_at_reader_sensitivity": spec,
        "model_sensitivity_at_reader_specificity": sens,
    }


def readers_to_dict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in r.items()} for r in rows]
