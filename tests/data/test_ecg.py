"""ECG data: WFDB reading (real records), filtering, resampling, windows, beats, labels, errors.

Reference values come from the shared data folder's READMEs (the published MIT-BIH annotation
table for record 100, the ECG5000 class counts, the Georgia label occurrences) and from
``records_summary.csv`` (AF episodes listed by the data curator with wfdb), never from the code
under test.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("wfdb")
pytest.importorskip("scipy")

from healthcnn.data.ecg import (
    bandpass,
    beats,
    header_field,
    normalise,
    read_annotations,
    read_record,
    resample,
    windows,
)
from healthcnn.data.ecg_datasets import (
    load_cpsc2021,
    load_ecg5000,
    load_georgia,
    load_mitdb,
    record_of,
)
from healthcnn.data.ecg_labels import (
    AAMI_CLASSES,
    aami_class,
    aami_labels,
    af_window_labels,
    rhythm_intervals,
)
from healthcnn.data.root import DataError
from healthcnn.data.splits import group_kfold

SHORT_CPSC = ["data_8_4", "data_92_12", "data_101_6"]  # 41 s, 49 s, 112 s


def _ecg(root: Path, *parts: str) -> Path:
    return root.joinpath("ecg", *parts)


# ---- signal processing (no data needed) -------------------------------------------------------


def _sine(freq: float, fs: float, seconds: float) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return np.sin(2 * np.pi * freq * t)[None, :]


def _amplitude(x: np.ndarray) -> float:
    mid = x[..., x.shape[-1] // 4 : 3 * x.shape[-1] // 4]  # away from the filter's edges
    return float(np.sqrt(2) * mid.std())


def test_bandpass_passes_the_band_and_attenuates_outside() -> None:
    fs = 250.0
    assert _amplitude(bandpass(_sine(10.0, fs, 20), fs)) == pytest.approx(1.0, abs=0.03)
    assert _amplitude(bandpass(_sine(60.0, fs, 20), fs)) < 0.15  # mains hum
    assert _amplitude(bandpass(_sine(0.05, 100.0, 200), 100.0)) < 0.05  # baseline wander
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(_sine(1.0, 50.0, 4), 50.0, 0.5, 40.0)


def test_resample_lengths_and_frequency() -> None:
    x = _sine(5.0, 360.0, 10.0)  # 3600 samples
    y = resample(x, 360.0, 100.0)
    assert y.shape == (1, 1000) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y[0]))
    assert np.argmax(spectrum) * 100.0 / 1000 == pytest.approx(5.0)  # 5 Hz stays 5 Hz
    assert resample(np.zeros((12, 5000)), 500, 100).shape == (12, 1000)
    assert resample(np.zeros((2, 1001)), 200, 100).shape == (2, 501)  # ceil(n * up / down)
    assert resample(np.zeros((2, 650000)), 360, 250).shape == (2, -(-650000 * 25 // 36))


def test_normalise_per_lead() -> None:
    x = np.stack([np.linspace(0, 10, 500), np.full(500, 3.0), np.sin(np.arange(500))])
    z = normalise(x)
    assert np.allclose(z[[0, 2]].mean(axis=1), 0, atol=1e-5)
    assert np.allclose(z[[0, 2]].std(axis=1), 1, atol=1e-4)
    assert np.all(z[1] == 0)  # a flat lead becomes zeros, not NaN


def test_windows_and_beats_shapes_and_content() -> None:
    x = np.arange(2 * 1050, dtype=np.float32).reshape(2, 1050)
    starts, w = windows(x, 100, 50)
    assert starts.tolist() == list(range(0, 951, 50))  # the tail 1000..1049 is incomplete
    assert w.shape == (20, 2, 100)
    assert np.array_equal(w[3], x[:, 150:250])
    kept, b = beats(x, np.array([5, 100, 500, 1040]), before=10, after=20)
    assert kept.tolist() == [1, 2]  # 5 and 1040 are too close to an edge
    assert b.shape == (2, 2, 30)
    assert np.array_equal(b[0], x[:, 90:120])
    assert windows(x, 2000, 10)[1].shape == (0, 2, 2000)


# ---- labels (no data needed) ------------------------------------------------------------------


def test_aami_mapping_follows_ec57() -> None:
    expected = {  # de Chazal et al. 2004, Table I (AAMI EC57)
        "N": "N", "L": "N", "R": "N", "e": "N", "j": "N",
        "A": "S", "a": "S", "J": "S", "S": "S",
        "V": "V", "E": "V", "F": "F", "/": "Q", "f": "Q", "Q": "Q",
    }  # fmt: skip
    assert {s: aami_class(s) for s in expected} == expected
    for non_beat in ("+", "~", "|", "x", "!", '"'):
        assert aami_class(non_beat) is None
    assert aami_labels(["N", "+", "V", "a", "/"]).tolist() == [0, -1, 2, 1, 4]
    with pytest.raises(ValueError, match=r"'V'.*not in"):
        aami_labels(["N", "V"], classes=("N", "S"))
    with pytest.raises(ValueError, match="unknown AAMI"):
        aami_labels(["N"], classes=("N", "X"))


def test_rhythm_intervals_and_af_window_labels() -> None:
    marks = np.array([0, 300, 700, 900])
    notes = ["(N", "(AFIB", "(AFL", "(N\x00"]
    iv = rhythm_intervals(marks, notes, 1200)
    assert iv.tolist() == [[300, 900]]  # AFIB then flutter merge; (N ends it
    assert rhythm_intervals(np.array([0]), ["(AFIB"], 50).tolist() == [[0, 50]]
    assert rhythm_intervals(np.zeros(0), [], 50).shape == (0, 2)
    starts = np.arange(0, 1001, 100)
    labels, frac = af_window_labels(iv, starts, 200)
    # brute force: mark every AF sample and count per window
    af = np.zeros(1200, dtype=bool)
    af[300:900] = True
    brute = np.array([af[s : s + 200].mean() for s in starts])
    assert np.allclose(frac, brute)
    assert labels.tolist() == (brute >= 0.5).astype(int).tolist()


# ---- real records -----------------------------------------------------------------------------


@pytest.mark.data
def test_read_mitdb_record_100(data_root: Path) -> None:
    rec = read_record(_ecg(data_root, "mitdb", "100"))
    assert rec.signal.shape == (2, 650000) and rec.signal.dtype == np.float32
    assert rec.fs == 360 and rec.leads == ["MLII", "V5"] and rec.units == ["mV", "mV"]
    ann = read_annotations(_ecg(data_root, "mitdb", "100"))
    symbols = np.array(ann.symbols)
    # the published mitdb table for record 100: 2239 N, 33 A, 1 V
    assert [(symbols == s).sum() for s in ("N", "A", "V")] == [2239, 33, 1]
    labels = aami_labels(ann.symbols)
    assert np.bincount(labels[labels >= 0], minlength=5).tolist() == [2239, 33, 1, 0, 0]
    ds = load_mitdb(data_root)
    before, after = round(0.25 * 360), round(0.45 * 360)
    assert ds.images.shape[1:] == (2, before + after)
    assert ds.classes == list(AAMI_CLASSES)
    assert 2270 <= len(ds) <= 2273  # only beats within 0.25 s / 0.45 s of an edge are dropped
    peaks = ann.samples[labels >= 0]
    first = peaks[peaks >= before][0]  # the first beat with 0.25 s before it
    assert record_of(ds.ids[0]) == "100" and ds.ids[0] == f"100@{first}"
    assert int(ds.labels[0]) == int(labels[labels >= 0][np.flatnonzero(peaks == first)[0]])


@pytest.mark.data
def test_cpsc2021_af_intervals_match_the_summary(data_root: Path) -> None:
    folder = _ecg(data_root, "cpsc2021")
    with (folder / "records_summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 18
    for row in rows:
        ann = read_annotations(folder / "records" / row["record"])
        iv = rhythm_intervals(*ann.rhythm_marks(), int(row["n_samples"]))
        listed = [
            [int(a), int(b)] for a, b in (p.split("-") for p in row["af_episodes_samples"].split())
        ]
        assert iv.tolist() == listed, row["record"]


@pytest.mark.data
def test_cpsc2021_windows(data_root: Path) -> None:
    ds = load_cpsc2021(data_root, records=SHORT_CPSC, fs=100, window_s=10, stride_s=5)
    assert ds.images.dtype.is_floating_point and ds.images.shape[1:] == (2, 1000)
    lengths = {"data_8_4": 8235, "data_92_12": 9779, "data_101_6": 22355}  # at 200 Hz
    expected = sum((-(-n // 2) - 1000) // 500 + 1 for n in lengths.values())
    assert len(ds) == expected
    assert set(ds.groups) == {"8", "92", "101"}
    assert ds.groups == [record_of(i).split("_")[1] for i in ds.ids]
    # labels against the annotation intervals, window by window (200 Hz sample positions)
    folder = _ecg(data_root, "cpsc2021", "records")
    for name, n in lengths.items():
        iv = rhythm_intervals(*read_annotations(folder / name).rhythm_marks(), n)
        af = np.zeros(n, dtype=bool)
        for a, b in iv:
            af[a:b] = True
        rows = [i for i, sid in enumerate(ds.ids) if record_of(sid) == name]
        starts = [int(ds.ids[i].split("@")[1]) * 2 for i in rows]
        want = [int(af[s : s + 2000].mean() >= 0.5) for s in starts]
        assert ds.labels[rows].tolist() == want, name
    assert ds.labels.tolist().count(1) > 0 and ds.labels.tolist().count(0) > 0
    z = ds.images.numpy()
    assert abs(float(z.mean())) < 0.2  # normalised per lead and record


@pytest.mark.data
def test_cpsc2021_patient_folds_never_leak(data_root: Path) -> None:
    ds = load_cpsc2021(data_root, records=SHORT_CPSC)
    folds = group_kfold(ds.groups, 3, stratify=ds.labels.numpy(), seed=0)
    for train, test in folds:
        assert not {ds.groups[i] for i in train} & {ds.groups[i] for i in test}
    assert sorted(len({ds.groups[i] for i in te}) for _, te in folds) == [1, 1, 1]


@pytest.mark.data
def test_georgia_twelve_leads_and_snomed_labels(data_root: Path) -> None:
    ds = load_georgia(data_root, fs=100, min_count=5)
    assert ds.images.shape == (50, 12, 1000) and ds.multilabel
    counts = dict(zip(ds.classes, ds.class_counts().tolist(), strict=True))
    # the README's label occurrences
    assert counts == {
        "STach": 23, "PAC": 20, "NSR": 15, "TAb": 10, "NSIVCB": 9,
        "SB": 7, "PVC": 5, "LVHV": 5, "STC": 5, "TInv": 5,
    }  # fmt: skip
    # the header's Dx line is the source; labels.csv (derived) lists the same codes
    folder = _ecg(data_root, "cinc2021-georgia")
    with (folder / "labels.csv").open(newline="") as fh:
        listed = {r["record"]: r["dx_snomed"].split() for r in csv.DictReader(fh)}
    # the folder holds 20 Georgia (E), 10 PTB-XL (HR) and 20 Ningbo/Chapman (JS) records
    prefixes = [i.rstrip("0123456789") for i in ds.ids]
    assert {p: prefixes.count(p) for p in set(prefixes)} == {"E": 20, "HR": 10, "JS": 20}
    for name in ("E07500", "HR06000", "JS20019"):
        rec = read_record(folder / "records" / name)
        assert header_field(rec.comments, "Dx").split(",") == listed[name]
        assert rec.signal.shape == (12, 5000) and rec.fs == 500


@pytest.mark.data
def test_ecg5000_and_ptbdb(data_root: Path) -> None:
    ds = load_ecg5000(data_root)
    assert ds.images.shape == (500, 1, 140) and ds.images.dtype.is_floating_point
    assert ds.class_counts().tolist() == [292, 177, 10, 19, 2]  # the published counts
    assert ds.groups is None
    rec = read_record(_ecg(data_root, "ptbdb", "s0010_re"))
    assert rec.signal.shape == (15, 38400) and rec.fs == 1000
    assert rec.leads[:3] == ["i", "ii", "iii"] and rec.leads[-3:] == ["vx", "vy", "vz"]


# ---- corrupt and missing files ----------------------------------------------------------------


def _copy_record(src: Path, dst: Path, name: str) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob(f"{name}.*"):
        shutil.copyfile(f, dst / f.name)
    return dst / name


@pytest.mark.data
def test_truncated_and_missing_files_name_the_record(data_root: Path, tmp_path: Path) -> None:
    base = _copy_record(_ecg(data_root, "cpsc2021", "records"), tmp_path, "data_8_4")
    dat = base.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"data_8_4: signal file .* truncated"):
        read_record(base)
    dat.unlink()
    with pytest.raises(DataError, match=r"data_8_4: signal file .* missing"):
        read_record(base)
    base.with_suffix(".atr").unlink()
    with pytest.raises(DataError, match=r"data_8_4: annotation file .*data_8_4\.atr not found"):
        read_annotations(base)
    base.with_suffix(".atr").write_bytes(b"\x01\x02\x03")
    with pytest.raises(DataError, match=r"data_8_4: annotation file .* corrupt"):
        read_annotations(base)
    base.with_suffix(".hea").write_text("garbage\n")
    with pytest.raises(DataError, match=r"data_8_4: unreadable header"):
        read_record(base)
    with pytest.raises(DataError, match=r"record nothing: header .* not found"):
        read_record(tmp_path / "nothing")


def test_missing_database_and_malformed_ecg5000(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'cpsc2021' not found at .*ecg/cpsc2021"):
        load_cpsc2021(tmp_path)
    folder = tmp_path / "ecg" / "ecg5000"
    folder.mkdir(parents=True)
    (folder / "ECG5000_TRAIN.txt").write_text("1 0.5 0.25\n2 0.1 0.2\n")
    with pytest.raises(DataError, match="3 columns; expected 141"):
        load_ecg5000(tmp_path)
    (folder / "ECG5000_TRAIN.txt").write_text(" ".join(["7"] + ["0.0"] * 140) + "\n")
    with pytest.raises(DataError, match=r"outside 1\.\.5"):
        load_ecg5000(tmp_path)
