"""One DICOM file, DICOM series folder or NIfTI volume as a bundle's input: read with the
record's window, checked against its orientation and channels, resampled to its spacing (or
resized to its size) and scaled exactly as training did (:func:`healthcnn.io.convert.to_uint8`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import Preprocessing
from ..io import MedicalFormatError, read
from ..io.convert import to_uint8, window_spec


def medical_item(path: Path, record: Preprocessing) -> tuple[str, np.ndarray]:
    """``(name, uint8 (C, *size))`` for one medical input."""
    image = read(path, window=window_spec(record.window))
    if record.orientation is not None and image.orientation != record.orientation:
        raise MedicalFormatError(
            path,
            f"orientation {image.orientation}, but the bundle was trained on "
            f"{record.orientation} volumes",
        )
    if image.channels != record.channels:
        raise MedicalFormatError(
            path, f"{image.channels} channel(s); the bundle expects {record.channels}"
        )
    return path.name, to_uint8(image, record.size or image.array.shape[1:], record.spacing)
