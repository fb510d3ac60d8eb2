"""Clinical evaluation: ``evaluate_predictions(val, test, task, config)`` scores a model's
predictions (operating points and temperature fitted on val, CIs, calibration, subgroups, reader
comparison); ``evaluate_bundle`` loads a bundle, predicts and calls it (what ``healthcnn
evaluate`` prints)."""

from .config import EvaluationConfig, SplitPredictions
from .evaluate import evaluate_bundle, evaluate_predictions
from .operating_points import OperatingPoint, OperatingPoints, parse_points
from .readers import Reader, compare_readers, load_readers
from .result import EvaluationResult
from .subgroups import subgroup_metrics
from .views import roc_ci_band

__all__ = [
    "EvaluationConfig",
    "EvaluationResult",
    "OperatingPoint",
    "OperatingPoints",
    "Reader",
    "SplitPredictions",
    "compare_readers",
    "evaluate_bundle",
    "evaluate_predictions",
    "load_readers",
    "parse_points",
    "roc_ci_band",
    "subgroup_metrics",
]
