"""Resample a volume (or image) dataset to another grid once, at load time.

The official AdrenalMNIST3D file is 64^3; training a 3D CNN on 28^3 or 32^3 copies is 8-12x
cheaper. ``resize_dataset`` interpolates every sample once (trilinear for volumes, bilinear for
images, ``align_corners=False``), rounds back to uint8 and returns a new :class:`ArrayDataset`,
so an epoch never pays for the interpolation again. Halving a grid (64 -> 32) with these
settings averages each 2x2x2 block exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .arrays import ArrayDataset

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _target_shape(size: int | Sequence[int], dims: int) -> tuple[int, ...]:
    shape = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(shape) != dims or any(
        isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape
    ):
        raise ValueError(
            f"size must be an int >= 1 or {dims} ints >= 1 (one per spatial axis), got {size!r}"
        )
    return shape


def resample_images(
    images: torch.Tensor, size: int | Sequence[int], *, chunk: int = 64
) -> torch.Tensor:
    """uint8 ``(N, C, *spatial)`` -> uint8 ``(N, C, *size)`` by (bi/tri)linear interpolation.

    Samples are processed ``chunk`` at a time, so a 64^3 training set never needs a float copy
    of itself in memory. A sample already at ``size`` is returned unchanged (as a copy).
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(
            f"images must be a uint8 torch.Tensor (N, C, *spatial), got "
            f"{getattr(images, 'dtype', type(images).__name__)}"
        )
    dims = images.ndim - 2
    if dims not in _MODES:
        raise ValueError(
            f"images must have 1-3 spatial axes (N, C, *spatial), got shape {tuple(images.shape)}"
        )
    shape = _target_shape(size, dims)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if tuple(images.shape[2:]) == shape:
        return images.clone()
    out = torch.empty((*images.shape[:2], *shape), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=shape, mode=_MODES[dims], align_corners=False)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize_dataset(ds: ArrayDataset, size: int | Sequence[int]) -> ArrayDataset:
    """A copy of ``ds`` with every sample resampled to ``size`` (labels, ids, groups kept);
    the name records the new grid, e.g. ``adrenalmnist3d_64:train@32``."""
    if not isinstance(ds, ArrayDataset):
        raise TypeError(f"ds must be an ArrayDataset, got {type(ds).__name__}")
    images = resample_images(ds.images, size)
    grid = "x".join(str(s) for s in images.shape[2:])
    grid = str(images.shape[2]) if len(set(images.shape[2:])) == 1 else grid
    return ArrayDataset(
        images=images,
        labels=ds.labels.clone(),
        classes=list(ds.classes),
        ids=None if ds.ids is None else list(ds.ids),
        groups=None if ds.groups is None else list(ds.groups),
        name=f"{ds.name}@{grid}",
    )
