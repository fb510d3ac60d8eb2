"""Parameter and MAC counts against the published numbers (lecture and torchvision).

Models are built on the meta device (no memory, no initialisation) and MACs are measured with
PyTorch's own ``FlopCounterMode`` (FLOPs / 2; it counts convolutions and matrix products, bias
excluded), so these checks do not depend on this package's analyser.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from healthcnn.models import create_model, model_info
from healthcnn.shapes import conv_params, fc_params

# Published: canonical parameter counts at 2D, 3 channels, 1000 classes.
PARAMS = {
    "alexnet": 62_378_344,
    "alexnet_tv": 61_100_840,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet152": 60_192_808,
}

# Published: MACs (conv + linear, bias excluded), one image.
MACS = {
    ("alexnet", 227): 1_135_256_096,
    ("alexnet_tv", 224): 714_188_480,
    ("vgg16", 224): 15_470_264_320,
    ("resnet18", 224): 1_814_073_344,
    ("resnet152", 224): 11_513_626_624,
}


def meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs).eval()


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, *input_shape: int) -> int:
    x = torch.empty(1, *input_shape, device="meta")
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(("name", "expected"), PARAMS.items())
def test_parameter_count(name: str, expected: int) -> None:
    assert model_info(name).params == expected
    assert count(meta_model(name)) == expected


@pytest.mark.parametrize(("name", "size", "expected"), [(*k, v) for k, v in MACS.items()])
def test_macs(name: str, size: int, expected: int) -> None:
    assert macs(meta_model(name), 3, size, size) == expected


def test_vgg19_is_the_lectures_19_6_billion() -> None:
    # Published: the lecture's "VGG 19.6B" is VGG-19's figure (rounded).
    assert round(macs(meta_model("vgg19"), 3, 224, 224) / 1e9, 1) == 19.6


def test_lecture_alexnet_layer_arithmetic() -> None:
    # The lecture's worked examples: the first convolution on 227x227x3 (96 filters 11/4,
    # no padding) has 34,944 parameters, gives 55x55x96 and costs 105,415,200 calculations;
    # max pool 3/2 makes 27x27x96 of it, and the last one 6x6x256 of 13x13x256.
    model = meta_model("alexnet")
    conv1 = model.features[0]
    assert count(conv1) == 34_944
    assert macs(conv1, 3, 227, 227) == 105_415_200
    x = torch.empty(1, 3, 227, 227, device="meta")
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[0] == (96, 55, 55)
    assert shapes[2] == (96, 27, 27)
    assert shapes[-2] == (256, 13, 13)
    assert shapes[-1] == (256, 6, 6)
    assert model.classifier[1].weight.shape == (4096, 6 * 6 * 256)


def test_lecture_resnet18_count() -> None:
    # Published: the lecture's 11,511,784 counts convolutions with bias, no batch norm and
    # no 1x1 projection shortcuts. norm=None gives the biased convolutions without norms; taking
    # the projection shortcuts away leaves the lecture's network.
    model = meta_model("resnet18", norm=None)
    shortcuts = sum(count(m.downsample) for m in model.modules() if getattr(m, "downsample", None))
    assert count(model) - shortcuts == 11_511_784


@pytest.mark.parametrize(
    ("name", "channels", "pool"),
    [("alexnet", (96, 256, 384, 384, 256), 6), ("alexnet_tv", (64, 192, 384, 256, 256), 6)],
)
def test_alexnet_3d_count_by_formula(name: str, channels: tuple, pool: int) -> None:
    # The 3D count the module docstring states, recomputed with the lecture's formulas.
    kernels = (11, 5, 3, 3, 3)
    expected = sum(
        conv_params(cin, cout, k, spatial_dims=3)
        for cin, cout, k in zip((3, *channels[:-1]), channels, kernels, strict=True)
    )
    expected += fc_params(256 * pool**3, 4096) + fc_params(4096, 4096) + fc_params(4096, 1000)
    assert count(meta_model(name, spatial_dims=3)) == expected
    # the documented numbers
    assert expected == {"alexnet": 260_121_256, "alexnet_tv": 255_581_864}[name]
