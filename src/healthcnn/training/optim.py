"""Optimizers and learning-rate schedules from a :class:`TrainConfig`.

The schedule is a pure function of (epoch, step): the trainer sets each step's learning rate
itself, so a resumed run needs no scheduler object state to continue exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .config import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig):
    """The optimizer ``config.optimizer`` names, at the base learning rate."""
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


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
