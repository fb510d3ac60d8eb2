"""The lecture's formulas for a layer: output size, number of parameters, number of calculations.

Every function works for 1, 2 or 3 spatial dimensions: a size is one int (the same on every axis)
or a sequence with one int per axis. Impossible configurations raise ``ValueError`` that names
the formula and the numbers, for example::

    >>> conv_output_size(227, kernel_size=11, stride=5)
    Traceback (most recent call last):
    ValueError: convolution output size (227 - 11 + 2*0)/5 + 1 = 44.2 is not a whole number: ...

Output size (lecture): ``(W - F + 2P)/S + 1``; with dilation D the kernel spans
``D*(F - 1) + 1``. ``rounding="exact"`` (the default) insists on a whole number as the lecture
does; ``"floor"`` is what PyTorch convolutions and pooling compute, ``"ceil"`` is pooling with
``ceil_mode=True``.

Counting convention (also in ``docs/counting.md``): parameters are learnable scalars;
calculations (MACs) of a convolution or fully connected layer are output elements x (kernel volume
x input channels / groups), bias excluded; pooling calculations are output elements x window
volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ._validate import check_spatial_dims

Size = int | Sequence[int]
Rounding = Literal["exact", "floor", "ceil"]

__all__ = [
    "LayerArithmetic",
    "conv_layer",
    "conv_macs",
    "conv_output_size",
    "conv_params",
    "fc_layer",
    "fc_macs",
    "fc_params",
    "lc_layer",
    "lc_macs",
    "lc_params",
    "pool_calculations",
    "pool_layer",
    "pool_output_size",
]


# ---- argument handling -----------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _dims_of(*sizes: Size | None) -> int:
    """The number of spatial dims implied by the sequence arguments (1 if all are ints)."""
    lengths = {len(s) for s in sizes if s is not None and not _is_int(s)}
    if len(lengths) > 1:
        raise ValueError(
            f"sizes disagree on the number of spatial dimensions: {[s for s in sizes]}; give "
            f"one int per axis, the same number of axes everywhere"
        )
    return lengths.pop() if lengths else 1


def _expand(value: Size, n: int, name: str, minimum: int) -> tuple[int, ...]:
    if _is_int(value):
        items = (value,) * n
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None
        if len(items) != n or not all(_is_int(v) for v in items):
            raise ValueError(f"{name} must be an int or {n} ints, got {value!r}")
    low = [v for v in items if v < minimum]
    if low:
        raise ValueError(f"{name} must be >= {minimum} on every axis, got {value!r}")
    return items


def _same_kind(sizes: tuple[Size | None, ...], values: tuple[int, ...]) -> int | tuple[int, ...]:
    """An int when every size argument was an int, else one value per axis.

    A tuple kernel on an int input (``conv_output_size(10, (3, 5))``) gives a different size
    per axis, so the answer must be a tuple too.
    """
    return values[0] if all(s is None or _is_int(s) for s in sizes) else values


def _fmt(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    return f"{float(x):.4g}"


def _positions_and_window(out: int | tuple[int, ...], *sizes: Size | None) -> tuple[int, int]:
    """Output positions (elements per channel) and the kernel's volume; ``sizes`` are input
    size, kernel, stride, padding and dilation."""
    positions = math.prod(out) if isinstance(out, tuple) else out
    n = _dims_of(*sizes)
    return positions, math.prod(_expand(sizes[1], n, "kernel_size", 1))


# ---- output size -----------------------------------------------------------------------------


def _output_axis(
    what: str,
    w: int,
    f: int,
    s: int,
    p: int,
    d: int,
    rounding: Rounding,
    axis: int,
    ndim: int,
    pooling: bool,
) -> int:
    if rounding not in ("exact", "floor", "ceil"):
        raise ValueError(f"rounding must be 'exact', 'floor' or 'ceil', got {rounding!r}")
    span = d * (f - 1) + 1
    kernel_txt = str(f) if d == 1 else f"({d}*({f} - 1) + 1)"
    formula = f"({w} - {kernel_txt} + 2*{p})/{s} + 1"
    where = f" on axis {axis}" if ndim > 1 else ""
    exact = Fraction(w - span + 2 * p, s) + 1
    if rounding == "ceil":
        out = math.ceil(exact)
        # PyTorch's rule for ceil_mode pooling: the last window must start inside the input
        # or the left padding, never entirely in the right padding. A window may run past
        # the end of the input, so ceil mode accepts inputs smaller than the window.
        if pooling and (out - 1) * s >= w + p:
            out -= 1
    else:
        out = math.floor(exact)
    # Only ceil-mode pooling lets a window hang over the end; a convolution's kernel must fit.
    if out < 1 or (not pooling and w + 2 * p < span):
        raise ValueError(
            f"{what} output size{where}: {formula} < 1: the kernel spans {span} but the padded "
            f"input has only {w + 2 * p}; use a smaller kernel or more padding"
        )
    if rounding == "exact" and exact.denominator != 1:
        raise ValueError(
            f"{what} output size{where} {formula} = {_fmt(exact)} is not a whole number: "
            f"choose stride/padding so that {s} divides {w} - {span} + 2*padding "
            f"(or round down as PyTorch does: rounding='floor', --rounding floor)"
        )
    return out


def _expand_all(sizes: tuple[Size, Size, Size, Size, Size]) -> tuple[tuple[int, ...], ...]:
    """Input size, kernel, stride, padding and dilation, each as one int per axis."""
    n = _dims_of(*sizes)
    names = ("input_size", "kernel_size", "stride", "padding", "dilation")
    minimums = (1, 1, 1, 0, 1)
    return tuple(
        _expand(v, n, name, low) for v, name, low in zip(sizes, names, minimums, strict=True)
    )


def _output_sizes(
    what: str, axes: tuple[tuple[int, ...], ...], rounding: Rounding
) -> tuple[int, ...]:
    """The output size on every axis of a convolution (``what="convolution"``) or pooling."""
    n = len(axes[0])
    pooling = what == "pooling"
    return tuple(
        _output_axis(what, *args, rounding, i, n, pooling)
        for i, args in enumerate(zip(*axes, strict=True))
    )


def conv_output_size(
    input_size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    rounding: Rounding = "exact",
) -> int | tuple[int, ...]:
    """Spatial output size of a convolution: ``(W - F + 2P)/S + 1`` per axis.

    Returns an int when ``input_size`` is an int, else a tuple with one size per axis.
    """
    sizes = (input_size, kernel_size, stride, padding, dilation)
    return _same_kind(sizes, _output_sizes("convolution", _expand_all(sizes), rounding))


def pool_output_size(
    input_size: Size,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    rounding: Rounding = "exact",
) -> int | tuple[int, ...]:
    """Spatial output size of pooling; ``stride`` defaults to the window size.

    Padding may be at most half the window, as PyTorch requires.
    """
    stride = kernel_size if stride is None else stride
    sizes = (input_size, kernel_size, stride, padding, dilation)
    axes = _expand_all(sizes)
    _, f, _, p, _ = axes
    for pi, fi in zip(p, f, strict=True):
        if 2 * pi > fi:
            raise ValueError(
                f"pooling padding {pi} is more than half the window {fi}: a window could lie "
                f"entirely in the padding; use padding <= {fi // 2}"
            )
    return _same_kind(sizes, _output_sizes("pooling", axes, rounding))


# ---- parameters ------------------------------------------------------------------------------


def _check_channels(in_channels: int, out_channels: int, groups: int = 1) -> None:
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}"
        )


def _kernel_volume(kernel_size: Size, spatial_dims: int | None) -> int:
    n = _dims_of(kernel_size) if spatial_dims is None or not _is_int(kernel_size) else None
    if n is None:
        n = check_spatial_dims(spatial_dims)
    elif spatial_dims is not None and n != check_spatial_dims(spatial_dims):
        raise ValueError(
            f"kernel_size {kernel_size!r} has {n} axes but spatial_dims is {spatial_dims}"
        )
    return math.prod(_expand(kernel_size, n, "kernel_size", 1))


def conv_params(
    in_channels: int,
    out_channels: int,
    kernel_size: Size,
    *,
    spatial_dims: int | None = None,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Parameters of a convolution: ``F^d x C_in/groups x K`` weights, plus ``K`` biases.

    An int ``kernel_size`` with ``spatial_dims`` means a cube; without ``spatial_dims`` it is 1D.
    """
    _check_channels(in_channels, out_channels, groups)
    kvol = _kernel_volume(kernel_size, spatial_dims)
    return kvol * (in_channels // groups) * out_channels + (out_channels if bias else 0)


def fc_params(in_features: int, out_features: int, *, bias: bool = True) -> int:
    """Parameters of a fully connected layer: ``in x out`` weights plus ``out`` biases."""
    _check_channels(in_features, out_features)
    return in_features * out_features + (out_features if bias else 0)


def lc_params(
    in_channels: int,
    out_channels: int,
    input_size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    bias: bool = True,
    rounding: Rounding = "floor",
) -> int:
    """Parameters of a locally connected layer: a separate filter (and bias) per output position.

    ``positions x (F^d x C_in x K + K)``: the convolution's count multiplied by the number of
    output positions, since nothing is shared.
    """
    _check_channels(in_channels, out_channels)
    out = conv_output_size(input_size, kernel_size, stride, padding, dilation, rounding=rounding)
    positions, kvol = _positions_and_window(out, input_size, kernel_size, stride, padding, dilation)
    return positions * (kvol * in_channels * out_channels + (out_channels if bias else 0))


# ---- calculations ----------------------------------------------------------------------------


def conv_macs(
    input_size: Size,
    in_channels: int,
    out_channels: int,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    groups: int = 1,
    rounding: Rounding = "exact",
) -> int:
    """Calculations (multiply-accumulates) of a convolution, the lecture's count.

    Output elements x (kernel volume x ``in_channels / groups``); bias additions are not counted.
    """
    _check_channels(in_channels, out_channels, groups)
    out = conv_output_size(input_size, kernel_size, stride, padding, dilation, rounding=rounding)
    positions, kvol = _positions_and_window(out, input_size, kernel_size, stride, padding, dilation)
    return positions * out_channels * kvol * (in_channels // groups)


def lc_macs(
    input_size: Size,
    in_channels: int,
    out_channels: int,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    rounding: Rounding = "floor",
) -> int:
    """Calculations of a locally connected layer: the same as the convolution it unshares."""
    return conv_macs(
        input_size,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        rounding=rounding,
    )


def fc_macs(in_features: int, out_features: int) -> int:
    """Calculations of a fully connected layer: ``in x out`` multiply-accumulates."""
    _check_channels(in_features, out_features)
    return in_features * out_features


def pool_calculations(
    input_size: Size,
    channels: int,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    rounding: Rounding = "exact",
) -> int:
    """The lecture's pooling calculations: output elements x window volume."""
    if not _is_int(channels) or channels < 1:
        raise ValueError(f"channels must be an int >= 1, got {channels!r}")
    out = pool_output_size(input_size, kernel_size, stride, padding, dilation, rounding=rounding)
    positions, window = _positions_and_window(
        out, input_size, kernel_size, stride, padding, dilation
    )
    return positions * channels * window


# ---- one layer at a time: what the CLI prints ------------------------------------------------


@dataclass(frozen=True)
class LayerArithmetic:
    """Input and output shape (channels last, as the lecture writes them), parameters and
    calculations of one layer, with the formulas that produced them."""

    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    calculations: int
    formulas: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "calculations": self.calculations,
            "formulas": list(self.formulas),
        }


def _split_shape(input_shape: Sequence[int], what: str) -> tuple[tuple[int, ...], int]:
    shape = tuple(input_shape)
    if not 2 <= len(shape) <= 4 or not all(_is_int(v) and v >= 1 for v in shape):
        raise ValueError(
            f"{what} input shape must be 1 to 3 spatial sizes followed by channels, all >= 1 "
            f"(e.g. 227x227x3), got {'x'.join(map(str, shape))}"
        )
    return shape[:-1], shape[-1]


def _x(values: Sequence[int]) -> str:
    return "x".join(map(str, values))


def _window_geometry(
    what: str,
    input_shape: Sequence[int],
    kernel_size: Size,
    stride: Size | None,
    padding: Size,
    dilation: Size,
    rounding: Rounding,
) -> tuple[tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]:
    """Spatial input sizes, channels, output sizes and kernel of a sliding-window layer
    (``what``: "convolution", "pooling" or "locally connected")."""
    spatial, c = _split_shape(input_shape, what)
    output_size = pool_output_size if what == "pooling" else conv_output_size
    out = output_size(spatial, kernel_size, stride, padding, dilation, rounding=rounding)
    return spatial, c, out, _expand(kernel_size, len(spatial), "kernel_size", 1)


def _bias_term(units: int, bias: bool) -> str:
    return f" + {units}" if bias else ""


def _window_layer(
    kind: str,
    shapes: tuple[tuple[int, ...], int, tuple[int, ...], int],
    params: tuple[int, str],
    calculations: tuple[int, str],
) -> LayerArithmetic:
    """A sliding-window layer's arithmetic. ``shapes``: spatial input, input channels, spatial
    output, output channels; ``params``: the count and its formula; ``calculations``: the count
    and what each output element costs."""
    spatial, c, out, k = shapes
    (n_params, weights), (n_calcs, per_output) = params, calculations
    return LayerArithmetic(
        kind=kind,
        input_shape=(*spatial, c),
        output_shape=(*out, k),
        params=n_params,
        calculations=n_calcs,
        formulas=(
            f"output: (W - F + 2P)/S + 1 per axis -> {_x(out)}x{k}",
            f"parameters: {weights} = {n_params:,}",
            f"calculations: {_x(out)}x{k} x {per_output} = {n_calcs:,}",
        ),
    )


def conv_layer(
    input_shape: Sequence[int],
    filters: int,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    groups: int = 1,
    bias: bool = True,
    rounding: Rounding = "exact",
) -> LayerArithmetic:
    """A convolution on an input ``(spatial..., channels)``: its shape, parameters, calculations."""
    spatial, c, out, k = _window_geometry(
        "convolution", input_shape, kernel_size, stride, padding, dilation, rounding
    )
    params = conv_params(c, filters, k, groups=groups, bias=bias)
    macs = conv_macs(
        spatial, c, filters, k, stride, padding, dilation, groups=groups, rounding=rounding
    )
    per_filter = f"{_x(k)}x{c // groups}"
    weights = f"{per_filter}x{filters}{_bias_term(filters, bias)}"
    return _window_layer("conv", (spatial, c, out, filters), (params, weights), (macs, per_filter))


def pool_layer(
    input_shape: Sequence[int],
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    *,
    rounding: Rounding = "exact",
) -> LayerArithmetic:
    """Pooling (max, sum or mean: the same arithmetic) on an input ``(spatial..., channels)``."""
    spatial, c, out, k = _window_geometry(
        "pooling", input_shape, kernel_size, stride, padding, 1, rounding
    )
    calcs = pool_calculations(spatial, c, k, stride, padding, rounding=rounding)
    return _window_layer("pool", (spatial, c, out, c), (0, "pooling has none"), (calcs, _x(k)))


def fc_layer(input_shape: Sequence[int] | int, units: int, *, bias: bool = True) -> LayerArithmetic:
    """A fully connected layer on a flattened input (any shape; its elements are the features)."""
    shape = (input_shape,) if _is_int(input_shape) else tuple(input_shape)
    if not shape or not all(_is_int(v) and v >= 1 for v in shape):
        raise ValueError(f"fully connected input shape must be ints >= 1, got {input_shape!r}")
    features = math.prod(shape)
    params = fc_params(features, units, bias=bias)
    macs = fc_macs(features, units)
    return LayerArithmetic(
        kind="fc",
        input_shape=shape,
        output_shape=(units,),
        params=params,
        calculations=macs,
        formulas=(
            f"output: {units}",
            f"parameters: {_x(shape)}x{units}{_bias_term(units, bias)} = {params:,}",
            f"calculations: {_x(shape)}x{units} = {macs:,}",
        ),
    )


def lc_layer(
    input_shape: Sequence[int],
    filters: int,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    dilation: Size = 1,
    *,
    bias: bool = True,
    rounding: Rounding = "exact",
) -> LayerArithmetic:
    """A locally connected layer (a convolution without weight sharing)."""
    spatial, c, out, k = _window_geometry(
        "locally connected", input_shape, kernel_size, stride, padding, dilation, rounding
    )
    params = lc_params(
        c, filters, spatial, k, stride, padding, dilation, bias=bias, rounding=rounding
    )
    macs = lc_macs(spatial, c, filters, k, stride, padding, dilation, rounding=rounding)
    weights = f"{math.prod(out)} positions x ({_x(k)}x{c}x{filters}{_bias_term(filters, bias)})"
    return _window_layer(
        "lc", (spatial, c, out, filters), (params, weights), (macs, f"{_x(k)}x{c}")
    )
