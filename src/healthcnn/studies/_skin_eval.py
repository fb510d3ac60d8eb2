"""Clinical evaluation of the skin-taxonomy study's models at the 2-way and 7-way levels.

Each model's test probabilities over its own training classes become inference-class
probabilities by summing descendants (:func:`healthcnn.tasks.taxonomy.node_probabilities`).
2-way: P(malignant) -> AUC with DeLong CI (and a lesion-level bootstrap CI, since a lesion can
contribute several test images), sensitivity/specificity at 0.5 (Wilson), balanced
accuracy, ECE (15 equal-width bins) and Brier score; subgroups by sex, age band and body site;
reader points. 7-way: macro one-vs-rest AUC (DeLong), balanced accuracy of the argmax and of
the prior-corrected argmax (argmax of P(class) / training prevalence, the decision that targets
balanced accuracy, fixed before looking at test data), per-class sensitivity (Wilson), top-label
ECE; melanoma vs nevus AUC among mel and nv lesions. The recipe sweeps also score a rule tuned
on validation (:func:`prior_tuned`: argmax of P(class) / prior**tau, tau from a grid, with
cross-fitted validation predictions).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.ham10000 import Ham10000, age_band
from ..metrics import (
    DegenerateMetricWarning,
    Estimate,
    balanced_accuracy,
    brier_score,
    delong_test,
    expected_calibration_error,
    roc_auc,
    roc_curve,
    sensitivity,
    specificity,
)
from ..tasks.taxonomy import TaxonomyError, node_probabilities
from ._common import est, quiet

ECE_BINS = 15
#: two-sided 97.5% Student t quantiles for 1..10 degrees of freedom (seed-spread intervals)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def level_probs(prep, run: Mapping[str, Any], split: str, nodes: Sequence[str]):
    """``(N, len(nodes))`` inference-class probabilities, or None when the model's training
    classes are coarser than ``nodes`` (the binary model has no 7-way answer)."""
    try:
        return node_probabilities(prep.tree, run["classes"], run[split], nodes)
    except TaxonomyError:
        return None


def malignant_truth(prep, ham: Ham10000) -> np.ndarray:
    malignant = set(prep.base.leaves_under("malignant"))
    return np.array([d in malignant for d in ham.meta["dx"]], dtype=np.int64)


def malignant_auc(prep, run: Mapping[str, Any], ham: Ham10000, split: str = "val") -> float:
    p = level_probs(prep, run, split, ("benign", "malignant"))
    return float(quiet(roc_auc, malignant_truth(prep, ham), p[:, 1], ci=None))


def _auc(y: np.ndarray, s: np.ndarray) -> Estimate:
    return roc_auc(y, s, ci="delong")


def two_way(prep, run, ham: Ham10000, readers=None) -> dict[str, Any]:
    y = malignant_truth(prep, ham)
    s = level_probs(prep, run, "test", ("benign", "malignant"))[:, 1]
    pred = (s >= 0.5).astype(np.int64)
    fpr, tpr, _ = roc_curve(y, s)
    out: dict[str, Any] = {
        "positive": "malignant",
        "n": len(y),
        "n_positive": int(y.sum()),
        "auc": est(_auc(y, s)),
        # several images per lesion: the interval that resamples whole lesions
        "auc_lesion_bootstrap": est(
            roc_auc(y, s, ci="bootstrap", groups=ham.meta["lesion_id"].tolist(), n_resamples=1000)
        ),
        "sensitivity@0.5": est(sensitivity(y, pred)),
        "specificity@0.5": est(specificity(y, pred)),
        "balanced_accuracy": est(balanced_accuracy(y, pred, n_resamples=500)),
        "ece": float(expected_calibration_error(y, s, n_bins=ECE_BINS)),
        "ece_bins": ECE_BINS,
        "brier": float(brier_score(y, s, ci=None)),
        "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
        "subgroups": subgroups(y, s, ham),
    }
    if readers:
        from ..evaluation.readers import compare_readers, readers_to_dict

        out["readers"] = readers_to_dict(compare_readers(readers, y, s, n_resamples=500))
    return out


def _thin(x: np.ndarray, k: int = 200) -> list[float]:
    """At most ``k`` + 1 points of a curve (for the JSON and the figure)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) <= k:
        return x.tolist()
    idx = np.unique(np.linspace(0, len(x) - 1, k + 1).round().astype(int))
    return x[idx].tolist()


def subgroups(y: np.ndarray, s: np.ndarray, ham: Ham10000) -> dict[str, list[dict[str, Any]]]:
    from ..evaluation.subgroups import subgroup_metrics, subgroups_to_dict

    columns = {
        "sex": ham.meta["sex"],
        "age band": age_band(ham.meta["age"]),
        "body site": ham.meta["localization"],
    }
    return {
        name: subgroups_to_dict(subgroup_metrics(y, s, values, {"auc": _auc}))
        for name, values in columns.items()
    }


#: how 7-way probabilities become a decision: the most probable class, or the prior-corrected one
DECISION_RULES = ("argmax", "prior-corrected")


def train_prior(prep) -> np.ndarray:
    """The 7 diagnoses' prevalence in the training split (a diagnosis with no training image
    counts once, so the prior-corrected rule never divides by zero)."""
    train_dx = prep.splits["train"].ham.meta["dx"].tolist()
    counts = np.array([max(train_dx.count(d), 1) for d in prep.base.leaves], dtype=np.float64)
    return counts / counts.sum()


def decide(probs: np.ndarray, prior: Sequence[float], rule: str) -> np.ndarray:
    """The decided class per row of ``probs`` under one of :data:`DECISION_RULES`."""
    if rule not in DECISION_RULES:
        raise ValueError(f"rule must be one of {DECISION_RULES}, got {rule!r}")
    return decide_power(probs, prior, 1.0 if rule == "prior-corrected" else 0.0)


#: the powers tau the ``prior-tuned`` rule (argmax of P(class) / prior**tau, logit adjustment
#: after training as Menon et al. 2021) chooses among on validation: 0 is argmax, 1 is
#: prior-corrected
PRIOR_POWERS = tuple(k / 4 for k in range(9))


def decide_power(probs: np.ndarray, prior: Sequence[float], power: float) -> np.ndarray:
    """The decided class per row: argmax of P(class) / prior**power."""
    p = np.asarray(probs, dtype=np.float64)
    return (p / np.asarray(prior, dtype=np.float64) ** power).argmax(axis=1)


def _balanced(y: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        return float(balanced_accuracy(y, pred, ci=None).value)


def tune_prior_power(
    probs: np.ndarray, labels: np.ndarray, prior: Sequence[float], powers=PRIOR_POWERS
) -> float:
    """The power in ``powers`` whose rule has the highest balanced accuracy on (``probs``,
    ``labels``); ties go to the power closest to 1 (the rule for calibrated probabilities),
    then the smaller."""
    y = np.asarray(labels)
    if len(y) != len(probs):
        raise ValueError(f"{len(probs)} rows of probabilities but {len(y)} labels")
    scored = [(_balanced(y, decide_power(probs, prior, t)), -abs(t - 1), -t, t) for t in powers]
    return max(scored)[3]


def validation_halves(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the validation images, stratified: within each class (in label order) a
    permutation seeded ``seed`` sends alternate images to each half."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        a.append(idx[0::2])
        b.append(idx[1::2])
    return np.sort(np.concatenate(a)), np.sort(np.concatenate(b))


def prior_tuned(
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    prior: Sequence[float],
    eval_probs: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``prior-tuned`` rule: ``power`` tuned on the whole validation split (what test
    predictions use, ``eval_pred`` for ``eval_probs``) and cross-fitted validation predictions
    (``val_pred``: each half decided with the power tuned on the other half, so a validation
    score of this rule carries no optimism from tuning on the images it scores)."""
    p, y = np.asarray(val_probs, dtype=np.float64), np.asarray(val_labels)
    a, b = validation_halves(y, seed)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(
            f"{len(y)} validation images cannot be split in two halves to cross-fit the "
            "prior-tuned rule: it needs a class with at least 2 validation images"
        )
    power_a, power_b = tune_prior_power(p[a], y[a], prior), tune_prior_power(p[b], y[b], prior)
    val_pred = np.empty(len(y), dtype=np.int64)
    val_pred[b] = decide_power(p[b], prior, power_a)
    val_pred[a] = decide_power(p[a], prior, power_b)
    power = tune_prior_power(p, y, prior)
    out: dict[str, Any] = {"power": power, "half_powers": [power_a, power_b], "val_pred": val_pred}
    if eval_probs is not None:
        out["eval_pred"] = decide_power(eval_probs, prior, power)
    return out


def prior_tuned_scores(
    probabilities: Mapping[str, Any],
    labels: Mapping[str, Sequence[int]],
    prior: Sequence[float],
    views: Sequence[str] = ("plain", "tta"),
) -> dict[str, dict[str, Any]]:
    """Per view: the ``prior-tuned`` rule's power and its validation (cross-fitted) and test
    balanced accuracy, from a 7-way run's ``{"<split>_<view>": rows}`` probabilities."""
    y_val, y_test = np.asarray(labels["val"]), np.asarray(labels["test"])
    out = {}
    for view in views:
        tuned = prior_tuned(
            np.asarray(probabilities[f"val_{view}"]),
            y_val,
            prior,
            np.asarray(probabilities[f"test_{view}"]),
        )
        out[view] = {
            "power": tuned["power"],
            "half_powers": tuned["half_powers"],
            "val": _balanced(y_val, tuned["val_pred"]),
            "test": _balanced(y_test, tuned["eval_pred"]),
        }
    return out


def seven_way(
    prep, run, ham: Ham10000, split: str = "test", metadata: np.ndarray | None = None
) -> dict[str, Any] | None:
    """The 7-way scores of ``run[split]`` (the images of ``ham``), or None for a model whose
    training classes are coarser than the diagnoses. With ``metadata`` (the metadata model's
    probabilities of the same images, diagnosis order) the scores are those of the image's
    probabilities fused with them (:func:`~.skin_metadata.fuse`)."""
    dx = list(prep.base.leaves)
    p = level_probs(prep, run, split, dx)
    if p is None:
        return None
    y = np.array([dx.index(d) for d in ham.meta["dx"]], dtype=np.int64)
    prior = train_prior(prep)
    if metadata is not None:
        from .skin_metadata import fuse

        p = fuse(p, metadata, prior)
    pred, pred_bal = (decide(p, prior, rule) for rule in DECISION_RULES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        per_class = {
            d: est(sensitivity((y == k).astype(int), (pred == k).astype(int)))
            for k, d in enumerate(dx)
        }
        per_class_bal = {
            d: est(sensitivity((y == k).astype(int), (pred_bal == k).astype(int)))
            for k, d in enumerate(dx)
        }
        mel, nv = dx.index("mel"), dx.index("nv")
        keep = np.isin(y, (mel, nv))
        mel_score = p[keep, mel] / np.clip(p[keep, mel] + p[keep, nv], 1e-12, None)
        return {
            "classes": dx,
            "n": len(y),
            "macro_auc": est(roc_auc(y, p, ci="delong")),
            "per_class_auc": {
                d: est(roc_auc((y == k).astype(int), p[:, k], ci="delong"))
                for k, d in enumerate(dx)
            },
            "accuracy": float((pred == y).mean()),
            "balanced_accuracy": est(balanced_accuracy(y, pred, n_resamples=500)),
            "balanced_accuracy_prior_corrected": est(
                balanced_accuracy(y, pred_bal, n_resamples=500)
            ),
            "sensitivity": per_class,
            "sensitivity_prior_corrected": per_class_bal,
            "ece_top_label": float(expected_calibration_error(y, p, n_bins=ECE_BINS)),
            "mel_vs_nv_auc": est(roc_auc((y[keep] == mel).astype(int), mel_score, ci="delong")),
        }


def evaluate(
    prep, run, ham: Ham10000, *, readers=None, metadata: np.ndarray | None = None
) -> dict[str, Any]:
    """Everything for one approach on the test split; with ``metadata`` (the metadata model's
    test probabilities) also the 7-way scores with the metadata fused in."""
    out = {
        "training_classes": len(run["classes"]),
        "two_way": two_way(prep, run, ham, readers),
        "seven_way": seven_way(prep, run, ham),
    }
    if metadata is not None:
        out["seven_way_metadata"] = seven_way(prep, run, ham, metadata=metadata)
    return out


def compare(prep, runs: Mapping[str, Mapping[str, Any]], ham: Ham10000) -> list[dict[str, Any]]:
    """Paired DeLong tests between every pair of approaches on the same test images: the 2-way
    (malignant) AUC, and melanoma-vs-nevus AUC where both models have a 7-way answer (the binary
    model's P(malignant) stands in for it otherwise)."""
    y = malignant_truth(prep, ham)
    dx = list(prep.base.leaves)
    ydx = np.array([dx.index(d) for d in ham.meta["dx"]])
    mel, nv = dx.index("mel"), dx.index("nv")
    keep = np.isin(ydx, (mel, nv))
    scores, melnv = {}, {}
    for a, run in runs.items():
        scores[a] = level_probs(prep, run, "test", ("benign", "malignant"))[:, 1]
        p7 = level_probs(prep, run, "test", dx)
        melnv[a] = (
            scores[a][keep]
            if p7 is None
            else p7[keep, mel] / np.clip(p7[keep, mel] + p7[keep, nv], 1e-12, None)
        )
    names = list(runs)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for level, yy, sa, sb in (
                ("2-way malignant", y, scores[a], scores[b]),
                ("melanoma vs nevus", (ydx[keep] == mel).astype(int), melnv[a], melnv[b]),
            ):
                t = delong_test(yy, sa, sb)
                out.append({"a": a, "b": b, "level": level, **t.as_dict()})
    return out


def curve_point(
    prep, run, ham: Ham10000, fraction: float, seed: int, metadata: np.ndarray | None = None
) -> dict[str, Any]:
    """One learning-curve point of ``run`` on the images of ``ham``: the 2-way AUC, and for a
    model that answers the 7 diagnoses their macro AUC and balanced accuracy by each decision
    rule; with ``metadata`` (the metadata model's probabilities of the same images, fitted on
    the point's own training images) those 7-way scores again with it fused in."""
    y = malignant_truth(prep, ham)
    s = level_probs(prep, run, "test", ("benign", "malignant"))[:, 1]
    seven = level_probs(prep, run, "test", list(prep.base.leaves))
    point = {
        "fraction": fraction,
        "seed": seed,
        "train_images": len(prep.splits["train"].ham),
        "train_lesions": len(set(prep.splits["train"].ham.meta["lesion_id"].tolist())),
        "training_classes": len(run["classes"]),
        "malignant_auc": est(_auc(y, s)),
    }
    if seven is not None:
        dx = list(prep.base.leaves)
        y7 = np.array([dx.index(d) for d in ham.meta["dx"]])
        point["macro_auc"] = est(roc_auc(y7, seven, ci=None))
        prior = train_prior(prep)
        point["balanced_accuracy"] = {
            rule: est(quiet(balanced_accuracy, y7, decide(seven, prior, rule), ci=None))
            for rule in DECISION_RULES
        }
        if metadata is not None:
            from .skin_metadata import fuse

            fused = fuse(seven, metadata, prior)
            point["metadata"] = {
                "macro_auc": est(roc_auc(y7, fused, ci=None)),
                "balanced_accuracy": {
                    rule: est(quiet(balanced_accuracy, y7, decide(fused, prior, rule), ci=None))
                    for rule in DECISION_RULES
                },
            }
    return point


#: the decision rule of the 7-way balanced accuracy a learning curve summarises (the study's
#: recipe: chosen on validation, docs/results-skin-recipes.md)
CURVE_RULE = "prior-corrected"


def _seven_way_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The mean 7-way macro AUC and balanced accuracy (:data:`CURVE_RULE`) of curve points,
    and the same with the metadata fused in; a score is left out unless every point has it."""
    out = {}
    for prefix, get in (("", lambda r: r), ("metadata_", lambda r: r.get("metadata"))):
        if rows and all(get(r) and "macro_auc" in get(r) for r in rows):
            out[f"{prefix}macro_auc_mean"] = float(
                np.mean([get(r)["macro_auc"]["value"] for r in rows])
            )
            out[f"{prefix}balanced_accuracy_mean"] = float(
                np.mean([get(r)["balanced_accuracy"][CURVE_RULE]["value"] for r in rows])
            )
    return out


def curve_summary(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per fraction: mean test AUC over seeds with a t interval over seeds (the spread of
    retraining), and the mean of the per-run DeLong intervals (the spread of the test set);
    for a model that answers the 7 diagnoses, their mean macro AUC and balanced accuracy
    (:data:`CURVE_RULE`), and with the metadata fused in where the points scored it."""
    out = []
    for f in sorted({p["fraction"] for p in points}):
        rows = [p for p in points if p["fraction"] == f]
        v = np.array([r["malignant_auc"]["value"] for r in rows])
        k = len(v)
        half = (
            _T975[min(k - 1, len(_T975)) - 1] * v.std(ddof=1) / math.sqrt(k) if k > 1 else math.nan
        )
        out.append(
            {
                "fraction": f,
                "seeds": k,
                "train_images": float(np.mean([r["train_images"] for r in rows])),
                "malignant_auc_mean": float(v.mean()),
                "seed_ci_low": float(v.mean() - half),
                "seed_ci_high": float(v.mean() + half),
                "delong_ci_low_mean": float(np.mean([r["malignant_auc"]["ci_low"] for r in rows])),
                "delong_ci_high_mean": float(
                    np.mean([r["malignant_auc"]["ci_high"] for r in rows])
                ),
                **_seven_way_means(rows),
            }
        )
    return out


def data_summary(prep) -> dict[str, Any]:
    out = {}
    for name, lab in prep.splits.items():
        meta = lab.ham.meta
        out[name] = {
            "images": len(lab.ham),
            "lesions": len(set(meta["lesion_id"].tolist())),
            "dx_counts": {d: int((meta["dx"] == d).sum()) for d in prep.base.leaves},
        }
    out["split"] = "lesion-level (no lesion_id in two splits), stratified by diagnosis, seeded"
    return out
