"""What ``healthcnn inspect`` shows: the summary of a read image, its array saved as ``.npy``,
and, only when asked, the header tags that identify a patient."""

from __future__ import annotations

import io as _bytes_io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes
from .image import MedicalFormatError

#: header tags shown by ``--show-tags`` (the first ones identify the patient or the study)
IDENTIFYING_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)
OTHER_TAGS = ("StudyDate", "Modality", "Manufacturer", "BodyPartExamined", "SeriesDescription")


def inspect(
    path: str | os.PathLike[str],
    *,
    window: object = None,
    show_tags: bool = False,
    save_npy: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Read ``path`` and describe it: shape, spacing, orientation, applied steps; the header
    tags (patient-identifying ones included) only with ``show_tags``; the array written to
    ``save_npy`` (atomically) when given."""
    from . import read

    image = read(path, window=window)
    result = image.summary()
    if show_tags:
        result["tags"] = header_tags(Path(path))
    if save_npy is not None:
        buffer = _bytes_io.BytesIO()
        np.save(buffer, image.array, allow_pickle=False)
        result["saved_npy"] = str(atomic_write_bytes(save_npy, buffer.getvalue()))
    return result


def header_tags(path: Path) -> dict[str, str]:
    """The tags of a DICOM file (a series folder's first file); NIfTI's description field."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise MedicalFormatError(path, "the folder holds no files")
        path = files[0]
    if path.name.lower().endswith((".nii", ".nii.gz")):
        import nibabel

        header = nibabel.load(path).header
        return {"descrip": _text(header.get("descrip", b""))}
    from .dicom import load_dataset

    ds = load_dataset(path, pixels=False)
    return {key: str(ds.get(key, "")) for key in (*IDENTIFYING_TAGS, *OTHER_TAGS) if key in ds}


def _text(value: Any) -> str:
    raw = value.item() if hasattr(value, "item") else value
    return raw.decode("latin-1").rstrip("\x00") if isinstance(raw, bytes) else str(raw)
