"""Strict JSON in every file and printout of a run whose validation AUC is undefined (one class
in val): the printouts, ``log.jsonl``, the checkpoint and the bundle parse with a strict parser
(NaN and Infinity refused), and a resumed run reads its nulls back."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from _image_folder import write_image_folder

from csv_rows import write_rows
from healthcnn.cli import main


def _one_class_val(csv_path: Path) -> None:
    """Keep only the ``fundus`` rows of the validation split (its AUC is then undefined)."""
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = [r for r in rows if r["split"] != "val" or r["label"] == "fundus"]
    write_rows(csv_path, rows)


def _printed(args: list[str], capsys) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_undefined_numbers_are_null_in_every_file_and_printout(
    tmp_path: Path, capsys, strict_json
) -> None:
    csv_path = write_image_folder(tmp_path / "mine", patients=12, size=32)
    _one_class_val(csv_path)
    bundle = tmp_path / "run"
    train = ["train", "--data", str(csv_path), "--out", str(bundle), "--model", "simple_cnn"]
    train += ["--batch-size", "8", "--precision", "fp32", "--format", "json"]
    with pytest.warns(Warning):  # the undefined validation AUC is reported, not hidden
        result = strict_json(_printed([*train, "--epochs", "1"], capsys))
    assert result["metrics"]["val"]["auc"] is None

    work = Path(f"{bundle}.work")
    log = [strict_json(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["val_metrics"]["auc"] is None
    assert strict_json((work / "checkpoint.json").read_text())["history"]["best_metric"] is None
    for name in ("metadata.json", "config.json", "manifest.json"):
        strict_json((bundle / name).read_text())

    # a resumed run reads the nulls back as undefined numbers and goes on
    with pytest.warns(Warning):
        resumed = strict_json(_printed([*train, "--epochs", "2", "--resume"], capsys))
    assert resumed["epochs_run"] == 2
    log = [strict_json(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]

    with pytest.warns(Warning):
        evaluated = strict_json(
            _printed(["evaluate", str(bundle), "--split", "val", "--format", "json"], capsys)
        )
    assert evaluated["metrics"]["auc"]["value"] is None
