"""``healthcnn train``, ``evaluate`` and ``predict`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcnn.cli import main

pytestmark = pytest.mark.data


@pytest.fixture
def small_npz(retina_subset, tmp_path: Path) -> Path:
    """48 real RetinaMNIST images (32 train, 8 val, 8 test) under a non-official name."""
    return retina_subset(tmp_path / "retina_small.npz", {"train": 32, "val": 8, "test": 8})


def _train(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_predict_json(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out_dir = tmp_path / "run"
    code, out, _ = _train(
        [
            "--data",
            str(small_npz),
            "--model",
            "simple_cnn",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--precision",
            "fp32",
            "--schedule",
            "multistep",
            "--milestones",
            "1",
            "--seed",
            "5",
            "--out",
            str(out_dir),
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert result["epochs_run"] == 2 and result["metrics"]["test"]["n"] == 8

    assert main(["evaluate", str(out_dir), "--precision", "fp32", "--format", "json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert set(evaluated["metrics"]) >= {"auc", "acc"}
    assert evaluated["metrics"]["acc"]["value"] == pytest.approx(result["metrics"]["test"]["acc"])

    assert main(["predict", str(out_dir), str(small_npz), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 8  # the npz's test images
    assert all(sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5) for r in rows)

    assert main(["predict", str(out_dir), str(small_npz)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("input") and len(table) == 9


def test_config_file_and_flags(small_npz: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "data": str(small_npz),
                "model": "simple_cnn",
                "out": str(tmp_path / "b"),
                "train": {"epochs": 3, "batch_size": 16, "precision": "fp32"},
            }
        )
    )
    # A flag overrides the file.
    code, out, _ = _train(["--config", str(config), "--epochs", "1", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["epochs_run"] == 1
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert meta["train_config"]["train"]["epochs"] == 1
    assert meta["train_config"]["data"] == str(small_npz)


def test_logit_adjust_ema_and_mix_flags_reach_the_bundle(small_npz: Path, tmp_path: Path, capsys):
    out = tmp_path / "la"
    args = ["--data", str(small_npz), "--model", "simple_cnn", "--out", str(out), "--epochs", "1"]
    args += ["--precision", "fp32", "--logit-adjust", "1", "--ema-decay", "0.9"]
    args += ["--mix", "cutmix", "--mix-alpha", "0.4"]
    code, _, _ = _train(args, capsys)
    assert code == 0
    train = json.loads((out / "metadata.json").read_text())["train_config"]["train"]
    assert train["logit_adjust"] == 1.0 and train["ema_decay"] == 0.9
    assert train["mix"] == "cutmix" and train["mix_alpha"] == 0.4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet19"], "resnet18"),
        (["--set", "nonsense"], "KEY=VALUE"),
        (["--set", "stem=tiny"], "stem"),
        (["--milestones", "a,b"], "--milestones"),
        (["--epochs", "0"], "epochs"),
        (["--ema-decay", "1"], "ema_decay"),
        (["--logit-adjust", "-1"], "logit_adjust"),
        (["--mix", "mixup", "--mix-alpha", "0"], "mix_alpha"),
    ],
)
def test_bad_input_is_one_line(small_npz: Path, tmp_path: Path, capsys, args, message) -> None:
    base = [
        "--data",
        str(small_npz),
        "--model",
        "simple_cnn",
        "--out",
        str(tmp_path / "x"),
        "--epochs",
        "1",
        "--precision",
        "fp32",
    ]
    code, _, err = _train([*base, *args], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bad_config_file(tmp_path: Path, capsys) -> None:
    config = tmp_path / "run.json"
    config.write_text("{not json")
    code, _, err = _train(["--config", str(config)], capsys)
    assert code == 2 and "not valid JSON" in err
    config.write_text(json.dumps({"data": "x.npz", "out": "o", "learning_rate": 1}))
    code, _, err = _train(["--config", str(config)], capsys)
    assert code == 2 and "learning_rate" in err


def test_missing_out_and_missing_bundle(small_npz: Path, tmp_path: Path, capsys) -> None:
    code, _, err = _train(["--data", str(small_npz)], capsys)
    assert code == 2 and "--out is required" in err
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_out_that_is_not_a_bundle_is_refused_before_training(
    small_npz: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "config.json").write_text("{}")  # once enough to have the folder replaced
    (out / "notes.txt").write_text("keep me")
    code, _, err = _train(["--data", str(small_npz), "--model", "simple_cnn", "--epochs", "1",
                           "--out", str(out)], capsys)  # fmt: skip
    assert code == 2 and "refusing to replace it" in err and len(err.strip().splitlines()) == 1
    assert "epoch" not in err  # refused before any training
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]
    assert not (tmp_path / "results.work").exists()
    code, _, err = _train(["--data", str(small_npz), "--out", "/"], capsys)
    assert code == 2 and "cannot hold a bundle" in err
