"""Medical files in the pipeline: an image CSV listing DICOM series (or NIfTI volumes) trains
through ``healthcnn train`` to the same test metrics as the same voxels from an ``.npz`` (same
seed; the uint8 arrays are identical, so the tolerance is float round-off, 1e-6); the bundle
records window and orientation; ``healthcnn predict`` on one series gives the probabilities
``predict`` gives on the npz."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

from medical_files import PATIENT, STUDY_UID, ct_series, write_nifti

from healthcnn.cli import main

SPLITS = {"train": 8, "val": 4, "test": 4}
SHAPE = (8, 8, 8)
#: centre and width chosen so that HU = 8 k windows to exactly k / 255 (k = 0..255)
WINDOW = (1020.0, 2040.0)


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(0)
    rows, npz = [], {}
    for split, n in SPLITS.items():
        labels = np.arange(n) % 2
        ks = [rng.integers(0, 120, SHAPE) + 100 * y for y in labels]  # class 1 is brighter
        for i, (k, y) in enumerate(zip(ks, labels, strict=True)):
            hu = 8.0 * k
            name = f"{split}{i}"
            affine = ct_series(
                root / name, hu, rot=np.eye(3), origin=(0, 0, 0), spacing=(2, 1, 1), slopes=[1] * 8
            )
            write_nifti(root / f"{name}.nii.gz", hu.astype(np.float32), affine)
            rows.append((name, int(y), split))
        npz[f"{split}_images"] = np.stack(ks).astype(np.uint8)
        npz[f"{split}_labels"] = labels[:, None]
    np.savez(root / "twin.npz", **npz)
    for kind, suffix in (("series", ""), ("nifti", ".nii.gz")):
        with open(root / f"{kind}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label", "split", "window"])
            for name, y, split in rows:
                writer.writerow([name + suffix, y, split, f"{WINDOW[0]},{WINDOW[1]}"])
    return {"root": root, "npz": root / "twin.npz"}


def _train(data: Path, out: Path, capsys) -> dict:
    args = ["train", "--data", str(data), "--model", "simple_cnn", "--epochs", "2"]
    args += ["--batch-size", "4", "--precision", "fp32", "--seed", "3", "--size", "8"]
    assert main([*args, "--out", str(out), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_series_nifti_and_npz_train_to_the_same_metrics(scans, tmp_path, capsys) -> None:
    root = scans["root"]
    from_series = _train(root / "series.csv", tmp_path / "series_run", capsys)
    from_nifti = _train(root / "nifti.csv", tmp_path / "nifti_run", capsys)
    from_npz = _train(scans["npz"], tmp_path / "npz_run", capsys)
    for other in (from_nifti, from_npz):
        for split in ("val", "test"):
            for metric in ("auc", "acc"):
                got, want = from_series["metrics"][split][metric], other["metrics"][split][metric]
                assert got == pytest.approx(want, abs=1e-6)
    metadata = json.loads((tmp_path / "series_run" / "metadata.json").read_text())
    record = metadata["preprocessing"]
    assert record["window"] == {"source": "explicit", "centre": 1020.0, "width": 2040.0}
    assert record["orientation"] == "SPL"
    for f in (tmp_path / "series_run").rglob("*"):  # no identifying value in the bundle
        if f.is_file():
            data = f.read_bytes()
            assert not any(v.encode() in data for v in [*PATIENT.values(), STUDY_UID]), f

    assert main(["predict", str(tmp_path / "npz_run"), str(scans["npz"]), "--format", "json"]) == 0
    on_npz = json.loads(capsys.readouterr().out)
    series = [str(root / f"test{i}") for i in range(SPLITS["test"])]
    assert main(["predict", str(tmp_path / "series_run"), *series, "--format", "json"]) == 0
    on_series = json.loads(capsys.readouterr().out)
    for a, b in zip(on_series, on_npz, strict=True):
        for cls, p in b["probabilities"].items():
            assert a["probabilities"][cls] == pytest.approx(p, abs=1e-6)


def test_a_csv_without_a_window_for_hounsfield_values_is_one_line_and_exit_2(
    scans, tmp_path, capsys
) -> None:
    root = scans["root"]
    text = (root / "series.csv").read_text().replace('"1020.0,2040.0"', "")
    (root / "nowindow.csv").write_text(text)
    out = tmp_path / "run"
    args = ["--data", str(root / "nowindow.csv"), "--model", "simple_cnn", "--out", str(out)]
    code = main(["train", *args])
    err = capsys.readouterr().err
    assert code == 2 and "not 8-bit; give a window" in err and err.count("\n") == 1
    assert not out.exists()  # nothing half-written


def _z_constant(root: Path, name: str, plane: np.ndarray, slices: int, dz: float) -> Path:
    """A NIfTI volume whose every slice is ``plane`` (so resampling along z is exact)."""
    hu = np.repeat(plane[None], slices, axis=0).astype(np.float32)
    affine = np.eye(4)  # (slice, row, column) -> S, P, L in LPS
    affine[:3, :3] = np.array([[0, 0, 1], [0, 1, 0], [dz, 0, 0]], dtype=float)
    return write_nifti(root / f"{name}.nii.gz", hu, affine)


def test_a_spacing_column_resamples_and_predict_repeats_it(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for split, n in SPLITS.items():
        for i in range(n):
            plane = 8.0 * (rng.integers(0, 120, SHAPE[1:]) + 100 * (i % 2))
            _z_constant(tmp_path, f"{split}{i}", plane, slices=4, dz=2.0)  # 2 mm slices
            rows.append((f"{split}{i}.nii.gz", i % 2, split))
    with open(tmp_path / "spaced.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "split", "window", "spacing"])
        writer.writerows((*row, "1020,2040", "1,1,1") for row in rows)
    _train(tmp_path / "spaced.csv", tmp_path / "run", capsys)
    record = json.loads((tmp_path / "run" / "metadata.json").read_text())["preprocessing"]
    assert record["spacing"] == [1.0, 1.0, 1.0]
    # the same scan at 2 mm (resampled by predict) and at 1 mm (as it is) predicts the same
    plane = 8.0 * rng.integers(0, 220, SHAPE[1:])
    coarse = _z_constant(tmp_path, "coarse", plane, slices=4, dz=2.0)
    fine = _z_constant(tmp_path, "fine", plane, slices=8, dz=1.0)
    assert main(["predict", str(tmp_path / "run"), str(coarse), str(fine), "--format", "json"]) == 0
    a, b = json.loads(capsys.readouterr().out)
    assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)
