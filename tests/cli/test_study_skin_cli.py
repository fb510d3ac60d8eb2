"""``healthcnn study skin-taxonomy`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcnn.cli import main


def test_bad_taxonomy_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "tree.json"
    bad.write_text('{"nodes": [\n{"id": "root", "parent": null},\n{"id": "x", "parent": "y"}\n]}')
    code = main(
        [
            "study",
            "skin-taxonomy",
            "--quick",
            "--out",
            str(tmp_path / "o"),
            "--taxonomy",
            str(bad),
            "--data-dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "line 3 (node 'x'): parent 'y' is not a node id" in err


def test_bad_curve_fractions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["study", "skin-taxonomy", "--out", str(tmp_path), "--curve-fractions", "a,b"])
    assert code == 2
    assert "--curve-fractions must be comma-separated numbers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--epochs", "64"],
        ["--precision", "fp32"],
        ["--size", "stored", "--model", "resnet50"],
        ["--curve-fractions", "", "--lr", "0.01", "--logit-adjust", "0"],
    ],
)
def test_quick_refuses_the_full_studys_options(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str]
) -> None:
    """--quick runs a setting of its own: an option that would set the full study's images,
    network, training or curve is refused in one line naming it (even at its default value),
    before anything is read or written, instead of being ignored."""
    out = tmp_path / "skin"
    code = main(["study", "skin-taxonomy", "--quick", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert all(flag in err for flag in extra if flag.startswith("--")) and "drop --quick" in err
    assert not out.exists()


@pytest.mark.data
def test_quick_study_json(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "skin"
    code = main(
        [
            "study",
            "skin-taxonomy",
            "--quick",
            "--out",
            str(out),
            "--data-dir",
            str(data_root),
            "--format",
            "json",
            "--metadata",
        ]
    )
    stdout = capsys.readouterr().out
    assert code == 0
    result = json.loads(stdout)
    assert result["study"] == "skin-taxonomy"
    assert result["config"]["metadata"] is True
    fused = result["approaches"]["diagnosis"]["seven_way_metadata"]
    assert 0 <= fused["balanced_accuracy_prior_corrected"]["value"] <= 1
    assert result["config"]["size"] == 32 and result["config"]["subsample"] == 700
    assert (out / "study.json").is_file() and (out / "report.html").is_file()
    files = json.loads((out / "run.json").read_text())["data_files"]
    assert files and all(len(v) == 64 for v in files.values())
    assert any("ham10000" in k for k in files)
    assert result["learning_curve"]["approach"] in result["approaches"]


@pytest.mark.data
def test_quick_study_trains_the_chosen_recipe(data_root: Path, tmp_path: Path, capsys) -> None:
    from healthcnn.studies.skin_taxonomy import DEFAULT_RECIPE, recipe_train_config

    args = ["study", "skin-taxonomy", "--quick", "--data-dir", str(data_root), "--format", "json"]
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert config["metadata"] is True  # the chosen recipe scores the metadata fused in
    train = config["train"]
    chosen = recipe_train_config(DEFAULT_RECIPE)
    assert (train["logit_adjust"], train["class_weights"]) == (
        chosen.logit_adjust,
        chosen.class_weights,
    )
    assert main([*args, "--out", str(tmp_path / "la"), "--recipe", "logit-adjusted",
                 "--no-metadata"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    train = result["config"]["train"]
    assert train["logit_adjust"] == 1.0 and train["class_weights"] == "none"
    assert result["config"]["metadata"] is False  # the image alone, switched off
    assert all(ev.get("seven_way_metadata") is None for ev in result["approaches"].values())


def test_full_study_defaults_are_the_measured_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Without options the command runs the recipe the docs measured: its image size, epochs and
    loss, the same settings as the study's own defaults (nothing trained here)."""
    from healthcnn.studies import skin_taxonomy as st

    seen = []
    monkeypatch.setattr(
        st, "run_study", lambda cfg, progress, resume: seen.append(cfg) or {"ok": 1}
    )
    assert main(["study", "skin-taxonomy", "--out", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": 1}
    (cfg,) = seen
    assert cfg.size == st.DEFAULT_SIZE == st.SkinStudyConfig(out="x").size
    assert cfg.train == st.recipe_train_config(st.DEFAULT_RECIPE, st.DEFAULT_EPOCHS)
    assert cfg.train.epochs == st.DEFAULT_EPOCHS
    assert cfg.views == st.DEFAULT_VIEWS == st.SkinStudyConfig(out="x").views == "flips"
    assert cfg.metadata is st.DEFAULT_METADATA is st.SkinStudyConfig(out="x").metadata is True
    assert (
        main(
            [
                "study",
                "skin-taxonomy",
                "--out",
                str(tmp_path),
                "--format",
                "json",
                "--views",
                "plain",
            ]
        )
        == 0
    )
    assert seen[-1].views == "plain"


@pytest.mark.parametrize(
    ("given", "size"), [("stored", (150, 200)), ("100x75", (75, 100)), ("96", 96)]
)
def test_size_takes_a_side_width_x_height_or_stored(
    given: str, size, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from healthcnn.studies import skin_taxonomy as st

    seen = []
    monkeypatch.setattr(
        st, "run_study", lambda cfg, progress, resume: seen.append(cfg) or {"ok": 1}
    )
    args = ["study", "skin-taxonomy", "--out", str(tmp_path), "--format", "json"]
    assert main([*args, "--size", given]) == 0
    assert seen[0].size == size
    assert seen[0].to_dict()["size"] == (size if isinstance(size, int) else list(size))
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([*args, "--size", "200x150x3"])
    assert stop.value.code == 2
    assert "WIDTHxHEIGHT (200x150, the stored images)" in capsys.readouterr().err


@pytest.mark.data
def test_checkpoints_left_by_an_interrupted_study_need_resume(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A study whose --out holds a network's checkpoint (as an interrupted run leaves it) is a
    one-line error naming --resume, before any training; with --resume the study goes on from
    it, finishes, and removes it."""
    out = tmp_path / "skin"
    args = ["study", "skin-taxonomy", "--quick", "--data-dir", str(data_root), "--out", str(out)]
    assert main([*args, "--format", "json"]) == 0
    capsys.readouterr()
    assert not (out / "checkpoints").exists()  # a finished study leaves none
    # the binary network's checkpoint, as an interrupted run of these settings leaves it
    from healthcnn.studies._resume import checkpoint_folder
    from healthcnn.studies.skin_taxonomy import (
        network_settings,
        prepare_study,
        quick_config,
        train_approach,
    )

    cfg = quick_config(str(out), str(data_root))
    folder = out / "checkpoints" / "binary"
    checkpoint_folder(folder, network_settings(cfg, "binary"), False, to_start_again="")
    train_approach(prepare_study(cfg), "binary", cfg, cfg.seed, out_dir=folder)
    study = (out / "study.json").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "holds checkpoints of an earlier run of the study (binary)" in err
    )
    assert "pass --resume" in err and (out / "study.json").read_bytes() == study
    assert main([*args, "--resume", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["study"] == "skin-taxonomy"
    assert not (out / "checkpoints").exists()
