"""Mixup and CutMix of a training batch, for images, signals and volumes alike.

- **Mixup** (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018): every input
  becomes ``lam * x + (1 - lam) * x[partner]``.
- **CutMix** (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
  Localizable Features", ICCV 2019): a box of ``x[partner]`` is pasted into every input; the box
  covers about ``1 - lam`` of the spatial extent (each of the ``d`` spatial axes cut to
  ``(1 - lam) ** (1 / d)`` of its length, centred uniformly and clipped at the border), and
  ``lam`` is then set to the share of the input that was kept.

``lam`` is drawn from Beta(alpha, alpha) once per batch and ``partner`` is a random permutation
of the batch. The training loss is ``lam * loss(logits, y) + (1 - lam) * loss(logits,
y[partner])``, which for cross-entropy equals the loss against the mixed one-hot targets and
which works unchanged for every task kind (binary, multi-class, multi-label, ordinal) and with
class weights.

Why written here: torchvision's ``transforms.v2.MixUp``/``CutMix`` are the maintained versions,
but torchvision is not a dependency (its wheels do not import beside the pinned CPU torch), they
handle 2D images only, draw from torch's global generator (the Trainer draws every random number
from ``(seed, epoch, stream)`` so that a resumed run is bit-exact) and return soft labels for
one-hot classification only. ``tests/training/test_mixing.py`` checks these functions against
outputs torchvision produced (``tests/golden/mixing/``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

MIXES = ("none", "mixup", "cutmix")


def mixup(x: torch.Tensor, partner: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[partner]`` (a new tensor; ``x`` is not changed)."""
    return x * lam + x[partner] * (1.0 - lam)


def cutmix_box(
    spatial: tuple[int, ...], lam: float, centre: tuple[int, ...]
) -> tuple[tuple[slice, ...], float]:
    """The box CutMix pastes for ``lam`` at ``centre`` in an input of spatial shape ``spatial``,
    as one slice per axis, and the share of the input outside it (the ``lam`` of the loss).

    Each axis is cut to ``int(length * (1 - lam) ** (1 / d) / 2)`` on either side of the
    centre, clipped at the border (so a box at an edge is smaller and the kept share larger)."""
    if len(centre) != len(spatial):
        raise ValueError(f"centre {centre} must have one index per spatial axis {spatial}")
    # math.sqrt for images: the same float as torchvision's box for the same draws
    ratio = math.sqrt(1.0 - lam) if len(spatial) == 2 else (1.0 - lam) ** (1.0 / len(spatial))
    box = []
    for length, c in zip(spatial, centre, strict=True):
        half = int(0.5 * ratio * length)
        box.append(slice(max(c - half, 0), min(c + half, length)))
    cut = math.prod(s.stop - s.start for s in box)
    return tuple(box), 1.0 - cut / math.prod(spatial)


def cutmix(x: torch.Tensor, partner: torch.Tensor, box: tuple[slice, ...]) -> torch.Tensor:
    """``x`` with ``box`` (one slice per spatial axis) taken from ``x[partner]`` (a new tensor)."""
    out = x.clone()
    index = (slice(None), slice(None), *box)
    out[index] = x[partner][index]
    return out


def mix_batch(
    x: torch.Tensor, kind: str, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix a training batch ``x`` of shape ``(N, C, *spatial)``: ``(mixed x, partner, lam)``.

    ``kind`` is ``"mixup"`` or ``"cutmix"``; ``lam ~ Beta(alpha, alpha)``, the partner
    permutation and the CutMix centre come from ``rng`` (the Trainer's per-epoch generator)."""
    if kind not in MIXES[1:]:
        raise ValueError(f"mix must be one of {MIXES[1:]}, got {kind!r}")
    if x.ndim < 3:
        raise ValueError(
            f"{kind} needs inputs of shape (N, C, *spatial), got a batch of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{kind} needs float inputs, got {x.dtype}")
    lam = float(rng.beta(alpha, alpha))
    partner = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    if kind == "mixup":
        return mixup(x, partner, lam), partner, lam
    spatial = tuple(x.shape[2:])
    centre = tuple(int(rng.integers(0, n)) for n in spatial)
    box, kept = cutmix_box(spatial, lam, centre)
    return cutmix(x, partner, box), partner, kept
