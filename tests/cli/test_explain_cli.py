"""``healthcnn explain`` on a 1D (ECG), a 2D and a 3D bundle: the figure per input (PNG overlay,
three slices, the strip with its map as SVG) and explanation.json with the sanity verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.cli import main
from healthcnn.models import create_model
from healthcnn.tasks import make_task

RECORDS = {
    1: Preprocessing(channels=2, size=(64,), spatial_dims=1, scale=1.0, sampling_rate=100.0,
                     leads=("I", "II")),
    2: Preprocessing(channels=3, size=(16, 16), spatial_dims=2, mean=(0.5,) * 3, std=(0.5,) * 3),
    3: Preprocessing(channels=1, size=(8, 8, 8), spatial_dims=3, mean=(0.5,), std=(0.5,)),
}  # fmt: skip


def _bundle(tmp_path: Path, dims: int, task_kind: str = "multiclass") -> Path:
    record = RECORDS[dims]
    task = make_task(task_kind, ["normal", "abnormal"] if task_kind == "binary" else list("abcd"))
    kwargs = {"spatial_dims": dims, "in_channels": record.channels,
              "num_classes": task.num_outputs, "channels": [4, 8],
              "norm": None}  # fmt: skip
    torch.manual_seed(0)
    model = create_model("simple_cnn", **kwargs).eval()
    return save_bundle(tmp_path / f"b{dims}", model, model_name="simple_cnn",
                       model_kwargs=kwargs, task=task, preprocessing=record)  # fmt: skip


def _inputs(tmp_path: Path, dims: int) -> Path:
    rng = np.random.default_rng(dims)
    shape = (2, RECORDS[dims].channels, *RECORDS[dims].size)
    images = (rng.normal(size=shape).astype(np.float32) if dims == 1
              else rng.integers(0, 256, size=shape, dtype=np.uint8))  # fmt: skip
    np.savez(tmp_path / f"x{dims}.npz", images=images)
    return tmp_path / f"x{dims}.npz"


@pytest.mark.parametrize(("dims", "suffix"), [(1, ".svg"), (2, ".png"), (3, ".png")])
def test_explain_writes_figures_and_verdicts(tmp_path, capsys, strict_json, dims, suffix) -> None:
    bundle, file, out = _bundle(tmp_path, dims), _inputs(tmp_path, dims), tmp_path / "out"
    args = ["explain", str(bundle), str(file), "--class", "b", "--out", str(out)]
    assert main([*args, "--format", "json"]) == 0
    printed = strict_json(capsys.readouterr().out)
    result = strict_json((out / "explanation.json").read_text())
    assert printed["explanation"] == f"{out}/explanation.json"
    assert printed["sanity"] == result["sanity"] and printed["method"] == result["method"]
    assert result["method"] == "gradcam" and result["targets"] == [1, 1]
    assert result["sanity"]["verdict"] in ("pass", "fail")
    assert result["sanity"]["test"] == "cascading model-parameter randomisation"
    assert [r["class"] for r in result["inputs"]] == ["b", "b"]
    for row in result["inputs"]:
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["constant_map"] is False
        figure = out / row["figure"]
        assert figure.suffix == suffix and figure.stat().st_size > 0
    first = out / result["inputs"][0]["figure"]
    if suffix == ".svg":
        text = first.read_text()
        assert text.startswith("<svg") and text.count("<polyline") == 2 and "map" in text
    else:
        with Image.open(first) as im:
            assert im.format == "PNG" and im.width > im.height  # panels side by side
    assert main(args) == 0  # the same run as text for people
    assert "sanity" in capsys.readouterr().out


def test_explain_an_image_file_with_each_method(tmp_path, strict_json) -> None:
    bundle = _bundle(tmp_path, 2)
    rgb = np.random.default_rng(0).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    for method in ("gradcam++", "occlusion", "ig"):
        out = tmp_path / method
        assert main(["explain", str(bundle), str(tmp_path / "photo.png"), "--method", method,
                     "--out", str(out)]) == 0  # fmt: skip
        result = strict_json((out / "explanation.json").read_text())
        assert result["method"] == method and len(result["inputs"]) == 1
        assert (out / result["inputs"][0]["figure"]).is_file()


def test_an_explicit_layer(tmp_path, strict_json) -> None:
    bundle, file, out = _bundle(tmp_path, 2), _inputs(tmp_path, 2), tmp_path / "out"
    assert main(["explain", str(bundle), str(file), "--layer", "features.0", "--out",
                 str(out)]) == 0  # fmt: skip
    assert strict_json((out / "explanation.json").read_text())["layer"] == "features.0"


def test_an_ordinal_bundle_explains_its_class_probabilities(tmp_path, strict_json) -> None:
    bundle, file, out = _bundle(tmp_path, 2, "ordinal"), _inputs(tmp_path, 2), tmp_path / "out"
    assert main(["explain", str(bundle), str(file), "--class", "c", "--out", str(out)]) == 0
    result = strict_json((out / "explanation.json").read_text())
    assert result["targets"] == [2, 2]
    assert list(result["inputs"][0]["probabilities"]) == list("abcd")


def test_a_binary_bundle_with_one_logit(tmp_path, strict_json) -> None:
    bundle, file, out = _bundle(tmp_path, 2, "binary"), _inputs(tmp_path, 2), tmp_path / "out"
    assert main(["explain", str(bundle), str(file), "--class", "normal", "--out", str(out)]) == 0
    result = strict_json((out / "explanation.json").read_text())
    assert result["targets"] == [0, 0]
    assert set(result["inputs"][0]["probabilities"]) == {"normal", "abnormal"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "zebra"], "unknown class 'zebra'"),
        (["--class", "a", "--layer", "features.7"], "no layer 'features.7'"),
        ([], "does not exist"),
    ],
)
def test_bad_requests_are_one_line(tmp_path, capsys, args, message) -> None:
    bundle = _bundle(tmp_path, 2)
    file = _inputs(tmp_path, 2) if "--class" in args else tmp_path / "missing.npz"
    assert main(["explain", str(bundle), str(file), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
