"""Medical file formats in: DICOM files, DICOM series folders and NIfTI volumes, read into one
:class:`MedicalImage` (channels-first array, spacing, affine in LPS, applied steps); PNG, JPEG,
TIFF (16-bit too) and single-array ``.npz`` files into the same object without geometry
(:mod:`healthcnn.io.plain`).

``read(path, window=None)`` picks the reader by what ``path`` is; ``window`` is ``None`` (keep
modality values, e.g. Hounsfield units), a preset name (:data:`WINDOW_PRESETS`), ``"file"``
(the DICOM file's own window) or ``(centre, width)``. See :mod:`healthcnn.io.image` for the
canonical frame and index conventions.
"""

from __future__ import annotations

import os
from pathlib import Path

from .image import CANONICAL_VOLUME, MedicalFormatError, MedicalImage, Step, axis_codes
from .window import WINDOW_PRESETS, parse_window, window_record

__all__ = [
    "CANONICAL_VOLUME",
    "WINDOW_PRESETS",
    "MedicalFormatError",
    "MedicalImage",
    "Step",
    "axis_codes",
    "is_medical_path",
    "read",
    "window_record",
]


def is_medical_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is something :func:`read` takes: a folder, ``.dcm``, ``.nii(.gz)``."""
    p = Path(path)
    name = p.name.lower()
    return p.is_dir() or name.endswith((".dcm", ".dicom", ".nii", ".nii.gz"))


def read(path: str | os.PathLike[str], window: object = None) -> MedicalImage:
    """Read a DICOM file or series folder, a NIfTI file, or a PNG/JPEG/TIFF/``.npz`` file (see
    the module docstring)."""
    from .dicom import read_dicom_file
    from .nifti import is_nifti, read_nifti
    from .plain import NPZ_SUFFIX, is_plain_path, read_image_file, read_npz
    from .series import read_dicom_series

    parse_window(window)  # an unknown preset fails before any file is opened
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_file() and is_plain_path(p):
        if window is not None:
            raise MedicalFormatError(p, "a window applies to DICOM/NIfTI values, not to this file")
        return read_npz(p) if p.suffix.lower() == NPZ_SUFFIX else read_image_file(p)
    if p.is_dir():
        return read_dicom_series(p, window)
    if is_nifti(p):
        return read_nifti(p, window)
    return read_dicom_file(p, window)
