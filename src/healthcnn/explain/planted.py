"""A data set whose evidence is known: real images with a small bright patch planted in some.

The class is decided by the patch alone (class ``"patch"`` when it is present, ``"none"``
otherwise), so a model that learns the task must look at the patch, and a map of where it looked
can be scored against the patch's box (:mod:`healthcnn.explain.localisation`). The images stay
real (e.g. RetinaMNIST fundus photographs), so the background is anatomy, not noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.arrays import ArrayDataset

CLASSES = ["none", "patch"]


@dataclass(frozen=True)
class Planted:
    """The images with patches (an :class:`ArrayDataset`, classes ``none``/``patch``) and one
    boolean mask per sample, true inside its patch (all false without a patch)."""

    data: ArrayDataset
    masks: np.ndarray


def plant_patches(
    images: np.ndarray | torch.Tensor,
    *,
    patch: int = 5,
    value: int = 255,
    seed: int = 0,
    name: str = "planted",
) -> Planted:
    """Half of the uint8 ``images`` ``(N, C, *spatial)`` (chosen at random) get a cube of side
    ``patch`` set to ``value`` at a uniformly random place fully inside the image; their label
    is 1 (``patch``), the others' 0 (``none``). The input is not modified."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.array(images, dtype=np.uint8, copy=True)
    if arr.ndim < 3:
        raise ValueError(f"images must be (N, C, *spatial), got shape {arr.shape}")
    spatial = arr.shape[2:]
    if not 1 <= patch <= min(spatial):
        raise ValueError(f"patch side {patch} does not fit images of size {spatial}")
    rng = np.random.default_rng(seed)
    n = len(arr)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    masks = np.zeros((n, *spatial), dtype=bool)
    for i in np.flatnonzero(labels):
        corner = [int(rng.integers(0, s - patch + 1)) for s in spatial]
        box = tuple(slice(c, c + patch) for c in corner)
        masks[(i, *box)] = True
        arr[(i, slice(None), *box)] = value
    data = ArrayDataset(
        images=torch.from_numpy(arr), labels=torch.from_numpy(labels), classes=list(CLASSES),
        name=name,
    )  # fmt: skip
    return Planted(data, masks)
