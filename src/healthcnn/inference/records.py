"""A WFDB ECG record as a bundle's inputs: prepared as the ECG loaders prepared training data,
by the bundle's record (``Preprocessing.signal``): the bundle's leads picked by name, band-pass
at the record's own rate, resampling to the bundle's rate, per-lead normalisation, and windows
of the bundle's length every ``stride`` samples (one input per window, named ``record@start``
in seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import Preprocessing
from ..data.ecg import EcgRecord, preprocess, read_record, windows
from ..data.root import DataError


def is_record_path(path: Path) -> bool:
    """Whether ``path`` names a WFDB record by its header."""
    return path.suffix.lower() == ".hea"


def record_items(path: Path, record: Preprocessing) -> list[tuple[str, np.ndarray]]:
    """``(name@start, float32 (leads, length))`` for each window of the record at ``path``."""
    recipe = record.signal
    if recipe is None or record.size is None or record.sampling_rate is None:
        raise DataError(
            f"{path}: this bundle was not trained on windows of whole ECG records (its "
            "preprocessing record has no signal recipe), so a WFDB record cannot be prepared "
            "as its input; give the model's own windows in an .npz"
        )
    raw = read_record(path)
    raw = _picked_leads(raw, record, path)
    band = recipe["band"]
    rec = preprocess(
        raw,
        target_fs=record.sampling_rate,
        band=None if band is None else (band[0], band[1]),
        normalise_leads=recipe["normalise"] == "per_lead",
    )
    length = record.size[0]
    starts, cut = windows(rec.signal, length, recipe["stride"])
    if not len(starts):
        seconds = length / record.sampling_rate
        raise DataError(
            f"{path}: the record lasts {raw.n_samples / raw.fs:.2f} s; the model takes windows "
            f"of {seconds:g} s"
        )
    name = path.name[: -len(path.suffix)]
    return [
        (f"{name}@{s / record.sampling_rate:g}s", w.astype(np.float32))
        for s, w in zip(starts.tolist(), cut, strict=True)
    ]


def _picked_leads(raw: EcgRecord, record: Preprocessing, path: Path) -> EcgRecord:
    """The record's leads in the bundle's order (by name), or the record as it is when the
    bundle names no leads and the counts agree."""
    if record.leads is None:
        if raw.signal.shape[0] != record.channels:
            raise DataError(
                f"{path}: {raw.signal.shape[0]} leads; the model takes {record.channels}"
            )
        return raw
    missing = [lead for lead in record.leads if lead not in raw.leads]
    if missing:
        raise DataError(
            f"{path}: the record lacks lead(s) {missing} the model was trained on "
            f"(it has {raw.leads})"
        )
    idx = [raw.leads.index(lead) for lead in record.leads]
    return EcgRecord(
        name=raw.name,
        signal=np.ascontiguousarray(raw.signal[idx]),
        fs=raw.fs,
        leads=list(record.leads),
        units=[raw.units[i] for i in idx] if raw.units else [],
        comments=raw.comments,
    )
