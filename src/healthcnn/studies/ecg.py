"""ECG studies with 1D CNNs: AF detection (CPSC 2021), beat classes (ECG5000), 12-lead labels.

All three run the same loop: folds that keep every patient on one side (``group_kfold``), a
model from the registry at ``spatial_dims=1`` fitted by :func:`~healthcnn.training.fit_model`
with the project's task, out-of-fold predictions pooled over the folds, and metrics with
confidence intervals from :mod:`healthcnn.metrics`. Inside each training fold a stratified 15%
of the training samples is held out to pick the best epoch (lowest validation loss:
window-level AUC inside the training patients reaches 1.0 within a few epochs and then cannot
rank later epochs); the test fold is never looked at before its predictions are made.

- ``run_ecg_af``: AF vs non-AF on 10-s two-lead windows, leave-one-patient-out (or k folds by
  patient). Window-level AUC with a patient-grouped bootstrap CI; record-level AUC (a record is
  AF when any of its windows is; its score is the maximum window score) with a bootstrap CI
  resampling patients; patient-level AUC likewise (only six patients: a point estimate).
- ``run_ecg5000``: five beat classes, stratified k-fold (one patient: no patient-level claim).
  Accuracy with a Wilson CI, macro one-vs-rest AUC with a DeLong CI.
- ``run_ecg_georgia``: 12-lead multi-label SNOMED-CT model on 50 records, k folds by patient;
  a pipeline check, reported without any accuracy claim.

Each returns (and writes to ``<out>/results.json``) a dict of every number it measured, with
the configuration, per-fold and per-seed values and the wall time.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.arrays import ArrayDataset
from ..data.ecg_datasets import (
    load_cpsc2021,
    load_ecg5000,
    load_georgia,
    record_of,
)
from ..data.sources import data_files
from ..data.splits import group_kfold
from ..metrics import proportion_ci, roc_auc
from ..tasks import Task, make_task
from ..training import TrainConfig
from ..training.fit import FitSpec, fit_model
from ._common import est, quiet, spread, write_result
from ._resume import CHECKPOINT_EVERY_S, Checkpoints, data_fingerprint

#: the records ``--quick`` uses: the shortest of each CPSC 2021 patient (both classes present)
QUICK_AF_RECORDS = ("data_101_6", "data_21_7", "data_35_6", "data_84_3", "data_8_4", "data_92_12")
QUICK_MODEL_KWARGS = {"widths": (8, 16)}


@dataclass(frozen=True)
class CVConfig:
    """How a cross-validated study trains: model, folds, seeds and Trainer settings."""

    model: str = "compact_resnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    folds: int | None = None  # None: leave-one-group-out
    seeds: tuple[int, ...] = (0,)
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    precision: str = "auto"
    n_resamples: int = 2000
    monitor: str = "loss"

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer="adamw",
            weight_decay=self.weight_decay,
            schedule="cosine",
            seed=seed,
            monitor=self.monitor,
            mode="min" if self.monitor == "loss" else "max",
            precision=self.precision,
        )


# ---- the cross-validation loop ----------------------------------------------------------------


def strata(labels: np.ndarray) -> np.ndarray:
    """One stratum per row: the class for ``(N,)`` labels; for multi-label ``(N, K)`` rows the
    rarest label the row has (-1 for none), so that rare labels spread over the folds."""
    if labels.ndim == 1:
        return labels
    counts = labels.sum(axis=0)
    rank = np.where(labels > 0, counts[None, :], np.inf)
    return np.where(labels.any(axis=1), rank.argmin(axis=1), -1)


def inner_validation(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train, val)`` positions of a training fold: ``floor(fraction x n_c)`` of
    each stratum (see :func:`strata`) to validation, so a class with one sample stays in
    training."""
    rng = np.random.default_rng([seed, 7])
    y = strata(labels)
    val: list[int] = []
    spare: list[int] = []  # samples that could move without emptying their stratum
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        take = math.floor(fraction * len(members))
        val += members[:take].tolist()
        spare += members[take : len(members) - 1].tolist()
    # small folds: top up to round(fraction x n) (at least one) from the spare samples
    missing = max(1, round(fraction * len(y))) - len(val)
    if missing > 0 and spare:
        val += rng.choice(spare, size=min(missing, len(spare)), replace=False).tolist()
    val_idx = np.sort(np.asarray(val, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    return train_idx, val_idx


def _fit_fold(train, val, test, task: Task, cfg: CVConfig, seed: int, fold: int, checkpoints=None):
    """Fit on one training fold (``val`` picks the epoch); its history and test predictions.
    With ``checkpoints`` (a :class:`~._resume.Checkpoints`) the fit checkpoints as it trains
    and goes on where an interrupted run stopped."""
    train_cfg, init_seed = cfg.train_config(seed), seed * 1000 + fold
    where: dict[str, Any] = {"out_dir": None, "resume": False}
    if checkpoints is not None:
        settings = {
            "model": cfg.model,
            "model_kwargs": dict(cfg.model_kwargs),
            "train": train_cfg.to_dict(),
            "init_seed": init_seed,
            "data": data_fingerprint(train, val),
        }
        where = checkpoints.folder(f"seed{seed}-fold{fold}", settings)
    spec = FitSpec(
        model=cfg.model,
        train=train_cfg,
        model_kwargs=cfg.model_kwargs,
        init_seed=init_seed,  # initial weights per fold; the Trainer seeds the rest
        out_dir=where["out_dir"],
        checkpoint_every=CHECKPOINT_EVERY_S,
    )
    fitted = quiet(fit_model, spec, train, val, task, resume=where["resume"])
    return fitted.history, fitted.predict(test, batch_size=cfg.batch_size * 4)


def cross_validate(
    ds: ArrayDataset,
    task: Task,
    cfg: CVConfig,
    seed: int,
    *,
    groups: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    checkpoints: Checkpoints | None = None,
) -> dict[str, Any]:
    """Out-of-fold scores of ``cfg.model`` on ``ds`` for one seed (with ``checkpoints``, each
    fold's fit checkpoints and resumes).

    Returns ``scores`` (rows in dataset order), ``fold`` (the test fold of each row), the
    per-fold seconds and best epochs.
    """
    groups = list(groups if groups is not None else (ds.groups or map(str, range(len(ds)))))
    labels = ds.labels.numpy()
    strat = strata(labels)
    n_groups = len(set(groups))
    folds = group_kfold(groups, cfg.folds or n_groups, stratify=strat, seed=seed)
    scores: np.ndarray | None = None
    fold_of = np.full(len(ds), -1, dtype=np.int64)
    seconds, best_epochs = [], []
    for f, (train_idx, test_idx) in enumerate(folds):
        t0 = time.perf_counter()
        inner_tr, inner_val = inner_validation(labels[train_idx], cfg.val_fraction, seed + f)
        train, val = ds.subset(train_idx[inner_tr]), ds.subset(train_idx[inner_val])
        history, pred = _fit_fold(train, val, ds.subset(test_idx), task, cfg, seed, f, checkpoints)
        if scores is None:
            scores = np.zeros((len(ds), *pred.scores.shape[1:]), dtype=np.float64)
        scores[test_idx] = pred.scores
        fold_of[test_idx] = f
        seconds.append(time.perf_counter() - t0)
        best_epochs.append(history.best_epoch)
        if progress is not None:
            progress(
                f"seed {seed} fold {f + 1}/{len(folds)}: {len(train)} train, {len(val)} val, "
                f"{len(test_idx)} test, best epoch {history.best_epoch}, {seconds[-1]:.1f} s"
            )
    return {"scores": scores, "fold": fold_of, "seconds": seconds, "best_epochs": best_epochs}


# ---- metrics helpers --------------------------------------------------------------------------


def aggregate_max(
    keys: Sequence[str], y: np.ndarray, s: np.ndarray
) -> tuple[list, np.ndarray, np.ndarray]:
    """Per key: label = any positive row, score = maximum row score."""
    order = list(dict.fromkeys(keys))
    idx = {k: i for i, k in enumerate(order)}
    yk = np.zeros(len(order), dtype=np.int64)
    sk = np.full(len(order), -np.inf)
    for k, yi, si in zip(keys, y, s, strict=True):
        j = idx[k]
        yk[j] = max(yk[j], int(yi))
        sk[j] = max(sk[j], float(si))
    return order, yk, sk


def _environment(started: float) -> dict[str, Any]:
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _write(
    out: str | Path | None, result: dict[str, Any], database: str, data_dir: str | None
) -> None:
    if out is not None:
        read = data_files(database, data_dir=data_dir)
        write_result(Path(out) / "results.json", result, read)


def _config_dict(cfg: CVConfig, **extra: Any) -> dict[str, Any]:
    d = asdict(cfg)
    d["seeds"] = list(cfg.seeds)
    d["folds"] = cfg.folds if cfg.folds is not None else "leave-one-group-out"
    return {**d, **extra}


# ---- the studies ------------------------------------------------------------------------------


def _af_folds(cv: dict[str, Any], y: np.ndarray, patients: list[str]) -> list[dict[str, Any]]:
    """Per test fold: its patients, windows, AF windows, window AUC and accuracy."""
    s = cv["scores"]
    per_fold = []
    for f in range(int(cv["fold"].max()) + 1):
        m = cv["fold"] == f
        per_fold.append(
            {
                "test_patients": sorted(set(np.asarray(patients)[m].tolist()), key=int),
                "n_windows": int(m.sum()),
                "n_af": int(y[m].sum()),
                "auc": float(quiet(roc_auc, y[m], s[m], ci=None)),
                "accuracy": float(((s[m] > 0.5) == y[m]).mean()),
                "best_epoch": cv["best_epochs"][f],
                "seconds": round(cv["seconds"][f], 1),
            }
        )
    return per_fold


def _af_window_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, Any]:
    """Window-level accuracy, sensitivity and specificity at probability 0.5."""
    correct = int(((s > 0.5).astype(np.int64) == y).sum())
    tp = int(((s > 0.5) & (y == 1)).sum())
    tn = int(((s <= 0.5) & (y == 0)).sum())
    return {
        "window_accuracy": est(proportion_ci(correct, len(y))),
        "window_sensitivity": est(proportion_ci(tp, int(y.sum()))),
        "window_specificity": est(proportion_ci(tn, int((y == 0).sum()))),
    }


def _af_seed(
    cv: dict[str, Any], y: np.ndarray, patients: list[str], recs: list[str], cfg: CVConfig, seed
) -> dict[str, Any]:
    """One seed's AF numbers: window AUC (bootstrap over patients), window accuracy etc.,
    record- and patient-level AUC of the maximum window score, and the folds."""
    s = cv["scores"]
    boot = {"ci": "bootstrap", "n_resamples": cfg.n_resamples, "seed": seed}
    window_auc = quiet(roc_auc, y, s, groups=patients, **boot)
    rec_patient = dict(zip(recs, patients, strict=True))
    rec_names, rec_y, rec_s = aggregate_max(recs, y, s)
    record_auc = quiet(roc_auc, rec_y, rec_s, groups=[rec_patient[r] for r in rec_names], **boot)
    pat_names, pat_y, pat_s = aggregate_max(patients, y, s)
    return {
        "seed": seed,
        "window_auc": est(window_auc),
        **_af_window_metrics(y, s),
        "record_auc": est(record_auc),
        "records": [
            {"record": r, "af": int(a), "max_score": float(b)}
            for r, a, b in zip(rec_names, rec_y, rec_s, strict=True)
        ],
        "patient_auc": est(quiet(roc_auc, pat_y, pat_s, **boot)),
        "patients": [
            {"patient": p, "af": int(a), "max_score": float(b)}
            for p, a, b in zip(pat_names, pat_y, pat_s, strict=True)
        ],
        "folds": _af_folds(cv, y, patients),
        "train_seconds": round(float(sum(cv["seconds"])), 1),
    }


def run_ecg_af(
    cfg: CVConfig,
    *,
    data_dir: str | None = None,
    out: str | Path | None = None,
    records: Sequence[str] | None = None,
    fs: float = 100.0,
    window_s: float = 10.0,
    stride_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """AF vs non-AF on CPSC 2021 windows under leave-patients-out CV (see the module notes);
    ``out`` and ``resume`` as for :func:`run_ecg5000`."""
    started = time.perf_counter()
    checkpoints = Checkpoints.under(out, resume)
    ds = load_cpsc2021(data_dir, records=records, fs=fs, window_s=window_s, stride_s=stride_s)
    task = make_task("binary", ds.classes, name="atrial fibrillation")
    y = ds.labels.numpy()
    patients = list(ds.groups or [])
    recs = [record_of(i) for i in ds.ids or []]
    per_seed = [
        _af_seed(
            cross_validate(ds, task, cfg, seed, progress=progress, checkpoints=checkpoints),
            y,
            patients,
            recs,
            cfg,
            seed,
        )
        for seed in cfg.seeds
    ]
    result = {
        "study": "ecg-af",
        "data": {
            "database": "cpsc2021",
            "records": sorted(set(recs)),
            "fs": fs,
            "window_s": window_s,
            "stride_s": stride_s,
            "n_windows": len(ds),
            "n_af_windows": int(y.sum()),
            "patients": sorted(set(patients), key=int),
            "window_label": "AF when >= 50% of the window lies in an annotated AF/AFL episode",
            "record_label": "AF when any window is AF; record score = max window score",
        },
        "config": _config_dict(cfg),
        "per_seed": per_seed,
        "summary": {
            key: spread([ps[key]["value"] for ps in per_seed])
            for key in ("window_auc", "window_accuracy", "record_auc", "patient_auc")
        },
        "environment": _environment(started),
    }
    _write(out, result, "cpsc2021", data_dir)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return result


def _multiclass_result(
    ds: ArrayDataset,
    task: Task,
    cfg: CVConfig,
    progress: Callable[[str], None] | None,
    groups: Sequence[str] | None = None,
    checkpoints: Checkpoints | None = None,
) -> list[dict[str, Any]]:
    y = ds.labels.numpy()
    multilabel = y.ndim == 2
    per_seed = []
    for seed in cfg.seeds:
        cv = cross_validate(
            ds, task, cfg, seed, groups=groups, progress=progress, checkpoints=checkpoints
        )
        s = cv["scores"]
        if multilabel:
            auc = quiet(roc_auc, y, s, ci="bootstrap", n_resamples=cfg.n_resamples, seed=seed)
            per_label = {
                c: float(quiet(roc_auc, y[:, k], s[:, k], ci=None))
                for k, c in enumerate(ds.classes)
            }
            acc = None
        else:
            auc = quiet(roc_auc, y, s, ci="delong")
            per_label = {
                c: float(quiet(roc_auc, (y == k).astype(np.int64), s[:, k], ci=None))
                for k, c in enumerate(ds.classes)
            }
            acc = proportion_ci(int((s.argmax(axis=1) == y).sum()), len(y))
        folds = []
        for f in range(int(cv["fold"].max()) + 1):
            m = cv["fold"] == f
            entry = {
                "n": int(m.sum()),
                "macro_auc": float(quiet(roc_auc, y[m], s[m], ci=None)),
                "best_epoch": cv["best_epochs"][f],
                "seconds": round(cv["seconds"][f], 1),
            }
            if not multilabel:
                entry["accuracy"] = float((s[m].argmax(axis=1) == y[m]).mean())
            folds.append(entry)
        record = {
            "seed": seed,
            "macro_auc": est(auc),
            "per_class_auc": per_label,
            "folds": folds,
            "train_seconds": round(float(sum(cv["seconds"])), 1),
        }
        if acc is not None:
            record["accuracy"] = est(acc)
            cm = np.zeros((len(ds.classes),) * 2, dtype=np.int64)
            np.add.at(cm, (y, s.argmax(axis=1)), 1)
            record["confusion_matrix"] = cm.tolist()
        per_seed.append(record)
    return per_seed


def run_ecg5000(
    cfg: CVConfig,
    *,
    data_dir: str | None = None,
    out: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Five-class beat classification on ECG5000 TRAIN with stratified k-fold CV.

    With ``out``, each fold's network checkpoints under ``<out>/checkpoints/`` as it trains
    (see :mod:`._resume`); ``resume=True`` goes on from them after an interruption, and
    without it they are refused before any training; they are removed once the results are
    written."""
    started = time.perf_counter()
    checkpoints = Checkpoints.under(out, resume)
    ds = load_ecg5000(data_dir)
    task = make_task("multiclass", ds.classes, name="ECG5000 beat class")
    per_seed = _multiclass_result(ds, task, cfg, progress, checkpoints=checkpoints)
    result = {
        "study": "ecg5000",
        "data": {
            "database": "ecg5000 (UCR TRAIN split)",
            "n_beats": len(ds),
            "classes": ds.classes,
            "class_counts": ds.class_counts().tolist(),
            "note": "all beats from one patient: folds are stratified by class, per beat",
        },
        "config": _config_dict(cfg, folds=cfg.folds or len(ds)),
        "per_seed": per_seed,
        "summary": {
            "accuracy": spread([ps["accuracy"]["value"] for ps in per_seed]),
            "macro_auc": spread([ps["macro_auc"]["value"] for ps in per_seed]),
        },
        "environment": _environment(started),
    }
    _write(out, result, "ecg5000", data_dir)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return result


def run_ecg_georgia(
    cfg: CVConfig,
    *,
    data_dir: str | None = None,
    out: str | Path | None = None,
    fs: float = 100.0,
    min_count: int = 5,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """12-lead multi-label SNOMED-CT model on the 50 Georgia records (a pipeline check);
    ``out`` and ``resume`` as for :func:`run_ecg5000`."""
    started = time.perf_counter()
    checkpoints = Checkpoints.under(out, resume)
    ds = load_georgia(data_dir, fs=fs, min_count=min_count)
    task = make_task("multilabel", ds.classes, name="SNOMED-CT diagnoses")
    per_seed = _multiclass_result(
        ds, task, cfg, progress, groups=ds.groups, checkpoints=checkpoints
    )
    result = {
        "study": "ecg-georgia",
        "data": {
            "database": "cinc2021-georgia (50 records)",
            "fs": fs,
            "shape": list(ds.images.shape),
            "labels": ds.classes,
            "label_counts": ds.class_counts().tolist(),
            "note": "pipeline check on 50 records: no accuracy claim",
        },
        "config": _config_dict(cfg),
        "per_seed": per_seed,
        "summary": {"macro_auc": spread([ps["macro_auc"]["value"] for ps in per_seed])},
        "environment": _environment(started),
    }
    _write(out, result, "cinc2021-georgia", data_dir)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return result
