"""Clinical evaluation of a trained bundle: operating points fitted on tuning data, subgroup
tables, reader comparison, and ``evaluate_bundle`` (what ``healthcnn evaluate`` prints)."""

from .evaluate import evaluate_bundle
from .operating_points import OperatingPoint, OperatingPoints, parse_points
from .readers import Reader, compare_readers, load_readers
from .result import EvaluationResult
from .subgroups import subgroup_metrics
from .views import resolve_positive, roc_ci_band

__all__ = [
    "EvaluationResult",
    "OperatingPoint",
    "OperatingPoints",
    "Reader",
    "compare_readers",
    "evaluate_bundle",
    "load_readers",
    "parse_points",
    "resolve_positive",
    "roc_ci_band",
    "subgroup_metrics",
]
