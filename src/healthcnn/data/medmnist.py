"""MedMNIST v2 / MedMNIST+ ``.npz`` files -> :class:`ArrayDataset`.

Official archives hold ``{train,val,test}_images`` and ``{train,val,test}_labels``: 2D grey
``(N, H, W)``, 2D RGB ``(N, H, W, 3)``, 3D ``(N, D, H, W)``; labels ``(N, 1)`` (or ``(N,)``
in re-saved copies) and ``(N, 14)`` multi-label for ChestMNIST. A catalog name is looked up
under ``<root>/medmnist/<official file name>`` and, failing that, ``<root>/medmnist-rebuilt/``
(third-party re-saves: read with a warning, MD5 not checked). Official files are MD5-verified
once per process.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .arrays import ArrayDataset
from .cache import cache_dir, load_array, save_array
from .catalog import DatasetInfo, get_dataset, medmnist_file_name, medmnist_lookup_by_file
from .root import DataError, data_root, verify_file
from .validate import check_split_shapes, class_labels, image_array, multilabel_targets

SPLITS = ("train", "val", "test")
REBUILT_FOLDER = "medmnist-rebuilt"

# (resolved path, size, mtime_ns) of files whose MD5 matched in this process
_VERIFIED: set[tuple[str, int, int]] = set()


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def verify_once(path: Path, md5: str, url: str | None = None) -> None:
    """MD5-verify ``path`` unless this process already verified the same unchanged file."""
    key = _file_key(path)
    if key in _VERIFIED:
        return
    verify_file(path, md5=md5, url=url)
    _VERIFIED.add(key)


def find_medmnist(
    name: str, size: int = 28, root: str | os.PathLike[str] | None = None
) -> tuple[Path, bool]:
    """``(path, rebuilt)`` of a catalog MedMNIST file under the data root; raises ``DataError``
    saying where it looked and how to fetch it."""
    entry = get_dataset(name)
    if entry.kind != "medmnist":
        raise ValueError(f"{name!r} is not a MedMNIST dataset (kind {entry.kind!r})")
    remote = entry.files_for(size)[0]
    base = data_root(root)
    official = base / "medmnist" / remote.name
    rebuilt = base / REBUILT_FOLDER / remote.name
    if official.is_file():
        return official, False
    if rebuilt.is_file():
        return rebuilt, True
    fetch = f"healthcnn data fetch {entry.name}" + ("" if size == 28 else f" --size {size}")
    raise DataError(
        f"{remote.name} not found: looked for {official} and {rebuilt}. Run `{fetch}` "
        f"(add --data-dir {base} if that is not your default root), or download {remote.url} "
        f"and place it at {official}"
    )


def _to_channels_first(
    images: np.ndarray, entry: DatasetInfo | None, path: Path, key: str
) -> np.ndarray:
    """(N,H,W) -> (N,1,H,W); (N,H,W,3) -> (N,3,H,W); (N,D,H,W) -> (N,1,D,H,W)."""
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4:
        rgb = entry.channels == 3 if entry is not None else images.shape[-1] == 3
        if entry is not None and entry.spatial_dims == 3:
            rgb = False
        if rgb:
            return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return images[:, None]
    if images.ndim == 5:  # (N, D, H, W, C)
        return np.ascontiguousarray(images.transpose(0, 4, 1, 2, 3))
    raise DataError(
        f"{path}: {key} has shape {images.shape}; expected (N, H, W), (N, H, W, 3) or (N, D, H, W)"
    )


def _labels(
    raw: np.ndarray, entry: DatasetInfo | None, n_classes: int | None, path: Path, key: str
) -> tuple[torch.Tensor, int]:
    """Labels tensor and the number of classes, checked by :mod:`.validate`."""
    multilabel = (
        (entry.task == "multi-label") if entry is not None else (raw.ndim == 2 and raw.shape[1] > 1)
    )
    where = f"{path}: {key}"
    if multilabel:
        targets = multilabel_targets(raw, where)
        return torch.from_numpy(targets), targets.shape[1]
    flat = class_labels(raw, where, n_classes)
    k = n_classes if n_classes is not None else int(flat.max()) + 1 if len(flat) else 0
    return torch.from_numpy(flat), k


def _mmap_split(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """Extract ``key`` once to ``<cache>/medmnist/<stem>-<size>-<mtime>/<key>.npy`` and
    memory-map it copy-on-write, so torch sees a writable array and pages stay on disk until
    touched. Without a usable cache folder the split is read into memory (with a warning from
    :func:`.cache.cache_dir`)."""
    st = path.stat()
    folder = cache_dir("medmnist")
    if folder is None:
        return npz[key]
    target = folder / f"{path.stem}-{st.st_size}-{st.st_mtime_ns}" / f"{key}.npy"
    cached = load_array(target, mmap=True)
    if cached is not None:
        return cached
    if not save_array(target, npz[key]):
        return npz[key]
    return np.load(target, mmap_mode="c")


def _sample_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Per-sample image shape of each split present, from the array headers only."""
    arrays = npz_summary(path)
    return {s: arrays[f"{s}_images"][0][1:] for s in SPLITS if f"{s}_images" in arrays}


def _read_split(path: Path, split: str, mmap: bool) -> tuple[np.ndarray, np.ndarray]:
    """The raw images and labels of one split; every way a file can be unreadable is a
    DataError naming it."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); download or copy it again")
    try:
        check_split_shapes(_sample_shapes(path), str(path))
        with np.load(path, allow_pickle=False) as npz:
            img_key, lab_key = f"{split}_images", f"{split}_labels"
            missing = [k for k in (img_key, lab_key) if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path} has no {' / '.join(missing)}: keys found: "
                    f"{', '.join(npz.files) or 'none'}; expected train_images, "
                    "train_labels, val_images, val_labels, test_images, test_labels"
                )
            images = _mmap_split(npz, img_key, path) if mmap else npz[img_key]
            return images, npz[lab_key]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(
            f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from None


def load_medmnist(
    name_or_path: str | os.PathLike[str],
    split: str,
    *,
    size: int = 28,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
    mmap: bool = False,
) -> ArrayDataset:
    """One split (``"train"``, ``"val"``, ``"test"``) of a MedMNIST file as an ArrayDataset.

    ``name_or_path``: a catalog name (``"retinamnist"``; ``size`` picks 28/64/128/224) or a path
    to an ``.npz``. Files with an official name are MD5-verified (``verify=False`` skips it);
    copies found in ``medmnist-rebuilt/`` are read with a warning instead. ``mmap=True``
    extracts the split once to an uncompressed ``.npy`` in the cache folder (:mod:`.cache`,
    never the data root) and memory-maps it (for the 224 px and 64^3 files that do not fit in
    memory comfortably). Pixels and labels pass :mod:`.validate` (uint16 and float images are
    scaled by its stated rules; NaN, fractional labels and splits of different shapes are
    refused).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    text = os.fspath(name_or_path)
    rebuilt = False
    if text.endswith(".npz") or os.sep in text or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataError(f"MedMNIST file {path} does not exist")
        found = medmnist_lookup_by_file(path.name)
        entry, size_found = found if found is not None else (None, None)
        rebuilt = path.parent.name == REBUILT_FOLDER
    else:
        entry = get_dataset(text)
        path, rebuilt = find_medmnist(entry.name, size, root)
        size_found = size
    if entry is not None and verify:
        remote = entry.files_for(size_found)[0]
        if rebuilt:
            warnings.warn(
                f"{path} is a third-party re-save of {remote.name} (not the official "
                "bytes): MD5 verification skipped",
                UserWarning,
                stacklevel=2,
            )
        else:
            verify_once(path, remote.md5, remote.url)
    images, raw_labels = _read_split(path, split, mmap)
    img_key, lab_key = f"{split}_images", f"{split}_labels"
    images = _to_channels_first(image_array(images, f"{path}: {img_key}"), entry, path, img_key)
    n_classes = len(entry.classes) if entry is not None else None
    labels, k = _labels(raw_labels, entry, n_classes, path, lab_key)
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{path}: {images.shape[0]} images but {labels.shape[0]} labels in split {split!r}"
        )
    classes = list(entry.classes) if entry is not None else [str(i) for i in range(k)]
    return ArrayDataset(
        images=torch.from_numpy(images),
        labels=labels,
        classes=classes,
        ids=[f"{split}:{i}" for i in range(images.shape[0])],
        name=f"{path.stem}:{split}",
    )


def load_medmnist_splits(
    name_or_path: str | os.PathLike[str],
    *,
    size: int = 28,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> dict[str, ArrayDataset]:
    """All three splits (the MD5 is checked once)."""
    return {s: load_medmnist(name_or_path, s, size=size, root=root, verify=verify) for s in SPLITS}


def npz_summary(path: str | os.PathLike[str]) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{key: (shape, dtype)}`` for each array in an ``.npz``, read from the headers only
    (nothing is decompressed), for ``healthcnn data info``."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            with zf.open(member) as fh:
                version = np.lib.format.read_magic(fh)
                header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = header(fh)
            out[member.removesuffix(".npy")] = (tuple(shape), str(dtype))
    return out


def medmnist_file_for(name: str, size: int = 28) -> str:
    """The official file name of a catalog entry at a size."""
    get_dataset(name).files_for(size)
    return medmnist_file_name(name.lower(), size)
