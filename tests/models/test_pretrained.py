"""Pretrained weights by name (``models/pretrained.py``), fetched from a local HTTP server.

No network: a server on 127.0.0.1 serves a fabricated weights file (the state dict of a freshly
initialised healthcnn ResNet-18, saved with ``torch.save`` as torchvision saves its files) under
a torchvision-style name carrying the first 8 hex digits of its real SHA-256, and
``$HEALTHCNN_WEIGHTS_URL`` points the downloader at it. torch's hub cache is redirected to an
empty folder so that no file of the machine is used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from healthcnn.data.root import ChecksumError, DataError
from healthcnn.models import create_model, pretrained
from healthcnn.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    URL_ENV,
    normalisation_for,
    pretrained_file,
    pretrained_weights,
)
from healthcnn.models.weights import WeightAdaptationWarning
from weights_server import WeightsServer, closed_port_base


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory) -> tuple[str, bytes, dict[str, torch.Tensor]]:
    """A ResNet-18 state dict saved as torchvision saves its files: (file name, bytes, state)."""
    torch.manual_seed(3)
    state = create_model("resnet18").state_dict()
    path = tmp_path_factory.mktemp("fab") / "w.pth"
    torch.save(state, path)
    data = path.read_bytes()
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    return name, data, state


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fabricated) -> Path:
    """A fresh data root, an empty torch hub cache, and the table entry of resnet18 V1 naming
    the fabricated file; returns the data root."""
    root = tmp_path / "data"
    monkeypatch.setenv("HEALTHCNN_DATA", str(root))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(pretrained._FILES, ("resnet18", pretrained.V1), fabricated[0])
    return root


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_download_verifies_and_loads(env: Path, fabricated, monkeypatch) -> None:
    name, data, state = fabricated
    with WeightsServer({name: data}) as server:
        monkeypatch.setenv(URL_ENV, server.base)
        model = create_model("resnet18", weights="imagenet")
    assert _same(model.state_dict(), state)
    assert (env / "weights" / name).read_bytes() == data
    assert [p.name for p in (env / "weights").iterdir()] == [name]  # no .part left
    assert server.requests == [f"/models/{name}"]
    # present and verified: no server needed the second time
    monkeypatch.setenv(URL_ENV, closed_port_base())
    assert _same(create_model("resnet18", weights="IMAGENET1K_V1").state_dict(), state)


@pytest.mark.parametrize("damage", ["flipped", "truncated", "other file"])
def test_a_corrupt_or_wrong_file_is_refused_and_nothing_stays(env, fabricated, monkeypatch, damage):
    name, data, _ = fabricated
    bad = {
        "flipped": data[:100] + bytes([data[100] ^ 1]) + data[101:],
        "truncated": data[: len(data) // 2],
        "other file": torch.zeros(3).numpy().tobytes(),
    }[damage]
    with WeightsServer({name: bad}) as server:
        monkeypatch.setenv(URL_ENV, server.base)
        with pytest.raises(ChecksumError, match=f"expected one starting with {name[9:17]}"):
            create_model("resnet18", weights="imagenet")
    folder = env / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_offline_is_one_line_with_the_address_and_the_place(env, fabricated, monkeypatch) -> None:
    name = fabricated[0]
    base = closed_port_base()
    monkeypatch.setenv(URL_ENV, base)
    with pytest.raises(DataError) as info:
        create_model("resnet18", weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert base + name in message and str(env / "weights" / name) in message
    assert "offline or unreachable" in message


def test_no_download_says_where_to_place_the_file(env, fabricated) -> None:
    with pytest.raises(DataError, match=r"downloads are off; download .* and place it there"):
        pretrained_file("resnet18", "imagenet", download_missing=False)


def test_a_copy_in_torchs_hub_cache_is_used_where_it_is(env, fabricated, monkeypatch, tmp_path):
    name, data, state = fabricated
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / name).write_bytes(data)
    monkeypatch.setenv(URL_ENV, closed_port_base())
    assert pretrained_file("resnet18") == hub / name
    assert _same(create_model("resnet18", weights="DEFAULT").state_dict(), state)
    assert not (env / "weights").exists()


def test_grey_3d_model_from_the_downloaded_file(env, fabricated, monkeypatch) -> None:
    """in_channels=1 (kernel summed over RGB) and 3D (i3d inflation) from the same file."""
    name, data, state = fabricated
    with WeightsServer({name: data}) as server, pytest.warns(WeightAdaptationWarning):
        monkeypatch.setenv(URL_ENV, server.base)
        model = create_model(
            "resnet18", spatial_dims=3, in_channels=1, num_classes=2, weights="imagenet"
        )
    w2d = state["conv1.weight"]  # (64, 3, 7, 7)
    expected = w2d.sum(dim=1, keepdim=True).unsqueeze(2).repeat(1, 1, 7, 1, 1) / 7
    assert torch.allclose(model.conv1.weight, expected, atol=1e-6)
    assert torch.equal(model.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])
    assert model.eval()(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 2)


def test_googlenet_files_load_without_their_auxiliary_heads(tmp_path, monkeypatch) -> None:
    """torchvision's GoogLeNet file holds aux1/aux2 (it is saved with them); a model built
    without auxiliary heads drops them, one built with them loads them."""
    source = create_model("googlenet_tv", aux_logits=True)
    path = tmp_path / pretrained._FILES[("googlenet_tv", pretrained.V1)]
    torch.save(source.state_dict(), path)
    plain = create_model("googlenet_tv", weights=path)
    assert not any(k.startswith("aux") for k in plain.state_dict())
    with_aux = create_model("googlenet_tv", aux_logits=True, weights=path)
    assert _same(with_aux.state_dict(), source.state_dict())


def test_names_table_and_normalisation() -> None:
    assert pretrained_weights("resnet50", "DEFAULT").file == "resnet50-11ad3fa6.pth"
    assert pretrained_weights("resnet50", "imagenet").file == "resnet50-0676ba61.pth"
    assert pretrained_weights("resnet18", "default").tag == "IMAGENET1K_V1"
    assert pretrained_weights("inception_v3").sha256_prefix == "0cc3c7bd"
    assert (
        pretrained_weights("vgg16_bn").url("http://mirror/x/")
        == "http://mirror/x/vgg16_bn-6c64b313.pth"
    )
    with pytest.raises(ValueError, match="publishes IMAGENET1K_V1 for resnet18, not IMAGENET1K_V2"):
        pretrained_weights("resnet18", "IMAGENET1K_V2")
    assert normalisation_for("resnet18", "imagenet", 3) == (IMAGENET_MEAN, IMAGENET_STD)
    assert normalisation_for("vgg11", "/x/vgg11-8a719046.pth", 3) == (IMAGENET_MEAN, IMAGENET_STD)
    assert normalisation_for("googlenet_tv", "imagenet", 3) == ((0.5,) * 3, (0.5,) * 3)
    mean, std = normalisation_for("resnet18", "imagenet", 1)
    assert mean == pytest.approx((sum(IMAGENET_MEAN) / 3,)) and std == pytest.approx(
        (sum(IMAGENET_STD) / 3,)
    )
    assert normalisation_for("resnet18", "imagenet", 4)[0] == (*IMAGENET_MEAN, IMAGENET_MEAN[0])
    assert normalisation_for("resnet18", "my-own.pth", 3) is None


def _golden_layout(model: str) -> dict[str, tuple[int, ...]]:
    """The state-dict layout of torchvision's model as it saves its published file (GoogLeNet
    and Inception-v3 with their auxiliary heads), from tests/golden/torchvision."""
    golden = Path(__file__).resolve().parents[1] / "golden" / "torchvision"
    for path in sorted(golden.glob("*.json")):
        doc = json.loads(path.read_text())
        with_aux = doc["healthcnn_kwargs"].get("aux_logits", False)
        if doc["healthcnn_name"] == model and with_aux == (model in pretrained._AUX_PREFIXES):
            return {key: tuple(shape) for key, shape, _ in doc["state_dict"]}
    raise AssertionError(f"no golden layout for {model}")


@pytest.mark.parametrize("model", pretrained.pretrained_models())
def test_every_published_file_layout_loads_into_the_default_model(model: str) -> None:
    """Each table entry is a registered model whose default build takes the published file's
    keys and shapes (after dropping auxiliary heads it is built without)."""
    layout = _golden_layout(model)
    drop = pretrained._AUX_PREFIXES.get(model, ())
    kept = {k: v for k, v in layout.items() if not (drop and k.startswith(drop))}
    with torch.device("meta"):
        built = {k: tuple(v.shape) for k, v in create_model(model).state_dict().items()}
    assert built == kept
    prefix = pretrained_weights(model, "imagenet").sha256_prefix
    assert len(prefix) == 8 and int(prefix, 16) >= 0
