"""Run and training configurations: every field converted and checked, every bad field listed
at once in one error, numbers given as text (how PyYAML reads ``lr: 1e-3``) converted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from healthcnn.cli import main
from healthcnn.training.config import ConfigError, RunConfig, TrainConfig

#: one bad value for every field of TrainConfig and RunConfig
BAD = {
    "epochs": 0,
    "batch_size": "many",
    "lr": -0.1,
    "optimizer": "lion",
    "momentum": -1,
    "nesterov": "maybe",
    "weight_decay": -1e-4,
    "schedule": "linear",
    "milestones": (5, 2),
    "gamma": 0,
    "warmup_epochs": -1,
    "class_weights": "inverse",
    "sampling": "oversample",
    "logit_adjust": -1.0,
    "ema_decay": 1.5,
    "mix": "blend",
    "mix_alpha": 0,
    "early_stopping_patience": 0,
    "monitor": "",
    "mode": "up",
    "seed": -3,
    "precision": "fp16",
    "augment": 7,
    "max_grad_norm": 0,
    "aux_weight": -0.5,
    "eval_batch_size": 2.5,
    "backbone_lr_scale": 0,
    "freeze_backbone_epochs": -1,
    "data": "",
    "out": "  ",
    "model": 3,
    "model_kwargs": [1, 2],
    "weights": 7,
    "size": 0,
    "task": "regression",
    "normalise": "sometimes",
    "train": 5,
    "data_dir": 12,
    "download": "perhaps",
    "device": "",
    "stream": "sometimes",
    "memory_budget_mb": 0,
    "workers": -1,
    "track": "wandb",
    "track_uri": 5,
}


def test_the_table_covers_every_field() -> None:
    fields = {f.name for cls in (TrainConfig, RunConfig) for f in dataclasses.fields(cls)}
    assert set(BAD) == fields


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_field_is_one_problem_naming_it(name: str) -> None:
    settings = {"data": "x.csv", "out": "run", name: BAD[name]}
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(settings, where="run.yaml")
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert name in problem and repr(BAD[name]).strip("'") in problem
    assert str(info.value).startswith("run.yaml: ") and "\n" not in str(info.value)


def test_every_bad_field_is_listed_at_once() -> None:
    settings = {k: v for k, v in BAD.items() if k not in ("data", "out")}
    settings |= {"data": "", "colour": "blue"}
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(settings)
    problems = info.value.problems
    named = {n for n in BAD if n != "out" and any(n in p for p in problems)}
    assert named == set(BAD) - {"out"}
    assert any("colour" in p for p in problems) and "out is required" in problems
    assert str(info.value).startswith(f"{len(problems)} bad settings: ")


def test_numbers_as_text_are_converted_exactly() -> None:
    cfg = RunConfig.from_dict(
        {
            "data": Path("x.csv"),
            "out": "run",
            "size": "64",
            "normalise": "false",
            "lr": "1e-3",
            "train": {"epochs": "3", "milestones": ["1", 2.0], "schedule": "multistep"},
        }
    )
    assert cfg.data == "x.csv" and cfg.size == 64 and cfg.normalise is False
    assert cfg.train.lr == 0.001 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 3 and cfg.train.milestones == (1, 2)
    assert TrainConfig(batch_size="16").batch_size == 16
    numpy_made = TrainConfig(epochs=np.int64(3), seed=np.int32(2))
    assert (numpy_made.epochs, numpy_made.seed) == (3, 2) and type(numpy_made.epochs) is int
    with pytest.raises(ConfigError, match=r"setting 'epochs' = 2.5 is not a whole number"):
        TrainConfig(epochs=2.5)


def test_yaml_read_by_pyyaml_builds_a_config() -> None:
    yaml = pytest.importorskip("yaml")
    settings = yaml.safe_load("data: x.csv\nout: run\nlr: 1e-3\nweight_decay: 5e-4\n")
    assert isinstance(settings["lr"], str)  # PyYAML's YAML 1.1 reading
    cfg = RunConfig.from_dict(settings)
    assert (cfg.train.lr, cfg.train.weight_decay) == (0.001, 0.0005)


def test_cli_lists_every_bad_setting_of_a_config_file_in_one_line(tmp_path: Path, capsys) -> None:
    pytest.importorskip("yaml")
    config = tmp_path / "run.yaml"
    config.write_text("data: x.csv\nout: run\nlr: fast\nepochs: 0\ntrain:\n  optimizer: lion\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(config) in err
    for text in ("'lr' = 'fast' is not a number", "epochs must be", "optimizer must be"):
        assert text in err


def test_a_flag_beats_the_same_setting_in_the_file(tmp_path: Path) -> None:
    from healthcnn.cli import build_parser
    from healthcnn.cli.train import run_config_from_args

    config = tmp_path / "run.json"
    config.write_text('{"data": "x.csv", "out": "run", "lr": 0.1, "train": {"epochs": 4}}')
    args = build_parser().parse_args(["train", "--config", str(config), "--lr", "0.01"])
    cfg = run_config_from_args(args)
    assert (cfg.train.lr, cfg.train.epochs) == (0.01, 4)
