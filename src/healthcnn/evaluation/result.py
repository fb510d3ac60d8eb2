"""``EvaluationResult``: what :func:`~healthcnn.evaluation.evaluate_predictions` measured, and
its JSON form (the contract ``healthcnn evaluate --format json`` prints and ``healthcnn report``
reads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._json import plain
from .readers import readers_to_dict
from .subgroups import subgroups_to_dict


def _plain(value: Any) -> Any:
    """Plain data; NaN stays NaN here (the CLI's JSON turns it into null)."""
    return plain(value, nonfinite=True)


@dataclass
class EvaluationResult:
    """Everything ``evaluate_predictions`` measured; :meth:`to_dict` is the JSON contract.

    ``scores``/``labels`` (the requested split) and ``val_scores``/``val_labels`` keep the raw
    predictions for further analysis; they are not part of the JSON."""

    bundle: str
    data: str
    split: str
    task: str
    classes: list[str]
    n: int
    positive: dict[str, Any] | None
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    operating_points: list[dict[str, Any]]
    curves: dict[str, Any] | None
    confusion_matrix: dict[str, Any] | None
    subgroups: dict[str, list[dict[str, Any]]] | None
    readers: list[dict[str, Any]] | None
    calibration: dict[str, Any] | None
    seed: int
    level: float
    notes: list[str] = field(default_factory=list)
    prediction_sets: dict[str, Any] | None = None
    selective: dict[str, Any] | None = None
    scores: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    val_scores: np.ndarray | None = field(default=None, repr=False)
    val_labels: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "data": self.data,
            "split": self.split,
            "task": self.task,
            "classes": list(self.classes),
            "n": self.n,
            "positive": self.positive,
            "metrics": _plain(self.metrics),
            "per_class": _plain(self.per_class),
            "operating_points": _plain(self.operating_points),
            "curves": _plain(self.curves),
            "confusion_matrix": _plain(self.confusion_matrix),
            "subgroups": (
                None
                if self.subgroups is None
                else {k: subgroups_to_dict(v) for k, v in self.subgroups.items()}
            ),
            "readers": None if self.readers is None else readers_to_dict(self.readers),
            "calibration": _plain(self.calibration),
            "seed": self.seed,
            "level": self.level,
            "notes": list(self.notes),
            "prediction_sets": _plain(self.prediction_sets),
            "selective": _plain(self.selective),
        }

    def __getitem__(self, key: str) -> Any:
        """``result["metrics"]``: read the JSON form like a dict."""
        return self.to_dict()[key]
