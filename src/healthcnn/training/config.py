"""``TrainConfig``: every choice a training run makes, as plain data (stored in checkpoints and
bundles, compared on resume); ``RunConfig``: the data, model and output of ``healthcnn train``
around it.

Both convert and check every field when they are made, from whatever source: a number written as
text (``"1e-3"``, how PyYAML reads ``lr: 1e-3``) is converted, never rounded; every bad field is
listed at once, one problem per field, in one :class:`ConfigError` (a ``ValueError``)."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..inference.precision import PRECISIONS
from .mixing import MIXES

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "multistep", "cosine")
WEIGHTINGS = ("none", "balanced")
MODES = ("max", "min")

#: fields that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience")


class ConfigError(ValueError):
    """Every bad setting of a configuration at once: ``problems`` holds one line per setting;
    the message joins them (prefixed with ``where`` when given)."""

    def __init__(self, problems: list[str], where: str | None = None) -> None:
        self.problems = list(problems)
        self.where = where
        text = "; ".join(self.problems)
        if len(self.problems) > 1:
            text = f"{len(self.problems)} bad settings: {text}"
        super().__init__(f"{where}: {text}" if where else text)


def convert(value: Any, kind: type, what: str) -> Any:
    """``value`` as ``kind`` (int, float or bool), from a number or a string, never rounding:
    ``"1e-3"`` (how PyYAML reads ``lr: 1e-3``) is 0.001, ``2.5`` for an int is refused. A value
    that is not one raises a ValueError starting with ``what``."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(f"{what} = {value!r} is not true or false")
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{what} = {value!r} is not a number") from None
    if isinstance(number, bool | np.bool_) or not isinstance(number, numbers.Real):
        raise ValueError(f"{what} = {value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{what} = {value!r} is not a finite number")
    if kind is int:
        if float(number) != int(number):
            raise ValueError(f"{what} = {value!r} is not a whole number")
        return int(number)
    return float(number)


def scalar_types(cls: type) -> dict[str, type]:
    """``{field: int | float | bool}`` for the dataclass fields of scalar (or optional scalar)
    type."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        scalars = [a for a in args if a in (int, float, bool)]
        if len(scalars) == 1:
            out[name] = scalars[0]
    return out


def _coerce(obj: Any, kinds: dict[str, type]) -> tuple[list[str], set[str]]:
    """Convert ``obj``'s scalar fields in place (a frozen dataclass); the problems, and the
    names of the fields that could not be converted."""
    problems, failed = [], set()
    for name, kind in kinds.items():
        value = getattr(obj, name)
        if value is None:
            continue
        try:
            object.__setattr__(obj, name, convert(value, kind, f"setting {name!r}"))
        except ValueError as exc:
            problems.append(str(exc))
            failed.add(name)
    return problems, failed


class _Checks:
    """Collects one problem per bad field of a dataclass; fields that failed conversion are
    skipped (they already have their problem)."""

    def __init__(self, obj: Any, failed: set[str]) -> None:
        self.obj, self.failed, self.problems = obj, failed, []

    def value(self, name: str) -> Any:
        return None if name in self.failed else getattr(self.obj, name)

    def need(self, name: str, ok: bool, rule: str) -> None:
        if name not in self.failed and not ok:
            self.problems.append(f"{name} must be {rule}, got {getattr(self.obj, name)!r}")
            self.failed.add(name)

    def at_least(self, name: str, low: float, optional: bool = False) -> None:
        v = self.value(name)
        if v is None and (optional or name in self.failed):
            return
        kind = "an int" if isinstance(v, int) else "a number"
        self.need(name, v is not None and v >= low, f"{kind} >= {low}" + " or None" * optional)

    def above(self, name: str, low: float, optional: bool = False) -> None:
        v = self.value(name)
        if v is None and (optional or name in self.failed):
            return
        self.need(name, v is not None and v > low, f"a number > {low}" + " or None" * optional)

    def choice(self, name: str, valid: tuple[Any, ...]) -> None:
        self.need(name, self.value(name) in valid, f"one of {valid}")

    def text(self, name: str, optional: bool = False) -> None:
        v = self.value(name)
        if isinstance(v, os.PathLike):
            object.__setattr__(self.obj, name, v := os.fspath(v))
        ok = (v is None and optional) or (isinstance(v, str) and bool(v.strip()))
        self.need(name, ok, "a non-empty text" + " or None" * optional)

    def raise_any(self, extra: list[str]) -> None:
        if extra or self.problems:
            raise ConfigError(extra + self.problems)


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
        logit_adjust: ``tau`` of the logit-adjusted loss (Menon et al., "Long-tail learning via
            logit adjustment", ICLR 2021): the training loss sees ``logits + tau * log prior``
            (sigmoid outputs: the prior's log-odds), so that the model's own probabilities
            estimate class-balanced posteriors and their argmax targets balanced accuracy.
            0 (the default): plain loss. Not defined for ordinal tasks.
        ema_decay: keep an exponential moving average of the weights (and batch-norm
            statistics), updated after every optimisation step with this decay (e.g. 0.99 for a
            few hundred steps, 0.999 for thousands); validation, the best epoch and the
            returned model then use the averaged weights. None (the default): no averaging.
        mix: ``"mixup"`` (Zhang et al. 2018) or ``"cutmix"`` (Yun et al. 2019) of every
            training batch with a shuffled copy of itself, the loss mixed in the same
            proportion (see :mod:`.mixing`; images, signals and volumes); ``"none"`` (default).
        mix_alpha: the mixing proportion is drawn from Beta(mix_alpha, mix_alpha) per batch
            (1.0: uniform; 0.2 keeps most batches close to one of the two samples).
        early_stopping_patience: stop after this many epochs without improvement (None: never).
        monitor / mode: validation metric picking the best epoch (``"auc"``/``"accuracy"``,
            mode ``"max"``; or ``"loss"``, mode ``"min"``).
        seed: the one source of randomness (shuffling, augmentation, dropout).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :mod:`.precision`).
        augment: name of the augmentation (recorded; the transform itself is passed to Trainer).
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        aux_weight: weight of auxiliary-head losses for models with ``forward_with_aux``.
        backbone_lr_scale: the backbone (every layer but the classifier and auxiliary heads)
            learns at ``lr`` times this (fine-tuning pretrained weights, e.g. 0.1).
        freeze_backbone_epochs: the backbone's learning rate is 0 for this many first epochs
            (only the head learns), then ``lr x backbone_lr_scale``.
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
    logit_adjust: float = 0.0
    ema_decay: float | None = None
    mix: str = "none"
    mix_alpha: float = 1.0
    early_stopping_patience: int | None = None
    monitor: str = "auc"
    mode: str = "max"
    seed: int = 0
    precision: str = "auto"
    augment: str = "none"
    max_grad_norm: float | None = None
    aux_weight: float = 0.3
    eval_batch_size: int | None = None
    backbone_lr_scale: float = 1.0
    freeze_backbone_epochs: int = 0

    def __post_init__(self) -> None:
        problems, failed = _coerce(self, _TRAIN_TYPES)
        try:
            object.__setattr__(
                self,
                "milestones",
                tuple(convert(m, int, "setting 'milestones'") for m in self.milestones),
            )
        except ValueError as exc:
            problems.append(str(exc))
            failed.add("milestones")
        except TypeError:
            problems.append(f"milestones must be a list of epochs, got {self.milestones!r}")
            failed.add("milestones")
        check = _Checks(self, failed)
        for name in ("epochs", "batch_size"):
            check.at_least(name, 1)
        for name in ("eval_batch_size", "early_stopping_patience"):
            check.at_least(name, 1, optional=True)
        for name in ("weight_decay", "momentum", "aux_weight", "seed", "logit_adjust"):
            check.at_least(name, 0)
        for name in ("lr", "gamma", "backbone_lr_scale", "mix_alpha"):
            check.above(name, 0)
        check.at_least("freeze_backbone_epochs", 0)
        check.above("max_grad_norm", 0, optional=True)
        decay = check.value("ema_decay")
        check.need("ema_decay", decay is None or 0 < decay < 1, "a number in (0, 1) or None")
        for name, valid in _TRAIN_CHOICES.items():
            check.choice(name, valid)
        check.text("monitor")
        check.text("augment")
        self._check_schedule(check)
        check.raise_any(problems)

    def _check_schedule(self, check: _Checks) -> None:
        """The checks that relate fields: milestones, warm-up, the monitored direction."""
        if "milestones" not in check.failed:
            check.need("milestones", list(self.milestones) == sorted(self.milestones), "increasing")
            check.need(
                "milestones",
                self.schedule != "multistep" or bool(self.milestones),
                "given for schedule='multistep', e.g. (50, 75)",
            )
        epochs = check.value("epochs")
        cosine = self.schedule == "cosine" and epochs is not None
        check.need(
            "warmup_epochs",
            check.value("warmup_epochs") is None
            or (self.warmup_epochs >= 0 and (not cosine or self.warmup_epochs < epochs)),
            f">= 0 and < epochs ({self.epochs})",
        )
        if self.monitor == "loss":
            check.need("mode", self.mode == "min", "'min' with monitor='loss'")

    @property
    def effective_eval_batch_size(self) -> int:
        return self.eval_batch_size or 2 * self.batch_size

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["milestones"] = list(self.milestones)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str | None = None) -> TrainConfig:
        """A TrainConfig from plain settings (numbers may be strings, as YAML gives them);
        every unknown or bad setting is listed in one :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        problems = [f"unknown setting(s) {unknown}; valid: {sorted(names)}"] if unknown else []
        try:
            config = cls(**{k: v for k, v in data.items() if k in names})
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems, where)
        return config

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self's, other's)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


_TRAIN_TYPES = scalar_types(TrainConfig)
_TRAIN_CHOICES = {
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "class_weights": WEIGHTINGS,
    "sampling": WEIGHTINGS,
    "mode": MODES,
    "precision": PRECISIONS,
    "mix": MIXES,
}
TASK_KINDS = ("binary", "multiclass", "multilabel", "ordinal")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, as plain data (stored in the bundle).

    Attributes:
        data: a registered dataset name (``"retinamnist"``), a path to an ``.npz`` in MedMNIST
            layout, or a path to a CSV (``path``, ``label``, optional ``split`` (train/val/test)
            and ``group`` columns; without ``split``, a seeded group-level 70/15/15 split), or an
            ECG database (``cpsc2021``, ``mitdb``, ``cinc2021-georgia``, ``ecg5000``: a seeded
            patient-level 70/15/15 split; see ``healthcnn study ecg-af`` for cross-validation).
        model: registered model name, or an import path ``package.module:callable`` naming your
            own model (see ``docs/your-model.md``); ``model_kwargs`` go to ``create_model``.
        weights: start from these weights: a weights name (``"imagenet"``, ``"DEFAULT"``,
            ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``; torchvision's published files, fetched into
            the data root and verified) or a ``.safetensors``/``.pt``/``.pth`` file; ``None``:
            random initialisation. Published weights bring their input normalisation.
        size: image size for MedMNIST files (28, 64, 128, 224; None: 28) or the resize for a
            CSV (None: the images' stored size, which must be the same for all of them).
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
    weights: str | None = None
    size: int | None = None
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

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["train"] = self.train.to_dict()
        data["model_kwargs"] = dict(self.model_kwargs)
        return data

    def __post_init__(self) -> None:
        problems, failed = _coerce(self, _RUN_TYPES)
        check = _Checks(self, failed)
        for name in ("data", "out", "model", "device"):
            check.text(name)
        check.text("data_dir", optional=True)
        check.text("weights", optional=True)
        check.at_least("size", 1, optional=True)
        check.need("task", self.task is None or self.task in TASK_KINDS, f"one of {TASK_KINDS}")
        check.need("model_kwargs", isinstance(self.model_kwargs, Mapping), "a mapping")
        check.need("train", isinstance(self.train, TrainConfig), "a TrainConfig")
        tracks = (None, "tensorboard", "mlflow")
        check.need("track", self.track in tracks, "'tensorboard', 'mlflow' or null (none)")
        check.text("track_uri", optional=True)
        check.need("stream", self.stream in (None, True, False), "true, false or null (choose)")
        check.above("memory_budget_mb", 0, optional=True)
        check.at_least("workers", 0)
        check.raise_any(problems)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str | None = None) -> RunConfig:
        """A RunConfig from plain settings: the run's, and the TrainConfig's at the top level or
        under ``train``; numbers may be strings (as YAML gives ``lr: 1e-3``). Every unknown or
        bad setting is listed at once in one :class:`ConfigError` (``where`` names the source,
        e.g. the config file)."""
        names = {f.name for f in dataclasses.fields(cls)}
        train_names = set(TrainConfig.__dataclass_fields__)
        unknown = sorted(set(data) - names - train_names)
        problems = []
        if unknown:
            problems.append(f"unknown setting(s) {unknown}; valid: {sorted(names | train_names)}")
        train = data.get("train") or {}
        if not isinstance(train, Mapping):
            problems.append(f"train must be a mapping of settings, got {train!r}")
            train = {}
        train = {**train, **{k: v for k, v in data.items() if k in train_names}}
        try:
            train_config = TrainConfig.from_dict(train)
        except ConfigError as exc:
            problems += exc.problems
            train_config = TrainConfig()
        missing = [k for k in ("data", "out") if data.get(k) in (None, "")]
        problems += [f"{k} is required" for k in missing]
        run = {k: v for k, v in data.items() if k in names and k not in ("train", *missing)}
        try:
            config = cls(**{"data": "-", "out": "-", **run}, train=train_config)
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems, where)
        return config


_RUN_TYPES = scalar_types(RunConfig)
