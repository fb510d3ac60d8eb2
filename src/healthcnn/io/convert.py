"""A :class:`MedicalImage` -> the uint8 ``(C, *size)`` array a dataset or a bundle's input
holds. Training (image CSVs listing medical files) and prediction use this one function, so a
scan is treated the same way at both ends.

Windowed values (``[0, 1]``) become ``round(255 * v)``; values without a window must already be
whole numbers in 0..255 (e.g. 8-bit volumes stored as NIfTI), anything else asks for a window.
Resizing is linear interpolation (bilinear in 2D, trilinear in 3D, ``align_corners=False``) on
the float values, before the rounding. With a target spacing (the bundle's record), the image is
resampled to that voxel size instead (same interpolation, the affine updated, a ``resample``
step) and centred in the model's size: cut evenly where larger, zero-padded where smaller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .image import MedicalFormatError, MedicalImage, Step
from .window import FILE_WINDOW


def window_spec(record: Mapping[str, Any] | None) -> object:
    """The ``window=`` argument of :func:`healthcnn.io.read` for a stored window record."""
    if record is None:
        return None
    if record.get("source") == FILE_WINDOW:
        return FILE_WINDOW
    return (float(record["centre"]), float(record["width"]))


def to_uint8(
    image: MedicalImage, size: Sequence[int], spacing: Sequence[float] | None = None
) -> np.ndarray:
    """``image.array`` as uint8 of spatial shape ``size`` (see the module docstring); with
    ``spacing``, resampled to that voxel size in mm first and then centred in ``size`` (cut or
    zero-padded) instead of resized."""
    size = tuple(int(s) for s in size)
    if len(size) != image.spatial_dims:
        raise MedicalFormatError(
            image.source,
            f"a {image.spatial_dims}D image, but the model takes {len(size)}D inputs of {size}",
        )
    factor = _byte_factor(image)
    if spacing is not None:
        image = resample(image, spacing)
        values = crop_or_pad(image.array.astype(np.float32) * factor, size)
    else:
        values = image.array.astype(np.float32) * factor
        if tuple(values.shape[1:]) != size:
            values = _interpolate(values, size)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _byte_factor(image: MedicalImage) -> float:
    """255 for windowed values in [0, 1]; 1 for values that are bytes already; else refuse."""
    if any(s.name == "window" for s in image.steps):
        return 255.0
    values = image.array
    finite = bool(np.isfinite(values).all())
    if finite and values.min() >= 0 and values.max() <= 255 and bool((values % 1 == 0).all()):
        return 1.0
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    raise MedicalFormatError(
        image.source,
        f"values from {low:g} to {high:g} are not 8-bit; give a window (a preset such as "
        "lung, 'file', or CENTRE,WIDTH) so they map onto 0..255",
    )


def _interpolate(values: np.ndarray, size: Sequence[int]) -> np.ndarray:
    mode = "bilinear" if len(size) == 2 else "trilinear"
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None]
    out = torch.nn.functional.interpolate(tensor, size=tuple(size), mode=mode, align_corners=False)
    return out[0].numpy()


def resample(image: MedicalImage, spacing: Sequence[float]) -> MedicalImage:
    """``image`` on a grid of ``spacing`` mm (linear interpolation on voxel centres, the
    extent kept); the affine follows. A step records the change."""
    spacing = tuple(float(s) for s in spacing)
    if image.spacing is None:
        raise MedicalFormatError(image.source, "the file gives no voxel spacing to resample from")
    if len(spacing) != image.spatial_dims or not all(s > 0 for s in spacing):
        raise ValueError(
            f"a target spacing needs {image.spatial_dims} positive values in mm, got {spacing}"
        )
    if np.allclose(image.spacing, spacing, rtol=1e-6):
        return image
    scale = [old / new for old, new in zip(image.spacing, spacing, strict=True)]
    shape = [max(1, round(n * f)) for n, f in zip(image.array.shape[1:], scale, strict=True)]
    factors = [new / n for new, n in zip(shape, image.array.shape[1:], strict=True)]
    values = _interpolate(image.array, shape)
    detail = {
        "from_mm": list(image.spacing),
        "to_mm": [round(s / f, 6) for s, f in zip(image.spacing, factors, strict=True)],
    }
    steps = (*image.steps, Step("resample", detail))
    affine = None
    if image.affine is not None:
        affine = image.affine.copy()
        for a, f in enumerate(factors):
            affine[:3, 3] += image.affine[:3, a] * (0.5 / f - 0.5)
            affine[:3, a] = image.affine[:3, a] / f
    new_spacing = tuple(s / f for s, f in zip(image.spacing, factors, strict=True))
    return dataclasses.replace(image, array=values, spacing=new_spacing, affine=affine, steps=steps)


def crop_or_pad(array: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``(C, *spatial)`` centred in ``size``: cut evenly where larger, zero-padded where smaller."""
    out = array
    for axis, want in enumerate(size, start=1):
        have = out.shape[axis]
        if have > want:
            start = (have - want) // 2
            out = np.take(out, range(start, start + want), axis=axis)
        elif have < want:
            before = (want - have) // 2
            pad = [(0, 0)] * out.ndim
            pad[axis] = (before, want - have - before)
            out = np.pad(out, pad)
    return out
