"""The image a reader returns, the record of one applied step, and the canonical frame.

**Canonical frame.** Every affine here maps voxel indices to millimetres in the DICOM patient
frame, **LPS**: +x towards the patient's left, +y towards posterior, +z towards superior. DICOM
is already in LPS; NIfTI (RAS by definition) is converted explicitly by negating x and y
(``LPS = diag(-1, -1, 1) @ RAS``), recorded as a step.

**Index order.** ``array`` is channels first: ``(C, rows, columns)`` for a 2D image and
``(C, slices, rows, columns)`` for a volume. Column ``a`` of ``affine`` (``a < spatial_dims``)
is the step in mm for one voxel along spatial axis ``a`` of the array; for a 2D image the third
column is the plane's normal and the image sits at index 0 on it. ``spacing`` lists the voxel
size in mm per spatial axis in array order (the norms of those columns).

**Volumes** are reoriented (axes permuted and flipped, never resampled) to the axis order
``SPL``: slices go inferior -> superior, rows anterior -> posterior, columns right -> left,
the way an axial CT is stored and displayed (radiological view). A 2D image is kept as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the axis letters of LPS, for the positive and negative direction of x, y and z
_POSITIVE = "LPS"
_NEGATIVE = "RAI"
#: the canonical direction of each spatial axis of a volume (array order): world axis, sign
CANONICAL_VOLUME = "SPL"


class MedicalFormatError(ValueError):
    """A medical image file or folder that cannot be read correctly (names file and problem)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def one_line(text: object) -> str:
    """A message on one line (decoders' messages span several)."""
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Step:
    """One thing done to the values or the geometry, in the order it was done."""

    name: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, **dict(self.detail)}

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.name}({inner})"


@dataclass(frozen=True, eq=False)
class MedicalImage:
    """An image or volume with its geometry in LPS and the steps that produced its values."""

    array: np.ndarray
    spacing: tuple[float, ...] | None
    affine: np.ndarray | None
    steps: tuple[Step, ...]
    source: str
    format: str
    modality: str | None = None

    @property
    def spatial_dims(self) -> int:
        return self.array.ndim - 1

    @property
    def channels(self) -> int:
        return int(self.array.shape[0])

    @property
    def orientation(self) -> str | None:
        """The LPS letter each spatial axis points to (e.g. ``SPL``); None without geometry."""
        if self.affine is None:
            return None
        return axis_codes(self.affine)[: self.spatial_dims]

    def summary(self) -> dict[str, Any]:
        """Shape, dtype, geometry and steps: JSON-ready and free of patient identifiers."""
        finite = self.array[np.isfinite(self.array)] if self.array.size else self.array
        return {
            "source": self.source,
            "format": self.format,
            "modality": self.modality,
            "shape": list(self.array.shape),
            "dtype": str(self.array.dtype),
            "spacing_mm": None
            if self.spacing is None
            else [round(float(s), 6) for s in self.spacing],
            "orientation": self.orientation,
            "frame": "LPS",
            "affine": None if self.affine is None else np.round(self.affine, 6).tolist(),
            "value_range": [float(finite.min()), float(finite.max())] if finite.size else None,
            "steps": [s.to_dict() for s in self.steps],
        }


def axis_codes(affine: np.ndarray) -> str:
    """For each of the three index axes, the LPS letter its direction is closest to."""
    axes = _assign_world_axes(np.asarray(affine, dtype=float)[:3, :3])
    letters = []
    for a, w in enumerate(axes):
        positive = affine[w, a] > 0
        letters.append(_POSITIVE[w] if positive else _NEGATIVE[w])
    return "".join(letters)


def _assign_world_axes(matrix: np.ndarray) -> list[int]:
    """The world axis (0 x, 1 y, 2 z) of each index axis: largest direction cosine first, each
    world axis used once (so an oblique volume still gets three distinct letters)."""
    norms = np.linalg.norm(matrix, axis=0)
    cosines = np.abs(matrix / np.where(norms > 0, norms, 1.0))
    assigned: dict[int, int] = {}
    for flat in np.argsort(-cosines, axis=None):
        w, a = divmod(int(flat), 3)
        if a not in assigned and w not in assigned.values():
            assigned[a] = w
    return [assigned[a] for a in range(3)]


def reorient_volume(
    array: np.ndarray, affine: np.ndarray, target: str = CANONICAL_VOLUME
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], Step | None]:
    """Permute and flip the spatial axes of ``array`` ``(C, a, b, c)`` so they point along
    ``target``; returns the array, its affine, the permutation used and the step (None when
    the volume already had that orientation)."""
    before = axis_codes(affine)
    world = _assign_world_axes(affine[:3, :3])
    perm, flips = [], []
    for letter in target:
        w = _POSITIVE.index(letter)
        a = world.index(w)
        perm.append(a)
        flips.append(affine[w, a] < 0)
    out = np.transpose(array, (0, *(p + 1 for p in perm)))
    new = np.eye(4)
    new[:3, 3] = affine[:3, 3]
    for i, (a, flip) in enumerate(zip(perm, flips, strict=True)):
        column = affine[:3, a]
        if flip:
            new[:3, 3] += column * (array.shape[a + 1] - 1)
            column = -column
        new[:3, i] = column
    if any(flips):
        out = np.flip(out, axis=tuple(i + 1 for i, f in enumerate(flips) if f))
    if before == target:
        return array, affine, (0, 1, 2), None
    step = Step("reorient", {"from": before, "to": axis_codes(new), "frame": "LPS"})
    return np.ascontiguousarray(out), new, tuple(perm), step
