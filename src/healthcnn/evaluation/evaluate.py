"""``evaluate_predictions`` scores a model's predictions the way clinical papers report a model;
``evaluate_bundle`` loads a bundle, predicts the validation and the requested split, and calls it.

The model predicts the validation split **and** the requested split. Everything that is fitted
(operating-point thresholds, the calibration temperature) is fitted on validation only and then
applied unchanged to the requested split. The result (:class:`EvaluationResult`) serialises to
the JSON contract that ``healthcnn evaluate --format json`` prints and ``healthcnn report`` reads;
every metric there is ``{value, ci_low, ci_high, method, n}`` (NaN where undefined).

**Binary view.** Operating points, ROC/PR curves, reader comparison and calibration slope need
one positive class. Binary tasks have it (``classes[1]``). For multi-class and ordinal tasks the
``positive`` classes are merged (their probabilities summed): RetinaMNIST's 5 DR grades default
to "referable" = grade >= 2 (classes 2, 3, 4), as do 5-class ordinal tasks; otherwise pass
``positive``. Multi-label tasks have no binary view (those parts are ``null``). The task decides
all of this (:meth:`~healthcnn.tasks.Task.resolve_positive`, ``binary_view``, ``decisions``).

The steps (overall metrics, binary view, per class, confusion matrix, subgroups, readers,
temperature scaling) are the functions of :mod:`healthcnn.evaluation.steps`; prediction sets
and selective prediction (fitted on validation too) those of :mod:`healthcnn.evaluation.trust`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import load_bundle
from ..data.sources import SPLITS, load_splits
from ..inference.precision import PrecisionPolicy
from ..inference.predict import infer_logits
from ..tasks import Task
from . import steps, trust
from .config import EvaluationConfig, SplitPredictions
from .result import EvaluationResult
from .views import group_values

# ---- the evaluation --------------------------------------------------------------------------


def evaluate_predictions(
    val: Any, test: Any, task: Task, config: EvaluationConfig | None = None
) -> EvaluationResult:
    """Score ``test`` (CIs, calibration, per class, subgroups, readers) with the operating
    points and temperature fitted on ``val``: :class:`SplitPredictions` or any object with
    ``logits``, ``scores``, ``labels``, ``groups``. Reads only ``config.readers_csv``; fits a
    copy of ``config.operating_points``; the result's ``bundle`` is empty."""
    config = config or EvaluationConfig()
    y, probs = test.labels, test.scores
    groups = steps.patient_groups(test)
    auc_kw = config.auc_options(groups)
    view = steps.binary_view(task, val, test, config)
    steps.check_readers(view, config)
    metrics = steps.overall_metrics(task, y, probs, config, auc_kw)
    binary = steps.score_binary_view(task, view, config, groups, auc_kw)
    metrics.update(binary.metrics)
    sets_part, sets, set_notes = trust.prediction_sets(task, val, test, config)
    selective, abstain_notes = trust.selective(task, val, test, sets, config)
    return EvaluationResult(
        bundle="",
        data=str(config.data or ""),
        split=config.split,
        task=task.kind,
        classes=list(task.classes),
        n=len(y),
        positive=None if view is None else view.positive,
        metrics=metrics,
        per_class=steps.per_class(task, y, probs, auc_kw, config.level),
        operating_points=binary.operating_points,
        curves={**(binary.curves or {}), "reliability": steps.reliability_curve(metrics["ece"])},
        confusion_matrix=steps.confusion(task, y, probs),
        subgroups=steps.subgroups(task, test, view, binary.points, config),
        readers=steps.readers(view, config),
        calibration=steps.temperature_scaling(task, val, test, config),
        seed=config.seed,
        level=config.level,
        notes=steps.split_notes(config, groups) + set_notes + abstain_notes + binary.notes,
        prediction_sets=sets_part,
        selective=selective,
        scores=probs,
        labels=y,
        val_scores=val.scores,
        val_labels=val.labels,
    )


def evaluate_bundle(
    bundle_dir: str | Path,
    config: EvaluationConfig | None = None,
    *,
    data_dir: str | None = None,
    precision: str = "auto",
    batch_size: int = 256,
    **options: Any,
) -> EvaluationResult:
    """Score a bundle on ``config.split`` of its data (or of ``config.data``): load it, predict
    val and the split (mean over the bundle's test-time views), :func:`evaluate_predictions`.

    ``options`` are :class:`EvaluationConfig` fields (``split``, ``data``, ``positive``,
    ``operating_points``, ``groups_column``, ``readers_csv``, ``ci``, ``seed``, ...) when no
    ``config`` is given; ``data_dir``, ``precision``, ``batch_size`` steer loading and inference.
    """
    if config is not None and options:
        raise TypeError(f"pass a config or options {sorted(options)}, not both")
    config = config if config is not None else EvaluationConfig(**options)
    if config.split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {config.split!r}")
    bundle = load_bundle(bundle_dir)
    source = _data_source(bundle, config.data, bundle_dir)
    splits = _bundle_splits(bundle, source, data_dir)
    predict = _split_predictor(bundle, PrecisionPolicy.resolve(precision), batch_size)
    val = predict(splits["val"])
    test = val if config.split == "val" else predict(splits[config.split])
    config = _with_group_values(config, splits[config.split], source)
    result = evaluate_predictions(val, test, bundle.task, replace(config, data=str(source)))
    return replace(result, bundle=str(bundle_dir))


# ---- loading and predicting a bundle's splits -------------------------------------------------


def _data_source(bundle: Any, data: str | None, bundle_dir: str | Path) -> str:
    source = data or bundle.metadata.get("data", {}).get("source")
    if source is None:
        raise ValueError(
            f"bundle {bundle_dir} does not say which data it was trained on; pass data"
        )
    return source


def _bundle_splits(bundle: Any, source: str, data_dir: str | None) -> dict[str, Any]:
    """The splits the bundle was trained with (same size and split seed)."""
    meta = bundle.metadata
    size = meta.get("data", {}).get("size", 28)
    seed = meta.get("seeds", {}).get("train", 0)
    splits, _ = load_splits(source, size=size, data_dir=data_dir, seed=seed)
    return splits


def _split_predictor(bundle: Any, policy: PrecisionPolicy, batch_size: int):
    """``predict(ds) -> SplitPredictions``: mean logits (for temperature scaling) and mean
    probabilities over the recorded views (one view unless the bundle recorded test-time
    augmentation)."""
    task, views = bundle.task, bundle.preprocessing.views_transforms()

    def predict(ds: Any) -> SplitPredictions:
        zs = []
        for tf in views:
            logits, raw = infer_logits(
                bundle.model, ds, batch_size=batch_size, policy=policy, transform=tf
            )
            zs.append(logits.numpy().astype(np.float64))
        return SplitPredictions(
            logits=np.mean(zs, axis=0),
            scores=np.mean([task.probabilities_array(z) for z in zs], axis=0),
            labels=task.encode_labels(raw).cpu().numpy(),
            ids=None if ds.ids is None else list(ds.ids),
            groups=None if ds.groups is None else list(ds.groups),
        )

    return predict


def _with_group_values(config: EvaluationConfig, ds: Any, source: str) -> EvaluationConfig:
    """``config`` with the subgroup column's value of each row of ``ds`` filled in."""
    if not config.groups_column or config.group_values is not None:
        return config
    values = group_values(ds, source, config.groups_column)
    return replace(config, group_values=values)
