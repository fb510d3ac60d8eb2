"""Training recipes for 5-grade DR: one network per (recipe, seed), scored on val and test.

A :class:`Recipe` is plain data (model, input upsampling, task kind, :class:`TrainConfig`); a
``Member`` is one trained network with its validation and test probabilities. Studies, the
learning curve and the recipe sweep all train through :func:`fit_member`, so a choice tried in
the sweep is exactly what the study then runs.

Upsampling (``upsample=64``) resizes the 28 px inputs bilinearly inside the batch transform,
so the data stay uint8 at their native size and the bundle's preprocessing record keeps the
resize (``model_input_size``) for ``healthcnn predict``. Every member is fitted by
:func:`healthcnn.training.fit_model`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..data import ArrayDataset
from ..tasks import DR_GRADES, Task, make_task
from ..training import TrainConfig
from ..training.fit import FitSpec, Fitted, fit_model
from ..training.history import History
from . import _resume

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
        # round 4 (CPU): the weights averaged over the last few epochs (half-life about 23
        # steps, 3 epochs of 1,080 images in batches of 128)
        Recipe(name="ordinal-aug-cos-ema", task="ordinal", train=replace(cos, ema_decay=0.97)),
        # round 5 (CPU): batches mixed, with the skin study's alphas (mixup Beta(0.2, 0.2) as
        # Zhang et al., CutMix Beta(1, 1) as Yun et al.); the ordinal loss takes the mixed targets
        Recipe(
            name="ordinal-aug-cos-mixup",
            task="ordinal",
            train=replace(cos, mix="mixup", mix_alpha=0.2),
        ),
        Recipe(
            name="ordinal-aug-cos-cutmix",
            task="ordinal",
            train=replace(cos, mix="cutmix", mix_alpha=1.0),
        ),
    ]


def candidate_recipe(name: str, epochs: int = 40) -> Recipe:
    """The candidate recipe called ``name`` (:func:`candidate_recipes`)."""
    recipes = {r.name: r for r in candidate_recipes(epochs)}
    if name not in recipes:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(recipes)}")
    return recipes[name]


def grade_task(kind: str = "multiclass", classes: tuple[str, ...] = DR_GRADES) -> Task:
    """The 5-grade task (multi-class or ordinal) over the DR grade names."""
    return make_task(kind, classes, name="DR grade")


@dataclass
class Member:
    """One trained network: the model (eval mode, CPU), its scores and how it got there."""

    recipe: Recipe
    seed: int
    fitted: Fitted
    scores: dict[str, np.ndarray]
    seconds: float
    n_train: int

    @property
    def model(self) -> nn.Module:
        return self.fitted.model

    @property
    def task(self) -> Task:
        return self.fitted.task

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return self.fitted.model_kwargs

    @property
    def history(self) -> History:
        return self.fitted.history


def fit_spec(
    recipe: Recipe, seed: int, *, device: str = "cpu", progress=False, out_dir: Path | None = None
) -> FitSpec:
    """The fit of ``recipe`` with ``seed``: its model (with the recipe's stem for ResNets),
    upsampling, test-time views and hyper-parameters (checkpoints in ``out_dir``, if given,
    at most one a minute: :data:`._resume.CHECKPOINT_EVERY_S`)."""
    return FitSpec(
        model=recipe.model,
        train=dataclasses.replace(recipe.train, seed=seed),
        model_kwargs={"stem": recipe.stem} if recipe.model.startswith("resnet") else {},
        model_input_size=recipe.upsample,
        tta=recipe.tta,
        device=device,
        progress=progress,
        out_dir=out_dir,
        checkpoint_every=_resume.CHECKPOINT_EVERY_S,
    )


def predict_probs(
    member: Member, ds: ArrayDataset, *, tta: bool | None = None, device: str = "cpu"
) -> np.ndarray:
    """Class probabilities of ``member`` on ``ds``, averaged over its recorded views, or with
    ``tta`` given, over the 8 flips/rotations (True) or none (False)."""
    fitted = member.fitted
    if tta is not None:
        views = "dihedral8" if tta else "single"
        record = dataclasses.replace(fitted.preprocessing, views=views)
        fitted = dataclasses.replace(fitted, preprocessing=record, device=device)
    return fitted.infer(ds, batch_size=256)[1]


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
    out_dir: Path | None = None,
    resume: bool = False,
) -> Member:
    """Train one network of ``recipe`` with ``seed`` (model selection on ``val``: the Trainer
    keeps the best-validation epoch) and compute probabilities on ``val`` and ``score_on``.

    ``task`` overrides the recipe's grade task (e.g. a binary referable-DR task whose label
    map turns grades into referable / non-referable). With ``out_dir`` the training
    checkpoints there as it trains, and ``resume=True`` goes on from it."""
    start = time.perf_counter()
    if task is None:
        task = grade_task(recipe.task, tuple(train.classes))
    spec = fit_spec(recipe, seed, device=device, progress=progress, out_dir=out_dir)
    fitted = fit_model(spec, train, val, task, resume=resume)
    sets = {"val": val, **dict(score_on or {})}
    scores = {name: fitted.infer(ds, batch_size=256)[1] for name, ds in sets.items()}
    fitted.model = fitted.model.float().cpu().eval()
    fitted.device = "cpu"
    return Member(
        recipe=recipe,
        seed=seed,
        fitted=fitted,
        scores=scores,
        seconds=time.perf_counter() - start,
        n_train=len(train),
    )


def save_member(
    member: Member,
    out: str | Path,
    metadata: Mapping[str, Any],
    *,
    fundus: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``member`` as a bundle; ``metadata`` adds study facts (data, metrics...);
    ``fundus`` records the full-resolution photograph preprocessing in its record."""
    fitted = member.fitted
    if fundus is not None:
        record = dataclasses.replace(fitted.preprocessing, fundus=dict(fundus))
        fitted = dataclasses.replace(fitted, preprocessing=record)
    meta = {"seeds": {"train": member.seed}, "recipe": member.recipe.to_dict(), **dict(metadata)}
    return fitted.save(out, meta)
