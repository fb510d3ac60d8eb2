"""A new user's own images through the command line only: a folder of 64 px PNGs and a CSV
(patients, labels, a subgroup column) -> train -> evaluate -> predict -> report, the images kept
at the size they are stored at (docs/your-data.md walks through the same run)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from _image_folder import write_image_folder

from csv_rows import write_rows
from healthcnn.cli import main
from healthcnn.metrics import roc_auc

TRAIN = ["--model", "simple_cnn", "--batch-size", "16", "--precision", "fp32", "--seed", "0"]


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _rows(csv_path: Path, split: str) -> list[dict[str, str]]:
    with csv_path.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == split]


def _train(csv_path: Path, out: Path, capsys, *extra: str) -> dict:
    code, stdout, err = _run(
        ["train", "--data", str(csv_path), "--out", str(out), *TRAIN, *extra, "--format", "json"],
        capsys,
    )
    assert code == 0, err
    return json.loads(stdout)


def _predict(bundle: Path, files: list[Path], capsys) -> list[dict]:
    code, out, err = _run(
        ["predict", str(bundle), *map(str, files), "--precision", "fp32", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    return json.loads(out)


def test_own_png_folder_train_evaluate_predict_report(tmp_path: Path, capsys) -> None:
    csv_path = write_image_folder(tmp_path / "mine", size=64)
    bundle = tmp_path / "run"
    trained = _train(csv_path, bundle, capsys, "--epochs", "2")
    assert trained["epochs_run"] == 2
    assert {s: m["n"] for s, m in trained["metrics"].items()} == {"val": 8, "test": 8}

    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["preprocessing"]["size"] == [64, 64]  # as stored, not shrunk to 28
    assert meta["preprocessing"]["channels"] == 3
    assert meta["data"]["size"] == 64
    assert meta["task"]["classes"] == ["fundus", "histology"]
    assert meta["data"]["split_method"] == "the CSV's own split column"
    assert meta["data"]["split_level"] == "patient (column 'patient')"

    code, out, err = _run(
        ["evaluate", str(bundle), "--groups", "site", "--precision", "fp32", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["n"] == 8 and evaluated["task"] == "binary"
    auc = evaluated["metrics"]["auc"]["value"]
    assert auc == pytest.approx(trained["metrics"]["test"]["auc"])
    sites = {r["group"]: r["n"] for r in evaluated["subgroups"]["site"]}
    test_rows = _rows(csv_path, "test")
    for site in {r["site"] for r in test_rows}:
        assert sites[site] == sum(r["site"] == site for r in test_rows)

    predicted = _predict(bundle, [csv_path.parent / r["path"] for r in test_rows], capsys)
    assert [p["input"] for p in predicted] == [Path(r["path"]).name for r in test_rows]
    probs = np.array([[p["probabilities"][c] for c in ("fundus", "histology")] for p in predicted])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    truth = np.array([r["label"] == "histology" for r in test_rows], dtype=np.int64)
    # predict's probabilities are what evaluate scored: the same AUC and accuracy
    assert float(roc_auc(truth, probs[:, 1], ci=None)) == pytest.approx(auc, abs=1e-6)
    accuracy = float(np.mean((probs[:, 1] > 0.5) == truth))
    assert accuracy == pytest.approx(evaluated["metrics"]["acc"]["value"], abs=1e-6)

    report = tmp_path / "card.html"
    report_args = ["report", str(bundle), "-o", str(report), "--groups", "site"]
    code, out, err = _run([*report_args, "--precision", "fp32", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out) == {"report": str(report)}
    html = report.read_text()
    assert "<td>64 px</td>" in html and "site" in html
    assert "patient (column &#x27;patient&#x27;)" in html or "patient (column 'patient')" in html


def test_mixed_sizes_are_refused_naming_size_and_size_resizes(tmp_path: Path, capsys) -> None:
    csv_path = write_image_folder(tmp_path / "mine", patients=12, size=64)
    from PIL import Image

    odd = csv_path.parent / _rows(csv_path, "train")[3]["path"]
    Image.open(odd).resize((80, 80)).save(odd)
    code, out, err = _run(
        ["train", "--data", str(csv_path), "--out", str(tmp_path / "run"), *TRAIN], capsys
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "differ in size" in err and "80 x 80 px" in err and "--size" in err
    assert not (tmp_path / "run").exists()

    bundle = tmp_path / "run32"
    trained = _train(csv_path, bundle, capsys, "--epochs", "1", "--size", "32")
    assert trained["epochs_run"] == 1
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["preprocessing"]["size"] == [32, 32] and meta["data"]["size"] == 32
    # a full-size photo given to predict goes through the bundle's 32 px record
    probs = _predict(bundle, [odd], capsys)[0]["probabilities"]
    assert sum(probs.values()) == pytest.approx(1, abs=1e-5)


def _multilabel_folder(folder: Path) -> Path:
    """The image folder with a ``labels`` column: each image's own class, and both classes for
    every fourth image, whose right half is replaced by a crop of the other class's photo."""
    from PIL import Image

    single = write_image_folder(folder, patients=12, size=32)
    with single.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    other = {r["label"]: r["path"] for r in rows}
    for i, r in enumerate(rows):
        r["labels"] = r.pop("label")
        if i % 4 == 0:
            mine, theirs = (
                np.asarray(Image.open(folder / p))
                for p in (r["path"], other["histology" if r["labels"] == "fundus" else "fundus"])
            )
            mixed = np.concatenate([mine[:, :16], theirs[:, 16:]], axis=1)
            Image.fromarray(mixed).save(folder / r["path"])
            r["labels"] = "fundus;histology"
    out = folder / "multi.csv"
    write_rows(out, rows)
    return out


def test_multilabel_csv_trains_a_multilabel_bundle(tmp_path: Path, capsys) -> None:
    csv_path = _multilabel_folder(tmp_path / "mine")
    bundle = tmp_path / "run"
    trained = _train(csv_path, bundle, capsys, "--epochs", "1")
    assert trained["epochs_run"] == 1
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["task"]["kind"] == "multilabel"
    assert meta["task"]["classes"] == ["fundus", "histology"]
    code, out, err = _run(
        ["evaluate", str(bundle), "--groups", "site", "--precision", "fp32", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["task"] == "multilabel" and evaluated["n"] == len(_rows(csv_path, "test"))
    accuracies = [r["metrics"]["acc"]["value"] for r in evaluated["subgroups"]["site"]]
    assert all(0 < a <= 1 for a in accuracies)  # labels decided right, never a flat 0


def test_a_patient_in_two_splits_is_refused(tmp_path: Path, capsys) -> None:
    csv_path = write_image_folder(tmp_path / "mine", patients=12, size=32)
    text = csv_path.read_text().splitlines()
    first, second = text[1].split(","), text[2].split(",")  # two images of patient P00
    assert first[2] == second[2] == "P00"
    second[-1] = "test"
    text[2] = ",".join(second)
    csv_path.write_text("\n".join(text) + "\n")
    code, out, err = _run(
        ["train", "--data", str(csv_path), "--out", str(tmp_path / "run"), *TRAIN], capsys
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "row 3: patient 'P00' is in train and in test" in err
