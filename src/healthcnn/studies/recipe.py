"""Training recipes for 5-grade DR: one network per (recipe, seed), scored on val and test.

A :class:`Recipe` is plain data (model, input upsampling, task kind, :class:`TrainConfig`); a
``Member`` is one trained network with its validation and test probabilities. Studies, the
learning curve and the recipe sweep all train through :func:`fit_member`, so a choice tried in
the sweep is exactly what the study then runs.

Upsampling (``upsample=64``) resizes the 28 px inputs bilinearly inside the batch transform,
so the data stay uint8 at their native size and the bundle records the resize (metadata
``preprocessing.model_input_size``) for ``healthcnn predict``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bundle import save_bundle
from ..data import ArrayDataset, build_augment
from ..data.transforms import Compose, Normalize, Resize, dihedral_views
from ..models import create_model
from ..tasks import DR_GRADES, Task, make_task
from ..training import TrainConfig
from ..training.history import History
from ..training.precision import PrecisionPolicy
from ..training.predict import predict_views
from ..training.trainer import Trainer

TASK_KINDS = ("multiclass", "ordinal")


@dataclass(frozen=True)
class Recipe:
    """How one network is trained.

    Attributes:
        name: short label used in file names and reports.
        model: registered model name (``resnet18``).
        stem: ResNet stem, ``"small"`` (3x3, no pooling; for 28 px) or ``"imagenet"``.
        upsample: resize inputs to this many pixels before the network (None: native size).
        task: ``"multiclass"`` (softmax cross-entropy, the MedMNIST protocol) or ``"ordinal"``
            (CORAL cumulative logits; grades are ordered).
        tta: average the probabilities over the 8 flips/right-angle rotations of each image
            at prediction time (fundus photographs have no canonical orientation).
        train: the Trainer's hyper-parameters (the seed is set per member).
    """

    name: str = "baseline"
    model: str = "resnet18"
    stem: str = "small"
    upsample: int | None = None
    task: str = "multiclass"
    tta: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.task not in TASK_KINDS:
            raise ValueError(f"recipe task must be one of {TASK_KINDS}, got {self.task!r}")
        if self.stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {self.stem!r}")
        if self.upsample is not None and (
            isinstance(self.upsample, bool) or not isinstance(self.upsample, int)
        ):
            raise ValueError(f"upsample must be a pixel count or None, got {self.upsample!r}")
        if self.upsample is not None and self.upsample < 8:
            raise ValueError(f"upsample must be >= 8 pixels, got {self.upsample}")

    def with_train(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["train"] = self.train.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        data = dict(data)
        train = TrainConfig.from_dict(dict(data.pop("train", {}) or {}))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown recipe field(s) {unknown}; valid: {sorted(names)}")
        return cls(**data, train=train)


#: The MedMNIST v2 protocol (100 epochs in the paper; the Trainer keeps the best-val-AUC epoch).
BASELINE = Recipe(
    name="medmnist-protocol",
    train=TrainConfig(epochs=100, schedule="multistep", milestones=(50, 75), monitor="auc"),
)


def candidate_recipes(epochs: int = 40) -> list[Recipe]:
    """The recipes the sweep compares on validation (see ``scripts/dr_recipe_sweep.py``)."""
    cos = TrainConfig(
        epochs=epochs,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=min(2, epochs - 1),
        augment="basic",
        monitor="auc",
    )
    replace = dataclasses.replace
    strong = replace(cos, augment="strong")
    slow = dataclasses.replace(strong, lr=5e-4, epochs=int(epochs * 1.5))
    return [
        Recipe(name="ce-aug-cos", train=cos),
        Recipe(name="ordinal-aug-cos", task="ordinal", train=cos),
        Recipe(name="ce-strong-cos", train=dataclasses.replace(cos, augment="strong")),
        Recipe(name="ce-aug-cos-up64", stem="imagenet", upsample=64, train=cos),
        Recipe(
            name="ordinal-aug-cos-up64", task="ordinal", stem="imagenet", upsample=64, train=cos
        ),
        Recipe(name="ordinal-strong-cos", task="ordinal", train=strong),
        Recipe(name="ordinal-strong-cos-lr5e-4", task="ordinal", train=slow),
        Recipe(name="ordinal-aug-cos-bs64", task="ordinal", train=replace(cos, batch_size=64)),
        Recipe(name="ordinal-aug-cos-wd0.3", task="ordinal", train=replace(cos, weight_decay=0.3)),
        Recipe(
            name="ordinal-strong-cos-up64",
            task="ordinal",
            stem="imagenet",
            upsample=64,
            train=strong,
        ),
    ]


def grade_task(kind: str = "multiclass", classes: tuple[str, ...] = DR_GRADES) -> Task:
    """The 5-grade task (multi-class or ordinal) over the DR grade names."""
    return make_task(kind, classes, name="DR grade")


@dataclass
class Member:
    """One trained network: the model (eval mode, CPU), its scores and how it got there."""

    recipe: Recipe
    seed: int
    model: nn.Module
    task: Task
    model_kwargs: dict[str, Any]
    history: History
    scores: dict[str, np.ndarray]
    seconds: float
    n_train: int

    def preprocessing(self) -> dict[str, Any]:
        return {"model_input_size": self.recipe.upsample, "tta": self.recipe.tta}


def predict_probs(
    model: nn.Module,
    ds: ArrayDataset,
    task: Task,
    eval_transform: Compose,
    *,
    tta: bool = False,
    device: str = "cpu",
    precision: str = "auto",
) -> np.ndarray:
    """Class probabilities of ``model`` on ``ds``; with ``tta``, averaged over 8 views."""
    policy = PrecisionPolicy.resolve(precision, device)
    views = [Compose([eval_transform, v]) for v in dihedral_views()] if tta else [eval_transform]
    return predict_views(model, ds, task, views, 256, policy, device=device)


def transforms_for(recipe: Recipe, channels: int) -> tuple[Compose, Compose]:
    """(training transform, evaluation transform): [resize] + [augment] + normalise."""
    norm = Normalize([0.5] * channels, [0.5] * channels)
    resize = [Resize(recipe.upsample)] if recipe.upsample else []
    augment = build_augment(recipe.train.augment, 2, channels)
    return Compose([*resize, augment, norm]), Compose([*resize, norm])


def fit_member(
    recipe: Recipe,
    seed: int,
    train: ArrayDataset,
    val: ArrayDataset,
    score_on: Mapping[str, ArrayDataset] | None = None,
    *,
    device: str = "cpu",
    progress: bool | None = False,
    task: Task | None = None,
) -> Member:
    """Train one network of ``recipe`` with ``seed`` (model selection on ``val``: the Trainer
    keeps the best-validation epoch) and compute probabilities on ``val`` and ``score_on``.

    ``task`` overrides the recipe's grade task (e.g. a binary referable-DR task whose label
    map turns grades into referable / non-referable)."""
    start = time.perf_counter()
    cfg = dataclasses.replace(recipe.train, seed=seed)
    if task is None:
        task = grade_task(recipe.task, tuple(train.classes))
    model_kwargs: dict[str, Any] = {
        "spatial_dims": 2,
        "in_channels": train.in_channels,
        "num_classes": task.num_outputs,
    }
    if recipe.model.startswith("resnet"):
        model_kwargs["stem"] = recipe.stem
    torch.manual_seed(seed)
    model = create_model(recipe.model, **model_kwargs)
    tf_train, tf_eval = transforms_for(recipe, train.in_channels)
    trainer = Trainer(
        model,
        task,
        cfg,
        transform=tf_train,
        eval_transform=tf_eval,
        device=device,
        progress=progress,
    )
    history = trainer.fit(train, val)
    sets = {"val": val, **dict(score_on or {})}
    scores = {
        name: predict_probs(
            model, ds, task, tf_eval, tta=recipe.tta, device=device, precision=cfg.precision
        )
        for name, ds in sets.items()
    }
    return Member(
        recipe=recipe,
        seed=seed,
        model=model.float().cpu().eval(),
        task=task,
        model_kwargs=model_kwargs,
        history=history,
        scores=scores,
        seconds=time.perf_counter() - start,
        n_train=len(train),
    )


def save_member(member: Member, out: str | Path, metadata: Mapping[str, Any]) -> Path:
    """Write ``member`` as a bundle; ``metadata`` adds study facts (data, metrics...)."""
    channels = member.model_kwargs["in_channels"]
    norm = {"mean": [0.5] * channels, "std": [0.5] * channels, "scale": 1 / 255}
    meta = {
        "normalisation": norm,
        "seeds": {"train": member.seed},
        "recipe": member.recipe.to_dict(),
        "history": member.history.to_dict(),
        **dict(metadata),
    }
    meta.setdefault("preprocessing", {}).update(member.preprocessing())
    return save_bundle(
        out,
        member.model,
        model_name=member.recipe.model,
        model_kwargs=member.model_kwargs,
        task=member.task,
        metadata=meta,
    )
