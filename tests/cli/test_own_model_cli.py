"""A user's own ``nn.Module`` through the command line: ``train --model module:callable
--model-arg k=v`` -> bundle -> ``evaluate`` -> ``export`` (ONNX) -> ``predict`` -> ``report``.

The model lives in ``tests/cli/user_models.py``, a plain module that knows nothing of healthcnn;
training runs in a fresh Python process with that folder on ``PYTHONPATH``, as a user would run
it, and the bundle is then loaded in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import healthcnn
from healthcnn.bundle import load_bundle, verify_bundle
from healthcnn.cli import main

HERE = Path(__file__).resolve().parent
SRC = Path(healthcnn.__file__).resolve().parents[1]


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def _healthcnn(args: list[str], *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "healthcnn", *args],
        env=_env(*paths),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def own_bundle(tmp_path_factory, retina_subset) -> tuple[Path, Path]:
    """A bundle of ``user_models:TinyNet`` (width 6) trained for one epoch through the CLI, in
    its own process, and the npz it was trained on."""
    tmp = tmp_path_factory.mktemp("own")
    npz = retina_subset(tmp / "retina_small.npz", {"train": 32, "val": 40, "test": 40})
    out = tmp / "run"
    args = ["train", "--data", str(npz), "--model", "user_models:TinyNet"]
    args += ["--model-arg", "width=6", "--epochs", "1", "--batch-size", "16"]
    args += ["--precision", "fp32", "--out", str(out), "--format", "json"]
    done = _healthcnn(args, SRC, HERE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model_kwargs"]["width"] == 6
    return out, npz


@pytest.mark.data
def test_bundle_records_the_import_path_and_arguments(own_bundle, monkeypatch) -> None:
    out, _ = own_bundle
    config = json.loads((out / "config.json").read_text())
    assert config["model_name"] == "user_models:TinyNet"
    assert config["model_kwargs"] == {
        "width": 6,
        "spatial_dims": 2,
        "in_channels": 3,
        "num_classes": 5,
    }
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.pt"))
    monkeypatch.syspath_prepend(str(HERE))
    bundle = load_bundle(out)
    assert type(bundle.model).__name__ == "TinyNet"
    assert bundle.model.head.in_features == 6  # rebuilt with the user's argument
    verify_bundle(out)  # the seal covers config.json, import path included


@pytest.mark.data
def test_evaluate_export_predict_report(own_bundle, monkeypatch, tmp_path, capsys) -> None:
    out, npz = own_bundle
    monkeypatch.syspath_prepend(str(HERE))
    assert main(["evaluate", str(out), "--precision", "fp32", "--format", "json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["metrics"]["auc"]["value"] >= 0
    assert main(["export", str(out), "-o", str(tmp_path / "m.onnx")]) == 0
    assert "parity" in capsys.readouterr().out and (tmp_path / "m.onnx").stat().st_size > 0
    assert main(["predict", str(out), str(npz), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 40
    assert all(sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5) for r in rows)
    assert main(["report", str(out), "-o", str(tmp_path / "card.html")]) == 0
    capsys.readouterr()
    assert "user_models:TinyNet" in (tmp_path / "card.html").read_text()


@pytest.mark.data
def test_a_missing_module_on_load_is_one_line_naming_the_import_path(own_bundle) -> None:
    out, _ = own_bundle
    done = _healthcnn(["evaluate", str(out), "--precision", "fp32"], SRC)  # tests/cli not on path
    assert done.returncode == 2
    line = [x for x in done.stderr.splitlines() if "error" in x]
    assert len(line) == 1 and "Traceback" not in done.stderr
    assert "'user_models:TinyNet'" in line[0] and "PYTHONPATH" in line[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model-arg", "width"], "KEY=VALUE"),
        (["--model-arg", "=3"], "KEY=VALUE"),
        (["--model", "user_models"], None),  # a registry name that does not exist
        (["--model", "user_models:Nope"], "has no attribute 'Nope'"),
        (["--model", "no_such_pkg.nets:Net"], "not installed here"),
        (["--model", "user models:TinyNet"], "not an import path"),
    ],
)
def test_bad_model_options_are_one_clear_line(args, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(HERE))
    base = ["train", "--data", str(tmp_path / "x.npz"), "--out", str(tmp_path / "run")]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert expected is None or expected in err[0]
