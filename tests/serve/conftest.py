"""Bundles the service tests share: a calibrated RetinaMNIST image model (28 px RGB, sets,
abstention and operating points) and a volume model trained on DICOM series (8^3, a window),
plus the series it was trained on, written by ``tests/io/medical_files.py``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))

SHAPE = (8, 8, 8)
WINDOW = "1020,2040"


@pytest.fixture(scope="session")
def retina_bundle(tmp_path_factory, tiny_retina_bundle) -> Path:
    from healthcnn.cli import main

    bundle = tiny_retina_bundle(tmp_path_factory.mktemp("serve_retina"), "retinamnist_small.npz", 0)
    args = ["calibrate", str(bundle), "--abstain-accuracy", "0.6", "--precision", "fp32"]
    assert main([*args, "--format", "json"]) == 0
    return bundle


@pytest.fixture(scope="session")
def retina_inputs(retina_bundle: Path) -> np.ndarray:
    """The test images of the RetinaMNIST subset the bundle was trained on, uint8 (N, 28, 28, 3)."""
    with np.load(retina_bundle.parent / "retinamnist_small.npz") as f:
        return f["test_images"]


@pytest.fixture(scope="session")
def volume_case(tmp_path_factory) -> dict:
    """A simple_cnn trained for one epoch on 12 CT-like DICOM series (class 1 brighter), and the
    root folder of the series (``test0`` .. ``test3`` are held out)."""
    pytest.importorskip("pydicom")
    from medical_files import ct_series

    from healthcnn.cli import main

    root = tmp_path_factory.mktemp("serve_volumes")
    rng = np.random.default_rng(0)
    rows = []
    for split, n in {"train": 8, "val": 4, "test": 4}.items():
        for i in range(n):
            hu = 8.0 * (rng.integers(0, 120, SHAPE) + 100 * (i % 2))
            ct_series(root / f"{split}{i}", hu, rot=np.eye(3), origin=(0, 0, 0),
                      spacing=(2, 1, 1), slopes=[1] * SHAPE[0])  # fmt: skip
            rows.append((f"{split}{i}", i % 2, split, WINDOW))
    with open(root / "series.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label", "split", "window"), *rows])
    args = ["train", "--data", str(root / "series.csv"), "--model", "simple_cnn", "--epochs", "1"]
    args += ["--batch-size", "4", "--precision", "fp32", "--size", "8", "--out", str(root / "vol")]
    assert main([*args, "--format", "json"]) == 0
    return {"root": root, "bundle": root / "vol"}
