"""The ECG databases as :class:`ArrayDataset` s of float32 signals, ready for 1D models.

==================  =====================================================================
loader              samples, labels, groups
==================  =====================================================================
``load_cpsc2021``   10-s two-lead windows of the CPSC 2021 Holter excerpts; AF (1) when at
                    least half the window lies in an annotated AF/flutter episode; groups
                    are patients (``data_<patient>_<segment>``)
``load_mitdb``      beats around annotated R peaks, AAMI classes N/S/V/F/Q; groups are
                    records (MIT-BIH records are patients, except 201/202: one patient)
``load_georgia``    12-lead 10-s ECGs with SNOMED-CT diagnoses from the ``# Dx`` header
                    line (multi-label); groups are records. The shared sample of the
                    CinC 2021 training set holds Georgia (``E``), PTB-XL (``HR``) and
                    Chapman-Shaoxing/Ningbo (``JS``) records, not Georgia alone
``load_ecg5000``    ECG5000 beats (140 samples, z-normalised per beat by the archive), 5
                    classes; all beats come from one patient
==================  =====================================================================

Files are found under ``<data root>/ecg/<database>/`` (see :mod:`healthcnn.data.root`).
Window ids are ``<record>@<start sample at the output rate>``, so results can be regrouped by
record.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .arrays import ArrayDataset
from .catalog import get_dataset
from .ecg import header_field, preprocess, read_annotations, read_record, windows
from .ecg_labels import (
    AAMI_CLASSES,
    ECG5000_CLASSES,
    aami_labels,
    af_window_labels,
    frequent_codes,
    multi_hot,
    rhythm_intervals,
)
from .root import DataError, data_root
from .validate import class_labels, multilabel_targets, numeric_labels, signal_array

Band = tuple[float, float] | None


def ecg_folder(database: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data root>/<catalog folder>`` of a registered ECG database; raises when absent."""
    info = get_dataset(database)
    folder = data_root(data_dir) / info.folder
    if not folder.is_dir():
        raise DataError(
            f"ECG database {database!r} not found at {folder}; place its files there "
            f"(source: {info.source}) or pass data_dir"
        )
    return folder


def record_names(folder: Path) -> list[str]:
    """Record names (header files without ``.hea``) in a folder, sorted."""
    return sorted(p.stem for p in folder.glob("*.hea"))


def record_of(sample_id: str) -> str:
    """The record part of a window id ``<record>@<start>``."""
    return sample_id.rsplit("@", 1)[0]


def cpsc_patient(record: str) -> str:
    """CPSC 2021 record ``data_<patient>_<segment>`` -> patient id."""
    parts = record.split("_")
    if len(parts) != 3 or parts[0] != "data":
        raise ValueError(f"not a CPSC 2021 record name (data_<patient>_<segment>): {record!r}")
    return parts[1]


def _stack(arrays: list[np.ndarray], leads: int, length: int, where: str) -> torch.Tensor:
    if not arrays:
        return torch.zeros((0, leads, length), dtype=torch.float32)
    return torch.from_numpy(signal_array(np.concatenate(arrays), where))


def _labels(parts: list[np.ndarray], where: str, num_classes: int) -> torch.Tensor:
    return torch.from_numpy(class_labels(np.concatenate(parts), where, num_classes))


def load_cpsc2021(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    records: Sequence[str] | None = None,
    fs: float = 100.0,
    window_s: float = 10.0,
    stride_s: float = 5.0,
    band: Band = (0.5, 40.0),
    min_af_fraction: float = 0.5,
) -> ArrayDataset:
    """AF vs non-AF windows from CPSC 2021 (``records``: names, default all in the folder).

    Each record is band-passed at 200 Hz, resampled to ``fs``, normalised per lead, cut into
    ``window_s`` windows every ``stride_s``; a window is AF when at least ``min_af_fraction``
    of it lies inside an AF/flutter episode of the ``.atr`` rhythm annotations.
    """
    folder = ecg_folder("cpsc2021", data_dir) / "records"
    names = list(records) if records is not None else record_names(folder)
    if not names:
        raise DataError(f"no CPSC 2021 records (*.hea) in {folder}")
    length, stride = round(window_s * fs), round(stride_s * fs)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ids: list[str] = []
    groups: list[str] = []
    for name in names:
        patient = cpsc_patient(name)
        raw = read_record(folder / name)
        ann = read_annotations(folder / name)
        marks, notes = ann.rhythm_marks()
        af = rhythm_intervals(marks, notes, raw.n_samples)
        rec = preprocess(raw, target_fs=fs, band=band)
        starts, win = windows(rec.signal, length, stride)
        # window starts at the original rate, to compare with the annotation samples
        scale = raw.fs / rec.fs
        labels, _ = af_window_labels(
            af, np.round(starts * scale).astype(np.int64), round(length * scale), min_af_fraction
        )
        xs.append(win)
        ys.append(labels)
        ids += [f"{name}@{s}" for s in starts.tolist()]
        groups += [patient] * len(starts)
    return ArrayDataset(
        images=_stack(xs, 2, length, "cpsc2021 windows"),
        labels=_labels(ys, "cpsc2021 window labels", 2),
        classes=["non-AF", "AF"],
        ids=ids,
        groups=groups,
        name=f"cpsc2021 {window_s:g}s windows @ {fs:g} Hz",
    )


def load_mitdb(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    records: Sequence[str] | None = None,
    fs: float | None = None,
    before_s: float = 0.25,
    after_s: float = 0.45,
    band: Band = (0.5, 40.0),
    classes: Sequence[str] = tuple(AAMI_CLASSES),
) -> ArrayDataset:
    """Beats around the annotated R peaks of MIT-BIH records, labelled with AAMI classes.

    Non-beat annotations are skipped, as are beats whose span leaves the record. ``fs`` (None:
    the record's 360 Hz) resamples the whole record first.
    """
    from .ecg import beats

    folder = ecg_folder("mitdb", data_dir)
    names = list(records) if records is not None else record_names(folder)
    if not names:
        raise DataError(f"no MIT-BIH records (*.hea) in {folder}")
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ids: list[str] = []
    leads = 2
    span = 0
    for name in names:
        raw = read_record(folder / name)
        ann = read_annotations(folder / name)
        rec = preprocess(raw, target_fs=fs, band=band)
        scale = rec.fs / raw.fs
        before, after = round(before_s * rec.fs), round(after_s * rec.fs)
        span, leads = before + after, rec.signal.shape[0]
        labels = aami_labels(ann.symbols, classes)
        is_beat = labels >= 0
        peaks = np.round(ann.samples[is_beat] * scale).astype(np.int64)
        kept, b = beats(rec.signal, peaks, before, after)
        xs.append(b)
        ys.append(labels[is_beat][kept])
        ids += [f"{name}@{p}" for p in peaks[kept].tolist()]
    return ArrayDataset(
        images=_stack(xs, leads, span, "mitdb beats"),
        labels=_labels(ys, "mitdb beat labels", len(classes)),
        classes=list(classes),
        ids=ids,
        groups=[record_of(i) for i in ids],
        name="mitdb beats (AAMI)",
    )


def georgia_code_names(folder: Path) -> dict[str, str]:
    """SNOMED-CT code -> abbreviation from the folder's ``labels.csv`` (empty when absent)."""
    path = folder / "labels.csv"
    names: dict[str, str] = {}
    if not path.is_file():
        return names
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            codes, abbrevs = row["dx_snomed"].split(), row["dx_abbrev"].split()
            if len(codes) == len(abbrevs):
                names.update(zip(codes, abbrevs, strict=True))
    return names


def load_georgia(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    fs: float = 100.0,
    band: Band = (0.5, 40.0),
    min_count: int = 5,
    codes: Sequence[str] | None = None,
) -> ArrayDataset:
    """12-lead 10-s ECGs of the CinC 2021 sample folder with multi-hot SNOMED-CT labels.

    Labels are the codes of the header's ``# Dx:`` line; ``codes`` picks the label columns
    (default: every code present in at least ``min_count`` records, most frequent first).
    Class names are the abbreviations of ``labels.csv`` where it gives them, else the codes.
    """
    folder = ecg_folder("cinc2021-georgia", data_dir)
    rec_dir = folder / "records"
    names = record_names(rec_dir)
    if not names:
        raise DataError(f"no Georgia records (*.hea) in {rec_dir}")
    signals, dx = [], []
    for name in names:
        rec = preprocess(read_record(rec_dir / name), target_fs=fs, band=band)
        value = header_field(rec.comments, "Dx")
        if not value:
            raise DataError(f"ECG record {name}: the header has no '# Dx:' diagnosis line")
        dx.append([c.strip() for c in value.split(",") if c.strip()])
        signals.append(rec.signal)
    shapes = {s.shape for s in signals}
    if len(shapes) != 1:
        raise DataError(f"Georgia records differ in shape after resampling: {sorted(shapes)}")
    chosen = list(codes) if codes is not None else frequent_codes(dx, min_count)
    if not chosen:
        raise ValueError(f"no SNOMED-CT code occurs in {min_count} or more records")
    code_names = georgia_code_names(folder)
    return ArrayDataset(
        images=torch.from_numpy(signal_array(np.stack(signals), "cinc2021-georgia signals")),
        labels=torch.from_numpy(multilabel_targets(multi_hot(dx, chosen), "georgia labels")),
        classes=[code_names.get(c, c) for c in chosen],
        ids=names,
        groups=names,
        name="cinc2021-georgia",
    )


#: how the loaders of whole records made their inputs (defaults of :func:`load_cpsc2021` and
#: :func:`load_georgia`; a test checks they agree): band-pass Hz, per-lead normalisation, the
#: stride between windows in samples at the output rate. MIT-BIH beats (cut around annotated
#: peaks) and ECG5000 (beats without records) have none.
RECORD_RECIPES = {
    "cpsc2021": {"band": [0.5, 40.0], "normalise": "per_lead", "stride": 500},
    "cinc2021-georgia": {"band": [0.5, 40.0], "normalise": "per_lead", "stride": 1000},
}
#: where each database keeps its records, under its folder
_RECORD_DIRS = {"cpsc2021": "records", "cinc2021-georgia": "records"}


def record_recipe(database: str, data_dir: str | os.PathLike[str] | None = None) -> dict:
    """The preprocessing-record fields that let ``predict`` prepare a whole record of
    ``database`` as training did: ``signal`` (the recipe) and ``leads`` (the lead names of its
    first record's header); ``{}`` for databases without a recipe."""
    if database not in RECORD_RECIPES:
        return {}
    folder = ecg_folder(database, data_dir) / _RECORD_DIRS[database]
    names = record_names(folder)
    if not names:
        raise DataError(f"no {database} records (*.hea) in {folder}")
    leads = read_record(folder / names[0]).leads
    return {"signal": dict(RECORD_RECIPES[database]), "leads": list(leads)}


def load_ecg5000(data_dir: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """The ECG5000 TRAIN beats: ``(500, 1, 140)`` float32, labels 0..4 (file classes 1..5).

    The archive z-normalised each beat already; no filtering is applied. All beats are from
    one patient, so ``groups`` is None (cross-validation is per beat).
    """
    folder = ecg_folder("ecg5000", data_dir)
    path = folder / "ECG5000_TRAIN.txt"
    if not path.is_file():
        raise DataError(f"ECG5000: {path} not found (the UCR archive TRAIN split)")
    try:
        table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"ECG5000: {path} is not a whitespace-separated table ({exc})") from None
    if table.shape[1] != 141:
        raise DataError(
            f"ECG5000: {path} has {table.shape[1]} columns; expected 141 (class + 140 samples)"
        )
    y = numeric_labels(table[:, 0], f"ECG5000: {path} column 0")
    signals = signal_array(table[:, None, 1:], f"ECG5000: {path}")
    k = len(ECG5000_CLASSES)
    if not np.all((y == np.round(y)) & (y >= 1) & (y <= k)):
        raise DataError(f"ECG5000: {path} has class values outside 1..{k} in column 0")
    return ArrayDataset(
        images=torch.from_numpy(signals),
        labels=torch.from_numpy(y.astype(np.int64) - 1),
        classes=list(ECG5000_CLASSES),
        ids=[f"beat{i}" for i in range(len(y))],
        name="ecg5000",
    )
