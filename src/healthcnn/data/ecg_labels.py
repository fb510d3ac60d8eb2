"""What ECG annotations mean as labels: AAMI beat classes, AF rhythm episodes, SNOMED-CT
diagnoses, ECG5000 (the loaders in :mod:`healthcnn.data.ecg_datasets` label windows and beats
with these).

**AAMI beat classes.** MIT-BIH beat symbols are grouped into the five classes of the ANSI/AAMI
EC57 standard ("Testing and reporting performance results of cardiac rhythm and ST segment
measurement algorithms", AAMI EC57:1998/(R)2008 and EC57:2012), in the form tabulated by
de Chazal, O'Dwyer and Reilly (IEEE Trans. Biomed. Eng. 51(7):1196-1206, 2004, Table I):

====  ===================================  ==========================================
AAMI  meaning                              MIT-BIH symbols
====  ===================================  ==========================================
N     beats originating in the sinus node  N normal, L/R bundle branch block, e atrial
                                           escape, j nodal (junctional) escape
S     supraventricular ectopic beats       A atrial premature, a aberrated atrial
                                           premature, J nodal premature, S
                                           supraventricular premature
V     ventricular ectopic beats            V premature ventricular contraction, E
                                           ventricular escape
F     fusion beats                         F fusion of ventricular and normal
Q     unknown / paced                      / paced, f fusion of paced and normal, Q
                                           unclassifiable
====  ===================================  ==========================================

Symbols outside the table (rhythm changes ``+``, noise ``~``, comments) are not beats and get no
class. The standard also excludes the records with paced beats from evaluation; that is a
record choice, left to the caller.

**AF episodes.** PhysioNet rhythm annotations are ``+`` marks whose aux note names the rhythm
that starts there (``(AFIB``, ``(AFL``, ``(N`` ...) and lasts until the next mark. In CPSC 2021
an AF episode is written as ``(AFIB``/``(AFL`` at its onset and ``(N`` at its last sample (the
database's convention), so the intervals below are ``[onset, next mark)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

#: AAMI EC57 class -> MIT-BIH beat symbols (de Chazal et al. 2004, Table I)
AAMI_CLASSES: dict[str, tuple[str, ...]] = {
    "N": ("N", "L", "R", "e", "j"),
    "S": ("A", "a", "J", "S"),
    "V": ("V", "E"),
    "F": ("F",),
    "Q": ("/", "f", "Q"),
}

#: MIT-BIH beat symbol -> AAMI class
AAMI_MAP: dict[str, str] = {sym: cls for cls, syms in AAMI_CLASSES.items() for sym in syms}

#: aux-note rhythm names counted as atrial fibrillation (AF) or flutter
AF_RHYTHMS: tuple[str, ...] = ("(AFIB", "(AFL")

#: ECG5000 class numbers (1..5 in the file) -> names (UCR archive description)
ECG5000_CLASSES: tuple[str, ...] = (
    "normal",
    "R-on-T PVC",
    "PVC",
    "SVPB/ectopic",
    "unclassified",
)


def aami_class(symbol: str) -> str | None:
    """The AAMI class of one MIT-BIH annotation symbol; ``None`` for non-beat annotations."""
    return AAMI_MAP.get(symbol)


def aami_labels(symbols: Sequence[str], classes: Sequence[str] = tuple(AAMI_CLASSES)) -> np.ndarray:
    """Class indices (into ``classes``) for beat ``symbols``; -1 where a symbol is not a beat.

    A beat whose AAMI class is not in ``classes`` raises (drop those beats first, or pass all
    five classes), so a subset of classes never silently relabels beats.
    """
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(classes) - set(AAMI_CLASSES))
    if unknown:
        raise ValueError(f"unknown AAMI class(es) {unknown}; valid: {list(AAMI_CLASSES)}")
    out = np.full(len(symbols), -1, dtype=np.int64)
    for i, sym in enumerate(symbols):
        cls = AAMI_MAP.get(sym)
        if cls is None:
            continue
        if cls not in index:
            raise ValueError(
                f"beat symbol {sym!r} is AAMI class {cls!r}, which is not in {list(classes)}"
            )
        out[i] = index[cls]
    return out


def _clean(note: str) -> str:
    # MIT-BIH aux notes end in a NUL byte ('(N\x00')
    return note.replace("\x00", "").strip()


def rhythm_intervals(
    samples: Sequence[int] | np.ndarray,
    aux_notes: Sequence[str],
    n_samples: int,
    rhythms: Iterable[str] = AF_RHYTHMS,
) -> np.ndarray:
    """``(E, 2)`` int64 ``[start, stop)`` sample intervals during which one of ``rhythms`` holds.

    ``samples`` and ``aux_notes`` are the rhythm marks (``+`` annotations) of a record of
    ``n_samples`` samples; each rhythm lasts from its mark to the next mark (the last one to
    the end of the record). Adjacent AF/flutter stretches merge into one interval.
    """
    samples = np.asarray(samples, dtype=np.int64)
    if len(samples) != len(aux_notes):
        raise ValueError(f"{len(samples)} rhythm marks but {len(aux_notes)} aux notes")
    if len(samples) and np.any(np.diff(samples) < 0):
        raise ValueError("rhythm marks must be in sample order")
    wanted = set(rhythms)
    ends = [*samples[1:].tolist(), n_samples][: len(samples)]
    intervals: list[list[int]] = []
    for start, stop, note in zip(samples.tolist(), ends, aux_notes, strict=True):
        if _clean(note) not in wanted or stop <= start:
            continue
        if intervals and intervals[-1][1] == start:
            intervals[-1][1] = stop
        else:
            intervals.append([start, stop])
    return np.array(intervals, dtype=np.int64).reshape(-1, 2)


def interval_overlap(intervals: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Fraction of each window ``[start, start + length)`` covered by ``intervals`` (disjoint)."""
    starts = np.asarray(starts, dtype=np.int64)
    covered = np.zeros(len(starts), dtype=np.int64)
    for a, b in np.asarray(intervals, dtype=np.int64).reshape(-1, 2):
        lo = np.maximum(starts, a)
        hi = np.minimum(starts + length, b)
        covered += np.clip(hi - lo, 0, None)
    return covered / float(length)


def af_window_labels(
    intervals: np.ndarray, starts: np.ndarray, length: int, min_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """AF labels of windows: 1 when at least ``min_fraction`` of the window lies in an AF
    episode. Returns ``(labels int64, AF fractions float64)``."""
    if not 0.0 < min_fraction <= 1.0:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
    fraction = interval_overlap(intervals, starts, length)
    return (fraction >= min_fraction).astype(np.int64), fraction


def multi_hot(codes_per_record: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """``(N, K)`` float32 0/1 matrix: record n has label k when ``classes[k]`` is among its
    codes (repeated codes count once; codes outside ``classes`` are ignored)."""
    index = {c: k for k, c in enumerate(classes)}
    out = np.zeros((len(codes_per_record), len(classes)), dtype=np.float32)
    for n, codes in enumerate(codes_per_record):
        for code in codes:
            k = index.get(code)
            if k is not None:
                out[n, k] = 1.0
    return out


def frequent_codes(codes_per_record: Sequence[Sequence[str]], min_count: int) -> list[str]:
    """Codes present in at least ``min_count`` records, most frequent first (ties by code)."""
    counts: dict[str, int] = {}
    for codes in codes_per_record:
        for code in set(codes):
            counts[code] = counts.get(code, 0) + 1
    keep = [c for c, n in counts.items() if n >= min_count]
    return sorted(keep, key=lambda c: (-counts[c], c))


def code_names(codes: Sequence[str], names: Mapping[str, str]) -> list[str]:
    """Readable names for SNOMED-CT codes (the code itself where no name is known)."""
    return [names.get(c, c) for c in codes]
