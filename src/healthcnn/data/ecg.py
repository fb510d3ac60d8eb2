"""ECG records: reading WFDB files, filtering, resampling, normalising, windows and beats.

Reading goes through the ``wfdb`` package (``pip install 'healthcnn[ecg]'``): ``read_record``
returns the physical signal (mV) as float32 ``(leads, samples)``; ``read_annotations`` the beat
and rhythm annotations. Before wfdb decodes anything, the signal files are checked against the
header, so a truncated or missing file gives a :class:`~healthcnn.data.root.DataError` naming the
record and the file, not a reshape error from deep inside the reader.

Signal processing works on ``(leads, samples)`` arrays along the last axis:

- ``bandpass``: zero-phase Butterworth band-pass (``scipy.signal.butter`` in second-order
  sections, run forwards and backwards, so waves are not shifted in time). 0.5-40 Hz removes
  baseline wander and mains/muscle noise while keeping the P-QRS-T morphology.
- ``resample``: polyphase resampling to a target rate (``scipy.signal.resample_poly``, which
  low-pass filters before decimating). ``n`` samples at ``fs`` become ``ceil(n * target / fs)``.
- ``normalise``: each lead to mean 0 and standard deviation 1 (a flat lead becomes zeros).
- ``windows``: fixed-length windows with a stride (the incomplete tail is dropped).
- ``beats``: a fixed span around each annotated R peak (beats too close to an edge are skipped).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .root import DataError

#: bytes per sample of the WFDB storage formats this module can size-check
_BYTES_PER_SAMPLE = {
    "8": 1.0,
    "16": 2.0,
    "61": 2.0,
    "80": 1.0,
    "160": 2.0,
    "212": 1.5,
    "24": 3.0,
    "32": 4.0,
    "310": 4 / 3,
    "311": 4 / 3,
}


def _wfdb():
    try:
        import wfdb
    except ImportError:
        raise ImportError(
            "reading ECG records needs the wfdb package: pip install 'healthcnn[ecg]'"
        ) from None
    return wfdb


@dataclass
class EcgRecord:
    """One ECG record: ``signal`` float32 ``(leads, samples)`` in ``units`` at ``fs`` Hz."""

    name: str
    signal: np.ndarray
    fs: float
    leads: list[str]
    units: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs


@dataclass
class Annotations:
    """Annotations of one record: sample positions, symbols and aux notes (same length)."""

    record: str
    samples: np.ndarray
    symbols: list[str]
    aux_notes: list[str]
    fs: float

    def __len__(self) -> int:
        return len(self.symbols)

    def rhythm_marks(self) -> tuple[np.ndarray, list[str]]:
        """Positions and aux notes of the rhythm-change (``+``) annotations."""
        keep = [i for i, s in enumerate(self.symbols) if s == "+"]
        return self.samples[keep], [self.aux_notes[i] for i in keep]


def _record_base(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".hea", ".dat", ".mat", ".atr") else path


def _check_signal_files(base: Path, header) -> None:
    """Raise a DataError naming the record when a signal file is missing or shorter than the
    header says."""
    needed: dict[str, float] = {}
    offsets: dict[str, int] = {}
    for fname, fmt, offset in zip(header.file_name, header.fmt, header.byte_offset, strict=True):
        bps = _BYTES_PER_SAMPLE.get(str(fmt))
        if bps is None or header.sig_len is None:
            continue
        needed[fname] = needed.get(fname, 0.0) + bps * header.sig_len
        offsets[fname] = int(offset or 0)
    for fname in dict.fromkeys(header.file_name):
        path = base.parent / fname
        if not path.is_file():
            raise DataError(
                f"ECG record {base.name}: signal file {path} is missing (the header "
                f"{base.name}.hea lists it); place the record's files together"
            )
        if fname in needed:
            expected = offsets[fname] + math.ceil(needed[fname])
            actual = path.stat().st_size
            if actual < expected:
                raise DataError(
                    f"ECG record {base.name}: signal file {path} has {actual} bytes but the "
                    f"header needs {expected} ({header.sig_len} samples x "
                    f"{header.file_name.count(fname)} signals); the file is truncated or corrupt"
                    f", download it again"
                )


def read_record(path: str | os.PathLike[str], *, channels: list[int] | None = None) -> EcgRecord:
    """Read a WFDB record (``path`` without extension, or its ``.hea``) as float32 mV."""
    wfdb = _wfdb()
    base = _record_base(path)
    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        raise DataError(f"ECG record {base.name}: header {hea} not found")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises many types for a malformed header
        raise DataError(f"ECG record {base.name}: unreadable header {hea} ({exc})") from None
    _check_signal_files(base, header)
    try:
        rec = wfdb.rdrecord(str(base), channels=channels)
    except Exception as exc:
        raise DataError(
            f"ECG record {base.name}: the signal could not be decoded ({type(exc).__name__}: "
            f"{exc}); the files are corrupt, download them again"
        ) from None
    signal = np.asarray(rec.p_signal, dtype=np.float32).T
    if not np.isfinite(signal).all():
        bad = int((~np.isfinite(signal)).sum())
        raise DataError(
            f"ECG record {base.name}: {bad} samples are missing (NaN) in the signal; such "
            f"records need gap handling before use"
        )
    return EcgRecord(
        name=base.name,
        signal=np.ascontiguousarray(signal),
        fs=float(rec.fs),
        leads=list(rec.sig_name),
        units=list(rec.units or []),
        comments=list(rec.comments or []),
    )


#: MIT-format annotation codes with a payload other than an annotation (WFDB ``annot.5``)
_SKIP, _AUX = 59, 63


def annotation_stream_problem(data: bytes) -> str | None:
    """Why an MIT-format annotation stream is incomplete, or ``None`` when it is whole.

    The stream is a sequence of little-endian 16-bit words (6-bit code, 10-bit value); ``SKIP``
    (code 59) is followed by a 4-byte interval, ``AUX`` (code 63) by its value's bytes (padded to
    an even count), and the stream ends with the word 0. A file cut short ends without that
    word (or inside a payload), so the annotations after the cut would be silently missing.
    """
    pos, n, count = 0, len(data), 0
    while pos + 2 <= n:
        word = data[pos] | (data[pos + 1] << 8)
        code, value = word >> 10, word & 0x3FF
        pos += 2
        if word == 0:
            return None
        if code == _SKIP:
            pos += 4
        elif code == _AUX:
            pos += value + (value & 1)
        elif code < 50:
            count += 1
    if pos > n:
        return f"it ends inside an annotation's payload after {count} annotations"
    return f"it ends without the end-of-annotations marker after {count} annotations"


def _check_annotation_file(file: Path, record: str) -> None:
    problem = annotation_stream_problem(file.read_bytes())
    if problem is not None:
        raise DataError(
            f"ECG record {record}: annotation file {file} is truncated or corrupt: {problem}; "
            "the beats and rhythm episodes after the cut would be missing. Download it again"
        )


def read_annotations(path: str | os.PathLike[str], extension: str = "atr") -> Annotations:
    """Read a WFDB annotation file (``<record>.<extension>``); a truncated file (see
    :func:`annotation_stream_problem`) is refused."""
    wfdb = _wfdb()
    base = _record_base(path)
    file = base.with_name(f"{base.name}.{extension}")
    if not file.is_file():
        raise DataError(
            f"ECG record {base.name}: annotation file {file} not found; the labels of this "
            f"record come from it"
        )
    _check_annotation_file(file, base.name)
    try:
        with warnings.catch_warnings():
            # wfdb's own use of a deprecated pandas argument, not ours to fix
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="wfdb")
            warnings.filterwarnings("ignore", category=FutureWarning, module="wfdb")
            ann = wfdb.rdann(str(base), extension)
    except Exception as exc:
        raise DataError(
            f"ECG record {base.name}: annotation file {file} is corrupt ({type(exc).__name__}: "
            f"{exc})"
        ) from None
    n = len(ann.sample)
    aux = [(a or "").replace("\x00", "") for a in (ann.aux_note or [""] * n)]
    return Annotations(
        record=base.name,
        samples=np.asarray(ann.sample, dtype=np.int64),
        symbols=list(ann.symbol),
        aux_notes=aux,
        fs=float(ann.fs) if ann.fs else float("nan"),
    )


def header_field(comments: list[str], key: str) -> str | None:
    """The value of a ``# Key: value`` header comment (``"Dx"`` -> ``"426177001,..."``)."""
    prefix = key.lower() + ":"
    for line in comments:
        text = line.strip()
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return None


# ---- signal processing ------------------------------------------------------------------------


def bandpass(
    signal: np.ndarray, fs: float, low: float = 0.5, high: float = 40.0, order: int = 3
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis (float32 out)."""
    from scipy.signal import butter, sosfiltfilt

    nyquist = fs / 2.0
    if not 0 < low < high:
        raise ValueError(f"band edges must satisfy 0 < low < high, got low={low}, high={high}")
    if high >= nyquist:
        raise ValueError(
            f"high={high} Hz must be below the Nyquist frequency {nyquist} Hz of fs={fs}; "
            f"lower it or resample after filtering"
        )
    sos = butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    x = np.asarray(signal, dtype=np.float64)
    padlen = min(x.shape[-1] - 1, 3 * (2 * len(sos) + 1))
    return sosfiltfilt(sos, x, axis=-1, padlen=padlen).astype(np.float32)


def resample(signal: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Polyphase resampling from ``fs`` to ``target_fs`` along the last axis (float32 out)."""
    from scipy.signal import resample_poly

    if fs <= 0 or target_fs <= 0:
        raise ValueError(f"sampling rates must be positive, got fs={fs}, target_fs={target_fs}")
    ratio = Fraction(target_fs).limit_denominator(1000) / Fraction(fs).limit_denominator(1000)
    if ratio == 1:
        return np.asarray(signal, dtype=np.float32).copy()
    out = resample_poly(
        np.asarray(signal, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1
    )
    return out.astype(np.float32)


def normalise(signal: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Each lead (row) to mean 0, standard deviation 1; a flat lead (std < eps) becomes 0."""
    x = np.asarray(signal, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    out = np.where(std < eps, 0.0, (x - mean) / np.maximum(std, eps))
    return out.astype(np.float32)


def preprocess(
    record: EcgRecord,
    *,
    target_fs: float | None = None,
    band: tuple[float, float] | None = (0.5, 40.0),
    normalise_leads: bool = True,
) -> EcgRecord:
    """Band-pass (at the original rate), resample to ``target_fs``, normalise each lead."""
    x, fs = record.signal, record.fs
    if band is not None:
        x = bandpass(x, fs, *band)
    if target_fs is not None and target_fs != fs:
        x, fs = resample(x, fs, target_fs), float(target_fs)
    if normalise_leads:
        x = normalise(x)
    return EcgRecord(
        name=record.name,
        signal=np.ascontiguousarray(x, dtype=np.float32),
        fs=fs,
        leads=list(record.leads),
        units=list(record.units),
        comments=list(record.comments),
    )


def window_starts(n_samples: int, length: int, stride: int) -> np.ndarray:
    """Start indices of the complete windows of ``length`` every ``stride`` samples."""
    for name, v in (("length", length), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if n_samples < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, stride, dtype=np.int64)


def windows(signal: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, windows)``: windows ``(W, leads, length)`` of a ``(leads, samples)`` signal."""
    x = np.asarray(signal)
    if x.ndim != 2:
        raise ValueError(f"signal must be (leads, samples), got shape {x.shape}")
    starts = window_starts(x.shape[1], length, stride)
    if not len(starts):
        return starts, np.zeros((0, x.shape[0], length), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, length, axis=1)  # (leads, n-L+1, L)
    return starts, np.ascontiguousarray(view[:, starts].transpose(1, 0, 2))


def beats(
    signal: np.ndarray, r_peaks: np.ndarray, before: int, after: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, beats)``: ``beats[i]`` is ``signal[:, r - before : r + after]`` around
    ``r_peaks[kept[i]]``; peaks closer than that to an edge are skipped (``kept`` says which
    peaks remain)."""
    x = np.asarray(signal)
    if x.ndim != 2:
        raise ValueError(f"signal must be (leads, samples), got shape {x.shape}")
    if before < 0 or after < 1:
        raise ValueError(f"need before >= 0 and after >= 1 samples, got {before}, {after}")
    r = np.asarray(r_peaks, dtype=np.int64)
    kept = np.flatnonzero((r - before >= 0) & (r + after <= x.shape[1]))
    if not len(kept):
        return kept, np.zeros((0, x.shape[0], before + after), dtype=x.dtype)
    idx = r[kept, None] - before + np.arange(before + after)[None, :]  # (B, L)
    return kept, np.ascontiguousarray(x[:, idx].transpose(1, 0, 2))
