"""``healthcnn weights inflate|info``: a loadable, atomically written output; one-line errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from healthcnn.cli import main
from healthcnn.models import create_model
from healthcnn.models.weights import inflate_file, load_weights


def _conv_weights(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in model.state_dict().items() if v.dim() == 4]


@pytest.fixture
def weights_2d(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    model = create_model("simple_cnn", num_classes=3, channels=(4, 8))
    path = tmp_path / "simple_2d.pt"
    torch.save(model.state_dict(), path)
    return path, model


def test_inflate_writes_a_file_the_3d_model_loads(tmp_path: Path, weights_2d, capsys) -> None:
    src, model2 = weights_2d
    out = tmp_path / "simple_3d.safetensors"
    assert main(["weights", "inflate", str(src), str(out), "--spatial-dims", "3"]) == 0
    assert str(out) in capsys.readouterr().out
    again = ["weights", "inflate", str(src), str(out), "--spatial-dims", "3", "--format", "json"]
    assert main(again) == 0
    assert json.loads(capsys.readouterr().out) == {
        "path": str(out),
        "spatial_dims": 3,
        "mode": "i3d",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already 3D: loads as it is, no adaptation
        model3 = create_model("simple_cnn", spatial_dims=3, num_classes=3, channels=(4, 8),
                              weights=out)  # fmt: skip
    # the same as inflating while loading the 2D file
    direct = create_model("simple_cnn", spatial_dims=3, num_classes=3, channels=(4, 8))
    with pytest.warns(UserWarning, match="inflated"):
        load_weights(direct, src)
    for key, value in direct.state_dict().items():
        assert torch.equal(model3.state_dict()[key], value), key
    key, w2 = _conv_weights(model2)[0]
    assert model3.state_dict()[key].shape == (*w2.shape[:2], 3, 3, 3)

    assert main(["weights", "info", str(out), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spatial_dims"] == 3 and info["tensors"] == len(model2.state_dict())
    assert info["metadata"]["mode"] == "i3d" and info["metadata"]["spatial_dims"] == "3"
    assert info["parameters"] == sum(p.numel() for p in model3.parameters())


def test_info_text_on_2d_weights(weights_2d, capsys) -> None:
    src, model2 = weights_2d
    assert main(["weights", "info", str(src)]) == 0
    text = capsys.readouterr().out
    params = sum(p.numel() for p in model2.parameters())
    assert f"parameters: {params:,}" in text and "spatial dims: 2" in text


def test_inflate_1d_centre(tmp_path: Path, weights_2d) -> None:
    src, model2 = weights_2d
    out = tmp_path / "simple_1d.safetensors"
    args = ["weights", "inflate", str(src), str(out), "--spatial-dims", "1", "--mode", "centre"]
    assert main(args) == 0
    model1 = create_model("simple_cnn", spatial_dims=1, num_classes=3, channels=(4, 8), weights=out)
    for key, w2 in _conv_weights(model2):
        assert torch.equal(model1.state_dict()[key], w2[:, :, 1])


def test_write_failure_leaves_no_partial_output(tmp_path: Path, weights_2d, monkeypatch) -> None:
    import safetensors.torch

    src, _ = weights_2d
    out = tmp_path / "out.safetensors"

    def failing_save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", failing_save)
    with pytest.raises(OSError, match="No space left"):
        inflate_file(src, out, 3)
    assert not out.exists()
    out.write_bytes(b"previous result")
    with pytest.raises(OSError):
        inflate_file(src, out, 3)
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors", "simple_2d.pt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inflate", "{tmp}/missing.pt", "{tmp}/o.safetensors", "--spatial-dims", "3"],
         "does not exist"),
        (["inflate", "{src}", "{tmp}/o.pt", "--spatial-dims", "3"], "must be a .safetensors"),
        (["inflate", "{src}", "{tmp}/no/such/dir/o.safetensors", "--spatial-dims", "3"],
         "does not exist"),
        (["info", "{tmp}/w.bin"], "unknown weights format"),
    ],
)  # fmt: skip
def test_errors_are_one_line_exit_2(tmp_path, weights_2d, capsys, args, message) -> None:
    src, _ = weights_2d
    argv = ["weights", *(a.format(tmp=tmp_path, src=src) for a in args)]
    (tmp_path / "w.bin").write_bytes(b"")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
