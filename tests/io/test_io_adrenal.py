"""Real volumes through the medical-file pipeline: a subset of AdrenalMNIST3D (64^3) written
as NIfTI files and as DICOM series (by the test helpers) trains through ``healthcnn train
--data files.csv`` to the same test AUC as the same volumes from an ``.npz`` (same seed; the
voxels are identical, so the tolerance is float round-off, 1e-6), and ``healthcnn predict`` on
one DICOM series gives the probabilities ``predict`` gives on the npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

from medical_files import write_twin_csvs, write_twins

from healthcnn.cli import main

pytestmark = [pytest.mark.data, pytest.mark.slow]

PER_CLASS = {"train": 4, "val": 2, "test": 2}


def _subset(npz_path: Path) -> dict[str, np.ndarray]:
    out = {}
    with np.load(npz_path) as npz:
        for split, n in PER_CLASS.items():
            labels = npz[f"{split}_labels"].ravel()
            take = np.concatenate([np.flatnonzero(labels == c)[:n] for c in (0, 1)])
            out[f"{split}_images"] = npz[f"{split}_images"][take]
            out[f"{split}_labels"] = npz[f"{split}_labels"][take]
    return out


def _write(root: Path, arrays: dict[str, np.ndarray]) -> None:
    rows = []
    for split in PER_CLASS:
        labels = arrays[f"{split}_labels"].ravel()
        for i, (vol, y) in enumerate(zip(arrays[f"{split}_images"], labels, strict=True)):
            write_twins(root, f"{split}{i:02d}", vol)
            rows.append((f"{split}{i:02d}", int(y), split))
    write_twin_csvs(root, rows)


def _train(data: Path, out: Path, capsys) -> dict:
    args = ["train", "--data", str(data), "--model", "simple_cnn", "--epochs", "1", "--size"]
    args += ["64", "--batch-size", "8", "--precision", "fp32", "--seed", "1", "--out", str(out)]
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_adrenal_volumes_as_nifti_and_dicom_train_like_the_npz(data_root, tmp_path, capsys):
    arrays = _subset(data_root / "medmnist" / "adrenalmnist3d_64.npz")
    np.savez(tmp_path / "adrenal_subset.npz", **arrays)
    _write(tmp_path, arrays)
    runs = {
        kind: _train(tmp_path / data, tmp_path / f"run_{kind}", capsys)
        for kind, data in (
            ("npz", "adrenal_subset.npz"),
            ("nifti", "nifti.csv"),
            ("series", "series.csv"),
        )
    }
    want = runs["npz"]["metrics"]["test"]["auc"]
    assert runs["nifti"]["metrics"]["test"]["auc"] == pytest.approx(want, abs=1e-6)
    assert runs["series"]["metrics"]["test"]["auc"] == pytest.approx(want, abs=1e-6)

    npz = str(tmp_path / "adrenal_subset.npz")
    assert main(["predict", str(tmp_path / "run_npz"), npz, "--format", "json"]) == 0
    on_npz = json.loads(capsys.readouterr().out)[0]["probabilities"]
    series = str(tmp_path / "test00")
    assert main(["predict", str(tmp_path / "run_series"), series, "--format", "json"]) == 0
    on_series = json.loads(capsys.readouterr().out)[0]["probabilities"]
    assert on_series == pytest.approx(on_npz, abs=1e-6)
