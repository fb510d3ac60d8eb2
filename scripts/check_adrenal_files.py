"""All of AdrenalMNIST3D through the medical-file pipeline: every volume written as NIfTI and as a
DICOM series (by the test helpers in ``tests/io/medical_files.py``), each set trained through
``healthcnn train --data files.csv`` with the seed the ``.npz`` run uses, and the test metrics
and one series' probabilities compared with the ``.npz`` run's. The test suite does the same on
16 volumes; this script, run by hand, does it on all 1,584 and prints the table
``docs/formats.md`` quotes.

    .venv/bin/python scripts/check_adrenal_files.py --work /tmp/adrenal_files [--epochs 1]

The files go under ``--work`` (about 1 GB for the DICOM series), never into the data root.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "io"))


def write_files(npz: Path, work: Path) -> int:
    from medical_files import write_twin_csvs, write_twins

    work.mkdir(parents=True, exist_ok=True)
    rows = []
    with np.load(npz) as data:
        for split in ("train", "val", "test"):
            images, labels = data[f"{split}_images"], data[f"{split}_labels"].ravel()
            for i, (vol, y) in enumerate(zip(images, labels, strict=True)):
                write_twins(work, f"{split}{i:04d}", vol)
                rows.append((f"{split}{i:04d}", int(y), split))
    write_twin_csvs(work, rows)
    return len(rows)


def run(args: list[str]) -> tuple[dict | list, float]:
    from healthcnn.cli import main

    buf = io.StringIO()
    start = time.perf_counter()
    with redirect_stdout(buf):
        code = main([*args, "--format", "json"])
    if code != 0:
        raise SystemExit(f"healthcnn {' '.join(args)} exited {code}")
    return json.loads(buf.getvalue()), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--epochs", default="1")
    args = parser.parse_args()
    from healthcnn.data.root import data_root

    npz = data_root() / "medmnist" / "adrenalmnist3d_64.npz"
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    n = write_files(npz, args.work)
    print(f"wrote {n} volumes as NIfTI and as DICOM series in {time.perf_counter() - start:.0f} s")
    common = [
        "--model",
        "simple_cnn",
        "--epochs",
        args.epochs,
        "--size",
        "64",
        "--batch-size",
        "8",
        "--precision",
        "fp32",
        "--seed",
        "1",
        "--quiet",
    ]
    results = {}
    for kind, data in (
        ("npz", npz),
        ("nifti", args.work / "nifti.csv"),
        ("series", args.work / "series.csv"),
    ):
        out = args.work / f"run_{kind}"
        results[kind], took = run(["train", "--data", str(data), *common, "--out", str(out)])
        test = results[kind]["metrics"]["test"]
        print(f"| {kind} | {test['auc']:.6f} | {test['acc']:.6f} | {took:.0f} s |", flush=True)
    on_npz, _ = run(["predict", str(args.work / "run_npz"), str(npz)])
    on_series, _ = run(["predict", str(args.work / "run_series"), str(args.work / "test0000")])
    # the npz names its classes, the CSV runs number them: compare in class order
    a, b = on_npz[0]["probabilities"], on_series[0]["probabilities"]
    gap = max(abs(x - y) for x, y in zip(a.values(), b.values(), strict=True))
    print(
        f"first test volume: npz bundle on the npz {a}, series bundle on its series {b}; "
        f"largest difference {gap:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
