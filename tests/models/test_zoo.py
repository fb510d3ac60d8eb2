"""Every registered model, for signals, images and volumes, on tiny inputs.

The model list comes from the registry, so a family registered later is covered without editing
this file, for each ``spatial_dims`` its registration declares (all three unless it says
otherwise, e.g. the 2.5D model takes volumes only). Options that only make a model cheaper
(``pool_size=1``) are passed where a builder accepts them, found from its signature (or its
model class's, when the builder forwards ``**kwargs``). Family-specific checks (torchvision
layout, stems, options) follow at the end.
"""

from __future__ import annotations

import functools
import inspect

import pytest
import torch
from torch import nn

from healthcnn.layers import conv_type, norm_type, pool_type
from healthcnn.models import ClassifierModel, create_model, list_models
from healthcnn.models._registry import get_entry

MODELS = list_models()
#: every registered model with each spatial_dims it is defined for (the registry declares them)
MODEL_DIMS = [(n, d) for n in MODELS for d in (1, 2, 3) if d in get_entry(n).spatial_dims]
BATCH, IN_CHANNELS, NUM_CLASSES = 2, 2, 3
# Options that shrink a model without changing its structure, passed where a model accepts them.
SMALL_OPTIONS = {"pool_size": 1}
# A small size per axis for each spatial_dims, raised to the model's minimum. Large enough that
# training-mode batch norm in a deep network's third stage sees more than one value per channel
# and sample (with one, the normalisation's gradient grows without bound).
SMALL_SIZE = {1: 64, 2: 64, 3: 24}


@functools.cache
def accepted_options(name: str) -> frozenset[str]:
    """Keyword options of a registered builder (or of the model class it forwards to)."""
    entry = get_entry(name)
    params = inspect.signature(entry.builder).parameters.values()
    names = {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        dims = 2 if 2 in entry.spatial_dims else entry.spatial_dims[0]
        with torch.device("meta"):
            model = entry.builder(spatial_dims=dims, in_channels=IN_CHANNELS, num_classes=2)
        names |= set(inspect.signature(type(model)).parameters)
    return frozenset(names)


def small_kwargs(name: str) -> dict:
    return {k: v for k, v in SMALL_OPTIONS.items() if k in accepted_options(name)}


def build(name: str, spatial_dims: int, **kwargs) -> ClassifierModel:
    torch.manual_seed(0)
    options = {**small_kwargs(name), **kwargs}
    return create_model(
        name, spatial_dims=spatial_dims, in_channels=IN_CHANNELS, num_classes=NUM_CLASSES, **options
    )


@pytest.mark.parametrize(("name", "spatial_dims"), MODEL_DIMS)
def test_model_surface(name: str, spatial_dims: int) -> None:
    model = build(name, spatial_dims)
    assert isinstance(model, ClassifierModel)
    size = max(model.min_input_size, SMALL_SIZE[spatial_dims])
    x = torch.randn(BATCH, IN_CHANNELS, *[size] * spatial_dims, requires_grad=True)

    # Training mode: logits only, finite, and gradients reach the input.
    model.train()
    out = model(x)
    assert type(out) is torch.Tensor
    assert out.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0

    # Evaluation mode (one sample keeps 3D cheap): the same return type; forward equals
    # head(features); pre-logits have num_features columns and the classifier maps them to the
    # logits.
    model.eval()
    with torch.no_grad():
        x1 = x[:1].detach()
        logits = model(x1)
        assert type(logits) is torch.Tensor
        assert logits.shape == (1, NUM_CLASSES)
        features = model.forward_features(x1)
        torch.testing.assert_close(model.forward_head(features), logits)
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (1, model.num_features)
        torch.testing.assert_close(model.get_classifier()(pre), logits)

        # reset_classifier swaps the last layer and keeps its width.
        width = model.num_features
        model.reset_classifier(5)
        assert model.num_classes == 5
        assert model.num_features == width
        assert model.get_classifier().out_features == 5
        assert model.forward_head(features).shape == (1, 5)

        if spatial_dims < 3:  # the per-axis rule is the same in 3D, where it is costlier
            check_min_input_size(model, name)


def check_min_input_size(model: ClassifierModel, name: str) -> None:
    """The minimum works, one less raises a ValueError naming it, and the layers themselves
    fail one below it (so the minimum is not overstated)."""
    d, m = model.spatial_dims, model.min_input_size
    assert m == get_entry(name).min_input_size, "the registry and the model disagree"
    assert model(torch.randn(1, IN_CHANNELS, *[m] * d)).shape == (1, model.num_classes)
    too_small = torch.randn(1, IN_CHANNELS, *[m] * (d - 1), m - 1)
    with pytest.raises(ValueError, match=rf"at least {m} per spatial axis"):
        model(too_small)
    if m > 1:
        with pytest.raises(RuntimeError):
            model.forward_head(model.forward_features(too_small))


@pytest.mark.parametrize(
    ("name", "size", "n_aux"),
    [("googlenet", 40, 2), ("googlenet_tv", 40, 2), ("inception_v3", 75, 1)],
)
def test_forward_returns_logits_in_train_and_eval_and_aux_come_separately(
    name: str, size: int, n_aux: int
) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=1, num_classes=5, aux_logits=True)
    x = torch.randn(2, 1, size, size)
    for train in (True, False):
        model.train(train)
        out = model(x)
        assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
        logits, aux = model.forward_with_aux(x)
        assert logits.shape == (2, 5)
        assert isinstance(aux, list) and [a.shape for a in aux] == [(2, 5)] * n_aux
    # In eval mode the main logits of both paths are the same numbers.
    torch.testing.assert_close(model(x), model.forward_with_aux(x)[0])


def test_wrong_channels_and_rank_raise() -> None:
    model = build("simple_cnn", 2)
    with pytest.raises(ValueError, match="in_channels=2"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        model(torch.randn(1, 2, 16))


# ---- acceptance: volumes and long signals ----------------------------------------------------


def test_resnet18_volume() -> None:
    model = create_model("resnet18", spatial_dims=3, in_channels=1, num_classes=2).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 64, 64, 64))
    assert out.shape == (1, 2)
    assert torch.isfinite(out).all()


def test_resnet18_signal() -> None:
    model = create_model("resnet18", spatial_dims=1, in_channels=12, num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 12, 5000))
    assert out.shape == (1, 5)
    assert torch.isfinite(out).all()


# ---- family specifics ------------------------------------------------------------------------


# torchvision's Inception v3 state dict holds the auxiliary classifier
LAYOUT_OPTIONS = {"inception_v3": {"aux_logits": True}}


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        # the adaptive pool before the classifier is the identity at the published sizes
        ("alexnet", 227, (256, 6, 6)),
        ("alexnet_tv", 224, (256, 6, 6)),
        ("vgg16", 224, (512, 7, 7)),
        ("vgg16_bn", 224, (512, 7, 7)),
        ("resnet18", 224, (512, 7, 7)),
        ("resnet50", 224, (2048, 7, 7)),
    ],
)
def test_feature_map_at_published_size(name: str, size: int, expected: tuple) -> None:
    model = _meta(name).eval()
    features = model.forward_features(torch.empty(1, 3, size, size, device="meta"))
    assert tuple(features.shape[1:]) == expected


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        (
            "alexnet_tv",
            {
                "features.0.weight": (64, 3, 11, 11),
                "features.3.weight": (192, 64, 5, 5),
                "features.6.weight": (384, 192, 3, 3),
                "features.8.weight": (256, 384, 3, 3),
                "features.10.weight": (256, 256, 3, 3),
                "classifier.1.weight": (4096, 9216),
                "classifier.4.weight": (4096, 4096),
                "classifier.6.weight": (1000, 4096),
            },
        ),
        (
            "alexnet",
            {
                "features.0.weight": (96, 3, 11, 11),
                "features.3.weight": (256, 96, 5, 5),
                "features.10.weight": (256, 384, 3, 3),
                "classifier.1.weight": (4096, 9216),
            },
        ),
        (
            "vgg16",
            {
                "features.0.weight": (64, 3, 3, 3),
                "features.28.weight": (512, 512, 3, 3),
                "classifier.0.weight": (4096, 25088),
                "classifier.3.weight": (4096, 4096),
                "classifier.6.weight": (1000, 4096),
            },
        ),
        (
            "vgg16_bn",
            {
                "features.0.bias": (64,),
                "features.1.running_mean": (64,),
                "features.40.weight": (512, 512, 3, 3),
                "features.41.running_var": (512,),
            },
        ),
        (
            "resnet18",
            {
                "conv1.weight": (64, 3, 7, 7),
                "bn1.running_mean": (64,),
                "layer1.0.conv1.weight": (64, 64, 3, 3),
                "layer2.0.downsample.0.weight": (128, 64, 1, 1),
                "layer2.0.downsample.1.num_batches_tracked": (),
                "layer4.1.bn2.weight": (512,),
                "fc.weight": (1000, 512),
            },
        ),
        (
            "resnet50",
            {
                "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                "layer1.0.conv3.weight": (256, 64, 1, 1),
                "layer4.2.bn3.bias": (2048,),
                "fc.weight": (1000, 2048),
            },
        ),
        (
            "inception_v3",
            {
                "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
                "Conv2d_1a_3x3.bn.running_mean": (32,),
                "Conv2d_3b_1x1.conv.weight": (80, 64, 1, 1),
                "Conv2d_4a_3x3.bn.num_batches_tracked": (),
                "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
                "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
                "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
                "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
                "Mixed_6b.branch7x7_3.conv.weight": (192, 128, 7, 1),
                "Mixed_6e.branch7x7dbl_2.conv.weight": (192, 192, 7, 1),
                "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
                "AuxLogits.conv0.conv.weight": (128, 768, 1, 1),
                "AuxLogits.conv1.conv.weight": (768, 128, 5, 5),
                "AuxLogits.fc.weight": (1000, 768),
                "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
                "Mixed_7b.branch3x3_2a.conv.weight": (384, 384, 1, 3),
                "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
                "fc.weight": (1000, 2048),
            },
        ),
    ],
)
def test_torchvision_key_layout(name: str, shapes: dict) -> None:
    state = _meta(name, **LAYOUT_OPTIONS.get(name, {})).state_dict()
    for key, shape in shapes.items():
        assert key in state, f"{name} lacks torchvision key {key}"
        assert tuple(state[key].shape) == shape, key


def test_torchvision_layout_has_no_extra_keys() -> None:
    # torchvision's ResNet-18 state dict: 20 convolutions and fc (weights + fc bias), 20 batch
    # norms with 5 entries each.
    state = _meta("resnet18").state_dict()
    assert len(state) == 20 + 2 + 20 * 5
    assert not [k for k in state if "maxpool" in k or "relu" in k or "avgpool" in k]


@pytest.mark.parametrize(
    ("spatial_dims", "size", "expected"),
    # the MedMNIST 28 px setting keeps full resolution through layer1: 28 -> 28, 14, 7, 4
    [(1, 28, 4), (2, 28, 4), (3, 8, 1)],
)
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_small_stem(name: str, spatial_dims: int, size: int, expected: int) -> None:
    model = build(name, spatial_dims, stem="small")
    assert isinstance(model.maxpool, nn.Identity)
    assert model.conv1.weight.shape == (64, IN_CHANNELS, *[3] * spatial_dims)
    assert model.conv1.stride == (1,) * spatial_dims
    # the same keys as the ImageNet stem: only conv1's kernel differs
    imagenet = _meta(name, spatial_dims=spatial_dims, in_channels=IN_CHANNELS, num_classes=3)
    assert list(model.state_dict()) == list(imagenet.state_dict())
    assert isinstance(imagenet.maxpool, pool_type("max", spatial_dims))
    x = torch.randn(BATCH, IN_CHANNELS, *[size] * spatial_dims)
    with torch.no_grad():
        assert model.forward_features(x).shape[2:] == (expected,) * spatial_dims
        assert model(x).shape == (BATCH, NUM_CLASSES)


def test_resnet_unknown_stem_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"imagenet.*small"):
        create_model("resnet18", stem="tiny")


def test_resnet_norm_and_act_are_data() -> None:
    model = build("resnet18", 2, norm=("group", {"num_groups": 8}), act="silu")
    group = norm_type("group", 2)
    assert isinstance(model.bn1, group) and model.bn1.num_groups == 8
    assert isinstance(model.layer2[0].downsample[1], group)
    assert isinstance(model.relu, nn.SiLU) and isinstance(model.layer3[1].relu, nn.SiLU)
    assert not [m for m in model.modules() if isinstance(m, norm_type("batch", 2))]

    plain = build("resnet18", 2, norm=None)
    convs = [m for m in plain.modules() if isinstance(m, conv_type(2))]
    assert convs and all(c.bias is not None for c in convs)
    x = torch.randn(BATCH, IN_CHANNELS, 32, 32)
    with torch.no_grad():
        assert torch.isfinite(model(x)).all() and torch.isfinite(plain(x)).all()


def test_resnet_groups_and_width() -> None:
    # ResNeXt-50 32x4d and Wide ResNet-50-2; counts as torchvision's model documentation lists.
    resnext = _meta("resnet50", groups=32, width_per_group=4)
    assert resnext.layer1[0].conv2.groups == 32
    assert resnext.layer1[0].conv2.out_channels == 128
    assert sum(p.numel() for p in resnext.parameters()) == 25_028_904
    wide = _meta("resnet50", width_per_group=128)
    assert sum(p.numel() for p in wide.parameters()) == 68_883_240
    with pytest.raises(ValueError, match="groups=1 and width_per_group=64"):
        create_model("resnet18", groups=32)


def test_resnet_zero_init_residual() -> None:
    def blocks(model: nn.Module) -> list[nn.Module]:
        return [
            b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer
        ]

    zeroed = build("resnet50", 1, zero_init_residual=True)
    assert all(b.bn3.weight.eq(0).all() and b.bn2.weight.eq(1).all() for b in blocks(zeroed))
    assert zeroed.bn1.weight.eq(1).all()
    default = build("resnet50", 1)
    assert all(b.bn3.weight.eq(1).all() for b in blocks(default))


@pytest.mark.parametrize(
    ("name", "channels", "default_pool"),
    [("alexnet", 256, 6), ("alexnet_tv", 256, 6), ("vgg11", 512, 7)],
)
def test_pool_size_and_dropout_options(name: str, channels: int, default_pool: int) -> None:
    def first_linear(model: nn.Module) -> nn.Linear:
        return next(m for m in model.classifier if isinstance(m, nn.Linear))

    default = _meta(name, spatial_dims=3)
    assert first_linear(default).in_features == channels * default_pool**3
    assert {m.p for m in default.classifier if isinstance(m, nn.Dropout)} == {0.5}
    small = _meta(name, spatial_dims=3, pool_size=(1, 2, 3), dropout=0.25)
    assert first_linear(small).in_features == channels * 1 * 2 * 3
    assert small.num_features == default.num_features == 4096
    assert {m.p for m in small.classifier if isinstance(m, nn.Dropout)} == {0.25}
    x = torch.randn(1, 3, *[small.min_input_size] * 3, device="meta")
    assert small.eval()(x).shape == (1, 1000)
    with pytest.raises(ValueError, match="pool_size"):
        create_model(name, pool_size=0)


def test_simple_cnn_channels_set_minimum() -> None:
    model = build("simple_cnn", 2, channels=(8, 16))
    assert model.min_input_size == 4
    assert model.num_features == 16
    with pytest.raises(ValueError, match="channels"):
        create_model("simple_cnn", channels=())
