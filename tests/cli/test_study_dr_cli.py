"""``healthcnn study dr-screening`` and ``healthcnn predict`` on a full-size fundus photograph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcnn.cli import main


def test_bad_fractions_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["study", "dr-screening", "--out", str(tmp_path), "--fractions", "0.5,x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--fractions must be comma-separated numbers" in err


def test_bad_target_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["study", "dr-screening", "--out", str(tmp_path), "--sensitivity-target", "1.5"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert "sensitivity_target must be in (0, 1), got 1.5" in err


@pytest.mark.parametrize(
    "extra", [["--epochs", "3"], ["--precision", "fp32"], ["--epochs", "3", "--precision", "bf16"]]
)
def test_quick_refuses_the_full_recipes_options(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str]
) -> None:
    """--quick runs its own recipe: options that would set the full recipe's are refused in
    one line naming them, before anything is read or trained, instead of being ignored."""
    out = tmp_path / "dr"
    code = main(["study", "dr-screening", "--quick", "--out", str(out), *extra])
    err = capsys.readouterr().err
    named = [a for a in extra if a.startswith("--")]
    assert code == 2 and err.count("\n") == 1
    assert all(n in err for n in named) and "drop --quick" in err
    assert not out.exists()


@pytest.mark.data
def test_quick_study_then_predict_a_full_size_photo(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    skdata = pytest.importorskip("skimage.data")
    from PIL import Image

    out = tmp_path / "dr"
    argv = ["study", "dr-screening", "--quick", "--out", str(out), "--data-dir", str(data_root)]
    code = main([*argv, "--format", "json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(summary["operating_points"]) == {"high_sensitivity", "high_specificity"}
    assert summary["referable_test_auc"]["method"] == "delong"
    assert Path(summary["report"]).is_file() and (out / "study.json").is_file()
    files = json.loads((out / "run.json").read_text())["data_files"]
    assert files and all(len(v) == 64 for v in files.values())
    assert any("retinamnist" in k for k in files)

    # the bundle records the fundus preprocessing: a 1411 px photograph is cropped to its
    # field of view and rescaled before the 28 px network sees it
    meta = json.loads((out / "bundles" / "grade-seed0" / "metadata.json").read_text())
    assert meta["preprocessing"]["fundus"]["size"] == 28
    photo = tmp_path / "retina.png"
    Image.fromarray(skdata.retina()).save(photo)
    code = main(["predict", str(out / "bundles" / "grade-seed0"), str(photo), "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 1
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)

    not_fundus = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(not_fundus)
    code = main(["predict", str(out / "bundles" / "grade-seed0"), str(not_fundus)])
    err = capsys.readouterr().err
    assert code != 0 and "does not look like a fundus photograph" in err


def test_precision_and_resume_reach_the_study(tmp_path: Path, monkeypatch) -> None:
    """--precision overrides the recipe's (what a resume on a machine where auto means other
    numerics needs) and --resume reaches run_study; without them the recipe's own and no
    resume (nothing trained here)."""
    from healthcnn.studies import dr_screening

    seen = []

    def fake(cfg, *, progress, resume):
        seen.append((cfg, resume))
        raise SystemExit(0)

    monkeypatch.setattr(dr_screening, "run_study", fake)
    base = ["study", "dr-screening", "--out", str(tmp_path), "--quiet"]
    for extra in ([], ["--precision", "fp32", "--resume"]):
        with pytest.raises(SystemExit):
            main([*base, *extra])
    (plain, plain_resume), (named, named_resume) = seen
    assert plain.recipe == dr_screening.DEFAULT_RECIPE and plain_resume is False
    assert dr_screening.DEFAULT_RECIPE.train.precision == "auto"  # so the override shows
    assert named.recipe.train.precision == "fp32" and named_resume is True
    assert named.recipe == dr_screening.DEFAULT_RECIPE.with_train(precision="fp32")
