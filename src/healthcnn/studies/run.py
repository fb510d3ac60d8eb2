"""The main job as one library function: data -> task -> ``fit_model`` -> val/test scores ->
bundle.

``train_run(RunConfig(...))`` is what ``healthcnn train`` and ``make demo`` call. It sits with
the studies because it scores the test split (above :mod:`healthcnn.evaluation` in the import
order); the fit itself is :func:`healthcnn.training.fit_model`, as for every study.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._provenance import run_record
from ..bundle import check_bundle_target
from ..data.ecg_datasets import record_recipe
from ..data.medical import medical_record
from ..data.root import file_hash
from ..data.sources import (
    DEFAULT_SIZE,
    SPLITS,
    data_files,
    load_splits,
    sampling_rate,
    split_record,
    stored_size,
)
from ..inference.predict import Predictions
from ..metrics import accuracy_from_scores, roc_auc
from ..models._registry import get_entry
from ..models.pretrained import check_weights_argument, is_weights_name, pretrained_file
from ..tasks import Task, make_task
from ..training import distributed
from ..training.config import RunConfig
from ..training.fit import FitSpec, Fitted, fit_model
from ..training.history import History
from ..training.tracking import Tracker, make_tracker

logger = logging.getLogger(__name__)

#: MedMNIST's task names -> ours. The MedMNIST v2 benchmark trains its ordinal-regression set
#: (RetinaMNIST) with cross-entropy and scores it as multi-class; ``task=`` overrides.
_MEDMNIST_TASK = {
    "binary-class": "binary",
    "binary": "binary",
    "multi-class": "multiclass",
    "ordinal-regression": "multiclass",
    "multi-label, binary-class": "multilabel",
    "multi-label": "multilabel",
}


@dataclass
class RunResult:
    """What a run produced: the bundle, the history and the validation/test metrics."""

    bundle: Path
    history: History
    metrics: dict[str, dict[str, float]]
    seconds: float
    model_kwargs: dict[str, Any]
    #: the process group it trained in (``world_size``, ``backend``), None for one plain process
    processes: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "best_epoch": self.history.best_epoch,
            "epochs_run": len(self.history.epochs),
            "metrics": self.metrics,
            "seconds": round(self.seconds, 2),
            "model_kwargs": self.model_kwargs,
            "processes": self.processes,
        }


def resolve_task(kind: str | None, dataset_task: str | None, train: Any) -> Task:
    """The task ``kind`` names, else the dataset's own, else one read off the labels."""
    if kind is None:
        if dataset_task is not None:
            kind = _MEDMNIST_TASK.get(dataset_task, dataset_task)
        elif train.labels.dim() == 2:
            kind = "multilabel"
        else:
            kind = "binary" if len(train.classes) == 2 else "multiclass"
    return make_task(kind, train.classes)


def score(pred: Predictions) -> dict[str, float]:
    """AUC and accuracy, as the MedMNIST benchmark scores them."""
    return {
        "auc": float(roc_auc(pred.labels, pred.scores, ci=None)),
        "acc": float(accuracy_from_scores(pred.labels, pred.scores)),
        "n": len(pred),
    }


def starting_weights(cfg: RunConfig, *, progress: bool | None = None) -> str | None:
    """The weights file ``cfg.weights`` stands for: a weights name is fetched into the data root
    (verified; ``cfg.download=False``: an error saying where to place the file), a file is
    taken as it is. None without ``cfg.weights``."""
    if cfg.weights is None:
        return None
    if "weights" in cfg.model_kwargs:
        raise ValueError(
            f"weights are given twice: weights={cfg.weights!r} and model_kwargs weights="
            f"{cfg.model_kwargs['weights']!r}; keep one"
        )
    check_weights_argument(cfg.weights)
    if not is_weights_name(cfg.weights):
        if not Path(cfg.weights).is_file():
            raise FileNotFoundError(f"weights file {cfg.weights} does not exist")
        return cfg.weights
    path = pretrained_file(
        cfg.model,
        cfg.weights,
        root=cfg.data_dir,
        download_missing=cfg.download,
        progress=progress is not False,
    )
    return str(path)


def _pretrained_record(cfg: RunConfig, weights: str | None) -> dict[str, Any]:
    """What the bundle records of the starting weights: name, file and SHA-256."""
    if weights is None:
        return {}
    path = Path(weights)
    return {
        "pretrained": {
            "weights": cfg.weights,
            "file": path.name,
            "sha256": file_hash(path, "sha256"),
        }
    }


def _spec(cfg: RunConfig, device: Any, progress: bool | None, weights: str | None) -> FitSpec:
    rate = sampling_rate(cfg.data)
    record = {"sampling_rate": rate} if rate is not None else {}
    record.update(record_recipe(cfg.data, cfg.data_dir))  # whole ECG records: band, stride, leads
    record.update(medical_record(cfg.data))  # window, orientation of DICOM/NIfTI image CSVs
    out = Path(cfg.out)
    kwargs = dict(cfg.model_kwargs)
    if weights is not None:
        kwargs["weights"] = weights
    return FitSpec(
        model=cfg.model,
        train=cfg.train,
        model_kwargs=kwargs,
        normalise=cfg.normalise,
        record=record,
        device=device,
        progress=progress,
        out_dir=out.with_name(out.name + ".work"),
        num_workers=cfg.workers,
    )


def _record(cfg: RunConfig) -> dict[str, Any]:
    """The run record (config, seeds, git commit, versions, data file hashes)."""
    seeds = {"train": cfg.train.seed, "init": cfg.train.seed, "split": cfg.train.seed}
    files = data_files(cfg.data, size=cfg.size, data_dir=cfg.data_dir)
    record = run_record(cfg.to_dict(), seeds, files)
    commit = record["git"]["commit"][:12] if record["git"] else "none (not a git checkout)"
    logger.debug("run record: %d data file(s) hashed; code commit %s", len(files), commit)
    return record


def _tracker(cfg: RunConfig, record: dict[str, Any]) -> Tracker | None:
    if cfg.track is None:
        return None
    out = Path(cfg.out)
    folder = (
        out.with_name(out.name + ".work") / "tensorboard"
        if cfg.track == "tensorboard"
        else out.parent
    )
    tracker = make_tracker(cfg.track, folder, uri=cfg.track_uri, run_name=out.name)
    tracker.log_params(
        {k: record[k] for k in ("config", "seeds", "versions")} | {"git": record["git"] or "none"}
    )
    logger.info("tracking with %s: %s", cfg.track, tracker.location)
    return tracker


def _bundle_metadata(cfg: RunConfig, fitted: Fitted, splits: dict, metrics: dict) -> dict:
    return {
        "data": {
            "source": cfg.data,
            "size": _data_size(cfg, splits["train"]),
            "classes": list(fitted.task.classes),
            "splits": {s: len(splits[s]) for s in SPLITS},
            **split_record(cfg.data, cfg.train.seed),
        },
        "metrics": metrics,
        "seeds": {"train": cfg.train.seed},
        "train_config": cfg.to_dict(),
        "precision": fitted.precision,  # what the Trainer ran (auto: fp32 for 3D on CPU)
    }


def _data_size(cfg: RunConfig, train: Any) -> int | list[int]:
    """The size the run read its data at: the one asked for; else an image CSV's stored size,
    or a MedMNIST name's default."""
    if cfg.size is not None:
        return cfg.size
    return stored_size(train) if str(cfg.data).endswith(".csv") else DEFAULT_SIZE


def train_run(cfg: RunConfig, *, resume: bool = False, progress: bool | None = None) -> RunResult:
    """Train ``cfg.model`` on ``cfg.data``, score val and test, write the bundle at ``cfg.out``.

    Inside a ``torch.distributed`` group (``torchrun``, or :func:`train_distributed`) every rank
    runs this function: training is data-parallel, rank 0 scores and writes the bundle, and
    every rank returns rank 0's result.
    """
    start = time.perf_counter()
    ctx = distributed.current()
    device = distributed.rank_device(cfg.device, ctx)
    get_entry(cfg.model)  # unknown model (or import path that fails): fail before any data
    if ctx is None or ctx.is_main:
        check_bundle_target(cfg.out)  # a folder that is not a bundle: fail before training
    weights = starting_weights(cfg, progress=progress)
    splits, dataset_task = load_splits(
        cfg.data,
        size=cfg.size,
        data_dir=cfg.data_dir,
        seed=cfg.train.seed,
        download=cfg.download,
        stream=cfg.stream,
        memory_budget_mb=cfg.memory_budget_mb,
    )
    train, val, test = (splits[s] for s in SPLITS)
    task = resolve_task(cfg.task, dataset_task, train)
    main = ctx is None or ctx.is_main
    record = _record(cfg) if main else None
    tracker = _tracker(cfg, record) if main else None
    try:
        spec = _spec(cfg, device, progress, weights)
        callbacks = (tracker,) if tracker is not None else ()
        fitted = fit_model(spec, train, val, task, resume=resume, callbacks=callbacks)
        if not main:
            return distributed.broadcast_object(None, ctx)
        metrics = {name: score(fitted.predict(ds)) for name, ds in (("val", val), ("test", test))}
        metadata = {
            **_bundle_metadata(cfg, fitted, splits, metrics),
            **_pretrained_record(cfg, weights),
        }
        metadata["seeds"] = record["seeds"]
        metadata["run"] = {k: record[k] for k in ("git", "versions", "data_files")}
        processes = None if ctx is None else {"world_size": ctx.world_size, "backend": ctx.backend}
        metadata["run"]["processes"] = processes
        out = fitted.save(cfg.out, metadata)
        if tracker is not None:
            tracker.log_bundle(out)
    except BaseException:
        if tracker is not None:
            tracker.close(failed=True)
        raise
    if tracker is not None:
        tracker.close()
    result = RunResult(
        bundle=out,
        history=fitted.history,
        metrics=metrics,
        seconds=time.perf_counter() - start,
        model_kwargs=fitted.model_kwargs,
        processes=processes,
    )
    return result if ctx is None else distributed.broadcast_object(result, ctx)


def _rank_main(cfg: dict[str, Any], resume: bool, progress: bool | None = None) -> RunResult:
    """One process of :func:`train_distributed` (module level, so spawn can import it)."""
    run = RunConfig.from_dict(cfg)
    ctx = distributed.init_from_env(run.device)
    return train_run(run, resume=resume, progress=progress if ctx.is_main else False)


def train_distributed(
    cfg: RunConfig, nproc: int, *, resume: bool = False, progress: bool | None = None
) -> RunResult:
    """:func:`train_run` in ``nproc`` local processes (DDP; gloo on CPU, nccl on CUDA), each
    with ``cpu_count // nproc`` threads; ``cfg.train.batch_size`` is the global batch. Returns
    rank 0's result. Multi-node runs use ``torchrun`` instead (see docs/scaling.md)."""
    if nproc == 1:
        return train_run(cfg, resume=resume, progress=progress)
    starting_weights(cfg)  # fetched once here, not by every process at the same time
    if cfg.device.startswith("cuda") and torch.cuda.device_count() < nproc:
        raise ValueError(
            f"--nproc {nproc} on {cfg.device} needs {nproc} GPUs; "
            f"{torch.cuda.device_count()} are visible"
        )
    return distributed.launch(_rank_main, nproc, cfg.to_dict(), resume, progress)
