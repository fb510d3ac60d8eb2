"""An image folder described by a CSV (path, label, optional id and group) -> ArrayDataset.

Each image is decoded once with Pillow, converted to grey or RGB, resized, and stacked into one
uint8 tensor. The decoded array can be cached as ``.npy`` in ``<cache folder>/images/``, keyed
by a hash of the CSV bytes, the parameters and every image file's size and mtime, so a second
load skips decoding entirely.

A folder whose decoded images would not fit the memory budget is streamed instead: each image
is decoded when it is read (see :mod:`.image_stream`; ``stream=`` and ``memory_budget_mb=``
choose, and the choice is logged).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import torch

from .arrays import ArrayDataset
from .cache import cache_dir, load_array, save_array
from .image_stream import ImageFileDataset, choose_streaming, decoded_size
from .root import DataError
from .validate import UINT16_MAX, image_array, label_strings


def _read_rows(csv_path: Path, columns: list[str]) -> list[dict[str, str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except OSError as exc:
        raise DataError(f"cannot read CSV {csv_path}: {exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path} is not a UTF-8 CSV file ({exc})") from None
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
    if all(v.lstrip("-").isascii() and v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


#: what separates the class names of a multi-label row ("effusion;nodule")
LABEL_SEPARATOR = ";"


def _encode_labels(
    labels_raw: list[str], classes: list[str] | None, multilabel: bool, csv_path: Path
) -> tuple[torch.Tensor, list[str]]:
    """Class indices ``(N,)`` (int64), or for ``multilabel`` 0/1 rows ``(N, K)`` (float32) of
    the ``;``-separated names (an empty cell: no label); and the classes."""
    names = [
        [n.strip() for n in v.split(LABEL_SEPARATOR) if n.strip()] if multilabel else [v]
        for v in labels_raw
    ]
    if classes is None:
        classes = _sorted_classes({n for row in names for n in row})
    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    for i, row in enumerate(names):
        bad = [n for n in row if n not in index]
        if bad:
            raise DataError(
                f"{csv_path} row {i + 2}: label {bad[0]!r} is not one of the classes {classes}"
            )
    if not multilabel:
        return torch.tensor([index[row[0]] for row in names], dtype=torch.int64), classes
    out = torch.zeros(len(names), len(classes), dtype=torch.float32)
    for i, row in enumerate(names):
        out[i, [index[n] for n in row]] = 1.0
    return out, classes


#: Pillow modes decoded through :func:`.validate.image_array` instead of ``Image.convert``
#: (which clips 16-bit values to 255 and truncates floats)
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _open_guarded(source: str | os.PathLike[str] | IO[bytes], where: str):
    """``Image.open`` with Pillow's decompression-bomb guard as one clear error: an image of
    more than ``Image.MAX_IMAGE_PIXELS`` pixels is refused before it is decoded."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            pass
    if hasattr(source, "seek"):
        source.seek(0)
    with warnings.catch_warnings():  # read the header only, to say how large it is
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(source) as img:
                width, height = img.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    raise DataError(
        f"{where}: {width} x {height} = {width * height:,} pixels is above the limit of "
        f"{limit:,} pixels (Pillow's decompression-bomb guard, PIL.Image.MAX_IMAGE_PIXELS); "
        "downscale the image, or raise that limit if you trust the file"
    )


def _wide_pixels(img, where: str) -> np.ndarray:
    """uint8 ``(H, W)`` of a 16-bit, 32-bit integer or float grey image by the rules of
    :mod:`.validate` (32-bit integers that fit 0..65535 count as 16-bit)."""
    arr = np.asarray(img)
    if img.mode == "I" and arr.size and int(arr.min()) >= 0 and int(arr.max()) <= UINT16_MAX:
        arr = arr.astype(np.uint16)
    return image_array(arr, where)


def read_image(
    source: str | os.PathLike[str] | IO[bytes],
    where: str,
    mode: str = "RGB",
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode one image file to uint8 ``(H, W)`` (``mode="L"``) or ``(H, W, 3)`` (``"RGB"``),
    resized (bilinear) to ``size`` = (height, width). 16-bit and float images are scaled by the
    rules of :mod:`.validate`; an undecodable file or a decompression bomb is a DataError
    naming ``where``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_guarded(source, where) as img:
            if img.mode in _WIDE_MODES:
                grey = Image.fromarray(_wide_pixels(img, where))
                img = grey.convert(mode)
            else:
                img = img.convert(mode)
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"{where} could not be decoded: {exc}") from None


def decode_image_file(
    path: Path, row: int, csv_path: Path, mode: str, size: tuple[int, int] | None
) -> np.ndarray:
    """One listed image as uint8 ``(C, H, W)``; errors name the file and its CSV row."""
    arr = read_image(path, f"image {path} (CSV {csv_path} row {row})", mode, size)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


_decode = decode_image_file  # the name the decoded-cache tests patch


def _cache_key(csv_path: Path, paths: list[Path], params: dict[str, object]) -> str:
    digest = hashlib.sha256()
    digest.update(csv_path.read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    for p in paths:
        st = p.stat()
        digest.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _decode_all(
    paths: list[Path], csv_path: Path, channels: int, size_hw: tuple[int, int] | None
) -> np.ndarray:
    mode = "RGB" if channels == 3 else "L"
    decoded = [_decode(p, i + 2, csv_path, mode, size_hw) for i, p in enumerate(paths)]
    shapes = {a.shape for a in decoded}
    if len(shapes) > 1:
        first = decoded[0].shape
        j = next(i for i, a in enumerate(decoded) if a.shape != first)
        raise DataError(
            f"the images of {csv_path} differ in size ({paths[0]} is {_hw(first)}, {paths[j]} "
            f"(row {j + 2}) is {_hw(decoded[j].shape)}); choose the size to resize every image "
            "to: --size N for healthcnn train (size: N in a config, size=N in Python)"
        )
    return np.stack(decoded)


def _hw(shape: tuple[int, ...]) -> str:
    """``(C, H, W)`` as ``"H x W px"``."""
    return f"{shape[1]} x {shape[2]} px"


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
    multilabel: bool = False,
    stream: bool | None = False,
    memory_budget_mb: float | None = None,
) -> ArrayDataset | ImageFileDataset:
    """Decode the images listed in a CSV into an ArrayDataset.

    ``path_column`` holds image paths relative to ``image_root`` (default: the CSV's folder);
    ``label_column`` a class name (``classes`` fixes their order; default: the sorted distinct
    labels, numerically when all are integers); ``id_column``/``group_column`` fill ``ids`` and
    ``groups`` (use the patient or lesion id as group). ``size`` (int or (height, width))
    resizes every image; without it the images are kept as stored, and they must all share
    one size (mixed sizes are refused with a message naming the images). ``channels``: 1 (grey) or
    3 (RGB). ``cache`` stores the decoded array in the cache folder's ``images/`` (see
    :mod:`.cache`; never under the data root, skipped with a warning when not writable).
    ``root`` is accepted for symmetry with the other loaders; nothing is read or written there.
    Pixels follow the rules of :mod:`.validate` (16-bit: full range to 0..255; float: [0, 1]).
    ``multilabel``: each label cell lists any number of class names separated by ``;`` (an
    empty cell: none of them); the labels are then 0/1 rows ``(N, K)``.

    ``stream``: False (default) decodes everything into memory; True returns an
    :class:`~.image_stream.ImageFileDataset` that decodes each image when read; None chooses:
    stream when the decoded size (read from the image headers) exceeds ``memory_budget_mb``
    (default: half the memory available now). The choice is logged.
    """
    csv_path = Path(csv_path).expanduser()
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    size_hw = _size_tuple(size)
    columns = [path_column, label_column] + [c for c in (id_column, group_column) if c]
    rows = _read_rows(csv_path, columns)
    base = Path(image_root).expanduser() if image_root is not None else csv_path.parent
    paths = [base / r[path_column] for r in rows]
    cells = [r[label_column] or "" for r in rows]  # multi-label: an empty cell is no label
    labels_raw = [c.strip() for c in cells] if multilabel else label_strings(cells, str(csv_path))
    labels, classes = _encode_labels(labels_raw, classes, multilabel, csv_path)
    for i, p in enumerate(paths):
        if not p.is_file():
            raise DataError(
                f"image {p} (CSV {csv_path} row {i + 2}) does not exist; check "
                f"image_root (now {base})"
            )

    ids = [r[id_column] for r in rows] if id_column else [r[path_column] for r in rows]
    groups = [r[group_column] for r in rows] if group_column else None
    if stream is not False:
        nbytes = decoded_size(paths, channels, size_hw, str(csv_path))
        if choose_streaming(nbytes, stream, memory_budget_mb, csv_path.name):
            return _streamed(paths, labels, classes, channels, size_hw, csv_path, ids, groups)
    params = {
        "image_root": str(base.resolve()),
        "path_column": path_column,
        "label_column": label_column,
        "size": size_hw,
        "channels": channels,
    }
    folder = cache_dir("images") if cache else None
    cache_file = folder / f"{_cache_key(csv_path, paths, params)}.npy" if folder else None
    images = load_array(cache_file) if cache_file is not None else None
    if images is None or images.shape[0] != len(paths):
        images = _decode_all(paths, csv_path, channels, size_hw)
        if cache_file is not None:
            save_array(cache_file, images)
    return ArrayDataset(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=labels,
        classes=classes,
        ids=ids,
        groups=groups,
        name=csv_path.stem,
    )


def _streamed(
    paths: list[Path],
    labels: list[int],
    classes: list[str],
    channels: int,
    size_hw: tuple[int, int] | None,
    csv_path: Path,
    ids: list[str],
    groups: list[str] | None,
) -> ImageFileDataset:
    if size_hw is None:  # all one size (checked from the headers): the first image's
        size_hw = decode_image_file(paths[0], 2, csv_path, "L", None).shape[1:]
    return ImageFileDataset(
        paths=paths,
        labels=torch.tensor(labels, dtype=torch.int64),
        classes=classes,
        channels=channels,
        size_hw=tuple(size_hw),
        csv_path=csv_path,
        rows=list(range(2, len(paths) + 2)),
        ids=ids,
        groups=groups,
        name=csv_path.stem,
    )
