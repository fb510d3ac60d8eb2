"""HAM10000 dermoscopy (Tschandl et al., Sci Data 2018) read straight from its zip and metadata.

Layout under the data root: ``ham10000/HAM10000_metadata.csv`` (columns ``lesion_id, image_id,
dx, dx_type, age, sex, localization``) and ``ham10000/images_200x150.zip`` (entries
``images/<image_id>.jpg``, 200 px wide and 150 px tall). Nothing is extracted: every JPEG is
decoded once, resized to the caller's ``size`` (a square side, a (height, width) pair, or
``"stored"``: the stored 200 x 150 px, width x height, not resampled at all), and the uint8
array is cached as ``.npy`` in the cache folder's ``ham10000/`` (:mod:`.cache`:
``$HEALTHCNN_CACHE`` or the platform cache directory, never the data root), keyed by the size
and the zip's size and modification time. Later loads memory-map nothing and decode nothing:
one ``np.load``.

Several images show the same lesion (7,470 lesions for 10,015 images), so splits are made by
``lesion_id`` (:func:`ham10000_splits`), stratified by diagnosis and seeded.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .arrays import ArrayDataset
from .cache import cache_dir, load_array, save_array, save_text
from .images import read_image
from .root import DataError, data_root
from .splits import group_split

FOLDER = "ham10000"
METADATA_FILE = "HAM10000_metadata.csv"
ZIP_FILE = "images_200x150.zip"
#: (height, width) of the stored images: every entry of the zip is 200 px wide and 150 px tall
STORED_SIZE = (150, 200)
#: smallest and largest image side accepted
SIDE_RANGE = (8, 600)
#: diagnoses in MedMNIST's (alphabetical) label order
DIAGNOSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
SPLITS = ("train", "val", "test")


@dataclass
class Ham10000:
    """All images with their metadata, in metadata-file order.

    ``dataset.labels`` index :data:`DIAGNOSES`, ``dataset.ids`` are image ids and
    ``dataset.groups`` lesion ids. ``meta`` holds one numpy array per metadata column
    (``age`` float with NaN where missing; the others strings).
    """

    dataset: ArrayDataset
    meta: dict[str, np.ndarray]
    size: int | tuple[int, int]

    def __len__(self) -> int:
        return len(self.dataset)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Ham10000:
        idx = np.asarray(indices, dtype=np.int64)
        return Ham10000(
            dataset=self.dataset.subset(idx),
            meta={k: v[idx] for k, v in self.meta.items()},
            size=self.size,
        )


def read_metadata(path: str | os.PathLike[str], image_names: set[str] | None = None) -> dict:
    """Parse and check ``HAM10000_metadata.csv``; returns ``{column: np.ndarray}``.

    Errors name the file and line: a missing column, an empty id, an unknown ``dx``, an age that
    is not a number, a duplicated ``image_id``, or (with ``image_names``, the zip's entry names)
    an image id with no ``images/<image_id>.jpg`` in the zip.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"HAM10000 metadata {path} does not exist")
    try:
        return _parse_metadata(path, image_names)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a UTF-8 CSV file ({exc})") from None


def _parse_metadata(path: Path, image_names: set[str] | None) -> dict:
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DataError(
                f"{path}, line 1: missing column(s) {missing}; the header must hold "
                f"{', '.join(COLUMNS)} (found {', '.join(header) or 'nothing'})"
            )
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            rec = {c: (row.get(c) or "").strip() for c in COLUMNS}
            for c in ("lesion_id", "image_id", "dx"):
                if not rec[c]:
                    raise DataError(f"{path}, line {line}: empty {c}")
            if rec["dx"] not in DIAGNOSES:
                raise DataError(
                    f"{path}, line {line}: unknown dx {rec['dx']!r}; expected one of "
                    f"{', '.join(DIAGNOSES)}"
                )
            if rec["image_id"] in seen:
                raise DataError(
                    f"{path}, line {line}: image_id {rec['image_id']} already appeared on line "
                    f"{seen[rec['image_id']]}"
                )
            seen[rec["image_id"]] = line
            if image_names is not None and _entry(rec["image_id"]) not in image_names:
                raise DataError(
                    f"{path}, line {line}: image_id {rec['image_id']} has no "
                    f"{_entry(rec['image_id'])} in the image zip"
                )
            try:
                age = float(rec["age"]) if rec["age"] else math.nan
            except ValueError:
                raise DataError(
                    f"{path}, line {line}: age {rec['age']!r} is not a number (leave it empty "
                    "when unknown)"
                ) from None
            for c in COLUMNS:
                cols[c].append(age if c == "age" else rec[c] or "unknown")
    if not cols["image_id"]:
        raise DataError(f"{path} holds a header but no rows")
    return {c: np.asarray(v, dtype=np.float64 if c == "age" else object) for c, v in cols.items()}


def _entry(image_id: str) -> str:
    return f"images/{image_id}.jpg"


def image_size(size: int | Sequence[int] | str) -> int | tuple[int, int]:
    """``size`` checked and in one form: an int for a square side, a ``(height, width)`` tuple
    otherwise. Accepts an int, a (height, width) pair (a square pair becomes its int) or
    ``"stored"`` (:data:`STORED_SIZE`); each side must lie in :data:`SIDE_RANGE`."""
    lo, hi = SIDE_RANGE
    if isinstance(size, str):
        if size != "stored":
            raise ValueError(
                f"size must be an int, a (height, width) pair or 'stored', got {size!r}"
            )
        size = STORED_SIZE
    sides = (size,) if not isinstance(size, Sequence) else tuple(size)
    if len(sides) not in (1, 2) or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi
        for v in sides
    ):
        raise ValueError(
            f"size must be an int or a (height, width) pair of ints between {lo} and {hi} px, "
            f"got {size!r}"
        )
    h, w = int(sides[0]), int(sides[-1])
    return h if h == w else (h, w)


def parse_image_size(text: str) -> int | tuple[int, int]:
    """A command-line size: ``64`` (square), ``WIDTHxHEIGHT`` as in the zip's name (``200x150``
    is 200 px wide, 150 px tall) or ``stored``; returns :func:`image_size`'s form."""
    t = text.strip().lower()
    try:
        if t == "stored":
            return image_size(t)
        if "x" in t:
            w, h = (int(v) for v in t.split("x"))
            return image_size((h, w))
        return image_size(int(t))
    except ValueError:
        lo, hi = SIDE_RANGE
        raise ValueError(
            f"image size {text!r}: give a side in px (64), WIDTHxHEIGHT (200x150, the stored "
            f"images) or 'stored'; each side between {lo} and {hi}"
        ) from None


def size_text(size: int | Sequence[int]) -> str:
    """The command-line form :func:`parse_image_size` reads back: ``64`` for a square,
    ``200x150`` (width x height) otherwise."""
    size = image_size(size)
    return str(size) if isinstance(size, int) else f"{size[1]}x{size[0]}"


def size_label(size: int | Sequence[int]) -> str:
    """``64px`` or ``200x150px`` (file, cache and run names)."""
    return f"{size_text(size)}px"


def _decode(zf: zipfile.ZipFile, names: Sequence[str], size: int | tuple[int, int]) -> np.ndarray:
    """Decode each entry to RGB, resize to ``size`` (bilinear; not at all where it already has
    that size), stack as uint8 ``(N, 3, height, width)``."""
    hw = (size, size) if isinstance(size, int) else size
    out = np.empty((len(names), 3, *hw), dtype=np.uint8)
    for i, name in enumerate(names):
        where = f"{zf.filename}: entry {name}"
        try:
            data = zf.read(name)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DataError(f"{where} cannot be read ({exc})") from None
        out[i] = read_image(io.BytesIO(data), where, "RGB", hw).transpose(2, 0, 1)
    return out


def _cache_paths(zip_path: Path, size: int | tuple[int, int]) -> tuple[Path, Path] | None:
    folder = cache_dir(FOLDER)
    if folder is None:
        return None
    st = zip_path.stat()
    tag = f"{zip_path.stem}-{st.st_size}-{st.st_mtime_ns}-{size_label(size)}"
    return folder / f"{tag}.npy", folder / f"{tag}.names.json"


def _read_cache(paths: tuple[Path, Path], names: list[str]) -> np.ndarray | None:
    """The cached images of ``names``, or None when the cache is absent, holds other entries or
    is corrupt (then it is named in a warning and rebuilt)."""
    arr_path, names_path = paths
    if not (arr_path.is_file() and names_path.is_file()):
        return None
    try:
        cached = json.loads(names_path.read_text())
        if not isinstance(cached, list):
            raise ValueError("not a list of entry names")
    except (OSError, ValueError) as exc:
        warnings.warn(
            f"corrupt cache file {names_path} ({exc}); rebuilding it", UserWarning, stacklevel=3
        )
        return None
    if not set(names) <= set(cached):
        return None
    arr = load_array(arr_path)
    if arr is None or arr.shape[0] != len(cached):
        return None
    where = {n: i for i, n in enumerate(cached)}
    return arr[[where[n] for n in names]]


def decoded_images(
    zip_path: Path, names: Sequence[str], size: int | Sequence[int] | str
) -> np.ndarray:
    """uint8 ``(N, 3, height, width)`` for the zip entries ``names`` (in that order) at ``size``
    (:func:`image_size`), decoded once per (zip, size) and cached in the cache folder
    (:mod:`.cache`); a cache holding other entries is rebuilt."""
    names = list(names)
    size = image_size(size)
    paths = _cache_paths(zip_path, size)
    cached = _read_cache(paths, names) if paths is not None else None
    if cached is not None:
        return cached
    try:
        with zipfile.ZipFile(zip_path) as zf:
            images = _decode(zf, names, size)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path} is not a readable zip file ({exc})") from None
    if paths is not None and save_array(paths[0], images):
        save_text(paths[1], json.dumps(names))
    return images


def load_ham10000(
    root: str | os.PathLike[str] | None = None,
    *,
    size: int | Sequence[int] | str = 64,
    folder: str = FOLDER,
) -> Ham10000:
    """All 10,015 HAM10000 images with their metadata, at ``size``: a square side in px, a
    (height, width) pair, or ``"stored"`` for the stored 200 x 150 px (width x height) without
    resampling.

    ``root`` is the data root (``--data-dir``; default ``$HEALTHCNN_DATA`` or
    ``~/.cache/healthcnn``); the files are read from ``<root>/<folder>/``.
    """
    size = image_size(size)
    base = data_root(root)
    where = base / folder
    meta_path, zip_path = where / METADATA_FILE, where / ZIP_FILE
    for p in (meta_path, zip_path):
        if not p.is_file():
            raise DataError(
                f"{p} not found: place HAM10000's {p.name} in {where} (see the dataset README; "
                "HAM10000 has no direct download URL)"
            )
    try:
        with zipfile.ZipFile(zip_path) as zf:
            entries = set(zf.namelist())
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path} is not a readable zip file ({exc})") from None
    meta = read_metadata(meta_path, entries)
    images = decoded_images(zip_path, [_entry(i) for i in meta["image_id"]], size)
    labels = np.array([DIAGNOSES.index(d) for d in meta["dx"]], dtype=np.int64)
    ds = ArrayDataset(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(labels),
        classes=list(DIAGNOSES),
        ids=meta["image_id"].tolist(),
        groups=meta["lesion_id"].tolist(),
        name=f"ham10000-{size_label(size)}",
    )
    return Ham10000(dataset=ds, meta=meta, size=size)


def ham10000_splits(
    ham: Ham10000 | Mapping[str, np.ndarray],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Lesion-level train/val/test indices (no lesion in two splits), stratified by diagnosis,
    seeded: ``{"train": idx, "val": idx, "test": idx}``. ``ham`` may also be the metadata
    alone (:func:`read_metadata`), so a split needs no pixels."""
    if len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers (train, val, test), got {fractions}")
    meta = ham.meta if isinstance(ham, Ham10000) else ham
    parts = group_split(meta["lesion_id"], fractions, stratify=meta["dx"], seed=seed)
    return dict(zip(SPLITS, parts, strict=True))


def age_band(age: np.ndarray) -> np.ndarray:
    """Age bands for subgroup analysis: ``<30``, ``30-49``, ``50-69``, ``70+``, ``unknown``."""
    age = np.asarray(age, dtype=np.float64)
    out = np.full(age.shape, "unknown", dtype=object)
    for lo, hi, name in ((0, 30, "<30"), (30, 50, "30-49"), (50, 70, "50-69"), (70, 1e9, "70+")):
        out[(age >= lo) & (age < hi)] = name
    return out
