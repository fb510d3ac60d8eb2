"""Fixtures for the report tests: a tiny bundle and an evaluation dict of the documented shape.

The evaluation dict follows ``EvaluationResult.to_dict()`` (healthcnn.evaluation): the report
only lays numbers out, so the fixture computes its curves from synthetic scores with plain
numpy and fills the estimates with stated values; the tests check layout, escaping and
well-formedness, not the statistics (tests/metrics and tests/evaluation do that).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.models import create_model
from healthcnn.tasks import make_task

CLASSES = ["0", "1", "2", "3", "4"]


def est(v: float, half: float = 0.04, method: str = "wilson", n: int = 400) -> dict:
    return {"value": v, "ci_low": v - half, "ci_high": v + half, "method": method, "n": n}


def make_bundle(path: Path, *, classes=CLASSES, source: str = "retinamnist") -> Path:
    """A 5-class simple_cnn bundle on 3x16x16 inputs with a three-epoch history."""
    kwargs = {"spatial_dims": 2, "in_channels": 3, "num_classes": len(classes), "channels": [4]}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **kwargs)
    history = {
        "monitor": "auc",
        "mode": "max",
        "best_epoch": 2,
        "best_metric": 0.71,
        "stopped_early": False,
        "epochs": [
            {
                "epoch": i + 1,
                "train_loss": 1.5 - 0.2 * i,
                "val_loss": 1.4 - 0.1 * i,
                "val_metrics": {"auc": 0.65 + 0.03 * i, "accuracy": 0.4 + 0.05 * i},
                "lr": 0.001,
                "seconds": 2.5,
                "images_per_second": 400.0,
            }
            for i in range(3)
        ],
    }
    meta = {
        "data": {
            "source": source,
            "size": 16,
            "classes": list(classes),
            "splits": {"train": 1080, "val": 120, "test": 400},
        },
        "seeds": {"train": 0},
        "train_config": {"model": "simple_cnn", "train": {"epochs": 3, "lr": 0.001}},
        "history": history,
        "precision": "fp32",
    }
    task = make_task("multiclass", list(classes))
    record = Preprocessing(
        channels=3, size=(16, 16), spatial_dims=2, mean=(0.5,) * 3, std=(0.5,) * 3
    )
    return save_bundle(
        path,
        model,
        model_name="simple_cnn",
        model_kwargs=kwargs,
        task=task,
        preprocessing=record,
        metadata=meta,
    )


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[list, list, list]:
    order = np.argsort(-s, kind="stable")
    ys = y[order]
    tps = np.concatenate([[0], np.cumsum(ys)])
    fps = np.concatenate([[0], np.cumsum(1 - ys)])
    thr = np.concatenate([[np.inf], s[order]])
    return (fps / fps[-1]).tolist(), (tps / tps[-1]).tolist(), thr.tolist()


def make_evaluation(*, classes=CLASSES, n: int = 400, seed: int = 0, **overrides) -> dict:
    """An evaluation dict of the documented shape, curves from synthetic scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.clip(0.35 * y + rng.normal(0.35, 0.18, n), 0, 1)
    fpr, tpr, thr = _roc(y, s)
    grid = np.linspace(0, 1, 21)
    tpr_i = np.interp(grid, fpr, tpr)
    k = len(classes)
    cm = rng.integers(0, 20, size=(k, k))
    cm[np.arange(k), np.arange(k)] += 40
    edges = np.linspace(0, 1, 11)
    conf = (edges[:-1] + edges[1:]) / 2
    ev = {
        "bundle": "tiny",
        "data": "retinamnist",
        "split": "test",
        "task": "multiclass",
        "classes": list(classes),
        "n": n,
        "positive": {"classes": list(classes[2:]), "name": "referable"},
        "metrics": {
            "auc": est(0.731, 0.03, "delong"),
            "acc": est(0.5375),
            "balanced_accuracy": est(0.41, 0.05, "bootstrap"),
            "kappa_quadratic": est(0.55, 0.06, "bootstrap"),
            "auc_positive": est(0.802, 0.035, "delong"),
            "ece": {"value": 0.081, "n_bins": 15, "strategy": "uniform", "n": n},
            "brier": est(0.62, 0.03, "bootstrap"),
        },
        "per_class": [
            {
                "class": c,
                "auc": est(0.7 + 0.02 * i, 0.05, "delong"),
                "sensitivity": est(0.5),
                "n": int(cm[i].sum()),
            }
            for i, c in enumerate(classes)
        ],
        "operating_points": [
            {
                "name": "high sensitivity",
                "rule": "target_sensitivity",
                "target": 0.9,
                "threshold": 0.21,
                "fitted_on": "val",
                "sensitivity": est(0.88),
                "specificity": est(0.52),
                "ppv": est(0.45),
                "npv": est(0.91),
            },
            {
                "name": "high specificity",
                "rule": "target_specificity",
                "target": 0.9,
                "threshold": 0.55,
                "fitted_on": "val",
                "sensitivity": est(0.58),
                "specificity": est(0.89),
                "ppv": est(0.69),
                "npv": est(0.83),
            },
        ],
        "curves": {
            "roc": {"fpr": fpr, "tpr": tpr, "thresholds": thr},
            "roc_ci_band": {
                "fpr": grid.tolist(),
                "tpr_low": np.clip(tpr_i - 0.07, 0, 1).tolist(),
                "tpr_high": np.clip(tpr_i + 0.07, 0, 1).tolist(),
            },
            "pr": {"recall": tpr[1:], "precision": _precision(y, s)},
            "reliability": {
                "bin_edges": edges.tolist(),
                "confidence": conf.tolist(),
                "accuracy": np.clip(conf - 0.08, 0, 1).tolist(),
                "count": rng.integers(0, 80, 10).tolist(),
            },
        },
        "confusion_matrix": {"labels": list(classes), "matrix": cm.tolist()},
        "subgroups": None,
        "readers": None,
        "calibration": {"temperature": 1.31, "fitted_on": "val", "ece_after": {"value": 0.04}},
        "seed": 0,
        "level": 0.95,
    }
    ev.update(overrides)
    return ev


def _precision(y: np.ndarray, s: np.ndarray) -> list:
    order = np.argsort(-s, kind="stable")
    tps = np.cumsum(y[order])
    return (tps / np.arange(1, len(y) + 1)).tolist()


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "tiny")


@pytest.fixture
def evaluation() -> dict:
    return make_evaluation()


@pytest.fixture
def evaluation_factory():
    """``make_evaluation`` itself, for tests that need variants (hostile names, readers...)."""
    return make_evaluation


@pytest.fixture
def bundle_factory():
    """``make_bundle`` itself, for tests that need other class names."""
    return make_bundle
