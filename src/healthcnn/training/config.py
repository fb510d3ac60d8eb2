"""``TrainConfig``: every choice a training run makes, as plain data (stored in checkpoints and
bundles, compared on resume); ``RunConfig``: the data, model and output of ``healthcnn train``
around it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..inference.precision import PRECISIONS

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "multistep", "cosine")
WEIGHTINGS = ("none", "balanced")
MODES = ("max", "min")

#: fields that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters. The defaults are the MedMNIST v2 protocol (Adam, lr 1e-3,
    batch 128, best validation AUC) except ``epochs`` (10, not 100).

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per optimisation step (``eval_batch_size`` for evaluation, default
            twice as many).
        lr: base learning rate.
        optimizer: ``"adam"``, ``"adamw"`` (decoupled weight decay) or ``"sgd"`` (``momentum``,
            Nesterov when ``nesterov``).
        weight_decay: L2 penalty (adam, sgd) or decoupled decay (adamw), on every parameter.
        schedule: ``"none"``; ``"multistep"``: lr x ``gamma`` at each of ``milestones`` (epochs,
            0-based: milestone 50 means epochs 50 onwards); ``"cosine"``: linear warm-up over
            ``warmup_epochs`` then cosine decay to 0, updated every step.
        class_weights: ``"balanced"`` weights the loss by ``n / (K * count_k)`` (multi-label:
            ``pos_weight`` = negatives / positives).
        sampling: ``"balanced"`` draws training samples with replacement, each class equally.
        early_stopping_patience: stop after this many epochs without improvement (None: never).
        monitor / mode: validation metric picking the best epoch (``"auc"``/``"accuracy"``,
            mode ``"max"``; or ``"loss"``, mode ``"min"``).
        seed: the one source of randomness (shuffling, augmentation, dropout).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :mod:`.precision`).
        augment: name of the augmentation (recorded; the transform itself is passed to Trainer).
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        aux_weight: weight of auxiliary-head losses for models with ``forward_with_aux``.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "none"
    milestones: tuple[int, ...] = field(default=())
    gamma: float = 0.1
    warmup_epochs: int = 0
    class_weights: str = "none"
    sampling: str = "none"
    early_stopping_patience: int | None = None
    monitor: str = "auc"
    mode: str = "max"
    seed: int = 0
    precision: str = "auto"
    augment: str = "none"
    max_grad_norm: float | None = None
    aux_weight: float = 0.3
    eval_batch_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if self.eval_batch_size is not None:
            _positive_int("eval_batch_size", self.eval_batch_size)
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("class_weights", self.class_weights, WEIGHTINGS)
        _choice("sampling", self.sampling, WEIGHTINGS)
        _choice("mode", self.mode, MODES)
        _choice("precision", self.precision, PRECISIONS)
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.schedule == "multistep" and not self.milestones:
            raise ValueError("schedule='multistep' needs milestones, e.g. (50, 75)")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must increase, got {self.milestones}")
        if self.warmup_epochs < 0 or (
            self.schedule == "cosine" and self.warmup_epochs >= self.epochs
        ):
            raise ValueError(
                f"warmup_epochs must be >= 0 and < epochs ({self.epochs}), got {self.warmup_epochs}"
            )
        if self.early_stopping_patience is not None:
            _positive_int("early_stopping_patience", self.early_stopping_patience)
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")
        if self.monitor == "loss" and self.mode != "min":
            raise ValueError("monitor='loss' needs mode='min'")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")

    @property
    def effective_eval_batch_size(self) -> int:
        return self.eval_batch_size or 2 * self.batch_size

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["milestones"] = list(self.milestones)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(names)}")
        return cls(**data)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self's, other's)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


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
        stream: image-folder CSVs only: decode each image when read (True), decode all into
            memory (False), or choose (None, the default): stream when the decoded images
            would take more than ``memory_budget_mb`` (default: half the available memory).
        workers: DataLoader worker processes reading streamed images (0: this process).
        track: ``"tensorboard"`` or ``"mlflow"``: log the parameters, every epoch's metrics
            and the bundle (see :mod:`.tracking`); None: no tracker. ``track_uri``: where
            (TensorBoard: a folder; MLflow: a tracking URI); default beside the bundle.
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
    stream: bool | None = None
    memory_budget_mb: float | None = None
    workers: int = 0
    track: str | None = None
    track_uri: str | None = None

    def __post_init__(self) -> None:
        if self.track not in (None, "tensorboard", "mlflow"):
            raise ValueError(
                f"track must be 'tensorboard', 'mlflow' or null (none), got {self.track!r}"
            )
        if self.stream not in (None, True, False):
            raise ValueError(f"stream must be true, false or null (choose), got {self.stream!r}")
        budget = self.memory_budget_mb
        if budget is not None and (isinstance(budget, bool) or not budget > 0):
            raise ValueError(f"memory_budget_mb must be a number > 0, got {budget!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be an int >= 0, got {self.workers!r}")

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
