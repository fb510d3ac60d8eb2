"""An image folder described by a CSV (path, label, optional id and group) -> ArrayDataset.

Each image is decoded once with Pillow, converted to grey or RGB, resized, and stacked into one
uint8 tensor. The decoded array can be cached as ``.npy`` in ``<data root>/cache/images/``, keyed
by a hash of the CSV bytes, the parameters and every image file's size and mtime, so a second
load skips decoding entirely.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from .arrays import ArrayDataset
from .root import DataError, data_root


def _read_rows(csv_path: Path, columns: list[str]) -> list[dict[str, str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except OSError as exc:
        raise DataError(f"cannot read CSV {csv_path}: {exc}") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(
            f"{csv_path} has no column(s) {', '.join(map(repr, missing))}; columns "
            f"found: {', '.join(header) or 'none'}"
        )
    if not rows:
        raise DataError(f"{csv_path} has a header but no rows")
    return rows


def _size_tuple(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return size  # (height, width)


def _sorted_classes(values: set[str]) -> list[str]:
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


def _decode(
    path: Path, row: int, csv_path: Path, mode: str, size: tuple[int, int] | None
) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(
            f"image {path} (CSV {csv_path} row {row}) could not be decoded: {exc}"
        ) from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _cache_key(csv_path: Path, paths: list[Path], params: dict[str, object]) -> str:
    digest = hashlib.sha256()
    digest.update(csv_path.read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    for p in paths:
        st = p.stat()
        digest.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def load_image_csv(
    csv_path: str | os.PathLike[str],
    *,
    image_root: str | os.PathLike[str] | None = None,
    path_column: str = "path",
    label_column: str = "label",
    id_column: str | None = None,
    group_column: str | None = None,
    classes: list[str] | None = None,
    size: int | tuple[int, int] | None = None,
    channels: int = 3,
    cache: bool = True,
    root: str | os.PathLike[str] | None = None,
) -> ArrayDataset:
    """Decode the images listed in a CSV into an ArrayDataset.

    ``path_column`` holds image paths relative to ``image_root`` (default: the CSV's folder);
    ``label_column`` a class name (``classes`` fixes their order; default: the sorted distinct
    labels, numerically when all are integers); ``id_column``/``group_column`` fill ``ids`` and
    ``groups`` (use the patient or lesion id as group). ``size`` (int or (height, width))
    resizes every image; without it all images must share one size. ``channels``: 1 (grey) or
    3 (RGB). ``cache`` stores the decoded array under ``<root>/cache/images/`` (skipped when
    that folder is not writable).
    """
    csv_path = Path(csv_path).expanduser()
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    size_hw = _size_tuple(size)
    columns = [path_column, label_column] + [c for c in (id_column, group_column) if c]
    rows = _read_rows(csv_path, columns)
    base = Path(image_root).expanduser() if image_root is not None else csv_path.parent
    paths = [base / r[path_column] for r in rows]
    labels_raw = [r[label_column].strip() for r in rows]
    if classes is None:
        classes = _sorted_classes(set(labels_raw))
    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    labels = []
    for i, value in enumerate(labels_raw):
        if value not in index:
            raise DataError(
                f"{csv_path} row {i + 2}: label {value!r} is not one of the classes {classes}"
            )
        labels.append(index[value])
    for i, p in enumerate(paths):
        if not p.is_file():
            raise DataError(
                f"image {p} (CSV {csv_path} row {i + 2}) does not exist; check "
                f"image_root (now {base})"
            )

    images = None
    cache_file = None
    if cache:
        params = {
            "image_root": str(base.resolve()),
            "path_column": path_column,
            "label_column": label_column,
            "size": size_hw,
            "channels": channels,
        }
        cache_file = (
            data_root(root) / "cache" / "images" / (_cache_key(csv_path, paths, params) + ".npy")
        )
        if cache_file.is_file():
            images = np.load(cache_file)
    if images is None:
        mode = "RGB" if channels == 3 else "L"
        decoded = [_decode(p, i + 2, csv_path, mode, size_hw) for i, p in enumerate(paths)]
        shapes = {a.shape for a in decoded}
        if len(shapes) > 1:
            first = decoded[0].shape
            j = next(i for i, a in enumerate(decoded) if a.shape != first)
            raise DataError(
                f"images differ in size ({paths[0]} is {first[1:]}, {paths[j]} "
                f"(row {j + 2}) is {decoded[j].shape[1:]}); pass size= to resize"
            )
        images = np.stack(decoded)
        if cache_file is not None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_file.with_name(cache_file.name + f".tmp{os.getpid()}")
                with open(tmp, "wb") as fh:
                    np.save(fh, images)
                os.replace(tmp, cache_file)
            except OSError:
                pass  # a read-only data root: caching is an optimisation only
    ids = [r[id_column] for r in rows] if id_column else [r[path_column] for r in rows]
    groups = [r[group_column] for r in rows] if group_column else None
    return ArrayDataset(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.tensor(labels, dtype=torch.int64),
        classes=classes,
        ids=ids,
        groups=groups,
        name=csv_path.stem,
    )
