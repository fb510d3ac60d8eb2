"""Optimizers and learning-rate schedules from a :class:`TrainConfig`.

The schedule is a pure function of (epoch, step): the trainer sets each step's learning rate
itself, so a resumed run needs no scheduler object state to continue exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from .config import TrainConfig


def parameter_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The model's trainable parameters as optimizer groups: one group, or, when
    ``config.backbone_lr_scale != 1`` or ``config.freeze_backbone_epochs > 0``, the head (the
    classifier and auxiliary heads: the layers a new ``num_classes`` re-initialises) at the full
    learning rate and the backbone (everything else) at ``backbone_lr_scale`` times it, held
    still (learning rate 0) for the first ``freeze_backbone_epochs`` epochs. :func:`set_lr`
    applies both."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if config.backbone_lr_scale == 1.0 and config.freeze_backbone_epochs == 0:
        return [{"params": [p for _, p in named]}]
    from ..models.weights import _head_keys

    head_keys = _head_keys(model)
    head = [p for n, p in named if n in head_keys]
    if not head:
        raise ValueError(
            f"backbone_lr_scale / freeze_backbone_epochs need to know the classifier of "
            f"{type(model).__name__}: use a registered model (get_classifier()), or set the "
            f"learning rates of your own model's parameter groups yourself"
        )
    backbone = [p for n, p in named if n not in head_keys]
    return [
        {"params": head, "lr_scale": 1.0, "freeze_epochs": 0},
        {
            "params": backbone,
            "lr_scale": config.backbone_lr_scale,
            "freeze_epochs": config.freeze_backbone_epochs,
        },
    ]


def build_optimizer(params: Iterable[Any], config: TrainConfig):
    """The optimizer ``config.optimizer`` names, at the base learning rate, over ``params``
    (parameters, or the groups of :func:`parameter_groups`)."""
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [g for g in params if g["params"]]
    else:
        params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all requires_grad=False)")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def lr_at(config: TrainConfig, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
    """The learning rate for step ``step`` of 0-based ``epoch``.

    ``multistep`` changes per epoch (as ``torch.optim.lr_scheduler.MultiStepLR`` stepped once
    per epoch); ``cosine`` changes every step: linear warm-up to ``lr`` over ``warmup_epochs``
    (the first step already at ``lr / warm-up steps``), then half a cosine down to 0 at the end.
    """
    base = config.lr
    if config.schedule == "none":
        return base
    if config.schedule == "multistep":
        return base * config.gamma ** sum(1 for m in config.milestones if epoch >= m)
    t = epoch + (step + 1) / max(steps_per_epoch, 1)  # epochs done after this step
    warm = config.warmup_epochs
    if warm and t <= warm:
        return base * t / warm
    frac = (t - warm) / (config.epochs - warm)
    # evaluated at the step's start so the last step of training does not get lr 0
    frac -= 1 / (max(steps_per_epoch, 1) * (config.epochs - warm))
    return base * 0.5 * (1.0 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float, epoch: int | None = None) -> None:
    """Set every group's learning rate: ``lr`` times the group's ``lr_scale``, or 0 while the
    0-based ``epoch`` is before the group's ``freeze_epochs`` (see :func:`parameter_groups`)."""
    for group in optimizer.param_groups:
        frozen = epoch is not None and epoch < group.get("freeze_epochs", 0)
        group["lr"] = 0.0 if frozen else lr * group.get("lr_scale", 1.0)
