"""Evaluation metrics: pure functions, numpy arrays in, floats or frozen dataclasses out.

Metrics with uncertainty return an :class:`Estimate` (value, CI low, CI high, method, n); it
converts to ``float``. ``METRICS`` holds float-valued versions for the Trainer.

A function named like a scikit-learn metric takes that metric's arguments in its order, with
its meaning (``accuracy`` = ``accuracy_score(y_true, y_pred)``, ``roc_auc`` =
``roc_auc_score(y_true, y_score)``, ``f1``, ``balanced_accuracy``, ``confusion_matrix``,
``cohen_kappa``, ``brier_score``, ``roc_curve``, ``precision_recall_curve``), and gives its value;
an :class:`Estimate` adds the interval. Scores counted the MedMNIST way are
``accuracy_from_scores(y_true, y_score)``.
"""

from .agreement import cohen_kappa
from .auc import (
    DelongTest,
    delong_test,
    delong_variance,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)
from .calibration import (
    CalibrationFit,
    CalibrationResult,
    TemperatureScaler,
    brier_score,
    calibration_slope_intercept,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_diagram,
)
from .classification import METRICS, accuracy, accuracy_from_scores
from .estimate import DegenerateMetricWarning, Estimate
from .intervals import bootstrap_ci, proportion_ci
from .threshold import (
    balanced_accuracy,
    confusion_matrix,
    f1,
    npv,
    ppv,
    sensitivity,
    specificity,
)

__all__ = [
    "METRICS",
    "CalibrationFit",
    "CalibrationResult",
    "DegenerateMetricWarning",
    "DelongTest",
    "Estimate",
    "TemperatureScaler",
    "accuracy",
    "accuracy_from_scores",
    "balanced_accuracy",
    "bootstrap_ci",
    "brier_score",
    "calibration_slope_intercept",
    "cohen_kappa",
    "confusion_matrix",
    "delong_test",
    "delong_variance",
    "expected_calibration_error",
    "f1",
    "maximum_calibration_error",
    "npv",
    "ppv",
    "precision_recall_curve",
    "proportion_ci",
    "reliability_diagram",
    "roc_auc",
    "roc_curve",
    "sensitivity",
    "specificity",
]
