"""``healthcnn train --weights imagenet``: the published weights are fetched (from a local
server here, through ``$HEALTHCNN_WEIGHTS_URL``), verified, loaded, and their normalisation is
written into the bundle's preprocessing record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from healthcnn.cli import main
from healthcnn.models import create_model, pretrained
from healthcnn.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, URL_ENV
from weights_server import WeightsServer, closed_port_base

pytestmark = pytest.mark.data


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fabricated ResNet-18 file under its hash-prefixed name, listed as resnet18's V1."""
    torch.manual_seed(0)
    path = tmp_path / "w.pth"
    torch.save(create_model("resnet18").state_dict(), path)
    data = path.read_bytes()
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setitem(pretrained._FILES, ("resnet18", pretrained.V1), name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return name, data


def _args(npz: Path, out: Path, root: Path) -> list[str]:
    return [
        "train", "--data", str(npz), "--model", "resnet18", "--weights", "imagenet",
        "--epochs", "1", "--batch-size", "16", "--precision", "fp32",
        "--data-dir", str(root), "--out", str(out), "--format", "json",
    ]  # fmt: skip


def test_train_with_imagenet_weights(served, retina_subset, tmp_path, monkeypatch, capsys) -> None:
    name, data = served
    npz = retina_subset(tmp_path / "retina_small.npz", {"train": 32, "val": 16, "test": 16})
    root, out = tmp_path / "root", tmp_path / "run"
    with WeightsServer({name: data}) as server:
        monkeypatch.setenv(URL_ENV, server.base)
        finetune = ["--backbone-lr-scale", "0.1", "--freeze-backbone-epochs", "1"]
        assert main([*_args(npz, out, root), *finetune]) == 0
    capsys.readouterr()
    assert (root / "weights" / name).is_file()  # fetched into the --data-dir root
    meta = json.loads((out / "metadata.json").read_text())
    record = meta["preprocessing"]
    assert record["mean"] == pytest.approx(IMAGENET_MEAN) and record["std"] == pytest.approx(
        IMAGENET_STD
    )
    assert meta["pretrained"] == {
        "weights": "imagenet",
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert meta["train_config"]["weights"] == "imagenet"
    train = meta["train_config"]["train"]
    assert (train["backbone_lr_scale"], train["freeze_backbone_epochs"]) == (0.1, 1)
    config = json.loads((out / "config.json").read_text())
    assert "weights" not in config["model_kwargs"]  # the bundle never fetches again on load
    assert "stem" not in config["model_kwargs"]  # torchvision's stem, as the weights need


def test_offline_train_is_one_line(served, tmp_path, monkeypatch, capsys) -> None:
    name, _ = served
    base = closed_port_base()
    monkeypatch.setenv(URL_ENV, base)
    npz = tmp_path / "never_read.npz"
    assert main(_args(npz, tmp_path / "run", tmp_path / "root")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and base + name in err[0] and "place it at" in err[0]
    assert not (tmp_path / "run").exists()


def test_no_download_and_bad_names(served, tmp_path, capsys) -> None:
    base = ["train", "--data", str(tmp_path / "x.npz"), "--out", str(tmp_path / "run")]
    assert main([*base, "--weights", "imagenet", "--no-download", "--data-dir", str(tmp_path)]) == 2
    assert "downloads are off" in capsys.readouterr().err
    assert main([*base, "--weights", "imagenett"]) == 2
    assert "neither a weights file" in capsys.readouterr().err
    assert main([*base, "--model", "alexnet", "--weights", "imagenet"]) == 2
    assert "alexnet_tv" in capsys.readouterr().err
