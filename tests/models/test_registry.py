"""The model registry: registration, pattern listing, lookup errors, model_info, create_model."""

from __future__ import annotations

import pytest
import torch

from healthcnn.models import _registry, create_model, list_models, model_info, register_model
from healthcnn.models.resnet import resnet18

MODELS = list_models()
REGISTRATION = dict(family="test", paper="nobody", default_input_size=8, min_input_size=1)


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A copy of the registry that is thrown away after the test."""
    registry = dict(_registry._REGISTRY)
    monkeypatch.setattr(_registry, "_REGISTRY", registry)
    return registry


def test_register_adds_a_model(scratch_registry: dict) -> None:
    @register_model(**REGISTRATION)
    def scratch_model(**kwargs):
        """A scratch model for the test.

        More text that is not the description.
        """
        return create_model("simple_cnn", **kwargs)

    assert "scratch_model" in list_models("scratch*")
    assert scratch_registry["scratch_model"].description == "A scratch model for the test."
    assert create_model("scratch_model", num_classes=4).num_classes == 4


def test_duplicate_name_raises(scratch_registry: dict) -> None:
    before = dict(scratch_registry)
    with pytest.raises(ValueError, match="'resnet18' is already registered"):
        register_model(name="resnet18", **REGISTRATION)(lambda **kw: None)
    with pytest.raises(ValueError, match="already registered"):

        @register_model(**REGISTRATION)
        def resnet18(**kwargs):  # the function name is the registry name
            return None

    assert scratch_registry == before


def test_list_models_patterns() -> None:
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert list_models("alexnet*") == ["alexnet", "alexnet_tv"]
    assert list_models("no_such_model*") == []
    everything = list_models()
    assert everything == sorted(everything)
    assert {"alexnet", "simple_cnn", "vgg16", "resnet152"} <= set(everything)


@pytest.mark.parametrize("call", [create_model, model_info])
def test_unknown_name_lists_closest(call) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet19'\. Did you mean 'resnet18'"):
        call("resnet19")
    with pytest.raises(ValueError, match=r"Valid names: .*vgg16_bn"):
        call("vgg17_bn")


def test_model_info_fields() -> None:
    info = model_info("resnet18")
    assert info.name == "resnet18"
    assert info.family == "resnet"
    assert "He et al." in info.paper
    assert info.default_input_size == 224
    assert info.min_input_size == 1
    assert info.params == 11_689_512  # torchvision's published count
    assert info.description.startswith("ResNet-18")
    assert info.as_dict()["params"] == info.params
    lecture = model_info("alexnet")
    assert (lecture.default_input_size, lecture.min_input_size) == (227, 67)
    assert model_info("simple_cnn").default_input_size == 28


@pytest.mark.parametrize("name", MODELS)
def test_model_info_every_model(name: str) -> None:
    info = model_info(name)
    assert info.name == name
    assert info.family and info.paper and info.description
    assert 1 <= info.min_input_size <= info.default_input_size
    assert info.params > 0


def test_create_model_passes_options() -> None:
    model = create_model("resnet18", spatial_dims=1, in_channels=12, num_classes=5)
    assert model.conv1.weight.shape == (64, 12, 7)
    assert model.fc.out_features == 5
    assert (model.spatial_dims, model.in_channels, model.num_classes) == (1, 12, 5)

    zeroed = create_model("resnet18", num_classes=2, zero_init_residual=True)
    assert all(block.bn2.weight.eq(0).all() for block in zeroed.layer1)
    assert zeroed.bn1.weight.eq(1).all()

    with torch.device("meta"):
        vgg = create_model("vgg11", spatial_dims=3, pool_size=2)
    assert vgg.classifier[0].in_features == 512 * 2**3


def test_create_model_weights_default_is_none() -> None:
    # ``weights=None`` builds a freshly initialised model: same seed, same numbers.
    torch.manual_seed(1)
    a = create_model("simple_cnn", num_classes=2)
    torch.manual_seed(1)
    b = create_model("simple_cnn", num_classes=2, weights=None)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        torch.testing.assert_close(va, vb)


@pytest.mark.parametrize("name", MODELS)
def test_create_model_rejects_unknown_options(name: str) -> None:
    dims = _registry.get_entry(name).spatial_dims[-1]
    with pytest.raises(TypeError, match=rf"{name}: .*'no_such_option'"):
        create_model(name, spatial_dims=dims, no_such_option=1)


def test_declared_spatial_dims(scratch_registry: dict) -> None:
    @register_model(**REGISTRATION, spatial_dims=(3,))
    def volumes_only(**kwargs):
        """A model for volumes."""
        return create_model("simple_cnn", **kwargs)

    assert create_model("volumes_only", spatial_dims=3).spatial_dims == 3
    with pytest.raises(ValueError, match=r"volumes_only is defined for spatial_dims \(3,\)"):
        create_model("volumes_only", spatial_dims=2)
    assert model_info("volumes_only").params == sum(
        p.numel() for p in create_model("simple_cnn", spatial_dims=3).parameters()
    )
    assert _registry.get_entry("resnet18").spatial_dims == (1, 2, 3)


def test_create_model_rejects_bad_common_arguments() -> None:
    with pytest.raises(ValueError, match="spatial_dims"):
        create_model("resnet18", spatial_dims=4)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("simple_cnn", num_classes=0)
    with pytest.raises(ValueError, match="in_channels"):
        create_model("simple_cnn", in_channels=0)


def test_builders_are_plain_functions() -> None:
    # The registry stores the builder itself: calling it directly gives the same model.
    assert _registry.get_entry("resnet18").builder is resnet18
    assert type(resnet18(num_classes=3)).__name__ == "ResNet"
