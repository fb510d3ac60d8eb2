"""Inference engines: torch, compiled and onnx agree, pick the right graph, reject bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.bundle.export import export_onnx
from healthcnn.data.arrays import ArrayDataset
from healthcnn.data.transforms import Normalize
from healthcnn.inference import (
    ENGINES,
    EngineError,
    Predictor,
    TorchPredictor,
    create_predictor,
    load_predictor,
)
from healthcnn.models import create_model
from healthcnn.tasks import make_task
from healthcnn.training import PrecisionPolicy, predict

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 3, "channels": [4, 8]}
TASK = make_task("multiclass", ["a", "b", "c"])
SHAPE = (1, 12, 12)
NORM = Normalize([0.5], [0.5])


def make_model(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = create_model("simple_cnn", **KWARGS)
    model.train()
    with torch.no_grad():
        model(torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(seed)) * 3)
    return model.eval()


def make_bundle(path, seed=0):
    record = Preprocessing(channels=1, size=(12, 12), spatial_dims=2)
    return save_bundle(path, make_model(seed), model_name="simple_cnn", model_kwargs=KWARGS,
                       task=TASK, preprocessing=record)  # fmt: skip


def dataset(n=11):
    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (n, *SHAPE), generator=g, dtype=torch.uint8)
    return ArrayDataset(images, torch.randint(0, 3, (n,), generator=g), ["a", "b", "c"])


def test_torch_engine_equals_the_training_predict():
    ds, model = dataset(), make_model()
    fp32 = PrecisionPolicy.resolve("fp32")
    want = predict(model, ds, TASK, 4, fp32, transform=NORM)
    got = create_predictor(make_model(), "torch", precision="fp32").predict(
        ds, TASK, batch_size=4, transform=NORM
    )
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(got.labels, want.labels)
    assert got.classes == ["a", "b", "c"] and got.task_kind == "multiclass"


def test_engines_agree():
    pytest.importorskip("onnxruntime")
    ds = dataset()
    reference = create_predictor(make_model(), "torch", precision="fp32")
    want = reference.predict(ds, TASK, batch_size=4, transform=NORM).scores
    onnx = create_predictor(make_model(), "onnx", input_shape=SHAPE)
    got = onnx.predict(ds, TASK, batch_size=4, transform=NORM).scores
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # bf16 autocast rounds the activations: probabilities agree to about 1e-2
    bf16 = create_predictor(make_model(), "torch", precision="bf16")
    assert bf16.channels_last
    got = bf16.predict(ds, TASK, batch_size=4, transform=NORM).scores
    np.testing.assert_allclose(got, want, atol=3e-2, rtol=0)


@pytest.mark.slow
def test_compiled_engine_agrees_and_pads_the_last_batch():
    model = make_model()
    compiled = create_predictor(model, "compiled", precision="fp32")
    ds = dataset(11)  # batches of 8 and 3: the 3 are padded to the compiled 8
    got = compiled.predict(ds, TASK, batch_size=8, transform=NORM).scores
    want = create_predictor(make_model(), "torch", precision="fp32").predict(
        ds, TASK, batch_size=8, transform=NORM
    )
    np.testing.assert_allclose(got, want.scores, atol=1e-4, rtol=0)
    assert compiled._sizes == {8}
    # the caller's model is not changed by compiling a copy
    assert all(p.requires_grad for p in model.parameters())


def test_load_predictor_uses_a_matching_graph_only(tmp_path):
    pytest.importorskip("onnxruntime")
    bundle = make_bundle(tmp_path / "b")
    _, fresh = load_predictor(bundle, "onnx")  # no model.onnx: exported in memory
    assert "in memory" in fresh.describe()
    export_onnx(bundle)
    _, on_disk = load_predictor(bundle, "onnx")
    assert str(bundle / "model.onnx") in on_disk.describe()
    x = torch.randn(3, *SHAPE)
    torch.testing.assert_close(on_disk(x), fresh(x))
    # a graph from other weights is ignored by default and refused when named
    other = make_bundle(tmp_path / "other", seed=1)
    shutil.copy(bundle / "model.onnx", other / "model.onnx")
    _, p = load_predictor(other, "onnx")
    assert "in memory" in p.describe()
    with pytest.raises(EngineError, match="other weights"):
        load_predictor(other, "onnx", onnx_file=other / "model.onnx")
    with pytest.raises(FileNotFoundError):
        load_predictor(bundle, "onnx", onnx_file=tmp_path / "none.onnx")


def test_bad_requests():
    assert ENGINES == ("torch", "compiled", "onnx")
    with pytest.raises(ValueError, match="engine must be one of"):
        create_predictor(make_model(), "tensorrt")
    with pytest.raises(ValueError, match="input_shape"):
        create_predictor(make_model(), "onnx")
    with pytest.raises(ValueError, match="mode"):
        create_predictor(make_model(), "compiled", mode="fast")
    with pytest.raises(TypeError, match=r"nn\.Module"):
        TorchPredictor("model")
    p = create_predictor(make_model(), "torch", precision="fp32")
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        p(np.zeros((1, *SHAPE), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        p(torch.zeros(12, 12))
    with pytest.raises(TypeError, match="floating point"):
        p(torch.zeros((1, *SHAPE), dtype=torch.uint8))
    with pytest.raises(NotImplementedError):
        Predictor().logits(torch.zeros(1))
    with pytest.raises(ValueError, match="empty"):
        p.predict(dataset(0), TASK)


def test_a_truncated_graph_beside_the_bundle_is_one_clear_error(tmp_path):
    pytest.importorskip("onnxruntime")
    from healthcnn.bundle.export import ExportError

    bundle = make_bundle(tmp_path / "b")
    export_onnx(bundle, tmp_path / "full.onnx")
    # an unsealed copy (e.g. put there by hand): a sealed one is refused by the manifest
    (bundle / "model.onnx").write_bytes((tmp_path / "full.onnx").read_bytes()[:500])
    with pytest.raises(ExportError, match=r"model\.onnx is not a readable ONNX graph"):
        load_predictor(bundle, "onnx")
