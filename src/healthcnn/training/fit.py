"""The one fit path: ``fit_model(spec, train, val, task) -> Fitted``.

Every place that trains a network (``healthcnn train``, each study, the sweep scripts, the
training benchmark) goes through here, so the choices a fit makes are made once:

1. **Model options the data implies** (:func:`default_model_kwargs`): ResNets whose input is
   under 64 px get the small (MedMNIST 28 px) stem; the caller's ``model_kwargs`` override.
2. **Seeding**: ``torch.manual_seed(spec.init_seed)`` right before the network is built (the
   Trainer seeds shuffling, augmentation and dropout from ``spec.train.seed``).
3. **Transforms**: training = [resize to the model input] + augmentation + normalisation;
   evaluation = the :class:`~healthcnn.bundle.Preprocessing` record's own ``transform()``, so
   the validation that selects the best epoch sees inputs exactly as inference will.
4. :class:`~healthcnn.training.Trainer` ``.fit``; the result carries the record a bundle needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..bundle import Preprocessing, save_bundle
from ..data.arrays import ArrayDataset, BatchTransform
from ..data.loaders import DataSource, dataset_labels, describe
from ..data.transforms import Compose, Resize, build_augment
from ..inference.precision import PrecisionPolicy
from ..inference.predict import Predictions, infer_logits
from ..models import create_model
from ..models._external import is_import_path
from ..models.pretrained import normalisation_for, published_weights
from ..tasks import Task
from .config import TrainConfig
from .history import History
from .trainer import Trainer

#: ResNets on inputs smaller than this (pixels, largest side) get the 28 px stem
SMALL_STEM_BELOW = 64


def default_model_kwargs(model: str, input_size: tuple[int, ...]) -> dict[str, Any]:
    """Options the data implies: for ResNets on inputs under 64 px, the MedMNIST 28 px stem
    (none for a model named by import path)."""
    if is_import_path(model):
        return {}
    if model.startswith("resnet") and max(input_size) < SMALL_STEM_BELOW:
        return {"stem": "small"}
    return {}


@dataclass(frozen=True)
class FitSpec:
    """What to fit and how (plain data, except the optional ``build`` function).

    Attributes:
        model: registered model name or import path ``package.module:callable`` (the bundle
            records it to rebuild the network).
        train: the Trainer's hyper-parameters (its ``seed`` seeds shuffling and augmentation).
        model_kwargs: options for ``create_model`` (over :func:`default_model_kwargs`).
        normalise: scale uint8 inputs to [-1, 1] (mean 0.5, std 0.5 per channel, the MedMNIST
            protocol); float inputs (signals normalised per lead) are never rescaled.
        model_input_size: resize inputs to this many pixels per axis before the network
            (upsampling small images for the ImageNet stem), else the data's own size.
        tta: predict with the 8 flips/right-angle rotations averaged (test-time views; the 4
            that keep the shape on non-square inputs).
        init_seed: seed of the weight initialisation (default ``train.seed``).
        build: a function returning the untrained network, for models that need more than
            registry options (e.g. inflated 2D weights); called after seeding.
        record: further preprocessing-record fields (``sampling_rate``, ``leads``, ``fundus``).
        device: ``"cpu"`` or ``"cuda"``; ``progress``: the Trainer's progress bar;
        out_dir: checkpoints and ``log.jsonl`` (resumable), None for none;
            ``checkpoint_every``: seconds between checkpoints (0: every epoch; see the Trainer).
        num_workers, pin_memory: the DataLoader of data that is not an in-memory
            ``ArrayDataset`` (a streaming image folder, a user's own ``Dataset``).
    """

    model: str
    train: TrainConfig = field(default_factory=TrainConfig)
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    normalise: bool = True
    model_input_size: int | None = None
    tta: bool = False
    init_seed: int | None = None
    build: Callable[[], nn.Module] | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    device: str | torch.device = "cpu"
    progress: bool | None = False
    out_dir: str | Path | None = None
    checkpoint_every: float = 0.0
    num_workers: int = 0
    pin_memory: bool = False


@dataclass
class Fitted:
    """A trained network (best validation epoch restored) with everything a bundle needs.

    ``precision`` is what the Trainer trained at (``"bf16"`` or ``"fp32"``: the config's
    ``"auto"`` as resolved for this model and device, so fp32 for a 3D model on a CPU); records
    of a run take it from here rather than resolving the config again.
    """

    model: nn.Module
    task: Task
    history: History
    preprocessing: Preprocessing
    model_name: str
    model_kwargs: dict[str, Any]
    train_config: TrainConfig
    device: str | torch.device
    seconds: float
    precision: str
    num_workers: int = 0
    #: the epochs its checkpoint held when ``fit_model(resume=True)`` went on (0: a fresh fit)
    resumed_after_epoch: int = 0

    def inference_policy(self, precision: str | None = None) -> PrecisionPolicy:
        """The policy :meth:`infer` scores at: ``precision``, else the training config's
        (``"auto"`` resolved for the device, without the Trainer's 3D rule)."""
        return PrecisionPolicy.resolve(precision or self.train_config.precision, self.device)

    def infer(
        self,
        ds: DataSource,
        *,
        batch_size: int | None = None,
        precision: str | None = None,
        views: Sequence[BatchTransform | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean logits and mean probabilities over the record's views (float64 arrays), or
        over the evaluation transforms ``views`` where given (e.g. a sweep's own flips)."""
        batch = batch_size or self.train_config.effective_eval_batch_size
        policy = self.inference_policy(precision)
        logits, probs = [], []
        for tf in self.preprocessing.views_transforms() if views is None else views:
            z, _ = infer_logits(
                self.model,
                ds,
                batch_size=batch,
                policy=policy,
                device=self.device,
                transform=tf,
                num_workers=self.num_workers,
            )
            logits.append(z.numpy().astype(np.float64))
            probs.append(self.task.probabilities(z).numpy())
        if len(probs) == 1:
            return logits[0], probs[0]
        return np.mean(logits, axis=0), np.mean(probs, axis=0)

    def predict(
        self,
        ds: ArrayDataset | Dataset,
        *,
        batch_size: int | None = None,
        precision: str | None = None,
    ) -> Predictions:
        """The task's probabilities on ``ds`` (averaged over the record's views) with labels,
        ids and groups (``ds`` needs a ``labels`` tensor, as ArrayDataset and the streaming
        image dataset have)."""
        if dataset_labels(ds) is None:
            raise TypeError(
                f"predict needs the labels of every sample up front; the "
                f"{type(ds).__name__} has no `labels` tensor (use infer() for scores alone)"
            )
        _, probs = self.infer(ds, batch_size=batch_size, precision=precision)
        return Predictions.from_scores(probs, ds, self.task)

    def save(self, out: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the fitted network as a bundle (the one bundle writer; atomic)."""
        return save_bundle(
            out,
            self.model.float().cpu().eval(),
            model_name=self.model_name,
            model_kwargs=self.model_kwargs,
            task=self.task,
            preprocessing=self.preprocessing,
            metadata={"history": self.history.to_dict(), **dict(metadata or {})},
        )


def preprocessing_for(spec: FitSpec, train: DataSource) -> Preprocessing:
    """The preprocessing record of a fit: channels and size of ``train``, its scaling, the
    normalisation (mean = std = 0.5, or that of published pretrained weights in
    ``model_kwargs["weights"]``), model input size and views of ``spec``, and ``spec.record``."""
    info = describe(train)
    is_uint8 = info.dtype == torch.uint8
    channels = info.in_channels
    norm = spec.normalise and is_uint8
    weights = spec.model_kwargs.get("weights")
    stats = normalisation_for(spec.model, weights, channels) if norm else None
    mean, std = stats or ((0.5,) * channels, (0.5,) * channels)
    return Preprocessing(
        channels=channels,
        size=info.spatial_shape,
        spatial_dims=info.spatial_dims,
        scale=1 / 255 if is_uint8 else 1.0,
        mean=mean if norm else None,
        std=std if norm else None,
        model_input_size=spec.model_input_size,
        views="dihedral8" if spec.tta else "single",
        **dict(spec.record),
    )


def _model_kwargs(spec: FitSpec, train: DataSource, task: Task) -> dict[str, Any]:
    info = describe(train)
    size = (spec.model_input_size,) if spec.model_input_size else info.spatial_shape
    # published ImageNet weights fit the architecture as torchvision builds it: no 28 px stem
    published = published_weights(spec.model, spec.model_kwargs.get("weights"))
    return {
        **({} if published else default_model_kwargs(spec.model, size)),
        **dict(spec.model_kwargs),
        "spatial_dims": info.spatial_dims,
        "in_channels": info.in_channels,
        "num_classes": task.num_outputs,
    }


def _train_transform(spec: FitSpec, train: DataSource, record: Preprocessing) -> Compose:
    resize = [Resize(spec.model_input_size)] if spec.model_input_size else []
    augment = build_augment(spec.train.augment, record.spatial_dims, record.channels)
    norm = record.normalisation()
    return Compose([*resize, augment, *([] if norm is None else [norm])])


def build_network(spec: FitSpec, train: DataSource, task: Task) -> tuple[nn.Module, dict]:
    """The untrained network of ``spec`` (seeded) and the keyword arguments that rebuild it."""
    kwargs = _model_kwargs(spec, train, task)
    seed = spec.train.seed if spec.init_seed is None else spec.init_seed
    torch.manual_seed(seed)  # weight initialisation; the Trainer seeds the rest
    model = spec.build() if spec.build is not None else create_model(spec.model, **kwargs)
    kwargs.pop("weights", None)
    return model, kwargs


def fit_model(
    spec: FitSpec,
    train: DataSource,
    val: DataSource,
    task: Task,
    *,
    resume: bool = False,
    callbacks: tuple[Any, ...] = (),
) -> Fitted:
    """Build (seeded), train with model selection on ``val``, and return the :class:`Fitted`
    network with its preprocessing record.

    ``train`` and ``val`` are in-memory :class:`ArrayDataset` objects (the fast path) or any
    ``torch.utils.data.Dataset`` / ``DataLoader`` of ``(input, label)`` samples (read with
    ``spec.num_workers`` processes; see :class:`~healthcnn.training.Trainer`).

    ``resume=True`` goes on from the checkpoint in ``spec.out_dir``; the ``seconds`` of the
    result then count the epochs trained before too (their recorded times)."""
    start = time.perf_counter()
    done = 0
    if resume and spec.out_dir is not None:
        from .checkpoint import checkpoint_epoch

        done = checkpoint_epoch(spec.out_dir)
    record = preprocessing_for(spec, train)
    model, kwargs = build_network(spec, train, task)
    trainer = Trainer(
        model,
        task,
        spec.train,
        out_dir=spec.out_dir,
        checkpoint_every=spec.checkpoint_every,
        transform=_train_transform(spec, train, record),
        eval_transform=record.transform(),
        device=spec.device,
        callbacks=callbacks,
        progress=spec.progress,
        num_workers=spec.num_workers,
        pin_memory=spec.pin_memory,
    )
    history = trainer.fit(train, val, resume=resume)
    return Fitted(
        model=model,
        task=task,
        history=history,
        preprocessing=record,
        model_name=spec.model,
        model_kwargs=kwargs,
        train_config=spec.train,
        device=spec.device,
        seconds=time.perf_counter() - start + sum(e.seconds for e in history.epochs[:done]),
        precision=trainer.policy.name,
        num_workers=spec.num_workers,
        resumed_after_epoch=done,
    )
