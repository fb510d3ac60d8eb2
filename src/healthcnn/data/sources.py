"""Data sources by name or path -> the train/val/test splits a run trains and scores on.

``load_splits(data)`` accepts a registered MedMNIST name (``"retinamnist"``), an ``.npz`` in
MedMNIST layout, an image CSV (``path``, ``label`` or, multi-label, ``labels``, optional
``split`` and ``group`` or ``patient`` columns; see docs/your-data.md) or an ECG database
name. Without a ``size``, a MedMNIST name is read at 28 px (its smallest published file) and
an image CSV at the size its images are stored at. Everything that trains, evaluates or reports
on a data source reads its splits here, so the same name and seed always give the same rows.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .arrays import ArrayDataset
from .catalog import get_dataset
from .fetch import fetch_dataset
from .images import load_image_csv
from .medical import lists_medical_files, load_medical_csv
from .medmnist import SPLITS, find_medmnist, load_medmnist
from .root import DataError
from .splits import group_split

__all__ = [
    "DEFAULT_SIZE",
    "ECG_LOADERS",
    "ECG_SAMPLING_RATES",
    "GROUP_COLUMNS",
    "SPLITS",
    "data_files",
    "load_splits",
    "sampling_rate",
    "split_record",
    "stored_size",
]

#: the CSV column naming each row's patient (or lesion): the first of these the header has
GROUP_COLUMNS = ("group", "patient")
#: the size a MedMNIST name (or .npz) is read at when none is given; image CSVs keep theirs
DEFAULT_SIZE = 28

#: ECG databases accepted by name -> their loader in ``healthcnn.data.ecg_datasets``
#: (windows or beats with the loaders' default filtering and sampling rate).
ECG_LOADERS = {
    "cpsc2021": "load_cpsc2021",
    "mitdb": "load_mitdb",
    "cinc2021-georgia": "load_georgia",
    "ecg5000": "load_ecg5000",
}
#: Hz of the signals those loaders return by default (ECG5000's beats carry no rate)
ECG_SAMPLING_RATES = {"cpsc2021": 100.0, "cinc2021-georgia": 100.0, "mitdb": 360.0}


def sampling_rate(source: str) -> float | None:
    """The sampling rate (Hz) of a data source's signals, None for images and rate-less beats."""
    return ECG_SAMPLING_RATES.get(source)


def stored_size(ds: ArrayDataset) -> int | list[int]:
    """The spatial size of ``ds``'s samples: one int when every axis has it, else the list."""
    dims = [int(d) for d in ds.images.shape[2:]]
    return dims[0] if len(set(dims)) == 1 else dims


def load_splits(
    data: str,
    *,
    size: int | tuple[int, ...] | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    download: bool = False,
    stream: bool | None = False,
    memory_budget_mb: float | None = None,
) -> tuple[dict[str, ArrayDataset], str | None]:
    """The train/val/test splits of ``data`` and the dataset's own task name (if it has one).

    ``size``: an image CSV resizes every image to it (None: kept as stored, all one size); a
    MedMNIST name picks its file (None: :data:`DEFAULT_SIZE`). With ``download``, a registered
    MedMNIST dataset missing from the data root is fetched first (one verified download into
    ``<root>/medmnist/``).
    ``stream`` and ``memory_budget_mb`` apply to image-folder CSVs (see
    :func:`.images.load_image_csv`: None streams when the decoded images would not fit the
    budget).
    """
    text = os.fspath(data)
    if text.endswith(".csv"):
        images = {"stream": stream, "memory_budget_mb": memory_budget_mb}
        return _csv_splits(Path(text), size=size, data_dir=data_dir, seed=seed, **images), None
    if text in ECG_LOADERS:
        return _ecg_splits(text, data_dir=data_dir, seed=seed), None
    size = DEFAULT_SIZE if size is None else size
    if download and not text.endswith(".npz") and get_dataset(text).kind == "medmnist":
        try:
            find_medmnist(text, size, data_dir)
        except DataError:
            fetch_dataset(text, size, data_dir)
    splits = {s: load_medmnist(text, s, size=size, root=data_dir) for s in SPLITS}
    task = None
    if not text.endswith(".npz"):
        task = get_dataset(text).task
    return splits, task


def data_files(data: str, *, size: int = 28, data_dir: str | None = None) -> list[Path]:
    """Every file a run on ``data`` reads (what the run record hashes): the ``.npz``, the
    CSV and each file it lists (every file of a listed folder), or every file of an ECG
    database's folder."""
    text = os.fspath(data)
    if text.endswith(".csv"):
        return _csv_files(Path(text))
    if text.endswith(".npz"):
        return [Path(text)]
    if text in ECG_LOADERS:
        from .ecg_datasets import ecg_folder

        return _files_under(ecg_folder(text, data_dir))
    return [find_medmnist(text, size, data_dir)[0]]


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _csv_files(path: Path) -> list[Path]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        listed = [row.get("path") or "" for row in csv.DictReader(fh)]
    files = [path]
    for name in listed:
        item = path.parent / name
        files.extend(_files_under(item) if item.is_dir() else [item] if item.is_file() else [])
    return files


def _ecg_splits(name: str, *, data_dir: str | None, seed: int) -> dict[str, ArrayDataset]:
    """A seeded 70/15/15 split of an ECG database, by patient where the database has patients
    (no patient in two splits), stratified by label for single-label tasks."""
    from . import ecg_datasets

    ds = getattr(ecg_datasets, ECG_LOADERS[name])(data_dir)
    groups = ds.groups if ds.groups is not None else [str(i) for i in range(len(ds))]
    stratify = ds.labels.numpy() if ds.labels.dim() == 1 else None
    parts = group_split(groups, (0.7, 0.15, 0.15), stratify=stratify, seed=seed)
    empty = [s for s, idx in zip(SPLITS, parts, strict=True) if not len(idx)]
    if empty:
        raise ValueError(f"{name}: split(s) {empty} came out empty; the database is too small")
    return {s: ds.subset(idx) for s, idx in zip(SPLITS, parts, strict=True)}


def _csv_split_column(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        values = [row["split"].strip().lower() for row in csv.DictReader(fh)]
    bad = sorted(set(values) - set(SPLITS))
    if bad:
        raise ValueError(f"{path}: column 'split' has {bad}; use train, val or test")
    return values


def _check_no_group_in_two_splits(
    path: Path, column: str | None, groups: list[str], splits: list[str]
) -> None:
    """Refuse a split column that puts one patient's rows in two splits (leakage)."""
    seen: dict[str, str] = {}
    for row, (group, split) in enumerate(zip(groups, splits, strict=True), start=2):
        first = seen.setdefault(group, split)
        if first != split:
            raise ValueError(
                f"{path} row {row}: {column} {group!r} is in {first} and in {split}; every row "
                f"of a {column} belongs in one split (or leave out the split column for a "
                "seeded split by patient)"
            )


def split_record(data: str, seed: int) -> dict[str, str]:
    """How an image CSV's rows were split, for the bundle and the report: ``split_method``
    and ``split_level`` (``{}`` for other sources, whose split the catalog describes)."""
    text = os.fspath(data)
    if not text.endswith(".csv"):
        return {}
    with Path(text).open(newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader(fh), [])]
    group = next((c for c in GROUP_COLUMNS if c in header), None)
    level = f"patient (column {group!r})" if group else "image (the CSV names no patients)"
    if "split" in header:
        return {"split_method": "the CSV's own split column", "split_level": level}
    by = f"by {group}" if group else "of images"
    method = f"seeded 70/15/15 split {by}, stratified by label (seed {seed})"
    return {"split_method": method, "split_level": level}


def _csv_splits(
    path: Path,
    *,
    size: int | tuple[int, ...] | None,
    data_dir: str | None,
    seed: int,
    stream: bool | None = False,
    memory_budget_mb: float | None = None,
) -> dict[str, ArrayDataset]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader(fh), [])]
    group = next((c for c in GROUP_COLUMNS if c in header), None)
    multilabel = "labels" in header and "label" not in header
    if lists_medical_files(path):  # DICOM files, series folders or NIfTI volumes
        ds = load_medical_csv(path, size=size, group_column=group)
    else:
        ds = load_image_csv(
            path,
            id_column="path",
            label_column="labels" if multilabel else "label",
            group_column=group,
            size=size,
            root=data_dir,
            multilabel=multilabel,
            stream=stream,
            memory_budget_mb=memory_budget_mb,
        )
    if "split" in header:
        values = _csv_split_column(path)
        index = {s: [i for i, v in enumerate(values) if v == s] for s in SPLITS}
        if ds.groups is not None:
            _check_no_group_in_two_splits(path, group, ds.groups, values)
    else:
        groups = ds.groups if ds.groups is not None else [str(i) for i in range(len(ds))]
        stratify = None if ds.multilabel else ds.labels.numpy()
        parts = group_split(groups, (0.7, 0.15, 0.15), stratify=stratify, seed=seed)
        index = dict(zip(SPLITS, parts, strict=True))
    empty = [s for s in SPLITS if not len(index[s])]
    if empty:
        raise ValueError(f"{path}: split(s) {empty} are empty; every split needs samples")
    return {s: ds.subset(index[s]) for s in SPLITS}
