"""The locally connected layer: a convolution's connectivity without weight sharing."""

from __future__ import annotations

import math

import pytest
import torch

from healthcnn import shapes
from healthcnn.layers import LocallyConnected, conv_type

# (spatial_dims, input size, kernel, stride, padding, dilation); several strides do not divide
# evenly, so the layer must floor like a convolution does.
CONFIGS = [
    (1, (11,), (3,), (2,), (1,), (1,)),
    (1, (12,), (2,), (3,), (0,), (3,)),
    (2, (6, 7), (3, 2), (1, 2), (1, 0), (1, 2)),
    (2, (5, 5), (2, 2), (2, 2), (1, 1), (2, 1)),
    (3, (5, 4, 6), (2, 3, 2), (2, 1, 3), (0, 1, 1), (1, 1, 2)),
    (3, (4, 4, 4), (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
]


def _pair(d, size, kernel, stride, padding, dilation, cin=2, cout=3, bias=True):
    """A convolution and a locally connected layer whose every position holds its weights."""
    gen = torch.Generator().manual_seed(0)
    conv = conv_type(d)(cin, cout, kernel, stride, padding, dilation, bias=bias).double()
    local = LocallyConnected(d, cin, cout, size, kernel, stride, padding, dilation, bias=bias)
    local = local.double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen, dtype=torch.float64))
        positions = local.weight.shape[0]
        local.weight.copy_(conv.weight.reshape(1, cout, -1).expand(positions, -1, -1))
        if bias:
            local.bias.copy_(conv.bias.expand(positions, -1))
    x = torch.randn(2, cin, *size, generator=gen, dtype=torch.float64)
    return conv, local, x


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("d", "size", "kernel", "stride", "padding", "dilation"), CONFIGS)
def test_equals_the_convolution_when_every_position_has_its_weights(
    d, size, kernel, stride, padding, dilation, bias
):
    conv, local, x = _pair(d, size, kernel, stride, padding, dilation, bias=bias)
    with torch.no_grad():
        expected = conv(x)
        out = local(x)
    assert out.shape == expected.shape
    assert tuple(out.shape[2:]) == local.output_size
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("d", "size", "kernel", "stride", "padding", "dilation"), CONFIGS)
def test_no_weight_sharing_one_positions_filter_changes_only_its_output(
    d, size, kernel, stride, padding, dilation
):
    conv, local, x = _pair(d, size, kernel, stride, padding, dilation)
    with torch.no_grad():
        before = local(x)
        # The middle position (row-major order of the output grid) gets a different filter.
        position = local.weight.shape[0] // 2
        local.weight[position] += 1.0
        after = local(x)
    changed = (after != before).any(dim=(0, 1))  # per output position
    where = torch.zeros(local.output_size, dtype=torch.bool)
    where[torch.unravel_index(torch.tensor(position), local.output_size)] = True
    assert torch.equal(changed, where)
    # A convolution cannot do this: the layer is no longer any convolution of the input.
    assert not torch.allclose(after, conv(x))


@pytest.mark.parametrize(("d", "size", "kernel", "stride", "padding", "dilation"), CONFIGS)
def test_parameter_count_and_shapes(d, size, kernel, stride, padding, dilation):
    cin, cout = 2, 5
    for bias in (True, False):
        local = LocallyConnected(d, cin, cout, size, kernel, stride, padding, dilation, bias=bias)
        count = sum(p.numel() for p in local.parameters())
        assert count == shapes.lc_params(
            cin, cout, size, kernel, stride, padding, dilation, bias=bias
        )
        positions = math.prod(local.output_size)
        assert local.weight.shape == (positions, cout, cin * math.prod(kernel))
        assert (local.bias is None) == (not bias)


def test_an_int_size_means_every_axis():
    local = LocallyConnected(2, 1, 4, 6, 3, stride=1, padding=1)
    assert local.input_size == (6, 6) and local.output_size == (6, 6)
    assert local(torch.ones(3, 1, 6, 6)).shape == (3, 4, 6, 6)
    # 36 positions, each with a 3x3x1x4 filter bank and 4 biases.
    assert sum(p.numel() for p in local.parameters()) == 36 * (9 * 4 + 4)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 6, 7), (2, 2, 6, 8), (2, 2, 6), (2, 2, 6, 7, 1), (2, 6, 7)],
)
def test_wrong_input_shape_is_a_clear_error(shape):
    local = LocallyConnected(2, 2, 3, (6, 7), 3)
    with pytest.raises(ValueError, match=r"built for inputs \(N, 2, 6, 7\), got"):
        local(torch.zeros(shape))


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="in_channels and out_channels >= 1"):
        LocallyConnected(2, 0, 3, 6, 3)
    with pytest.raises(ValueError, match="< 1"):
        LocallyConnected(2, 1, 3, (6, 2), 3)
    with pytest.raises(ValueError, match="spatial_dims must be 1"):
        LocallyConnected(4, 1, 3, 6, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a sequence of 2"):
        LocallyConnected(2, 1, 3, 6, (3, 3, 3))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_gradients(d):
    local = LocallyConnected(d, 2, 2, 4, 2, stride=2, padding=1, dilation=1).double()
    x = torch.randn(2, 2, *(4,) * d, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(local, (x,))
    local(x).square().sum().backward()
    assert x.grad.abs().sum() > 0
    assert local.weight.grad.shape == local.weight.shape
    # Every position's filter receives its own gradient.
    assert (local.weight.grad.flatten(1).abs().sum(1) > 0).all()
    assert local.bias.grad is not None and (local.bias.grad != 0).all()
