"""Image CSVs that list DICOM files, DICOM series folders or NIfTI volumes -> ArrayDataset.

The CSV has the columns of an image CSV (``path``, ``label``, optional ``split`` and ``group``)
and optional ``window`` and ``spacing`` columns, each the same on every row: a window preset
(``lung``, ``mediastinum``, ``soft_tissue``, ``bone``, ``brain``), ``file`` or ``CENTRE,WIDTH``
(quoted); a voxel spacing in mm (``"2,1,1"``, quoted) every image is resampled to before it is
centred in ``size`` (without it, images are resized to ``size``). Each path is
read once by :func:`healthcnn.io.read` (geometry in LPS, volumes in the canonical ``SPL``
order) and turned into uint8 by :func:`healthcnn.io.convert.to_uint8`, the function prediction
uses too; ``size`` resizes every image (an int is used on every spatial axis). The window,
orientation and spacing go into the bundle's preprocessing record through
:func:`medical_record`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import is_medical_path, read, window_record
from ..io.convert import to_uint8
from .arrays import ArrayDataset
from .root import DataError

MEDICAL_SUFFIXES = (".dcm", ".dicom", ".nii", ".nii.gz")


def _rows(csv_path: Path) -> list[dict[str, str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read CSV {csv_path}: {exc}") from None
    if not rows:
        raise DataError(f"{csv_path} has a header but no rows")
    missing = [c for c in ("path", "label") if c not in rows[0]]
    if missing:
        raise DataError(f"{csv_path} has no column(s) {', '.join(map(repr, missing))}")
    return rows


def lists_medical_files(csv_path: str | os.PathLike[str]) -> bool:
    """Whether an image CSV's ``path`` column names DICOM/NIfTI files or series folders."""
    csv_path = Path(csv_path)
    try:
        rows = _rows(csv_path)
    except DataError:
        return False  # the image-CSV reader reports what is wrong with it
    first = csv_path.parent / rows[0].get("path", "")
    return first.name.lower().endswith(MEDICAL_SUFFIXES) or first.is_dir()


def _one_value(csv_path: Path, rows: list[dict[str, str]], column: str) -> str | None:
    values = {(r.get(column) or "").strip() for r in rows}
    if len(values) > 1:
        raise DataError(
            f"{csv_path}: column {column!r} has {len(values)} different values "
            f"({', '.join(sorted(values))}); one value for the whole CSV"
        )
    return values.pop() or None


def csv_window(csv_path: Path, rows: list[dict[str, str]] | None = None) -> str | None:
    """The CSV's ``window`` column (one value for every row), or None."""
    return _one_value(csv_path, rows if rows is not None else _rows(csv_path), "window")


def csv_spacing(csv_path: Path, rows: list[dict[str, str]]) -> tuple[float, ...] | None:
    """The CSV's ``spacing`` column (mm per axis, e.g. ``"2,1,1"``; one value for every row)."""
    value = _one_value(csv_path, rows, "spacing")
    if value is None:
        return None
    try:
        spacing = tuple(float(v) for v in value.split(","))
    except ValueError:
        spacing = ()
    if not spacing or not all(s > 0 for s in spacing):
        raise DataError(
            f"{csv_path}: column 'spacing' must be positive mm like '2,1,1', got {value}"
        )
    return spacing


def medical_record(data: str | os.PathLike[str]) -> dict[str, Any]:
    """Preprocessing-record fields for a data source: ``window``, ``orientation`` and
    ``spacing`` of an image CSV listing medical files; ``{}`` for any other source."""
    text = os.fspath(data)
    if not text.endswith(".csv") or not Path(text).is_file() or not lists_medical_files(text):
        return {}
    path = Path(text)
    rows = _rows(path)
    window = csv_window(path, rows)
    first = read(path.parent / rows[0]["path"], window=window)
    return {
        "window": window_record(window),
        "orientation": first.orientation if first.spatial_dims == 3 else None,
        "spacing": csv_spacing(path, rows),
    }


def _classes(values: set[str]) -> list[str]:
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


def load_medical_csv(
    csv_path: str | os.PathLike[str],
    *,
    size: int | tuple[int, ...] | None = None,
    group_column: str | None = None,
) -> ArrayDataset:
    """Read every listed file (relative to the CSV's folder) into one uint8 ArrayDataset; ids
    are the ``path`` values."""
    csv_path = Path(csv_path).expanduser()
    rows = _rows(csv_path)
    window = csv_window(csv_path, rows)
    spacing = csv_spacing(csv_path, rows)
    arrays = []
    for i, row in enumerate(rows, start=2):
        target = csv_path.parent / row["path"]
        if not is_medical_path(target):
            raise DataError(f"{csv_path} row {i}: {row['path']} is not a DICOM/NIfTI path")
        image = read(target, window=window)
        shape = _target_size(size, image.spatial_dims) or image.array.shape[1:]
        arrays.append(to_uint8(image, shape, spacing))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"{csv_path}: the images have {len(shapes)} shapes ({sorted(shapes)[:3]}); choose "
            "the size to resize every image to: --size N for healthcnn train (size: N in a "
            "config, size=N in Python)"
        )
    labels_raw = [r["label"].strip() for r in rows]
    classes = _classes(set(labels_raw))
    groups = [r[group_column] for r in rows] if group_column else None
    return ArrayDataset(
        images=torch.from_numpy(np.stack(arrays)),
        labels=torch.tensor([classes.index(v) for v in labels_raw], dtype=torch.long),
        classes=classes,
        ids=[r["path"] for r in rows],
        groups=groups,
        name=csv_path.stem,
    )


def _target_size(size: int | tuple[int, ...] | None, dims: int) -> tuple[int, ...] | None:
    if size is None:
        return None
    return (int(size),) * dims if isinstance(size, int) else tuple(size)
