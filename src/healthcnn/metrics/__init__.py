"""Evaluation metrics: pure functions, numpy arrays in, floats (or frozen dataclasses) out."""

from .classification import METRICS, DegenerateMetricWarning, accuracy, roc_auc

__all__ = ["METRICS", "DegenerateMetricWarning", "accuracy", "roc_auc"]
