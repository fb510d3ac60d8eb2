"""Pooling: the lecture's max / sum / mean example, SumPool against independent references,
translation invariance, and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from healthcnn.layers import SumPool, SumPool1d, SumPool2d, SumPool3d, make_pool, pool_type

LECTURE = torch.tensor([[4.0, 3, 5, 3], [2, 4, 4, 2], [4, 2, 3, 1], [6, 2, 5, 4]])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("max", [[4.0, 5.0], [6.0, 5.0]]),
        ("sum", [[13.0, 14.0], [14.0, 13.0]]),
        ("mean", [[3.25, 3.5], [3.5, 3.25]]),
        ("avg", [[3.25, 3.5], [3.5, 3.25]]),
    ],
)
def test_lecture_2x2_stride_2_example(name, expected):
    pool = make_pool(name, 2, kernel_size=2, stride=2)
    out = pool(LECTURE.view(1, 1, 4, 4))
    assert out[0, 0].tolist() == expected


# ---- SumPool against independent references --------------------------------------------------

# (spatial_dims, input size, kernel, stride, padding)
CONFIGS = [
    (1, (9,), (3,), (2,), (1,)),
    (1, (8,), (4,), (3,), (2,)),
    (2, (7, 6), (3, 2), (2, 1), (1, 0)),
    (2, (5, 5), (2, 2), None, (1, 1)),
    (3, (5, 4, 6), (2, 3, 2), (2, 1, 3), (0, 1, 1)),
    (3, (4, 4, 4), (3, 3, 3), (2, 2, 2), (1, 1, 1)),
]


def _window_sum_by_convolution(x, kernel, stride, padding, ceil_mode):
    """Sum of every window, computed with an all-ones depthwise convolution.

    The input is zero-padded by ``padding`` on both sides plus, in ceil mode, enough zeros on
    the right for the last window, so zeros (padding or overhang) add nothing to a sum.
    """
    d = len(kernel)
    c = x.shape[1]
    stride = kernel if stride is None else stride
    pads = []
    for axis in range(d):
        w, k, s, p = x.shape[2 + axis], kernel[axis], stride[axis], padding[axis]
        out = F.avg_pool1d(torch.zeros(1, 1, w), k, s, p, ceil_mode=ceil_mode).shape[-1]
        extra = max(0, (out - 1) * s + k - (w + 2 * p))
        pads.append((p, p + extra))
    flat = [v for pair in reversed(pads) for v in pair]
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    ones = torch.ones(c, 1, *kernel, dtype=x.dtype)
    return conv(F.pad(x, flat), ones, stride=stride, groups=c)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize(("d", "size", "kernel", "stride", "padding"), CONFIGS)
def test_sum_pool_is_the_sum_of_each_window(d, size, kernel, stride, padding, ceil_mode):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = SumPool(d, kernel, stride, padding, ceil_mode=ceil_mode)(x)
    expected = _window_sum_by_convolution(x, kernel, stride, padding, ceil_mode)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("d", "size", "kernel", "stride", "padding"), CONFIGS)
def test_sum_pool_is_window_volume_times_average_pool(d, size, kernel, stride, padding):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    avg = pool_type("avg", d)(kernel, stride, padding, count_include_pad=True)
    out = pool_type("sum", d)(kernel, stride, padding)(x)
    torch.testing.assert_close(out, math.prod(kernel) * avg(x), rtol=1e-12, atol=1e-12)


def test_ceil_mode_sum_counts_only_what_the_last_window_covers():
    # Length 5, windows of 2 with stride 2, ceil mode: the third window holds x5 alone. Its sum
    # is x5; average pooling divides it by 1 (the part past the end is not counted even with
    # count_include_pad), so window volume x average would wrongly give 2 * x5 there.
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    assert SumPool1d(2, ceil_mode=True)(x).tolist() == [[[3.0, 7.0, 5.0]]]
    avg = F.avg_pool1d(x, 2, ceil_mode=True, count_include_pad=True)
    assert avg.tolist() == [[[1.5, 3.5, 5.0]]]


@pytest.mark.parametrize(("cls", "d"), [(SumPool1d, 1), (SumPool2d, 2), (SumPool3d, 3)])
def test_sum_pool_classes_fix_the_dimensions_and_accept_unbatched_input(cls, d):
    pool = cls(2)
    assert isinstance(pool, SumPool) and pool.spatial_dims == d
    x = torch.ones(3, *(4,) * d)
    assert pool(x).shape == (3, *(2,) * d)
    assert torch.all(pool(x) == 2**d)


def test_sum_pool_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="at most half the kernel"):
        SumPool(2, 3, padding=2)
    with pytest.raises(ValueError, match="kernel_size and stride >= 1"):
        SumPool(1, 0)
    with pytest.raises(ValueError, match="kernel_size must be an int or a sequence of 2"):
        SumPool(2, (2, 2, 2))
    with pytest.raises(ValueError, match=r"SumPool2d expects \(N, C\) or \(C\) followed by 2"):
        SumPool2d(2)(torch.ones(4, 4))


# ---- translation ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max", "sum", "mean"])
def test_pooling_gives_the_same_response_to_a_shifted_input(name):
    # The lecture's signals: a spike at position 1 and the same spike moved to position 3.
    # Pooling forgets *where* inside a window a feature was, so the responses agree whenever
    # each window holds either both positions or neither. A window of 5 (the whole signal)
    # holds both; so do both windows of 4 at stride 1 ([0..3] and [1..4] each contain
    # positions 1 and 3).
    a = torch.tensor([[[0.0, 1.0, 0.0, 0.0, 0.0]]])
    b = torch.tensor([[[0.0, 0.0, 0.0, 1.0, 0.0]]])
    for kernel, stride in [(5, 5), (4, 1)]:
        pool = make_pool(name, 1, kernel_size=kernel, stride=stride)
        assert torch.equal(pool(a), pool(b))
        assert pool(a).abs().sum() > 0
    # Windows of 2 at stride 2 separate positions 1 and 3: the responses differ, so the
    # agreement above is the windows' doing, not a property of any pooling.
    pool = make_pool(name, 1, kernel_size=2, stride=2)
    assert not torch.equal(pool(a), pool(b))


# ---- gradients --------------------------------------------------------------------------------


def test_sum_pool_gradient_counts_the_windows_covering_each_element():
    x = torch.zeros(1, 1, 5, requires_grad=True)
    SumPool1d(3, stride=1)(x).sum().backward()
    assert x.grad[0, 0].tolist() == [1.0, 2.0, 3.0, 2.0, 1.0]


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("name", ["max", "sum", "mean"])
def test_gradients_flow_through_pooling(name, d):
    x = torch.randn(2, 2, *(4,) * d, dtype=torch.float64, requires_grad=True)
    pool = make_pool(name, d, kernel_size=2, stride=1, padding=1)
    assert torch.autograd.gradcheck(pool, (x,))
    pool(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "ceil_mode"),
    [
        ((1, 1, 1), (1, 2, 1), (1, 2, 1), (0, 1, 0), False),
        ((2, 1, 3), (2, 2, 2), (1, 1, 2), (1, 1, 1), False),
        ((1, 1, 1), (1, 1, 2), (1, 1, 2), (0, 0, 0), True),
        ((1, 2, 3), (2, 3, 2), (2, 2, 2), (1, 1, 1), True),
    ],
)
def test_sum_pool_3d_on_inputs_smaller_than_the_window(shape, kernel, stride, padding, ceil_mode):
    """avg_pool3d refuses these; SumPool pads itself and still sums every window exactly."""
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    out = SumPool(3, kernel, stride, padding, ceil_mode=ceil_mode)(x)
    expected_size = torch.nn.MaxPool3d(kernel, stride, padding, ceil_mode=ceil_mode)(x).shape
    assert out.shape == expected_size
    # Reference: the sum of the input inside each window (windows placed on the padded grid).
    for idx in np.ndindex(*out.shape[2:]):
        lo = [i * s - p for i, s, p in zip(idx, stride, padding, strict=True)]
        sl = tuple(
            slice(max(a, 0), min(a + k, n)) for a, k, n in zip(lo, kernel, shape, strict=True)
        )
        ref = x[(..., *sl)].sum(dim=(-3, -2, -1))
        torch.testing.assert_close(out[(..., *idx)], ref)
