"""``healthcnn study ecg-af | ecg5000 | ecg-georgia``: --quick runs on the real records, JSON
output, results.json, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("wfdb")
pytest.importorskip("scipy")

from healthcnn.cli import main


def test_study_help_lists_the_ecg_studies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    out = capsys.readouterr().out
    assert "ecg-af" in out and "ecg5000" in out and "ecg-georgia" in out


@pytest.mark.data
def test_ecg_af_quick(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["study", "ecg-af", "--quick", "--data-dir", str(data_root), "--out", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr()
    assert "window AUC" in out.out and "record AUC" in out.out
    assert "fold 3/3" in out.err  # progress goes to stderr
    saved = json.loads((tmp_path / "results.json").read_text())
    files = json.loads((tmp_path / "run.json").read_text())["data_files"]
    assert files and all(len(v) == 64 for v in files.values())
    assert saved["config"]["folds"] == 3 and saved["config"]["epochs"] == 1
    assert len(saved["data"]["patients"]) == 6  # one short record per patient
    assert saved["per_seed"][0]["window_auc"]["method"] == "bootstrap"


@pytest.mark.data
def test_ecg_georgia_quick_json(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["study", "ecg-georgia", "--quick", "--data-dir", str(data_root), "--format", "json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["data"]["shape"] == [50, 12, 1000]
    assert len(result["data"]["labels"]) == 10
    (seed,) = result["per_seed"]
    assert seed["macro_auc"]["method"] == "bootstrap"
    assert set(seed["per_class_auc"]) == set(result["data"]["labels"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "resnet19"], "unknown model 'resnet19'"),
        (["--seeds", "a,b"], "--seeds must be comma-separated integers"),
        (["--set", "widths"], "--set expects KEY=VALUE"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "ecg5000", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_missing_data_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "ecg-af", "--quick", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'cpsc2021' not found" in err and str(tmp_path) in err and err.count("\n") == 1
