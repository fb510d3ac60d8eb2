"""Weight files and loading: safe reading, round trips, mismatch errors, fine-tuning and
input-channel adaptation (inflation to 1D/3D: test_weights_inflate.py)."""

from __future__ import annotations

import os
import pickle
import shlex
import warnings
from pathlib import Path

import pytest
import torch

from healthcnn.models import create_model
from healthcnn.models.weights import (
    WeightAdaptationWarning,
    load_state_file,
    load_weights,
    save_state_file,
)


def _randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial batch-norm statistics and weights, so eval-mode comparisons mean something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif t.dim() == 1:
                t.copy_(0.1 * torch.randn(t.shape, generator=g) + (name.endswith("weight")))
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)
    return model.eval()


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    return bool((a - b).abs().max() <= rtol * b.abs().max() + 1e-6)


@pytest.fixture(scope="module")
def resnet18() -> torch.nn.Module:
    return _randomised(create_model("resnet18"))


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


# ---- files -----------------------------------------------------------------------------------


def test_safetensors_round_trip(tmp_path: Path, resnet18, image) -> None:
    path = save_state_file(resnet18.state_dict(), tmp_path / "r18.safetensors")
    state = load_state_file(path)
    assert sorted(state) == sorted(resnet18.state_dict())  # safetensors sorts the keys
    fresh = create_model("resnet18")
    result = load_weights(fresh, path)
    assert not (result.missing or result.unexpected or result.reinitialised or result.adapted)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(image), resnet18(image))


@pytest.mark.parametrize("wrap", ["plain", "checkpoint", "ddp"])
def test_pt_round_trip(tmp_path: Path, wrap: str) -> None:
    model = _randomised(create_model("simple_cnn", num_classes=4))
    state = model.state_dict()
    if wrap == "checkpoint":
        obj = {"epoch": 3, "state_dict": state, "optimizer": {"lr": 0.1}}
    elif wrap == "ddp":
        obj = {f"module.{k}": v for k, v in state.items()}
    else:
        obj = state
    torch.save(obj, tmp_path / "w.pth")
    loaded = load_state_file(tmp_path / "w.pth")
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    fresh = create_model("simple_cnn", num_classes=4, weights=tmp_path / "w.pth")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


class _Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize("how", ["torch.save", "raw pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"conv.weight": torch.zeros(1), "x": _Evil(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ValueError, match=r"evil\.pt.*only tensors"):
        load_state_file(path)
    with pytest.raises(ValueError, match="only tensors"):
        create_model("simple_cnn", weights=path)
    assert not marker.exists()
    # control: the payload is live; an unrestricted unpickler runs it
    if how == "torch.save":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_state_file(tmp_path / "missing.pt")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"'\.npz'.*\.safetensors"):
        load_state_file(tmp_path / "w.npz")
    torch.save({"w": torch.zeros(2), "epoch": 3}, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match=r"'epoch'.*not tensors"):
        load_state_file(tmp_path / "mixed.pt")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"broken\.safetensors"):
        load_state_file(tmp_path / "broken.safetensors")
    with pytest.raises(ValueError, match="not tensors"):
        save_state_file({"w": 3}, tmp_path / "out.safetensors")
    with pytest.raises(ValueError, match="safetensors only"):
        save_state_file({"w": torch.zeros(1)}, tmp_path / "out.pt")


def test_save_state_file_handles_shared_and_strided_tensors(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    state = {"a": base, "tied": base, "t": base.t()}
    path = save_state_file(state, tmp_path / "s.safetensors", metadata={"note": "x"})
    back = load_state_file(path)
    assert torch.equal(back["tied"], base) and torch.equal(back["t"], base.t())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.safetensors"]


# ---- mismatches --------------------------------------------------------------------------------


def test_missing_and_unexpected_keys_are_listed(resnet18) -> None:
    state = dict(resnet18.state_dict())
    del state["layer2.0.bn1.running_mean"]
    state["extra.weight"] = torch.zeros(3)
    with pytest.raises(ValueError) as info:
        load_weights(create_model("resnet18"), state)
    message = str(info.value)
    assert "1 key(s) missing" in message and "'layer2.0.bn1.running_mean'" in message
    assert "1 unexpected key(s)" in message and "'extra.weight'" in message
    assert "strict=False" in message

    model = create_model("resnet18")
    result = load_weights(model, state, strict=False)
    assert result.missing == ("layer2.0.bn1.running_mean",)
    assert result.unexpected == ("extra.weight",)
    assert torch.equal(model.state_dict()["layer4.1.bn2.weight"], state["layer4.1.bn2.weight"])


def test_many_missing_keys_are_counted_not_all_listed(resnet18) -> None:
    state = {k: v for k, v in resnet18.state_dict().items() if not k.startswith("layer4")}
    with pytest.raises(ValueError, match=r"key\(s\) missing.*\.\.\. and \d+ more"):
        load_weights(create_model("resnet18"), state)


def test_shape_mismatch_names_the_key(resnet18) -> None:
    state = dict(resnet18.state_dict())
    state["layer3.1.conv2.weight"] = torch.zeros(256, 256, 5, 5)
    with pytest.raises(
        ValueError, match=r"layer3\.1\.conv2\.weight: checkpoint \(256, 256, 5, 5\)"
    ):
        load_weights(create_model("resnet18"), state)
    missing_num_batches = {
        k: v for k, v in resnet18.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    assert load_weights(create_model("resnet18"), missing_num_batches).missing == ()


def test_wrong_source_type() -> None:
    with pytest.raises(TypeError, match="file path or a state dict"):
        load_weights(create_model("simple_cnn"), 42)


# ---- adaptation ----------------------------------------------------------------------------------


def test_num_classes_change_keeps_new_classifier_and_warns(resnet18, image) -> None:
    model = create_model("resnet18", num_classes=5)
    fc_before = {k: v.clone() for k, v in model.fc.state_dict().items()}
    with pytest.warns(WeightAdaptationWarning, match=r"1000 outputs.*5.*fine-tuning"):
        result = load_weights(model, resnet18.state_dict())
    assert set(result.reinitialised) == {"fc.weight", "fc.bias"}
    assert all(torch.equal(model.fc.state_dict()[k], v) for k, v in fc_before.items())
    for key, value in resnet18.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(model.state_dict()[key], value), key
    model.eval()
    with torch.no_grad():  # the features are the checkpoint's
        assert torch.equal(model.forward_features(image), resnet18.forward_features(image))


def test_num_classes_change_covers_auxiliary_heads() -> None:
    source = create_model("googlenet_tv", aux_logits=True)
    model = create_model("googlenet_tv", aux_logits=True, num_classes=3)
    with pytest.warns(WeightAdaptationWarning, match="fine-tuning"):
        result = load_weights(model, source.state_dict())
    assert set(result.reinitialised) == {
        "fc.weight", "fc.bias", "aux1.fc2.weight", "aux1.fc2.bias",
        "aux2.fc2.weight", "aux2.fc2.bias",
    }  # fmt: skip


def test_one_channel_adaptation_is_exact_for_grey_images(resnet18) -> None:
    grey = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    model = create_model("resnet18", in_channels=1)
    with pytest.warns(WeightAdaptationWarning, match=r"conv1\.weight from 3 to 1 input channels"):
        result = load_weights(model, resnet18.state_dict())
    assert result.adapted == ("conv1.weight",)
    with torch.no_grad():
        assert _close(model.eval()(grey), resnet18(grey.expand(-1, 3, -1, -1)))


def test_more_channels_repeat_rgb_cyclically_and_rescale(resnet18, image) -> None:
    w = resnet18.state_dict()["conv1.weight"]
    five = create_model("resnet18", in_channels=5)
    with pytest.warns(WeightAdaptationWarning, match="repeated cyclically"):
        load_weights(five, resnet18.state_dict())
    adapted = five.conv1.weight.detach()
    assert adapted.shape == (64, 5, 7, 7)
    for c in range(5):
        assert torch.allclose(adapted[:, c], w[:, c % 3] * 3 / 5)
    # with 6 channels an input of the RGB channels given twice is exactly the RGB response
    six = create_model("resnet18", in_channels=6)
    with pytest.warns(WeightAdaptationWarning):
        load_weights(six, resnet18.state_dict())
    with torch.no_grad():
        assert _close(six.eval()(image.repeat(1, 2, 1, 1)), resnet18(image))


def test_no_warning_when_nothing_is_adapted(tmp_path: Path) -> None:
    model = create_model("simple_cnn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_weights(create_model("simple_cnn"), model.state_dict())
