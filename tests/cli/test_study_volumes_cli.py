"""``healthcnn study adrenal3d``: help, --quick on the real 64^3 file with all three approaches
(results.json, printed summary, progress on stderr), and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from healthcnn.cli import main


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_study_help_lists_adrenal3d(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    assert "adrenal3d" in capsys.readouterr().out


def test_bad_setting_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["study", "adrenal3d", "--size", "4", "--out", "unused"])
    assert code != 0
    err = capsys.readouterr().err
    assert "size must be an int >= 8" in err and "Traceback" not in err


@pytest.mark.data
def test_adrenal3d_quick(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(
        ["study", "adrenal3d", "--quick", "--data-dir", str(data_root), "--out", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr()
    assert "run 3/3: slices25d, seed 0" in out.err  # progress goes to stderr
    assert "scratch3d   seed 0: test AUC" in out.out and "DeLong" in out.out
    assert "sensitivity" in out.out
    saved = json.loads((tmp_path / "results.json").read_text())
    files = json.loads((tmp_path / "run.json").read_text())["data_files"]
    assert files and all(len(v) == 64 for v in files.values())
    assert any("adrenalmnist3d" in k for k in files)
    assert saved["config"]["size"] == 16 and saved["config"]["epochs"] == 1
    assert saved["config"]["seeds"] == [0]
    assert [r["approach"] for r in saved["runs"]] == ["scratch3d", "inflated3d", "slices25d"]
    assert set(saved["approaches"]) == {"scratch3d", "inflated3d", "slices25d"}
    pairs = {(t["a"], t["b"]) for t in saved["paired_delong"]}
    assert pairs == {
        ("scratch3d", "inflated3d"),
        ("scratch3d", "slices25d"),
        ("inflated3d", "slices25d"),
    }
    for run in saved["runs"]:
        assert run["test"]["auc"]["n"] == 8 and run["test"]["accuracy"]["method"] == "wilson"
    assert saved["environment"]["seconds"] > 0
    assert set(saved["analysis"]) == {"resnet18_3d", "slices25d"}
