"""A bundle's preprocessing record (input resize, test-time augmentation) is applied by every
consumer: ``predict_files`` (torch and onnx engines), ``evaluate_bundle``, the ONNX
input shape. Without them a network trained on upsampled inputs would silently be fed the
native size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.bundle import Preprocessing, load_bundle, save_bundle
from healthcnn.bundle.export import bundle_input_shape
from healthcnn.data.transforms import Compose, Normalize, Resize, dihedral_views
from healthcnn.evaluation import evaluate_bundle
from healthcnn.inference.files import predict_files
from healthcnn.models import create_model
from healthcnn.tasks import make_task

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 3, "channels": [4, 8]}
TASK = make_task("multiclass", ["0", "1", "2"])


def _npz(path: Path, shape: tuple[int, int] = (12, 12)) -> Path:
    g = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 12), ("val", 9), ("test", 10)):
        arrays[f"{split}_images"] = g.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.arange(n).reshape(-1, 1) % 3
    np.savez(path, **arrays)
    return path


def _bundle(
    tmp_path: Path, preprocessing: dict, shape: tuple[int, int] = (12, 12)
) -> tuple[Path, torch.nn.Module, Path]:
    npz = _npz(tmp_path / "tiny.npz", shape)
    torch.manual_seed(0)
    model = create_model("simple_cnn", **KWARGS)
    model.train()
    with torch.no_grad():  # non-trivial batch-norm statistics
        model(torch.randn(16, 1, 20, 20) * 2)
    model.eval()
    record = Preprocessing(
        channels=1, size=shape, spatial_dims=2, mean=(0.5,), std=(0.5,), **preprocessing
    )
    meta = {"data": {"source": str(npz), "size": list(shape)}}
    path = save_bundle(tmp_path / "b", model, model_name="simple_cnn", model_kwargs=KWARGS,
                       task=TASK, preprocessing=record, metadata=meta)  # fmt: skip
    return path, model, npz


def _expected(model: torch.nn.Module, images: np.ndarray, size: int, tta: bool) -> np.ndarray:
    x = torch.from_numpy(images[:, None].astype(np.float32) / 255)
    x = Resize(size)(Normalize([0.5], [0.5])(x))
    views = dihedral_views() if tta else [lambda t: t]
    with torch.no_grad():
        probs = [torch.softmax(model(v(x)), 1).numpy() for v in views]
    return np.mean(probs, axis=0)


def _record(**kw) -> Preprocessing:
    return Preprocessing(channels=3, size=(28, 28), spatial_dims=2, **kw)


def test_transform_and_views_follow_the_record() -> None:
    plain = _record(mean=(0.5,) * 3, std=(0.5,) * 3)
    assert len(plain.views_transforms()) == 1 and len(plain.transform().transforms) == 1
    both = _record(mean=(0.5,) * 3, std=(0.5,) * 3, model_input_size=64, views="dihedral8")
    assert len(both.views_transforms()) == 8
    x = torch.zeros(2, 3, 28, 28)
    assert both.transform()(x).shape == (2, 3, 64, 64)
    assert _record().transform() is None and _record().views_transforms() == [None]
    assert bundle_input_shape(both) == (3, 64, 64)
    with pytest.raises(ValueError, match="must be a pixel count or 2 of them, got '64'"):
        _record(model_input_size="64")
    with pytest.raises(ValueError, match=r"or 2 of them, got \[64, 64, 64\]"):
        _record(model_input_size=[64, 64, 64])
    assert _record(model_input_size=[30, 40]).transform()(x).shape[2:] == (30, 40)


@pytest.mark.parametrize("tta", [False, True])
def test_predict_and_evaluate_apply_resize_and_tta(tmp_path: Path, tta: bool) -> None:
    views = "dihedral8" if tta else "single"
    path, model, npz = _bundle(tmp_path, {"model_input_size": 20, "views": views})
    with np.load(npz) as f:
        test_images = f["test_images"]
    want = _expected(model, test_images, 20, tta)
    # what the bug looked like: the native 12 px input gives other probabilities
    assert np.abs(want - _expected(model, test_images, 12, tta)).max() > 1e-3

    rows = predict_files(path, [npz], precision="fp32")
    got = np.array([[r["probabilities"][c] for c in "012"] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-5)

    result = evaluate_bundle(path, precision="fp32", n_resamples=50)
    np.testing.assert_allclose(result.scores, want, atol=1e-5)


def test_tta_on_non_square_images_keeps_their_shape(tmp_path: Path) -> None:
    # 12 x 16 images: the 8 views' quarter turns would feed the network 16 x 12 images; the mean
    # is over the 4 views that keep the shape (the half-turn rotations RandomRot90 trains with)
    path, model, npz = _bundle(tmp_path, {"views": "dihedral8"}, (12, 16))
    record = load_bundle(path).preprocessing
    assert len(record.views_transforms()) == 4  # each shape-keeping view computed once
    with np.load(npz) as f:
        test_images = f["test_images"]
    x = Normalize([0.5], [0.5])(torch.from_numpy(test_images[:, None] / 255).float())
    keep = [x, x.flip(-1), x.rot90(2, (-2, -1)), x.rot90(2, (-2, -1)).flip(-1)]
    with torch.no_grad():
        want = np.mean([torch.softmax(model(v), 1).numpy() for v in keep], axis=0)
        turned = torch.softmax(model(x.rot90(1, (-2, -1))), 1).numpy()
    # the transposed view is a different prediction, so averaging it in would show
    assert np.abs(turned - want).max() > 1e-3
    rows = predict_files(path, [npz], precision="fp32")
    got = np.array([[r["probabilities"][c] for c in "012"] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-5)
    result = evaluate_bundle(path, precision="fp32", n_resamples=50)
    np.testing.assert_allclose(result.scores, want, atol=1e-5)


def test_onnx_engine_exports_at_the_network_input_size(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path, model, npz = _bundle(tmp_path, {"model_input_size": 20, "views": "dihedral8"})
    with np.load(npz) as f:
        want = _expected(model, f["test_images"], 20, True)
    rows = predict_files(path, [npz], precision="fp32", engine="onnx")
    got = np.array([[r["probabilities"][c] for c in "012"] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_compose_of_views_keeps_order() -> None:
    # normalise, resize, then the view: a flip after the resize
    record = Preprocessing(
        channels=1, size=(2, 2), spatial_dims=2, mean=(0.0,), std=(1.0,), views="dihedral8"
    )
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    outs = [v(x) for v in record.views_transforms()]
    assert all(isinstance(v, Compose) for v in record.views_transforms())
    assert torch.equal(outs[0], x)  # identity first
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8  # 8 distinct views
