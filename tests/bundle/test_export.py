"""ONNX export: parity with PyTorch fp32, dynamic batch, metadata, atomic writes, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from healthcnn.bundle import BundleError, Preprocessing, load_bundle, save_bundle
from healthcnn.bundle import export as export_mod
from healthcnn.bundle.export import ExportError, export_onnx, read_onnx_metadata
from healthcnn.models import create_model
from healthcnn.tasks import make_task

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 3, "channels": [4, 8]}
TASK = make_task("multiclass", ["a", "b", "c"])
INPUT = {"channels": 1, "size": [12, 12]}


def make_bundle(path, *, metadata=None, kwargs=KWARGS):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **kwargs)
    model.train()
    with torch.no_grad():  # non-default batch-norm statistics, so folding them is tested
        g = torch.Generator().manual_seed(0)
        model(torch.rand(8, kwargs["in_channels"], *INPUT["size"], generator=g) * 3)
    record = Preprocessing(
        channels=INPUT["channels"], size=tuple(INPUT["size"]), spatial_dims=2, mean=(0.5,),
        std=(0.5,),
    ) if metadata is None else None  # fmt: skip
    return save_bundle(path, model.eval(), model_name="simple_cnn", model_kwargs=kwargs,
                       task=TASK, preprocessing=record, metadata=metadata)  # fmt: skip


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "bundle")


def test_export_matches_torch_and_records_metadata(bundle_dir, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "sub" / "m.onnx"
    result = export_onnx(bundle_dir, out)
    assert result.path == out and out.is_file()
    assert result.input_shape == (1, 12, 12) and result.batch_dynamic
    assert 0 <= result.max_abs_diff <= result.atol
    # independent check: any batch size runs and agrees with eager fp32
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    model = load_bundle(bundle_dir).model
    x = torch.randn(5, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    (got,) = session.run(["logits"], {"input": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    meta = read_onnx_metadata(out)
    bundle_meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["model_sha256"] == bundle_meta["model_sha256"]
    assert json.loads(meta["task"])["classes"] == ["a", "b", "c"]
    assert json.loads(meta["preprocessing"])["mean"] == [0.5]
    assert json.loads(meta["preprocessing"])["std"] == [0.5]
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]  # no temporary leftovers


def test_default_path_is_inside_the_bundle_and_static_batch(bundle_dir, tmp_path):
    import onnxruntime as ort

    bundle_dir = Path(shutil.copytree(bundle_dir, tmp_path / "copy"))
    result = export_onnx(bundle_dir, batch_dynamic=False, check=False)
    assert result.path == bundle_dir / "model.onnx"
    assert np.isnan(result.max_abs_diff) and result.to_dict()["max_abs_diff"] is None
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [2, 1, 12, 12]
    # the graph is sealed into the bundle: removing or changing it is noticed by name
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["bytes"] == result.path.stat().st_size
    result.path.unlink()
    with pytest.raises(BundleError, match=r"model\.onnx is missing"):
        load_bundle(bundle_dir)


def test_tolerance_breach_raises_and_writes_nothing(bundle_dir, tmp_path, monkeypatch):
    real = export_mod._reference_logits
    monkeypatch.setattr(export_mod, "_reference_logits", lambda m, x: real(m, x) + 0.01)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match=r"differ .* by up to 0\.01"):
        export_onnx(bundle_dir, out, atol=1e-3)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # within a looser tolerance the same difference passes and is reported
    result = export_onnx(bundle_dir, out, atol=0.02)
    assert result.max_abs_diff == pytest.approx(0.01, abs=1e-4)


def test_bad_arguments(bundle_dir, tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(bundle_dir, tmp_path / "x.onnx", opset=5)
    with pytest.raises(ValueError, match="atol"):
        export_onnx(bundle_dir, tmp_path / "x.onnx", atol=-1.0)
    with pytest.raises(ValueError, match="spatial_dims=2"):
        export_onnx(bundle_dir, tmp_path / "x.onnx", input_shape=(1, 12))
    with pytest.raises(ValueError, match="directory"):
        export_onnx(bundle_dir, tmp_path)
    with pytest.raises(BundleError):
        export_onnx(tmp_path / "missing")


def test_bundle_without_input_size_needs_input_shape(tmp_path):
    path = make_bundle(tmp_path / "nosize", metadata={})
    with pytest.raises(BundleError, match="input_shape"):
        export_onnx(path, tmp_path / "x.onnx")
    result = export_onnx(path, tmp_path / "x.onnx", input_shape=(1, 12, 12))
    assert result.max_abs_diff <= result.atol


def test_one_dimensional_model_exports(tmp_path):
    kwargs = {**KWARGS, "spatial_dims": 1, "in_channels": 2}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **kwargs)
    record = Preprocessing(channels=2, size=(64,), spatial_dims=1)
    path = save_bundle(tmp_path / "ecg", model.eval(), model_name="simple_cnn",
                       model_kwargs=kwargs, task=TASK, preprocessing=record)  # fmt: skip
    result = export_onnx(path, tmp_path / "ecg.onnx")
    assert result.input_shape == (2, 64) and result.max_abs_diff <= result.atol
