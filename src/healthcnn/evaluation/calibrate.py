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
from .trust import class_probabilities, fit_sets


def calibrate_bundle(
    bundle_dir: str | Path,
    *,
    coverage: float | None = 0.9,
    method: str = "aps",
    class_conditional: bool = False,
    abstain_accuracy: float | None = None,
    data_dir: str | None = None,
    precision: str = "auto",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Fit the rules on the bundle's validation split (its own data, same split seed) and write
    them into the bundle. ``coverage=None``: no set rule; ``abstain_accuracy=None``: no abstain
    rule (one of them is needed). Returns the stored record plus ``warnings``."""
    if coverage is None and abstain_accuracy is None:
        raise ValueError("give a coverage (prediction sets) or an abstain accuracy, or both")
    config = EvaluationConfig(
        split="val",
        set_coverage=coverage,
        set_method=method,
        class_conditional=class_conditional,
        abstain_accuracy=abstain_accuracy,
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
    return record
