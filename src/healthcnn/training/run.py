"""The main job as one library function: data -> task -> model -> Trainer -> test metrics -> bundle.

``train_run(RunConfig(...))`` is what ``healthcnn train`` and ``make demo`` call;
``evaluate_bundle`` (re-exported from :mod:`healthcnn.evaluation`) and ``predict_files`` are
what ``healthcnn evaluate``/``predict`` call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle import model_input_resize, save_bundle
from ..data import ArrayDataset, build_augment, group_split, load_image_csv, load_medmnist
from ..data.catalog import get_dataset
from ..data.fetch import fetch_dataset
from ..data.medmnist import find_medmnist
from ..data.root import DataError
from ..data.transforms import Compose, Normalize, Resize, dihedral_views
from ..metrics import accuracy, roc_auc
from ..models import create_model
from ..models._registry import get_entry
from ..tasks import Task, make_task
from . import distributed
from .config import TrainConfig
from .history import History
from .precision import PrecisionPolicy
from .predict import Predictions, predict
from .trainer import Trainer

SPLITS = ("train", "val", "test")

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


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, as plain data (stored in the bundle).

    Attributes:
        data: a registered dataset name (``"retinamnist"``), a path to an ``.npz`` in MedMNIST
            layout, or a path to a CSV (``path``, ``label``, optional ``split`` (train/val/test)
            and ``group`` columns; without ``split``, a seeded group-level 70/15/15 split), or an
            ECG database (``cpsc2021``, ``mitdb``, ``cinc2021-georgia``, ``ecg5000``: a seeded
            patient-level 70/15/15 split; see ``healthcnn study ecg-af`` for cross-validation).
        model: registered model name; ``model_kwargs`` go to ``create_model``.
        size: image size for MedMNIST files (28, 64, 128, 224) or the resize for a CSV.
        task: ``binary``/``multiclass``/``multilabel``/``ordinal`` (default: from the dataset).
        normalise: scale [0, 1] inputs with mean 0.5, std 0.5 per channel (MedMNIST protocol).
        train: the Trainer's hyper-parameters.
        out: the bundle directory; checkpoints go to ``<out>.work/`` while training.
        data_dir: the data root (``None``: ``$HEALTHCNN_DATA`` or ``~/.cache/healthcnn``).
        download: fetch a registered dataset that is not under the data root yet (checksum
            verified); ``False`` raises an error saying where to place the file instead.
        device: ``"cpu"`` or ``"cuda"``.
    """

    data: str
    out: str
    model: str = "resnet18"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    size: int = 28
    task: str | None = None
    normalise: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str | None = None
    download: bool = True
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["train"] = self.train.to_dict()
        data["model_kwargs"] = dict(self.model_kwargs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - set(TrainConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown setting(s) {unknown} in the run configuration; valid: "
                f"{sorted(names | set(TrainConfig.__dataclass_fields__))}"
            )
        run = {k: v for k, v in data.items() if k in names and k != "train"}
        train = dict(data.get("train") or {})
        train.update({k: v for k, v in data.items() if k in TrainConfig.__dataclass_fields__})
        return cls(**run, train=TrainConfig.from_dict(train))


@dataclass
class RunResult:
    """What a run produced: the bundle, the history and the validation/test metrics."""

    bundle: Path
    history: History
    metrics: dict[str, dict[str, float]]
    seconds: float
    model_kwargs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "best_epoch": self.history.best_epoch,
            "epochs_run": len(self.history.epochs),
            "metrics": self.metrics,
            "seconds": round(self.seconds, 2),
            "model_kwargs": self.model_kwargs,
        }


# ---- data -----------------------------------------------------------------------------------


def load_splits(
    data: str,
    *,
    size: int = 28,
    data_dir: str | None = None,
    seed: int = 0,
    download: bool = False,
) -> tuple[dict[str, ArrayDataset], str | None]:
    """The train/val/test splits of ``data`` and the dataset's own task name (if it has one).

    With ``download``, a registered MedMNIST dataset missing from the data root is fetched
    first (one verified download into ``<root>/medmnist/``).
    """
    text = os.fspath(data)
    if text.endswith(".csv"):
        return _csv_splits(Path(text), size=size, data_dir=data_dir, seed=seed), None
    if text in ECG_LOADERS:
        return _ecg_splits(text, data_dir=data_dir, seed=seed), None
    if download and not text.endswith(".npz") and get_dataset(text).kind == "medmnist":
        try:
            find_medmnist(text, size, data_dir)
        except DataError:
            fetch_dataset(text, size, data_dir)
    splits = {s: load_medmnist(text, s, size=size, root=data_dir) for s in SPLITS}
    task = None
    if not text.endswith(".npz"):
        task = get_dataset(text).task
    return splits, task


#: ECG databases ``train_run`` accepts by name -> their loader in ``healthcnn.data.ecg_datasets``
#: (windows or beats with the loaders' default filtering and sampling rate).
ECG_LOADERS = {
    "cpsc2021": "load_cpsc2021",
    "mitdb": "load_mitdb",
    "cinc2021-georgia": "load_georgia",
    "ecg5000": "load_ecg5000",
}
#: Hz of the signals those loaders return by default (ECG5000's beats carry no rate)
ECG_SAMPLING_RATES = {"cpsc2021": 100.0, "cinc2021-georgia": 100.0, "mitdb": 360.0}


def _ecg_splits(name: str, *, data_dir: str | None, seed: int) -> dict[str, ArrayDataset]:
    """A seeded 70/15/15 split of an ECG database, by patient where the database has patients
    (no patient in two splits), stratified by label for single-label tasks."""
    from ..data import ecg_datasets

    ds = getattr(ecg_datasets, ECG_LOADERS[name])(data_dir)
    groups = ds.groups if ds.groups is not None else [str(i) for i in range(len(ds))]
    stratify = ds.labels.numpy() if ds.labels.dim() == 1 else None
    parts = group_split(groups, (0.7, 0.15, 0.15), stratify=stratify, seed=seed)
    empty = [s for s, idx in zip(SPLITS, parts, strict=True) if not len(idx)]
    if empty:
        raise ValueError(f"{name}: split(s) {empty} came out empty; the database is too small")
    return {s: ds.subset(idx) for s, idx in zip(SPLITS, parts, strict=True)}


def _csv_splits(
    path: Path, *, size: int | None, data_dir: str | None, seed: int
) -> dict[str, ArrayDataset]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist")
    with path.open(newline="") as fh:
        header = fh.readline().strip().split(",")
    has_split = "split" in header
    ds = load_image_csv(
        path,
        id_column="path",
        group_column="group" if "group" in header else None,
        size=size,
        root=data_dir,
    )
    if has_split:
        import csv

        with path.open(newline="") as fh:
            values = [row["split"].strip().lower() for row in csv.DictReader(fh)]
        bad = sorted(set(values) - set(SPLITS))
        if bad:
            raise ValueError(f"{path}: column 'split' has {bad}; use train, val or test")
        index = {s: [i for i, v in enumerate(values) if v == s] for s in SPLITS}
    else:
        groups = ds.groups if ds.groups is not None else [str(i) for i in range(len(ds))]
        parts = group_split(groups, (0.7, 0.15, 0.15), stratify=ds.labels.numpy(), seed=seed)
        index = dict(zip(SPLITS, parts, strict=True))
    empty = [s for s in SPLITS if not len(index[s])]
    if empty:
        raise ValueError(f"{path}: split(s) {empty} are empty; every split needs samples")
    return {s: ds.subset(index[s]) for s in SPLITS}


def resolve_task(kind: str | None, dataset_task: str | None, train: ArrayDataset) -> Task:
    if kind is None:
        if dataset_task is not None:
            kind = _MEDMNIST_TASK.get(dataset_task, dataset_task)
        elif train.labels.dim() == 2:
            kind = "multilabel"
        else:
            kind = "binary" if len(train.classes) == 2 else "multiclass"
    return make_task(kind, train.classes)


def default_model_kwargs(model: str, train: ArrayDataset, size: int) -> dict[str, Any]:
    """Options the data implies: for ResNets on inputs under 64 px, the MedMNIST 28 px stem."""
    kwargs: dict[str, Any] = {}
    if model.startswith("resnet") and max(train.images.shape[2:]) < 64:
        kwargs["stem"] = "small"
    return kwargs


def normaliser(channels: int, enabled: bool) -> Normalize | None:
    return Normalize([0.5] * channels, [0.5] * channels) if enabled else None


# ---- the run --------------------------------------------------------------------------------


def score(pred: Predictions) -> dict[str, float]:
    """AUC and accuracy, as the MedMNIST benchmark scores them."""
    return {
        "auc": float(roc_auc(pred.labels, pred.scores, ci=None)),
        "acc": float(accuracy(pred.labels, pred.scores)),
        "n": len(pred),
    }


def train_run(cfg: RunConfig, *, resume: bool = False, progress: bool | None = None) -> RunResult:
    """Train ``cfg.model`` on ``cfg.data``, score val and test, write the bundle at ``cfg.out``.

    Inside a ``torch.distributed`` group (``torchrun``, or :func:`train_distributed`) every rank
    runs this function: training is data-parallel, rank 0 scores and writes the bundle, and
    every rank returns rank 0's result.
    """
    start = time.perf_counter()
    ctx = distributed.current()
    device = distributed.rank_device(cfg.device, ctx)
    get_entry(cfg.model)  # unknown model: fail before loading any data
    splits, dataset_task = load_splits(
        cfg.data,
        size=cfg.size,
        data_dir=cfg.data_dir,
        seed=cfg.train.seed,
        download=cfg.download,
    )
    train, val, test = (splits[s] for s in SPLITS)
    task = resolve_task(cfg.task, dataset_task, train)
    model_kwargs = {
        **default_model_kwargs(cfg.model, train, cfg.size),
        **dict(cfg.model_kwargs),
        "spatial_dims": train.spatial_dims,
        "in_channels": train.in_channels,
        "num_classes": task.num_outputs,
    }
    torch.manual_seed(cfg.train.seed)  # weight initialisation; the Trainer seeds the rest
    model = create_model(cfg.model, **model_kwargs)
    # Signals arrive as float, already normalised per lead; only uint8 images are rescaled.
    is_uint8 = train.images.dtype == torch.uint8
    norm = normaliser(train.in_channels, cfg.normalise and is_uint8)
    augment = build_augment(cfg.train.augment, train.spatial_dims, train.in_channels)
    out = Path(cfg.out)
    work = out.with_name(out.name + ".work")
    trainer = Trainer(
        model,
        task,
        cfg.train,
        out_dir=work,
        transform=Compose([augment, *([norm] if norm else [])]),
        eval_transform=norm,
        device=device,
        progress=progress,
    )
    history = trainer.fit(train, val, resume=resume)
    model_kwargs.pop("weights", None)
    if ctx is not None and not ctx.is_main:
        return distributed.broadcast_object(None, ctx)
    policy = PrecisionPolicy.resolve(cfg.train.precision, device)
    batch = cfg.train.effective_eval_batch_size
    metrics = {
        name: score(predict(model, ds, task, batch, policy, device=device, transform=norm))
        for name, ds in (("val", val), ("test", test))
    }
    save_bundle(
        out,
        model.float().cpu(),
        model_name=cfg.model,
        model_kwargs=model_kwargs,
        task=task,
        metadata={
            "data": {
                "source": cfg.data,
                "size": cfg.size,
                "classes": list(task.classes),
                "splits": {s: len(splits[s]) for s in SPLITS},
                **(
                    {"sampling_rate": ECG_SAMPLING_RATES[cfg.data]}
                    if cfg.data in ECG_SAMPLING_RATES
                    else {}
                ),
            },
            "input": {"channels": train.in_channels, "size": list(train.images.shape[2:])},
            "normalisation": (
                {"mean": norm.mean.tolist(), "std": norm.std.tolist(), "scale": 1 / 255}
                if norm
                else {"scale": 1 / 255 if is_uint8 else 1.0}
            ),
            "metrics": metrics,
            "seeds": {"train": cfg.train.seed},
            "train_config": cfg.to_dict(),
            "history": history.to_dict(),
            "precision": policy.name if hasattr(policy, "name") else cfg.train.precision,
        },
    )
    result = RunResult(
        bundle=out,
        history=history,
        metrics=metrics,
        seconds=time.perf_counter() - start,
        model_kwargs=model_kwargs,
    )
    return result if ctx is None else distributed.broadcast_object(result, ctx)


def _rank_main(cfg: dict[str, Any], resume: bool) -> RunResult:
    """One process of :func:`train_distributed` (module level, so spawn can import it)."""
    run = RunConfig.from_dict(cfg)
    distributed.init_from_env(run.device)
    return train_run(run, resume=resume)


def train_distributed(cfg: RunConfig, nproc: int, *, resume: bool = False) -> RunResult:
    """:func:`train_run` in ``nproc`` local processes (DDP; gloo on CPU, nccl on CUDA), each
    with ``cpu_count // nproc`` threads; ``cfg.train.batch_size`` is the global batch. Returns
    rank 0's result. Multi-node runs use ``torchrun`` instead (see docs/scaling.md)."""
    if nproc == 1:
        return train_run(cfg, resume=resume)
    if cfg.device.startswith("cuda") and torch.cuda.device_count() < nproc:
        raise ValueError(
            f"--nproc {nproc} on {cfg.device} needs {nproc} GPUs; "
            f"{torch.cuda.device_count()} are visible"
        )
    return distributed.launch(_rank_main, nproc, cfg.to_dict(), resume)


# ---- using a bundle -------------------------------------------------------------------------


def evaluate_bundle(bundle_dir: str | Path, **kwargs: Any) -> Any:
    """Score a bundle; moved to :func:`healthcnn.evaluation.evaluate_bundle` (re-exported here
    for existing callers). Returns an ``EvaluationResult`` (``result["metrics"]`` reads its
    JSON form)."""
    from ..evaluation import evaluate_bundle as _evaluate

    return _evaluate(bundle_dir, **kwargs)


def bundle_transform(meta: Mapping[str, Any]) -> Compose | None:
    """The evaluation transform a bundle recorded: its normalisation, then a resize to the
    network's input size when that differs from the data's (``preprocessing.model_input_size``,
    e.g. 28 px images upsampled to 64 px inside the batch transform during training)."""
    steps: list[Any] = []
    norm = meta.get("normalisation") or {}
    if "mean" in norm and "std" in norm:
        steps.append(Normalize(norm["mean"], norm["std"]))
    dims = len((meta.get("input") or {}).get("size") or (0, 0))
    size = model_input_resize(meta, dims)
    if size is not None:
        steps.append(Resize(size))
    return Compose(steps) if steps else None


def bundle_views(meta: Mapping[str, Any]) -> list[Any]:
    """The evaluation transforms whose predictions are averaged: the bundle transform alone, or,
    when the bundle recorded ``preprocessing.tta`` (test-time augmentation), followed by each of
    the 8 flips/right-angle rotations (probabilities are averaged over them, as in training's
    validation)."""
    base = bundle_transform(meta)
    if not (meta.get("preprocessing") or {}).get("tta"):
        return [base]
    return [Compose([v]) if base is None else Compose([base, v]) for v in dihedral_views()]


def predict_files(
    bundle_dir: str | Path,
    files: Sequence[str | Path],
    *,
    precision: str = "auto",
    engine: str = "torch",
) -> list[dict[str, Any]]:
    """Class probabilities for image files (resized to the bundle's input) or ``.npz`` arrays,
    computed by an inference ``engine`` (``torch``, ``compiled`` or ``onnx``; see
    :mod:`healthcnn.inference`)."""
    from PIL import Image, UnidentifiedImageError

    from ..data.fundus import apply_recorded_preprocessing
    from ..inference import load_predictor

    bundle, predictor = load_predictor(bundle_dir, engine, precision=precision)
    meta = bundle.metadata
    spec = meta.get("input", {})
    channels, size = int(spec.get("channels", 3)), tuple(spec.get("size", ()))
    items: list[tuple[str, np.ndarray]] = []
    for f in map(Path, files):
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist")
        if f.suffix == ".npz":
            with np.load(f, allow_pickle=False) as npz:
                key = next((k for k in ("images", "test_images") if k in npz.files), None)
                if key is None:
                    raise ValueError(
                        f"{f}: no 'images' or 'test_images' array (found {', '.join(npz.files)})"
                    )
                arr = npz[key]
            expected = (len(size) + 1, len(size) + 2)
            if arr.ndim not in expected:
                raise ValueError(f"{f}: {key} has shape {arr.shape}; expected N x {size}")
            if arr.ndim == len(size) + 1:
                arr = arr[:, None] if channels == 1 else arr
            elif arr.shape[-1] == channels and arr.shape[1] != channels:
                arr = np.moveaxis(arr, -1, 1)
            items += [(f"{f.name}[{i}]", a) for i, a in enumerate(arr)]
            continue
        if len(size) != 2:
            raise ValueError(f"{f}: image files need a 2D model; this bundle expects {size}")
        try:
            with Image.open(f) as im:
                im = im.convert("RGB" if channels == 3 else "L")
                im = apply_recorded_preprocessing(meta, im)  # e.g. fundus FOV crop (metadata)
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{f} is not an image that can be decoded ({exc})") from None
        items.append((f.name, a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)))
    images = torch.from_numpy(np.stack([a for _, a in items]).astype(np.uint8))
    if tuple(images.shape[1:]) != (channels, *size):
        raise ValueError(
            f"inputs have shape {tuple(images.shape[1:])}; the bundle expects {(channels, *size)}"
        )
    ds = ArrayDataset(
        images=images,
        labels=torch.zeros(len(items), dtype=torch.long),
        classes=list(bundle.task.classes),
        ids=[n for n, _ in items],
    )
    views = bundle_views(meta)
    scores_all = sum(
        predictor.predict(ds, bundle.task, batch_size=256, transform=tf).scores for tf in views
    ) / len(views)
    out = []
    for name, scores in zip(ds.ids, scores_all, strict=True):
        probs = np.atleast_1d(scores)
        names = list(bundle.task.classes)
        if bundle.task.kind == "binary":
            probs = np.array([1 - probs[0], probs[0]])
        out.append(
            {"input": name, "probabilities": dict(zip(names, map(float, probs), strict=True))}
        )
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Run settings from YAML or JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                f"{path}: reading YAML needs PyYAML (pip install 'healthcnn[yaml]'); or use JSON"
            ) from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    return data
