"""Geometry of a stack of parallel slices in LPS: sort by position on the slice normal, check
the spacing, and build the affine (see :mod:`healthcnn.io.image` for the conventions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .image import MedicalFormatError

#: a slice gap may differ from the series' spacing by this fraction before it is "uneven"
SPACING_TOLERANCE = 0.01


def direction_cosines(iop: Sequence[float], where: object) -> tuple[np.ndarray, np.ndarray]:
    """The row and column direction cosines of ImageOrientationPatient, checked."""
    values = np.asarray([float(v) for v in iop], dtype=float)
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise MedicalFormatError(where, f"ImageOrientationPatient must be 6 numbers, got {iop}")
    row, col = values[:3], values[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3:
        raise MedicalFormatError(where, "ImageOrientationPatient is not two unit vectors")
    if abs(float(row @ col)) > 1e-3:
        raise MedicalFormatError(where, "ImageOrientationPatient's two vectors are not orthogonal")
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def plane_affine(
    iop: Sequence[float], ipp: Sequence[float], pixel_spacing: Sequence[float], where: object
) -> np.ndarray:
    """The affine of one slice: (row index, column index, 0) -> LPS mm."""
    row, col = direction_cosines(iop, where)
    dr, dc = (float(v) for v in pixel_spacing)
    affine = np.eye(4)
    affine[:3, 0] = col * dr  # going down the rows moves along the column direction
    affine[:3, 1] = row * dc
    affine[:3, 2] = np.cross(row, col)
    affine[:3, 3] = [float(v) for v in ipp]
    return affine


def stack_order(positions: np.ndarray, normal: np.ndarray, where: object) -> np.ndarray:
    """Indices that sort slices by position on ``normal``; refuses duplicates, missing slices
    and uneven spacing."""
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    gaps = np.diff(along[order])
    if gaps.size == 0:
        return order
    if np.any(gaps < 1e-4):
        k = int(np.argmax(gaps < 1e-4))
        raise MedicalFormatError(
            where, f"two slices share the position {along[order][k]:.4f} mm on the slice normal"
        )
    _check_gaps(gaps, along[order], where)
    offsets = positions[order] - positions[order[0]]
    step = (positions[order[-1]] - positions[order[0]]) / (len(order) - 1)
    expected = np.arange(len(order))[:, None] * step
    if np.max(np.linalg.norm(offsets - expected, axis=1)) > SPACING_TOLERANCE * gaps.min():
        raise MedicalFormatError(where, "the slice positions do not lie on one straight line")
    return order


def _check_gaps(gaps: np.ndarray, along: np.ndarray, where: object) -> None:
    smallest = float(gaps.min())
    if np.all(np.abs(gaps - smallest) <= SPACING_TOLERANCE * smallest):
        return
    ratios = gaps / smallest
    if np.all(np.abs(ratios - np.round(ratios)) <= SPACING_TOLERANCE * np.round(ratios)):
        k = int(np.argmax(ratios))
        missing = int(np.rint(ratios[k])) - 1
        raise MedicalFormatError(
            where,
            f"{missing} slice(s) missing between positions {along[k]:.3f} and {along[k + 1]:.3f}"
            f" mm on the slice normal (spacing {smallest:.3f} mm); the series is incomplete",
        )
    raise MedicalFormatError(
        where,
        f"uneven slice spacing: gaps from {smallest:.3f} to {float(gaps.max()):.3f} mm "
        f"(tolerance {SPACING_TOLERANCE:.0%}); resample the series or read its slices one by one",
    )


def stack_affine(
    iop: Sequence[float], sorted_positions: np.ndarray, pixel_spacing: Sequence[float], where
) -> np.ndarray:
    """The affine of a sorted stack: (slice, row, column) -> LPS mm."""
    row, col = direction_cosines(iop, where)
    dr, dc = (float(v) for v in pixel_spacing)
    n = len(sorted_positions)
    step = (sorted_positions[-1] - sorted_positions[0]) / (n - 1) if n > 1 else np.cross(row, col)
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col * dr
    affine[:3, 2] = row * dc
    affine[:3, 3] = sorted_positions[0]
    return affine


def spacing_of(affine: np.ndarray, dims: int) -> tuple[float, ...]:
    """Voxel size in mm per spatial axis: the norms of the affine's first ``dims`` columns."""
    return tuple(float(np.linalg.norm(affine[:3, a])) for a in range(dims))
