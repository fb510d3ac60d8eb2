"""A folder of single-frame DICOM slices -> one volume.

Slices are sorted by ImagePositionPatient projected on the slice normal (the cross product of
ImageOrientationPatient's row and column directions), never by file name or InstanceNumber. A
folder with several series or orientations, a missing slice or uneven spacing is refused.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .dicom import decode, intensity_steps, load_dataset, modality_lut
from .geometry import direction_cosines, spacing_of, stack_affine, stack_order
from .image import MedicalFormatError, MedicalImage, Step, reorient_volume
from .window import parse_window

#: files in a series folder that are not slices
IGNORED = {"DICOMDIR"}


def series_files(folder: Path) -> list[Path]:
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in IGNORED
    )
    if not files:
        inner = sorted(p.name for p in folder.iterdir() if p.is_dir())
        hint = (
            f"; it holds folders ({', '.join(inner[:3])}): give one series folder" if inner else ""
        )
        raise MedicalFormatError(folder, f"the folder holds no DICOM slices{hint}")
    return files


def read_headers(folder: Path) -> list[tuple[Path, Any]]:
    """Every slice's header (no pixels yet), with the one-series checks done."""
    headers = [(f, load_dataset(f, pixels=False)) for f in series_files(folder)]
    _check_one_series(folder, headers)
    for key in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
        lacking = [f.name for f, ds in headers if key not in ds]
        if lacking:
            raise MedicalFormatError(
                folder, f"{len(lacking)} file(s) have no {key} (e.g. {lacking[0]}): not a volume"
            )
    _check_same(folder, headers, "orientations", _orientation)
    _check_same(folder, headers, "image sizes", lambda ds: (int(ds.Rows), int(ds.Columns)))
    _check_same(folder, headers, "pixel spacings", lambda ds: _rounded(ds.PixelSpacing))
    return headers


def _check_one_series(folder: Path, headers: list[tuple[Path, Any]]) -> None:
    series = Counter(str(ds.get("SeriesInstanceUID", "")) for _, ds in headers)
    if len(series) > 1:
        numbers = Counter(
            f"SeriesNumber {ds.get('SeriesNumber', '?')}" for _, ds in headers
        ).most_common()
        listed = ", ".join(f"{name}: {n} files" for name, n in numbers)
        raise MedicalFormatError(
            folder,
            f"the folder mixes {len(series)} series ({listed}); put each series in its own folder",
        )


def _orientation(ds: Any) -> tuple[float, ...]:
    return _rounded(ds.ImageOrientationPatient, 4)


def _rounded(values: Any, digits: int = 4) -> tuple[float, ...]:
    return tuple(round(float(v), digits) + 0.0 for v in values)


def _check_same(folder: Path, headers, what: str, key) -> None:
    values = Counter(key(ds) for _, ds in headers)
    if len(values) > 1:
        listed = "; ".join(f"{v}: {n} files" for v, n in values.most_common(3))
        raise MedicalFormatError(
            folder, f"the slices have {len(values)} different {what} ({listed}); one per folder"
        )


def read_dicom_series(folder: Path, window: Any = None) -> MedicalImage:
    """A series folder -> a ``(1, slices, rows, columns)`` volume in the canonical frame."""
    window = parse_window(window)
    headers = read_headers(folder)
    iop = [float(v) for v in headers[0][1].ImageOrientationPatient]
    row, col = direction_cosines(iop, headers[0][0])
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in headers])
    order = stack_order(positions, np.cross(row, col), folder)
    volume, slopes, intercepts, first = _read_slices([headers[i][0] for i in order], folder)
    steps = list(first[0])
    if len(set(slopes)) > 1 or len(set(intercepts)) > 1 or slopes[0] != 1 or intercepts[0] != 0:
        steps.append(_rescale_step(slopes, intercepts))
    steps.append(Step("stack", {"slices": len(order), "sorted_by": "position on slice normal"}))
    photometric = first[1]
    volume, more = intensity_steps(
        volume, first[2], (slopes, intercepts), photometric, window, folder
    )
    affine = stack_affine(iop, positions[order], headers[0][1].PixelSpacing, folder)
    array, affine, _, step = reorient_volume(volume[None], affine)
    steps += more + ([step] if step else [])
    modality = str(first[2].get("Modality", "")) or None
    spacing = spacing_of(affine, 3)
    return MedicalImage(array, spacing, affine, tuple(steps), str(folder), "dicom-series", modality)


def _read_slices(files: list[Path], folder: Path):
    """Decode and rescale each slice (its own slope and intercept) in the sorted order."""
    slices, slopes, intercepts, first = [], [], [], None
    for f in files:
        ds = load_dataset(f)
        frames, photometric, step = decode(ds, f)
        if frames.shape[0] != 1 or not photometric.startswith("MONOCHROME"):
            raise MedicalFormatError(
                f, "a series slice must be one greyscale frame (read multi-frame files alone)"
            )
        values, s, b, _ = modality_lut(ds, frames)
        slices.append(values[0])
        slopes.append(float(s[0]))
        intercepts.append(float(b[0]))
        if first is None:
            first = (step, photometric, ds)
        elif photometric != first[1]:
            raise MedicalFormatError(folder, "the slices mix MONOCHROME1 and MONOCHROME2")
    return np.stack(slices), np.array(slopes), np.array(intercepts), first


def _rescale_step(slopes: np.ndarray, intercepts: np.ndarray) -> Step:
    if len(set(slopes)) == 1 and len(set(intercepts)) == 1:
        detail = {"slope": float(slopes[0]), "intercept": float(intercepts[0])}
    else:
        detail = {"slopes": sorted(set(slopes.tolist())), "intercepts": sorted(set(intercepts))}
    return Step("rescale", {"source": "RescaleSlope/RescaleIntercept per slice", **detail})
