"""Data sources by name or path -> the train/val/test splits a run trains and scores on.

``load_splits(data)`` accepts a registered MedMNIST name (``"retinamnist"``), an ``.npz`` in
MedMNIST layout, an image CSV (``path``, ``label``, optional ``split`` and ``group`` columns)
or an ECG database name. Everything that trains, evaluates or reports on a data source reads
its splits here, so the same name and seed always give the same rows.
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
    "ECG_LOADERS",
    "ECG_SAMPLING_RATES",
    "SPLITS",
    "data_files",
    "load_splits",
    "sampling_rate",
]

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


def load_splits(
    data: str,
    *,
    size: int = 28,
    data_dir: str | None = None,
    seed: int = 0,
    download: bool = False,
    stream: bool | None = False,
    memory_budget_mb: float | None = None,
) -> tuple[dict[str, ArrayDataset], str | None]:
    """The train/val/test splits of ``data`` and the dataset's own task name (if it has one).

    With ``download``, a registered MedMNIST dataset missing from the data root is fetched
    first (one verified download into ``<root>/medmnist/``). ``stream`` and
    ``memory_budget_mb`` apply to image-folder CSVs (see :func:`.images.load_image_csv`: None
    streams when the decoded images would not fit the budget).
    """
    text = os.fspath(data)
    if text.endswith(".csv"):
        images = {"stream": stream, "memory_budget_mb": memory_budget_mb}
        return _csv_splits(Path(text), size=size, data_dir=data_dir, seed=seed, **images), None
    if text in ECG_LOADERS:
        return _ecg_splits(text, data_dir=data_dir, seed=seed), None
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


def _csv_splits(
    path: Path,
    *,
    size: int | None,
    data_dir: str | None,
    seed: int,
    stream: bool | None = False,
    memory_budget_mb: float | None = None,
) -> dict[str, ArrayDataset]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist")
    with path.open(newline="") as fh:
        header = fh.readline().strip().split(",")
    if lists_medical_files(path):  # DICOM files, series folders or NIfTI volumes
        group = "group" if "group" in header else None
        ds = load_medical_csv(path, size=size, group_column=group)
    else:
        ds = load_image_csv(
            path,
            id_column="path",
            group_column="group" if "group" in header else None,
            size=size,
            root=data_dir,
            stream=stream,
            memory_budget_mb=memory_budget_mb,
        )
    if "split" in header:
        values = _csv_split_column(path)
        index = {s: [i for i, v in enumerate(values) if v == s] for s in SPLITS}
    else:
        groups = ds.groups if ds.groups is not None else [str(i) for i in range(len(ds))]
        parts = group_split(groups, (0.7, 0.15, 0.15), stratify=ds.labels.numpy(), seed=seed)
        index = dict(zip(SPLITS, parts, strict=True))
    empty = [s for s in SPLITS if not len(index[s])]
    if empty:
        raise ValueError(f"{path}: split(s) {empty} are empty; every split needs samples")
    return {s: ds.subset(index[s]) for s in SPLITS}
