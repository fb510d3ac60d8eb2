"""AdrenalMNIST3D: 3D ResNet-18 from scratch vs inflated from 2D weights vs a 2.5D slice model.

The study (``healthcnn study adrenal3d``) loads the official 64^3 file, resamples it once to
``size``^3 (trilinear, kept uint8), and per seed trains three approaches through the same
``fit_model``, the same 3D augmentation and validation-only model selection (best validation AUC):

* ``scratch3d``: 3D ResNet-18, He initialisation.
* ``inflated3d``: 3D ResNet-18 initialised by inflating a 2D ResNet-18 (I3D). No ImageNet weights
  are available offline, so the 2D network is first trained by the study itself on axial slices
  of the same training volumes (each slice labelled with its volume's label; validation slices
  pick its best epoch). This is "2D pretraining on the same data", not transfer from ImageNet.
* ``slices25d``: a 2.5D model, one shared 2D ResNet-18 over slices with features averaged over
  slices (the registered ``slices25d``, :mod:`healthcnn.models.slices`), from scratch.

Each run is scored on the test set: AUC with a DeLong CI, accuracy with a Wilson CI at
threshold 0.5 and at the threshold that maximises validation accuracy (fitted before test is
scored); per approach the mean and SD over seeds; per seed paired DeLong tests between the
approaches (same test volumes). Every number, the test scores and the wall times go to
``<out>/results.json``, rewritten after every run so an interrupted study keeps what it did.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..analysis import summarize
from ..data import ArrayDataset, load_medmnist
from ..data.resample import resize_dataset
from ..data.sources import data_files
from ..evaluation.operating_points import OperatingPoint
from ..metrics import delong_test, proportion_ci, roc_auc
from ..models import create_model
from ..models.slices import VIEWS, slice_indices
from ..models.weights import WeightAdaptationWarning
from ..tasks import make_task
from ..training import TrainConfig
from ..training.fit import FitSpec, Fitted, fit_model
from ._common import mean_sd, write_result
from ._resume import CHECKPOINT_EVERY_S, Checkpoints, data_fingerprint

APPROACHES = ("scratch3d", "inflated3d", "slices25d")
DATASET = "adrenalmnist3d"
NATIVE_SIZE = 64

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VolumeStudyConfig:
    """Settings of the AdrenalMNIST3D study (all stored in the results).

    Attributes:
        size: resample the 64^3 volumes to ``size``^3 once at load time (64: as published).
        seeds: one run per approach per seed (seed drives initialisation, shuffling,
            augmentation).
        approaches: any of :data:`APPROACHES`.
        epochs, batch_size, lr: the 3D (and 2.5D) training runs (Adam).
        stem: ResNet stem for every network (``"imagenet"``: 7x7/2 conv + 3x3/2 max pool,
            ``"small"``: 3x3/1 conv, 8x more voxels through layer1 at the same input).
        augment: training augmentation preset (``"basic"``: flips on every volume axis +
            90-degree rotations; ``"strong"`` adds a small affine and intensity scaling).
        class_weights: ``"none"`` or ``"balanced"`` loss weights (a validation-time choice).
        pretrain_epochs, pretrain_slices, pretrain_batch_size: the 2D slice pretraining that
            feeds ``inflated3d`` (``pretrain_slices`` evenly spaced axial slices per volume).
        view, num_slices: the 2.5D model's slices.
        precision: ``"auto"`` (bf16 autocast where the CPU has it, for the 2D slice pretraining
            and the 2.5D network; the Trainer keeps the 3D networks at fp32 on a CPU),
            ``"bf16"``, ``"fp32"``. Each run records what it trained at (``precision``) and
            scored at (``scoring_precision``).
        limit: use only the first ``limit`` volumes of each class per split (``--quick``).
        device: ``"cpu"`` or ``"cuda"``.
    """

    size: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)
    approaches: tuple[str, ...] = APPROACHES
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    stem: str = "imagenet"
    augment: str = "basic"
    class_weights: str = "none"
    pretrain_epochs: int = 2
    pretrain_slices: int = 4
    pretrain_batch_size: int = 64
    view: str = "orthogonal"
    num_slices: int = 3
    precision: str = "auto"
    limit: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "approaches", tuple(self.approaches))
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"size must be an int >= 8 (e.g. 28, 32 or 64), got {self.size!r}")
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed")
        bad = [a for a in self.approaches if a not in APPROACHES]
        if bad or not self.approaches:
            raise ValueError(f"approaches must be some of {APPROACHES}, got {self.approaches}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        for name in ("pretrain_epochs", "pretrain_slices", "pretrain_batch_size", "num_slices"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 2):
            raise ValueError(f"limit must be None or an int >= 2, got {self.limit!r}")
        self.train_config(0)  # epochs, batch size, lr, precision, weights: TrainConfig checks

    def train_config(self, seed: int, **overrides: Any) -> TrainConfig:
        settings = dict(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=seed,
            precision=self.precision,
            augment=self.augment,
            class_weights=self.class_weights,
            monitor="auc",
            mode="max",
        )
        settings.update(overrides)
        return TrainConfig(**settings)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"], data["approaches"] = list(self.seeds), list(self.approaches)
        return data


# ---- data -----------------------------------------------------------------------------------


def _first_per_class(ds: ArrayDataset, limit: int) -> ArrayDataset:
    """The first ``limit`` samples of each class, in dataset order (for --quick runs)."""
    labels = ds.labels.numpy()
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:limit] for c in np.unique(labels)]))
    return ds.subset(keep)


def load_volumes(cfg: VolumeStudyConfig, data_dir: str | None = None) -> dict[str, ArrayDataset]:
    """Train/val/test AdrenalMNIST3D (64^3 file) resampled once to ``cfg.size``^3."""
    splits = {}
    for split in ("train", "val", "test"):
        ds = load_medmnist(DATASET, split, size=NATIVE_SIZE, root=data_dir)
        if cfg.limit is not None:
            ds = _first_per_class(ds, cfg.limit)
        splits[split] = ds if cfg.size == NATIVE_SIZE else resize_dataset(ds, cfg.size)
    return splits


def axial_slice_dataset(ds: ArrayDataset, num_slices: int) -> ArrayDataset:
    """2D images ``(N * S, C, H, W)``: ``num_slices`` evenly spaced axial slices per volume,
    each labelled with its volume's label; ``groups`` name the volume each slice came from."""
    if ds.spatial_dims != 3:
        raise ValueError(f"expected volumes (N, C, D, H, W), got {tuple(ds.images.shape)}")
    idx = torch.tensor(slice_indices(ds.images.shape[2], num_slices))
    slices = ds.images.index_select(2, idx).transpose(1, 2)  # (N, S, C, H, W)
    n, s = slices.shape[:2]
    ids = ds.ids or [str(i) for i in range(n)]
    return ArrayDataset(
        images=slices.reshape(n * s, *slices.shape[2:]).contiguous(),
        labels=ds.labels.repeat_interleave(s),
        classes=list(ds.classes),
        ids=[f"{v}/z{int(z)}" for v in ids for z in idx],
        groups=[v for v in ids for _ in range(s)],
        name=f"{ds.name}/axial{s}",
    )


# ---- models and runs ------------------------------------------------------------------------


def model_spec(
    approach: str, cfg: VolumeStudyConfig, state_2d: dict | None = None
) -> tuple[str, dict[str, Any]]:
    """The registry name and options of an approach's network (``inflated3d``: ResNet-18 with
    the 2D ResNet-18 weights ``state_2d`` inflated to 3D by ``create_model(weights=...)``)."""
    if approach == "scratch3d":
        return "resnet18", {"stem": cfg.stem}
    if approach == "inflated3d":
        if state_2d is None:
            raise ValueError("inflated3d needs the 2D ResNet-18 weights to inflate (state_2d)")
        return "resnet18", {"stem": cfg.stem, "weights": state_2d}
    if approach == "slices25d":
        options = {"view": cfg.view, "num_slices": cfg.num_slices}
        return "slices25d", {**options, "encoder_kwargs": {"stem": cfg.stem}}
    raise ValueError(f"approach must be one of {APPROACHES}, got {approach!r}")


def build_model(approach: str, cfg: VolumeStudyConfig, state_2d: dict | None = None):
    """The untrained network of an approach for one-channel volumes and one logit."""
    name, options = model_spec(approach, cfg, state_2d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightAdaptationWarning)  # the inflation is the intent
        return create_model(name, spatial_dims=3, in_channels=1, num_classes=1, **options)


def _fit(name, options, train_cfg, train, val, task, cfg, network=None, checkpoints=None):
    """``fit_model``: augmentation + [-1, 1] scaling; the best validation-AUC epoch is
    restored. With ``checkpoints`` (a :class:`~._resume.Checkpoints`) the training of
    ``network`` checkpoints as it goes and resumes where an interrupted run stopped."""
    where: dict[str, Any] = {"out_dir": None, "resume": False}
    if checkpoints is not None:
        settings = {
            "model": name,
            "options": {k: v for k, v in options.items() if k != "weights"},  # from the 2D run
            "train": train_cfg.to_dict(),
            "data": data_fingerprint(train, val),
        }
        where = checkpoints.folder(network, settings)
    spec = FitSpec(
        model=name,
        train=train_cfg,
        model_kwargs=options,
        device=cfg.device,
        out_dir=where["out_dir"],
        checkpoint_every=CHECKPOINT_EVERY_S,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightAdaptationWarning)  # the inflation is the intent
        return fit_model(spec, train, val, task, resume=where["resume"])


def _score(fitted: Fitted, ds, cfg) -> tuple[np.ndarray, np.ndarray]:
    pred = fitted.predict(ds, batch_size=4 * cfg.batch_size)
    return pred.labels.astype(np.int64).reshape(-1), pred.scores.astype(np.float64).reshape(-1)


def score_decisions(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Accuracy, sensitivity and specificity at ``threshold`` (a volume is positive when its
    probability is ``>= threshold``; Wilson CIs), as plain dicts. Sensitivity and specificity
    show what the accuracy is made of: on a set with 23% positives, calling everything negative
    already scores 0.77."""
    predicted = scores >= threshold
    positive = labels == 1
    return {
        "threshold": float(threshold),
        "accuracy": proportion_ci(
            int((predicted == positive).sum()), len(labels), method="wilson"
        ).as_dict(),
        "sensitivity": proportion_ci(
            int((predicted & positive).sum()), int(positive.sum()), method="wilson"
        ).as_dict(),
        "specificity": proportion_ci(
            int((~predicted & ~positive).sum()), int((~positive).sum()), method="wilson"
        ).as_dict(),
    }


def score_test(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Test AUC (DeLong CI) and :func:`score_decisions` at ``threshold``, as plain dicts."""
    return {
        "auc": roc_auc(labels, scores, ci="delong").as_dict(),
        **score_decisions(labels, scores, threshold),
    }


def _pretrain_2d(seed, train, val, task, cfg, checkpoints=None) -> tuple[dict[str, Any], dict]:
    """The 2D ResNet-18 on axial slices of the training volumes (validation slices pick its
    best epoch): its summary and its weights (float, CPU) for ``inflated3d``."""
    pre_cfg = cfg.train_config(seed, epochs=cfg.pretrain_epochs, batch_size=cfg.pretrain_batch_size)
    train_2d = axial_slice_dataset(train, cfg.pretrain_slices)
    val_2d = axial_slice_dataset(val, cfg.pretrain_slices)
    name = f"inflated3d-seed{seed}-2d"
    options = {"stem": cfg.stem}
    fitted = _fit("resnet18", options, pre_cfg, train_2d, val_2d, task, cfg, name, checkpoints)
    history = fitted.history
    best = history.best_epoch
    summary = {
        "slices_per_volume": cfg.pretrain_slices,
        "train_slices": len(train_2d),
        "best_epoch": best,
        "val_slice_auc": history.epochs[best - 1].val_metrics.get("auc") if best else None,
        "seconds": round(fitted.seconds, 1),
        "precision": fitted.precision,
    }
    state = {k: v.detach().float().cpu() for k, v in fitted.model.state_dict().items()}
    return summary, state


def run_approach(
    approach: str,
    seed: int,
    splits: dict[str, ArrayDataset],
    cfg: VolumeStudyConfig,
    progress: Progress | None = None,
    checkpoints: Checkpoints | None = None,
) -> dict[str, Any]:
    """Train one approach with one seed; its validation AUC, test metrics and test scores
    (with ``checkpoints``, each network's training checkpoints and resumes)."""
    say = progress or (lambda _line: None)
    train, val, test = splits["train"], splits["val"], splits["test"]
    task = make_task("binary", train.classes)
    record: dict[str, Any] = {"approach": approach, "seed": seed}
    state_2d = None
    if approach == "inflated3d":
        record["pretrain_2d"], state_2d = _pretrain_2d(seed, train, val, task, cfg, checkpoints)
        pre = record["pretrain_2d"]
        say(f"  2D slice pretraining: {pre['seconds']:.0f} s, best epoch {pre['best_epoch']}")
    name, options = model_spec(approach, cfg, state_2d)
    network = f"{approach}-seed{seed}"
    fitted = _fit(
        name, options, cfg.train_config(seed), train, val, task, cfg, network, checkpoints
    )
    history, seconds = fitted.history, fitted.seconds
    val_labels, val_scores = _score(fitted, val, cfg)
    labels, scores = _score(fitted, test, cfg)
    best = history.best_epoch
    # the decision threshold that maximises validation accuracy, fixed before test is scored
    threshold = OperatingPoint("accuracy").fit(val_labels, val_scores).threshold_
    val_scored = score_test(val_labels, val_scores)
    record.update(
        best_epoch=best,
        epochs_run=len(history.epochs),
        val_auc=val_scored["auc"]["value"],
        val=val_scored,
        val_at_val_threshold=score_decisions(val_labels, val_scores, threshold),
        test=score_test(labels, scores),
        test_at_val_threshold=score_decisions(labels, scores, threshold),
        seconds=round(seconds, 1),
        # what the Trainer trained at (auto: fp32 for the 3D networks on a CPU, bf16 autocast
        # for the 2D / 2.5D ones where the CPU has it) and what the scores were computed at
        precision=fitted.precision,
        scoring_precision=fitted.inference_policy().name,
        seconds_per_epoch=round(seconds / max(len(history.epochs), 1), 1),
        val_auc_per_epoch=[e.val_metrics.get("auc") for e in history.epochs],
        test_scores=[round(float(s), 6) for s in scores],
    )
    return record


# ---- summaries ------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]], test_labels: np.ndarray) -> dict[str, Any]:
    """Mean/SD over seeds per approach, and per-seed paired DeLong tests between approaches."""
    by_approach: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_approach.setdefault(run["approach"], []).append(run)
    summary = {
        name: {
            "test_auc": mean_sd([r["test"]["auc"]["value"] for r in rs]),
            "test_accuracy": mean_sd([r["test"]["accuracy"]["value"] for r in rs]),
            "test_accuracy_val_threshold": mean_sd(
                [r["test_at_val_threshold"]["accuracy"]["value"] for r in rs]
            ),
            "val_threshold": mean_sd([r["test_at_val_threshold"]["threshold"] for r in rs]),
            "val_auc": mean_sd([r["val_auc"] for r in rs]),
            "seconds": mean_sd(
                [r["seconds"] + r.get("pretrain_2d", {}).get("seconds", 0) for r in rs]
            ),
            "seeds": [r["seed"] for r in rs],
        }
        for name, rs in by_approach.items()
    }
    tests = []
    runs_by_key = {(r["approach"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    for a, b in itertools.combinations(list(by_approach), 2):
        for seed in seeds:
            if (a, seed) in runs_by_key and (b, seed) in runs_by_key:
                t = delong_test(
                    test_labels,
                    np.asarray(runs_by_key[(a, seed)]["test_scores"]),
                    np.asarray(runs_by_key[(b, seed)]["test_scores"]),
                )
                tests.append({"a": a, "b": b, "seed": seed, **t.as_dict()})
    return {"approaches": summary, "paired_delong": tests}


def model_analysis(cfg: VolumeStudyConfig) -> dict[str, Any]:
    """The analyser's totals (parameters, MACs, pooling calculations) for one volume at the
    study's input size: ``resnet18_3d`` (the network of scratch3d and inflated3d) and
    ``slices25d``."""
    wanted = (
        {"resnet18_3d": "scratch3d"} if {"scratch3d", "inflated3d"} & set(cfg.approaches) else {}
    )
    if "slices25d" in cfg.approaches:
        wanted["slices25d"] = "slices25d"
    out = {}
    for key, approach in wanted.items():
        model = build_model(approach, cfg)
        report = summarize(model, (1, cfg.size, cfg.size, cfg.size), cross_check=False)
        out[key] = report.totals.as_dict()
    return out


def training_precisions(runs: list[dict[str, Any]]) -> dict[str, str]:
    """What each approach trained at, from its runs' records (``"bf16"``, ``"fp32"``, or both
    joined by ``" and "`` where its seeds differ); the 2D slice pretraining of ``inflated3d``
    is listed as ``"inflated3d:pretrain_2d"``."""
    seen: dict[str, set[str]] = {}
    for run in runs:
        seen.setdefault(run["approach"], set()).add(run["precision"])
        if "pretrain_2d" in run:
            key = f"{run['approach']}:pretrain_2d"
            seen.setdefault(key, set()).add(run["pretrain_2d"]["precision"])
    return {name: " and ".join(sorted(names)) for name, names in seen.items()}


def _environment(seconds: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "precision": None,
    }


def run_adrenal3d(
    cfg: VolumeStudyConfig,
    *,
    data_dir: str | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run the study; returns (and writes to ``<out>/results.json``) every number.

    With ``out``, every network checkpoints under ``<out>/checkpoints/`` as it trains (see
    :mod:`._resume`); after an interruption ``resume=True`` goes on from them, and without it
    they are refused before any training. They are removed once the results are written."""
    say = progress or (lambda _line: None)
    start = time.perf_counter()
    checkpoints = Checkpoints.under(out, resume)  # leftovers refused here
    splits = load_volumes(cfg, data_dir)
    load_seconds = time.perf_counter() - start
    test_labels = splits["test"].labels.numpy().astype(np.int64)
    result: dict[str, Any] = {
        "study": "adrenal3d",
        "config": cfg.to_dict(),
        "data": {
            "dataset": DATASET,
            "file_size": NATIVE_SIZE,
            "resampled_to": cfg.size,
            "splits": {s: len(d) for s, d in splits.items()},
            "positives": {s: int(d.labels.sum()) for s, d in splits.items()},
            "load_and_resample_seconds": round(load_seconds, 1),
        },
        "analysis": model_analysis(cfg),
        "test_labels": test_labels.tolist(),
        "runs": [],
    }
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    total = len(cfg.seeds) * len(cfg.approaches)
    for i, (seed, approach) in enumerate(itertools.product(cfg.seeds, cfg.approaches), 1):
        say(f"run {i}/{total}: {approach}, seed {seed}")
        run = run_approach(approach, seed, splits, cfg, progress, checkpoints)
        result["runs"].append(run)
        auc, acc = run["test"]["auc"], run["test"]["accuracy"]
        tuned = run["test_at_val_threshold"]
        say(
            f"  test AUC {auc['value']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f}), "
            f"accuracy {acc['value']:.3f} at 0.5, {tuned['accuracy']['value']:.3f} at the "
            f"validation threshold {tuned['threshold']:.3f}, val AUC {run['val_auc']:.3f}, "
            f"best epoch {run['best_epoch']}, {run['seconds']:.0f} s"
        )
        result.update(summarise(result["runs"], test_labels))
        env = _environment(time.perf_counter() - start)
        env["precision"] = training_precisions(result["runs"])
        env["scoring_precision"] = " and ".join(
            sorted({r["scoring_precision"] for r in result["runs"]})
        )
        result["environment"] = env
        if out_dir is not None:
            read = data_files(DATASET, size=NATIVE_SIZE, data_dir=data_dir)
            write_result(out_dir / "results.json", result, read)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return result
