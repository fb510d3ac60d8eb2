"""``calibrate_bundle``: fit a prediction-set rule and an abstain rule on a bundle's validation
split and store them in the bundle (``trust.json``, sealed; see :mod:`healthcnn.bundle.trust`).
``predict`` then returns each input's set and abstain flag."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import load_bundle
from ..bundle.trust import TRUST_FORMAT, check_sealed, write_trust
from ..inference.precision import PrecisionPolicy
from ..metrics.conformal import set_coverage
from ..metrics.selective import AbstainRule, confidence_scores
from .config import EvaluationConfig
from .evaluate import _bundle_splits, _data_source, _split_predictor
from .operating_points import OperatingPoints
from .trust import class_probabilities, fit_sets


def calibrate_bundle(
    bundle_dir: str | Path,
    *,
    coverage: float | None = 0.9,
    method: str = "aps",
    class_conditional: bool = False,
    abstain_accuracy: float | None = None,
    positive: str | None = None,
    data_dir: str | None = None,
    precision: str = "auto",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Fit the rules on the bundle's validation split (its own data, same split seed) and write
    them into the bundle. ``coverage=None``: no set rule; ``abstain_accuracy=None``: no abstain
    rule (one of them is needed). The task's binary view (``positive`` classes, default: the
    data's clinical view) also gets the default operating points (sensitivity 0.90, specificity
    0.90) with their validation sensitivity and specificity, which ``predict`` and ``healthcnn
    serve`` decide with. Returns the stored record plus ``warnings``."""
    if coverage is None and abstain_accuracy is None:
        raise ValueError("give a coverage (prediction sets) or an abstain accuracy, or both")
    config = EvaluationConfig(
        split="val",
        set_coverage=coverage,
        set_method=method,
        class_conditional=class_conditional,
        abstain_accuracy=abstain_accuracy,
        positive=positive,
    )
    bundle = load_bundle(bundle_dir)
    check_sealed(bundle_dir)  # before the predictions, not after
    if not bundle.task.single_label:
        raise ValueError(
            f"{bundle_dir}: a {bundle.task.kind} task has no prediction sets or abstain rule "
            "(per-label probabilities are not one distribution over the classes)"
        )
    source = _data_source(bundle, None, bundle_dir)
    splits = _bundle_splits(bundle, source, data_dir)
    val = _split_predictor(bundle, PrecisionPolicy.resolve(precision), batch_size)(splits["val"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = _fit_record(bundle, val, config, source)
    write_trust(bundle_dir, record)
    return {**record, "warnings": [str(w.message) for w in caught]}


def _fit_record(bundle: Any, val: Any, config: EvaluationConfig, source: str) -> dict[str, Any]:
    task = bundle.task
    record: dict[str, Any] = {
        "format": TRUST_FORMAT,
        "format_version": 1,
        "fitted_on": "val",
        "data": str(source),
        "n_val": len(val.labels),
        "model_sha256": bundle.metadata.get("model_sha256"),
        "conformal": None,
        "abstain": None,
    }
    if config.set_coverage is not None:
        rule = fit_sets(task, val, config)
        sets = rule.predict_sets(class_probabilities(task, val))
        record["conformal"] = rule.to_dict()
        record["val_coverage"] = float(set_coverage(sets, val.labels).value)
    if config.abstain_accuracy is not None:
        right = task.decisions(val.scores) == np.asarray(val.labels)
        conf = confidence_scores(class_probabilities(task, val))
        rule = AbstainRule(target_accuracy=config.abstain_accuracy).fit(conf, right)
        record["abstain"] = {**rule.to_dict(), "confidence": "softmax"}
    record["operating_points"] = _fit_points(task, val, config.positive, source)
    return record


def _fit_points(task: Any, val: Any, positive: str | None, source: str) -> dict[str, Any] | None:
    """The default operating points fitted on the validation binary view, each with its
    validation sensitivity and specificity; ``None`` (with a warning) when there is no view or
    the points cannot be fitted."""
    found = task.resolve_positive(positive, str(source))
    if found is None:
        warnings.warn(
            f"no operating points: the task has no binary view ({task.no_binary_view})",
            stacklevel=3,
        )
        return None
    idx, name = found
    y, score = task.binary_view(val.scores, val.labels, idx)
    try:
        rows = OperatingPoints.default().fit(y, score).apply(y, score)
    except ValueError as exc:
        warnings.warn(f"no operating points: {exc}", stacklevel=3)
        return None
    points = [
        {
            **{k: row[k] for k in ("name", "rule", "target", "threshold")},
            "val_sensitivity": float(row["sensitivity"].value),
            "val_specificity": float(row["specificity"].value),
        }
        for row in rows
    ]
    return {"positive": [task.classes[i] for i in idx], "name": name, "points": points}
