"""A :class:`MedicalImage` -> the uint8 ``(C, *size)`` array a dataset or a bundle's input
holds. Training (image CSVs listing medical files) and prediction use this one function, so a
scan is treated the same way at both ends.

Windowed values (``[0, 1]``) become ``round(255 * v)``; values without a window must already be
whole numbers in 0..255 (e.g. 8-bit volumes stored as NIfTI), anything else asks for a window.
Resizing is linear interpolation (bilinear in 2D, trilinear in 3D, ``align_corners=False``) on
the float values, before the rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .image import MedicalFormatError, MedicalImage
from .window import FILE_WINDOW


def window_spec(record: Mapping[str, Any] | None) -> object:
    """The ``window=`` argument of :func:`healthcnn.io.read` for a stored window record."""
    if record is None:
        return None
    if record.get("source") == FILE_WINDOW:
        return FILE_WINDOW
    return (float(record["centre"]), float(record["width"]))


def to_uint8(image: MedicalImage, size: Sequence[int]) -> np.ndarray:
    """``image.array`` resized to ``size`` and scaled to uint8 (see the module docstring)."""
    size = tuple(int(s) for s in size)
    if len(size) != image.spatial_dims:
        raise MedicalFormatError(
            image.source,
            f"a {image.spatial_dims}D image, but the model takes {len(size)}D inputs of {size}",
        )
    windowed = any(s.name == "window" for s in image.steps)
    values = image.array.astype(np.float32)
    if windowed:
        values = values * 255.0
    elif not _is_byte_range(values):
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        raise MedicalFormatError(
            image.source,
            f"values from {low:g} to {high:g} are not 8-bit; give a window (a preset such as "
            "lung, 'file', or CENTRE,WIDTH) so they map onto 0..255",
        )
    if tuple(values.shape[1:]) != size:
        mode = "bilinear" if len(size) == 2 else "trilinear"
        tensor = torch.from_numpy(np.ascontiguousarray(values))[None]
        values = torch.nn.functional.interpolate(tensor, size=size, mode=mode, align_corners=False)[
            0
        ].numpy()
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _is_byte_range(values: np.ndarray) -> bool:
    finite = np.isfinite(values).all()
    return bool(finite and values.min() >= 0 and values.max() <= 255 and (values % 1 == 0).all())
