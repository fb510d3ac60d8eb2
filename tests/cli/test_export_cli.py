"""``healthcnn export`` and ``healthcnn predict --engine`` through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.cli import main
from healthcnn.models import create_model
from healthcnn.tasks import make_task

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 3, "channels": [4, 8]}


@pytest.fixture
def bundle(tmp_path):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **KWARGS).eval()
    record = Preprocessing(channels=1, size=(12, 12), spatial_dims=2, mean=(0.5,), std=(0.5,))
    task = make_task("multiclass", ["a", "b", "c"])
    return save_bundle(tmp_path / "b", model, model_name="simple_cnn", model_kwargs=KWARGS,
                       task=task, preprocessing=record)  # fmt: skip


def test_export_prints_the_parity_and_writes_the_file(bundle, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(bundle), "--format", "onnx", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and f"wrote {out}" in text
    diff = float(text.split("max abs logit difference ")[1].split()[0])
    assert 0 <= diff <= 1e-4
    assert main(["export", str(bundle), "--format", "json", "--static-batch", "--no-check"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["path"] == str(bundle / "model.onnx") and result["max_abs_diff"] is None
    assert captured.err == ""


def test_export_old_json_flag_still_works_with_a_note(bundle, tmp_path, capsys, strict_json):
    out = tmp_path / "m.onnx"
    assert main(["export", str(bundle), "--to", "onnx", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert strict_json(captured.out)["path"] == str(out)
    assert "--json is deprecated; use --format json" in captured.err
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "--json" not in capsys.readouterr().out  # hidden


def test_export_errors_are_one_line(bundle, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("healthcnn export: error:") and err.count("\n") == 1
    assert main(["export", str(bundle), "--opset", "3"]) == 2
    assert "opset" in capsys.readouterr().err


def test_predict_engines_give_the_same_probabilities(bundle, tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (4, 12, 12), dtype=np.uint8)
    npz = tmp_path / "x.npz"
    np.savez(npz, images=images)
    rows = {}
    for engine in ("torch", "onnx"):
        code = main(["predict", str(bundle), str(npz), "--engine", engine,
                     "--precision", "fp32", "--format", "json"])  # fmt: skip
        assert code == 0
        rows[engine] = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows["onnx"]] == [f"x.npz[{i}]" for i in range(4)]
    for a, b in zip(rows["torch"], rows["onnx"], strict=True):
        for name, p in a["probabilities"].items():
            assert b["probabilities"][name] == pytest.approx(p, abs=1e-5)
    with pytest.raises(SystemExit):
        main(["predict", str(bundle), str(npz), "--engine", "tensorrt"])
