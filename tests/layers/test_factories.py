"""Layer factories: classes by (name, spatial_dims), layer specs, and the lecture's convolutions.

The expected classes are written out here from ``torch.nn`` by name, independently of the
factories' own tables, so a wrong entry in a table fails a test.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from healthcnn.layers.blocks import ConvNormAct
from healthcnn.layers.factories import (
    act_type,
    conv_type,
    dropout_type,
    make_act,
    make_conv,
    make_dropout,
    make_norm,
    make_pool,
    norm_type,
    pool_type,
    valid_names,
)
from healthcnn.layers.pooling import SumPool

DIMS = (1, 2, 3)


def _nn(name: str, d: int) -> type[nn.Module]:
    return getattr(nn, name.format(d=d))


POOLS = {
    "max": "MaxPool{d}d",
    "avg": "AvgPool{d}d",
    "mean": "AvgPool{d}d",
    "adaptive_max": "AdaptiveMaxPool{d}d",
    "adaptive_avg": "AdaptiveAvgPool{d}d",
}
NORMS = {
    "batch": "BatchNorm{d}d",
    "instance": "InstanceNorm{d}d",
    "group": "GroupNorm",
    "local_response": "LocalResponseNorm",
}
DROPOUTS = {"dropout": "Dropout", "channel": "Dropout{d}d", "alpha": "AlphaDropout"}
ACTS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": nn.Softmax,
    "identity": nn.Identity,
}


# ---- every name x spatial_dims ---------------------------------------------------------------


def test_the_tables_here_cover_every_valid_name():
    assert valid_names("pool") == sorted([*POOLS, "sum"])
    assert valid_names("norm") == sorted(NORMS)
    assert valid_names("dropout") == sorted(DROPOUTS)
    assert valid_names("act") == sorted(ACTS)


@pytest.mark.parametrize("d", DIMS)
def test_conv_type(d):
    assert conv_type(d) is _nn("Conv{d}d", d)
    assert conv_type(d, transposed=True) is _nn("ConvTranspose{d}d", d)
    conv = make_conv(d, 2, 4, 3, stride=2, bias=False)
    assert type(conv) is _nn("Conv{d}d", d)
    assert conv.stride == (2,) * d and conv.bias is None


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_type(name, d):
    assert pool_type(name, d) is _nn(POOLS[name], d)


@pytest.mark.parametrize("d", DIMS)
def test_sum_pool_type(d):
    cls = pool_type("sum", d)
    assert issubclass(cls, SumPool)
    assert cls.__name__ == f"SumPool{d}d"
    assert cls(2).spatial_dims == d


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("name", sorted(NORMS))
def test_norm_type(name, d):
    assert norm_type(name, d) is _nn(NORMS[name], d)


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("name", sorted(DROPOUTS))
def test_dropout_type(name, d):
    assert dropout_type(name, d) is _nn(DROPOUTS[name], d)


@pytest.mark.parametrize("name", sorted(ACTS))
def test_act_type(name):
    assert act_type(name) is ACTS[name]


# ---- unknown names and bad dimensions --------------------------------------------------------


@pytest.mark.parametrize(
    ("lookup", "typo", "closest", "kind"),
    [
        (lambda n: pool_type(n, 2), "maxx", "max", "pool"),
        (lambda n: norm_type(n, 2), "bacth", "batch", "norm"),
        (act_type, "reul", "relu", "act"),
        (lambda n: dropout_type(n, 2), "chanel", "channel", "dropout"),
    ],
)
def test_unknown_name_lists_valid_names_and_the_closest(lookup, typo, closest, kind):
    with pytest.raises(ValueError) as info:
        lookup(typo)
    message = str(info.value)
    assert repr(typo) in message
    assert f"Did you mean {closest!r}" in message
    for name in valid_names(kind):
        assert name in message


def test_unknown_name_without_a_close_match_still_lists_the_names():
    with pytest.raises(ValueError, match="Valid names: batch, group") as info:
        norm_type("zzzz", 2)
    assert "Did you mean" not in str(info.value)
    with pytest.raises(ValueError, match="layer kind"):
        valid_names("pools")


@pytest.mark.parametrize("bad", [0, 4])
def test_spatial_dims_out_of_range(bad):
    with pytest.raises(ValueError, match="spatial_dims must be 1"):
        conv_type(bad)
    with pytest.raises(ValueError, match="spatial_dims"):
        pool_type("max", bad)


@pytest.mark.parametrize("bad", ["2", 2.0, True])
def test_spatial_dims_wrong_type(bad):
    with pytest.raises(TypeError, match="spatial_dims must be the int"):
        norm_type("batch", bad)


# ---- specs: name, (name, kwargs), class, None ------------------------------------------------


def test_specs_for_activations():
    assert type(make_act("relu")) is nn.ReLU
    relu = make_act(("relu", {"inplace": True}))
    assert relu.inplace
    leaky = make_act(("leaky_relu", {"negative_slope": 0.2}))
    assert type(leaky) is nn.LeakyReLU and leaky.negative_slope == 0.2
    assert type(make_act(nn.GELU)) is nn.GELU
    elu = make_act((nn.ELU, {"alpha": 0.5}))
    assert type(elu) is nn.ELU and elu.alpha == 0.5
    assert make_act(None) is None
    assert make_act("none") is None


@pytest.mark.parametrize("bad", [3, ("relu",), ("relu", "inplace"), (int, {}), dict])
def test_bad_specs_raise_type_error(bad):
    with pytest.raises(TypeError, match="must be a name, a \\(name, kwargs\\) pair"):
        make_act(bad)


@pytest.mark.parametrize("d", DIMS)
def test_specs_for_norms(d):
    bn = make_norm("batch", d, 8)
    assert type(bn) is _nn("BatchNorm{d}d", d) and bn.num_features == 8
    inst = make_norm(("instance", {"affine": True}), d, 6)
    assert type(inst) is _nn("InstanceNorm{d}d", d) and inst.affine
    gn = make_norm(("group", {"num_groups": 4}), d, 8)
    assert type(gn) is nn.GroupNorm and gn.num_groups == 4 and gn.num_channels == 8
    assert make_norm("group", d, 64).num_groups == 32  # default: min(32, channels)
    assert make_norm("group", d, 8).num_groups == 8
    assert type(make_norm("local_response", d, 8)) is nn.LocalResponseNorm
    assert make_norm(_nn("BatchNorm{d}d", d), d, 5).num_features == 5
    assert make_norm(None, d, 8) is None


def test_group_norm_channels_must_split_into_the_groups():
    with pytest.raises(ValueError, match=r"48 channels do not split into 32 groups"):
        make_norm("group", 2, 48)
    with pytest.raises(ValueError, match=r"10 channels do not split into 4 groups.*dividing 10"):
        make_norm(("group", {"num_groups": 4}), 2, 10)


@pytest.mark.parametrize("d", DIMS)
def test_specs_for_pooling_and_dropout(d):
    pool = make_pool("max", d, kernel_size=3, stride=2)
    assert type(pool) is _nn("MaxPool{d}d", d) and pool.kernel_size == 3 and pool.stride == 2
    sum_pool = make_pool(("sum", {"stride": 1}), d, kernel_size=2)
    assert isinstance(sum_pool, SumPool) and sum_pool.stride == (1,) * d
    gap = make_pool("adaptive_avg", d, output_size=1)
    assert gap(torch.ones(1, 2, *(3,) * d)).shape == (1, 2, *(1,) * d)
    assert make_pool(None, d) is None
    drop = make_dropout("channel", d, 0.5)
    assert type(drop) is _nn("Dropout{d}d", d) and drop.p == 0.5
    assert make_dropout("dropout", d, 0.0) is None
    with pytest.raises(ValueError, match="dropout probability"):
        make_dropout("dropout", d, 1.0)


# ---- ConvNormAct ------------------------------------------------------------------------------


@pytest.mark.parametrize("d", DIMS)
def test_conv_norm_act_keeps_the_size_with_per_axis_kernel_and_dilation(d):
    kernel = (3, 5, 1)[:d]
    dilation = (2, 1, 3)[:d]
    block = ConvNormAct(d, 2, 4, kernel, dilation=dilation)
    x = torch.randn(2, 2, *(7,) * d)
    assert block(x).shape == (2, 4, *(7,) * d)
    assert list(dict(block.named_children())) == ["conv", "bn", "act"]
    assert block.conv.bias is None  # a bias before batch norm is cancelled by its mean
    plain = ConvNormAct(d, 2, 4, 3, norm=None, act=None)
    assert list(dict(plain.named_children())) == ["conv"] and plain.conv.bias is not None


# ---- the lecture's convolution examples -------------------------------------------------------


def test_1d_convolution_with_stride_2_is_the_lectures_weighted_sums():
    # h_i = w1 x_(2i-1) + w2 x_(2i) + w3 x_(2i+1): a 3-tap filter moved 2 samples at a time.
    x = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0]
    w1, w2, w3 = 2.0, -3.0, 0.5
    conv = conv_type(1)(1, 1, 3, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[w1, w2, w3]]]))
        h = conv(torch.tensor([[x]]))[0, 0].tolist()
    x1, x2, x3, x4, x5, x6, x7 = x
    assert h == [
        w1 * x1 + w2 * x2 + w3 * x3,
        w1 * x3 + w2 * x4 + w3 * x5,
        w1 * x5 + w2 * x6 + w3 * x7,
    ]


def test_3d_convolution_sums_2d_convolutions_over_depth():
    # A kernel spanning the full depth D: output = sum over depth slices of the 2D convolution
    # of slice d with kernel slice d (plus the bias once).
    gen = torch.Generator().manual_seed(0)
    depth, cin, cout = 4, 2, 3
    x = torch.randn(2, cin, depth, 6, 5, generator=gen, dtype=torch.float64)
    conv3d = conv_type(3)(cin, cout, (depth, 3, 2), stride=(1, 2, 1), padding=(0, 1, 0))
    conv3d = conv3d.double()
    with torch.no_grad():
        out3d = conv3d(x)
        slices = sum(
            F.conv2d(x[:, :, d], conv3d.weight[:, :, d], stride=(2, 1), padding=(1, 0))
            for d in range(depth)
        )
        expected = slices + conv3d.bias.view(1, cout, 1, 1)
    assert out3d.shape == (2, cout, 1, 3, 4)
    torch.testing.assert_close(out3d[:, :, 0], expected, rtol=1e-12, atol=1e-12)
