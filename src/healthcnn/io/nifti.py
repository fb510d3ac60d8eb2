"""NIfTI-1/2 (``.nii``, ``.nii.gz``) -> :class:`MedicalImage` through nibabel.

nibabel chooses between sform and qform (``img.affine``); the affine (RAS) is converted to LPS
explicitly and the volume reoriented to the canonical ``SPL`` axis order. Spacing comes from
the header's voxel sizes (``pixdim``), permuted with the axes. 4D images are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .image import MedicalFormatError, MedicalImage, Step, one_line, reorient_volume
from .window import apply_window, parse_window

#: RAS -> LPS: negate x and y
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def _load(path: Path) -> Any:
    try:
        import nibabel
    except ImportError:
        raise MedicalFormatError(
            path, "reading NIfTI needs the package nibabel: pip install 'healthcnn[medical]'"
        ) from None
    try:
        img = nibabel.load(path)
    except (nibabel.filebasedimages.ImageFileError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise MedicalFormatError(path, f"not a readable NIfTI file ({one_line(exc)})") from None
    if not isinstance(img, nibabel.Nifti1Image | nibabel.Nifti2Image):
        raise MedicalFormatError(
            path, f"a {type(img).__name__}, not a NIfTI volume (no voxel-to-world affine)"
        )
    return img


def read_nifti(path: Path, window: Any = None) -> MedicalImage:
    """A 3D (or 2D) NIfTI image -> a ``(1, slices, rows, columns)`` volume in LPS."""
    kind, cw = parse_window(window)
    if kind == "file":
        raise MedicalFormatError(path, "a NIfTI file carries no window; give a preset or C,W")
    img = _load(path)
    shape = img.shape
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise MedicalFormatError(
            path, f"a {len(shape)}D image (shape {shape}); only 3D volumes are read: split it"
        )
    affine_ras = np.asarray(img.affine, dtype=float)
    if not np.all(np.isfinite(affine_ras)) or abs(np.linalg.det(affine_ras[:3, :3])) < 1e-12:
        raise MedicalFormatError(path, "the affine (sform/qform) is singular: no valid geometry")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except (EOFError, OSError, ValueError) as exc:
        raise MedicalFormatError(path, f"the image data cannot be read ({exc})") from None
    while data.ndim < 3:
        data = data[..., None]
    steps = _value_steps(img)
    steps.append(Step("frame", {"from": "RAS", "to": "LPS", "affine": _form_used(img)}))
    array, affine, perm, step = reorient_volume(data[None], RAS_TO_LPS @ affine_ras)
    steps += [step] if step else []
    zooms = [float(z) for z in img.header.get_zooms()[:3]] + [1.0] * (3 - len(shape))
    spacing = tuple(zooms[p] for p in perm)
    if kind != "none":
        windowed, wstep = apply_window(array, cw[0], cw[1], kind)
        array = windowed
        steps.append(wstep)
    return MedicalImage(array, spacing, affine, tuple(steps), str(path), "nifti", None)


def _value_steps(img: Any) -> list[Step]:
    slope = getattr(img.dataobj, "slope", 1.0)
    inter = getattr(img.dataobj, "inter", 0.0)
    if slope in (None, 1.0) and inter in (None, 0.0):
        return []
    return [Step("rescale", {"source": "scl_slope/scl_inter", "slope": slope, "intercept": inter})]


def _form_used(img: Any) -> str:
    header = img.header
    _, sform_code = header.get_sform(coded=True)
    if sform_code:
        return "sform"
    _, qform_code = header.get_qform(coded=True)
    return "qform" if qform_code else "default (pixdim only)"
