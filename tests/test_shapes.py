"""The lecture's layer formulas (healthcnn.shapes): worked examples, errors, and properties.

The worked examples are the lecture's numbers. The property-based tests
draw random small 1D/2D/3D configurations and check each formula against what PyTorch's real
layers produce, so the formulas and the layers cannot drift apart.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from healthcnn import shapes
from healthcnn.layers import LocallyConnected, SumPool, conv_type, pool_type

PROPERTY = settings(max_examples=40, deadline=None)

# ---- the lecture's worked examples ------------------------------------------------------------


def test_quiz_conv1_parameters_output_and_calculations():
    # 227x227x3 input, K=96 filters, F=11, S=4, P=0.
    assert shapes.conv_params(3, 96, 11, spatial_dims=2) == 11 * 11 * 3 * 96 + 96 == 34_944
    assert shapes.conv_params(3, 96, (11, 11)) == 34_944
    assert shapes.conv_output_size(227, 11, 4, 0) == 55
    assert shapes.conv_output_size((227, 227), 11, 4, 0) == (55, 55)
    assert shapes.conv_macs((227, 227), 3, 96, 11, 4, 0) == 55 * 55 * 96 * 11 * 11 * 3
    assert shapes.conv_macs((227, 227), 3, 96, 11, 4, 0) == 105_415_200


def test_quiz_conv_layer_summary_and_formulas():
    layer = shapes.conv_layer((227, 227, 3), 96, 11, stride=4, padding=0)
    assert layer.kind == "conv"
    assert layer.input_shape == (227, 227, 3)
    assert layer.output_shape == (55, 55, 96)
    assert layer.params == 34_944
    assert layer.calculations == 105_415_200
    text = "\n".join(layer.formulas)
    assert "(W - F + 2P)/S + 1" in text
    assert "11x11x3x96 + 96 = 34,944" in text
    assert "55x55x96 x 11x11x3 = 105,415,200" in text


def test_quiz_max_pool_3x3_stride_2():
    assert shapes.pool_output_size(55, 3, 2) == 27
    assert shapes.pool_layer((55, 55, 96), 3, 2).output_shape == (27, 27, 96)
    assert shapes.pool_layer((13, 13, 256), 3, 2).output_shape == (6, 6, 256)
    assert shapes.pool_layer((55, 55, 96), 3, 2).params == 0
    # The lecture's pooling count: output elements x window volume.
    assert shapes.pool_calculations((55, 55), 96, 3, 2) == 27 * 27 * 96 * 9


def test_quiz_fully_connected_after_the_last_pool():
    weights = 6 * 6 * 256 * 4096
    assert weights == 37_748_736
    assert shapes.fc_params(6 * 6 * 256, 4096) == 37_748_736 + 4096
    assert shapes.fc_params(6 * 6 * 256, 4096, bias=False) == 37_748_736
    assert shapes.fc_macs(6 * 6 * 256, 4096) == 37_748_736
    layer = shapes.fc_layer((6, 6, 256), 4096)
    assert layer.output_shape == (4096,)
    assert layer.params == 37_748_736 + 4096
    assert layer.calculations == 37_748_736


def test_single_tower_alexnet_totals_from_the_formulas():
    # Published: 62,378,344 parameters and 1,135,256,096 MACs at 227 px.
    convs = [  # (input HxWxC, filters, kernel, stride, padding)
        ((227, 227, 3), 96, 11, 4, 0),
        ((27, 27, 96), 256, 5, 1, 2),
        ((13, 13, 256), 384, 3, 1, 1),
        ((13, 13, 384), 384, 3, 1, 1),
        ((13, 13, 384), 256, 3, 1, 1),
    ]
    layers = [shapes.conv_layer(s, k, f, st_, p) for s, k, f, st_, p in convs]
    assert layers[0].output_shape == (55, 55, 96)
    assert shapes.pool_layer(layers[0].output_shape, 3, 2).output_shape == (27, 27, 96)
    assert shapes.pool_layer(layers[1].output_shape, 3, 2).output_shape == (13, 13, 256)
    assert shapes.pool_layer(layers[4].output_shape, 3, 2).output_shape == (6, 6, 256)
    layers += [
        shapes.fc_layer((6, 6, 256), 4096),
        shapes.fc_layer(4096, 4096),
        shapes.fc_layer(4096, 1000),
    ]
    assert sum(layer.params for layer in layers) == 62_378_344
    assert sum(layer.calculations for layer in layers) == 1_135_256_096


# ---- errors -----------------------------------------------------------------------------------


def test_stride_5_is_not_a_whole_number_and_says_why():
    with pytest.raises(ValueError) as info:
        shapes.conv_output_size(227, 11, 5)
    message = str(info.value)
    assert "(227 - 11 + 2*0)/5 + 1" in message
    assert "44.2" in message
    assert "not a whole number" in message
    # floor is what PyTorch does: 44.
    assert shapes.conv_output_size(227, 11, 5, rounding="floor") == 44
    assert shapes.conv_output_size(227, 11, 5, rounding="ceil") == 45
    with pytest.raises(ValueError, match=r"44\.2"):
        shapes.conv_layer((227, 227, 3), 96, 11, stride=5)


@pytest.mark.parametrize("rounding", ["exact", "floor", "ceil"])
def test_output_smaller_than_one_is_an_error(rounding):
    with pytest.raises(ValueError, match=r"< 1.*kernel spans 3.*only 2"):
        shapes.conv_output_size(2, 3, rounding=rounding)
    # Dilation 3 makes a 3-tap kernel span 7 pixels.
    with pytest.raises(ValueError, match=r"\(3\*\(3 - 1\) \+ 1\).*< 1"):
        shapes.conv_output_size(5, 3, dilation=3, rounding=rounding)
    with pytest.raises(ValueError, match="on axis 1"):
        shapes.conv_output_size((8, 2), 3, rounding=rounding)


def test_invalid_arguments_raise_value_error_naming_the_value():
    with pytest.raises(ValueError, match="rounding"):
        shapes.conv_output_size(10, 3, rounding="nearest")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        shapes.conv_output_size(10, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        shapes.conv_output_size(10, 3, padding=-1)
    with pytest.raises(ValueError, match="disagree on the number of spatial dimensions"):
        shapes.conv_output_size((10, 10), (3, 3, 3))
    with pytest.raises(ValueError, match="more than half the window"):
        shapes.pool_output_size(10, 3, 1, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        shapes.conv_params(3, 8, (3, 3), spatial_dims=3)
    with pytest.raises(ValueError, match="out_channels must be an int >= 1"):
        shapes.conv_params(3, 0, 3)
    with pytest.raises(ValueError, match="input shape"):
        shapes.conv_layer((227,), 8, 3)


def test_groups_must_divide_both_channel_counts():
    with pytest.raises(ValueError, match=r"groups=3 must divide in_channels=4"):
        shapes.conv_params(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="groups"):
        shapes.conv_macs(10, 6, 4, 3, groups=4)
    with pytest.raises(ValueError, match="groups must be an int >= 1"):
        shapes.conv_params(4, 4, 3, groups=0)


# ---- groups, dilation, int vs tuple, 1D/2D/3D ------------------------------------------------


def test_grouped_convolution_counts():
    # Each of the 2 groups sees 4/2 = 2 input channels: 3x3x2 weights per filter.
    assert shapes.conv_params(4, 8, 3, spatial_dims=2, groups=2) == 3 * 3 * 2 * 8 + 8
    assert shapes.conv_params(4, 8, 3, spatial_dims=2, groups=4, bias=False) == 3 * 3 * 1 * 8
    # Depthwise: one 3x3 filter per channel.
    assert shapes.conv_macs((10, 10), 8, 8, 3, groups=8) == 8 * 8 * 8 * 9
    layer = shapes.conv_layer((10, 10, 4), 8, 3, groups=2)
    assert layer.params == 3 * 3 * 2 * 8 + 8
    assert "3x3x2x8 + 8" in "\n".join(layer.formulas)


def test_dilation_widens_the_kernel():
    # span = 2*(3 - 1) + 1 = 5: (7 - 5)/1 + 1 = 3
    assert shapes.conv_output_size(7, 3, dilation=2) == 3
    assert shapes.conv_output_size((9, 9), 3, stride=2, dilation=(1, 3)) == (4, 2)
    # Dilation does not change the parameter count.
    assert shapes.conv_layer((9, 9, 2), 4, 3, dilation=2).params == 3 * 3 * 2 * 4 + 4


def test_int_in_int_out_and_tuple_in_tuple_out():
    assert shapes.conv_output_size(10, 3) == 8
    assert isinstance(shapes.conv_output_size(10, 3), int)
    assert shapes.conv_output_size((10,), 3) == (8,)
    assert shapes.conv_output_size((10, 12), 3) == (8, 10)
    # A per-axis kernel on an int input still gives one size per axis.
    assert shapes.conv_output_size(10, (3, 5)) == (8, 6)
    assert shapes.pool_output_size(8, 2) == 4
    assert shapes.pool_output_size(8, (2, 4)) == (4, 2)


def test_one_two_and_three_spatial_dimensions():
    # 1D: a 12-lead ECG of 5000 samples, kernel 7, stride 3, padding 1: (5000 - 7 + 2)/3 + 1.
    assert shapes.conv_layer((5000, 12), 32, 7, 3, 1).output_shape == (1666, 32)
    assert shapes.conv_params(12, 32, 7, spatial_dims=1) == 7 * 12 * 32 + 32
    # 3D: a 64^3 volume, kernel 3, stride 1, padding 1 keeps the size.
    layer = shapes.conv_layer((64, 64, 64, 1), 8, 3, 1, 1)
    assert layer.output_shape == (64, 64, 64, 8)
    assert layer.params == 27 * 1 * 8 + 8
    assert layer.calculations == 64**3 * 8 * 27
    assert shapes.conv_params(1, 8, 3, spatial_dims=3) == 27 * 8 + 8
    assert shapes.pool_layer((64, 64, 64, 8), 2).output_shape == (32, 32, 32, 8)


def test_locally_connected_counts():
    # 5x5 input, 3x3 kernel: 9 positions, each with its own 3x3x2x4 filter bank and 4 biases.
    assert shapes.lc_params(2, 4, (5, 5), 3) == 9 * (3 * 3 * 2 * 4 + 4)
    assert shapes.lc_params(2, 4, (5, 5), 3, bias=False) == 9 * 3 * 3 * 2 * 4
    # The calculations are the convolution's: unsharing changes the weights, not the work.
    assert shapes.lc_macs((5, 5), 2, 4, 3) == shapes.conv_macs((5, 5), 2, 4, 3)
    layer = shapes.lc_layer((5, 5, 2), 4, 3)
    assert layer.params == 684
    assert "9 positions" in "\n".join(layer.formulas)


def test_as_dict_is_json():
    layer = shapes.conv_layer((227, 227, 3), 96, 11, stride=4)
    data = json.loads(json.dumps(layer.as_dict()))
    assert data["output_shape"] == [55, 55, 96]
    assert data["params"] == 34_944
    assert data["calculations"] == 105_415_200
    assert data["formulas"] == list(layer.formulas)


# ---- property-based: the formulas equal the real layers --------------------------------------


@st.composite
def conv_configs(draw, pooling: bool = False):
    """A small random layer: spatial dims, and per-axis input, kernel, stride, padding, dilation.

    Inputs range from a little too small to a little larger than the kernel's span, so both
    valid and invalid configurations come up.
    """
    d = draw(st.integers(1, 3))
    side = {1: 12, 2: 7, 3: 5}[d]  # keeps tensors tiny
    axes = []
    for _ in range(d):
        k = draw(st.integers(1, 3))
        dil = draw(st.sampled_from([1, 1, 2]))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2 if pooling else 2))
        span = dil * (k - 1) + 1
        w = draw(st.integers(max(1, span - 2 * p - 1), max(1, span - 2 * p) + side))
        axes.append((w, k, s, p, dil))
    w, k, s, p, dil = (tuple(a[i] for a in axes) for i in range(5))
    return d, w, k, s, p, dil


# (in_channels, out_channels, groups) of the property tests' convolutions
CONV_CHANNELS = st.sampled_from([(1, 1, 1), (2, 3, 1), (4, 2, 2), (3, 3, 3)])


def _fits(w, k, p, dil) -> bool:
    return all(
        wi + 2 * pi >= di * (ki - 1) + 1 for wi, ki, pi, di in zip(w, k, p, dil, strict=True)
    )


@PROPERTY
@given(cfg=conv_configs(), channels=CONV_CHANNELS)
def test_conv_output_size_floor_and_macs_equal_nn_conv(cfg, channels):
    """Output size against nn.ConvNd's output; MACs against the FLOP counter over two."""
    d, w, k, s, p, dil = cfg
    cin, cout, groups = channels
    if not _fits(w, k, p, dil):
        with pytest.raises(ValueError, match="< 1"):
            shapes.conv_output_size(w, k, s, p, dil, rounding="floor")
        return
    conv = conv_type(d)(cin, cout, k, s, p, dil, groups=groups)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = conv(torch.zeros(1, cin, *w))
    assert shapes.conv_output_size(w, k, s, p, dil, rounding="floor") == tuple(out.shape[2:])
    macs = shapes.conv_macs(w, cin, cout, k, s, p, dil, groups=groups, rounding="floor")
    assert 2 * macs == counter.get_total_flops()
    assert macs == math.prod(shapes.conv_output_size(w, k, s, p, dil, rounding="floor")) * (
        cout * math.prod(k) * cin // groups
    )
    # "exact" agrees where the division is whole and refuses otherwise.
    whole = all(
        (wi + 2 * pi - di * (ki - 1) - 1) % si == 0
        for wi, ki, si, pi, di in zip(w, k, s, p, dil, strict=True)
    )
    if whole:
        assert shapes.conv_output_size(w, k, s, p, dil) == tuple(out.shape[2:])
    else:
        with pytest.raises(ValueError, match="not a whole number"):
            shapes.conv_output_size(w, k, s, p, dil)


def _torch_shape(module: nn.Module, x: torch.Tensor) -> tuple[int, ...] | None:
    """The spatial output shape, or None where the layer refuses the configuration (PyTorch's
    layers raise RuntimeError; ours raise ValueError)."""
    try:
        with torch.no_grad():
            return tuple(module(x).shape[2:])
    except (RuntimeError, ValueError):
        return None


@PROPERTY
@given(cfg=conv_configs(pooling=True), ceil_mode=st.booleans())
def test_pool_output_size_equals_max_avg_and_sum_pooling(cfg, ceil_mode):
    d, w, k, s, p, dil = cfg
    rounding = "ceil" if ceil_mode else "floor"
    x = torch.zeros(1, 2, *w)
    layers = [pool_type("max", d)(k, s, p, dil, ceil_mode=ceil_mode)]
    if all(di == 1 for di in dil):  # average and sum pooling have no dilation
        layers += [
            pool_type("avg", d)(k, s, p, ceil_mode=ceil_mode),
            SumPool(d, k, s, p, ceil_mode=ceil_mode),
        ]
    for layer in layers:
        expected = _torch_shape(layer, x)
        if expected is None and isinstance(layer, torch.nn.AvgPool3d):
            # PyTorch's 3D average pooling refuses an input smaller than its window even where
            # the padding makes room; max pooling and SumPool decide validity in that case.
            continue
        if expected is None:
            with pytest.raises(ValueError, match="< 1"):
                shapes.pool_output_size(w, k, s, p, dil, rounding=rounding)
        else:
            assert shapes.pool_output_size(w, k, s, p, dil, rounding=rounding) == expected


@PROPERTY
@given(
    d=st.integers(1, 3),
    kernel=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    groups=st.integers(1, 3),
    mult=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    bias=st.booleans(),
)
def test_conv_params_equals_the_layer(d, kernel, groups, mult, bias):
    cin, cout = groups * mult[0], groups * mult[1]
    k = tuple(kernel[:d])
    conv = conv_type(d)(cin, cout, k, groups=groups, bias=bias)
    count = sum(t.numel() for t in conv.parameters())
    assert shapes.conv_params(cin, cout, k, groups=groups, bias=bias) == count
    cube = conv_type(d)(cin, cout, kernel[0], groups=groups, bias=bias)
    expected = sum(t.numel() for t in cube.parameters())
    assert shapes.conv_params(cin, cout, kernel[0], spatial_dims=d, groups=groups, bias=bias) == (
        expected
    )


@PROPERTY
@given(cfg=conv_configs(), cin=st.integers(1, 3), cout=st.integers(1, 3), bias=st.booleans())
def test_lc_params_equals_locally_connected(cfg, cin, cout, bias):
    d, w, k, s, p, dil = cfg
    if not _fits(w, k, p, dil):
        with pytest.raises(ValueError, match="< 1"):
            LocallyConnected(d, cin, cout, w, k, s, p, dil, bias=bias)
        return
    layer = LocallyConnected(d, cin, cout, w, k, s, p, dil, bias=bias)
    count = sum(t.numel() for t in layer.parameters())
    assert shapes.lc_params(cin, cout, w, k, s, p, dil, bias=bias) == count
    assert tuple(layer.output_size) == shapes.conv_output_size(w, k, s, p, dil, rounding="floor")


@PROPERTY
@given(
    d=st.integers(1, 3),
    cin=st.integers(1, 8),
    cout=st.integers(1, 8),
    groups=st.integers(2, 5),
)
def test_groups_that_do_not_divide_are_refused_like_the_layer(d, cin, cout, groups):
    divides = cin % groups == 0 and cout % groups == 0
    try:
        conv_type(d)(cin, cout, 1, groups=groups)
        torch_ok = True
    except ValueError:
        torch_ok = False
    assert torch_ok == divides
    if divides:
        assert shapes.conv_params(cin, cout, 1, spatial_dims=d, groups=groups) > 0
    else:
        with pytest.raises(ValueError, match=f"groups={groups} must divide"):
            shapes.conv_params(cin, cout, 1, spatial_dims=d, groups=groups)
        with pytest.raises(ValueError, match=f"groups={groups} must divide"):
            shapes.conv_macs((4,) * d, cin, cout, 1, groups=groups)
