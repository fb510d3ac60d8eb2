"""``healthcnn shapes conv|pool|fc|lc``: the lecture's layer arithmetic from the command line.

Shapes are written channels last, as the lecture writes them: ``227x227x3`` (an image),
``5000x12`` (a 12-lead signal), ``64x64x64x1`` (a volume). Each sub-command calls one function
of :mod:`healthcnn.shapes` and prints the output size, the parameters and the calculations with
the formulas that produced them. An impossible layer (``--stride 5`` on 227 pixels) prints the
formula's one-line explanation on stderr and exits with code 2.

Example::

    healthcnn shapes conv --input 227x227x3 --filters 96 --kernel 11 --stride 4 --padding 0
"""

from __future__ import annotations

import argparse
import re

from .. import shapes
from .._json import dumps
from ._sizes import NOTATION, check_channels_last

_SIZE_RE = re.compile(r"^\d+([xX]\d+)*$")

_CONVENTION = {
    "conv": "calculations = multiply-accumulates (MACs): output elements x kernel volume x "
    "input channels / groups, bias excluded; FLOPs = 2 x MACs",
    "lc": "calculations = multiply-accumulates (MACs): output elements x kernel volume x "
    "input channels, bias excluded; FLOPs = 2 x MACs",
    "fc": "calculations = multiply-accumulates (MACs): inputs x units, bias excluded; "
    "FLOPs = 2 x MACs",
    "pool": "calculations = output elements x window volume (the lecture's pooling count)",
}


def _ints(text: str, flag: str, example: str) -> tuple[int, ...]:
    """``"227x227x3"`` -> ``(227, 227, 3)``; anything else raises a one-line ValueError."""
    value = text.strip()
    if not _SIZE_RE.match(value):
        raise ValueError(
            f"{flag} {text!r} is not a size: give whole numbers separated by 'x', e.g. {example}"
        )
    items = tuple(int(v) for v in value.lower().split("x"))
    if any(v < 1 for v in items):
        raise ValueError(f"{flag} {text!r}: every size must be >= 1, e.g. {example}")
    return items


def _input_shape(text: str) -> tuple[int, ...]:
    """An input shape, channels last, with 1 to 3 spatial axes."""
    example = "227x227x3 (image), 5000x12 (signal) or 64x64x64x1 (volume)"
    shape = _ints(text, "--input", example)
    if not 2 <= len(shape) <= 4:
        raise ValueError(
            f"--input {text!r} needs 1 to 3 spatial sizes followed by the channels, e.g. {example}"
        )
    return shape


def _per_axis(text: str | None, flag: str, ndim: int, minimum: int) -> int | tuple[int, ...]:
    """``"3"`` -> 3 (every axis) or ``"3x5"`` -> (3, 5) (one value per spatial axis)."""
    value = text.strip() if text is not None else ""
    if not _SIZE_RE.match(value):
        raise ValueError(
            f"{flag} {text!r} is not a size: give one whole number (every axis) or one per "
            f"axis separated by 'x', e.g. 3 or 3x3"
        )
    items = tuple(int(v) for v in value.lower().split("x"))
    if any(v < minimum for v in items):
        raise ValueError(f"{flag} {text!r}: every value must be >= {minimum}")
    if len(items) == 1:
        return items[0]
    if len(items) != ndim:
        axes = "axis" if ndim == 1 else "axes"
        raise ValueError(
            f"{flag} {text!r} has {len(items)} values but the input has {ndim} spatial {axes}; "
            f"give one value, or one per spatial axis"
        )
    return items


def _conv_window(args: argparse.Namespace) -> tuple:
    """Input shape, kernel, stride, padding and dilation of conv or lc (parsed in that order)."""
    shape = check_channels_last(_input_shape(args.input), args.in_channels)
    n = len(shape) - 1
    return (
        shape,
        _per_axis(args.kernel, "--kernel", n, 1),
        _per_axis(args.stride, "--stride", n, 1),
        _per_axis(args.padding, "--padding", n, 0),
        _per_axis(args.dilation, "--dilation", n, 1),
    )


def _run_conv(args: argparse.Namespace) -> shapes.LayerArithmetic:
    shape, *window = _conv_window(args)
    return shapes.conv_layer(
        shape,
        args.filters,
        *window,
        groups=args.groups,
        bias=not args.no_bias,
        rounding=args.rounding,
    )


def _run_lc(args: argparse.Namespace) -> shapes.LayerArithmetic:
    shape, *window = _conv_window(args)
    return shapes.lc_layer(
        shape, args.filters, *window, bias=not args.no_bias, rounding=args.rounding
    )


def _run_pool(args: argparse.Namespace) -> shapes.LayerArithmetic:
    shape = check_channels_last(_input_shape(args.input), args.in_channels)
    n = len(shape) - 1
    stride = None if args.stride is None else _per_axis(args.stride, "--stride", n, 1)
    return shapes.pool_layer(
        shape,
        _per_axis(args.kernel, "--kernel", n, 1),
        stride,
        _per_axis(args.padding, "--padding", n, 0),
        rounding=args.rounding,
    )


def _run_fc(args: argparse.Namespace) -> shapes.LayerArithmetic:
    shape = _ints(args.input, "--input", "6x6x256 (flattened to 9216 features) or 4096")
    return shapes.fc_layer(shape, args.units, bias=not args.no_bias)


def _render_text(result: shapes.LayerArithmetic) -> str:
    def x(values: tuple[int, ...]) -> str:
        return "x".join(map(str, values))

    lines = [
        f"{result.kind}: input {x(result.input_shape)} -> output {x(result.output_shape)}",
        f"  output size   {x(result.output_shape)}",
        f"  parameters    {result.params:,}",
        f"  calculations  {result.calculations:,}",
        "formulas:",
        *(f"  {f}" for f in result.formulas),
        f"({_CONVENTION[result.kind]})",
    ]
    return "\n".join(lines)


def _command(run):
    """Wrap a ``_run_*`` function: compute, then print text or JSON on stdout."""

    def func(args: argparse.Namespace) -> int:
        result = run(args)
        if args.format == "json":
            print(dumps(result.as_dict(), indent=2))
        else:
            print(_render_text(result))
        return 0

    return func


def _common(parser: argparse.ArgumentParser, input_help: str) -> None:
    parser.add_argument("--input", required=True, metavar="SHAPE", help=input_help)
    parser.add_argument(
        "--in-channels",
        type=int,
        metavar="C",
        help="the channels, confirming an --input that reads either way (e.g. 3x64x64)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default) or json (machine-readable only)",
    )


def _rounding(parser: argparse.ArgumentParser, ceil_note: str) -> None:
    parser.add_argument(
        "--rounding",
        choices=("exact", "floor", "ceil"),
        default="exact",
        help="exact (default): the output size must be a whole number, as in the lecture; "
        f"floor: what PyTorch computes; ceil: {ceil_note}",
    )


def _window(parser: argparse.ArgumentParser, *, stride_default: str | None) -> None:
    each = "an int for every axis or one per axis, e.g. 3 or 3x3"
    parser.add_argument("--kernel", required=True, metavar="F", help=f"window size F: {each}")
    stride_help = f"stride S: {each}" + (
        f" (default {stride_default})" if stride_default else " (default: the window size)"
    )
    parser.add_argument("--stride", default=stride_default, metavar="S", help=stride_help)
    parser.add_argument("--padding", default="0", metavar="P", help=f"zero padding P: {each}")


def _conv_arguments(
    parser: argparse.ArgumentParser, input_help: str, *, groups: bool, no_bias_help: str
) -> None:
    """The options of conv and lc (lc has no --groups), in the order --help lists them."""
    _common(parser, input_help)
    parser.add_argument("--filters", type=int, required=True, metavar="K", help="output channels")
    _window(parser, stride_default="1")
    parser.add_argument("--dilation", default="1", metavar="D", help="dilation D (default 1)")
    if groups:
        parser.add_argument("--groups", type=int, default=1, help="channel groups (default 1)")
    parser.add_argument("--no-bias", action="store_true", help=no_bias_help)
    _rounding(parser, "round up (not a convolution's rule)")


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``healthcnn shapes`` and its sub-commands conv, pool, fc and lc."""
    sub = parser.add_subparsers(dest="layer", metavar="LAYER", required=True)
    spatial = f"input shape, {NOTATION}"

    conv = sub.add_parser("conv", help="a convolution", description="A convolution layer.")
    _conv_arguments(conv, spatial, groups=True, no_bias_help="a convolution without biases")
    conv.set_defaults(func=_command(_run_conv))

    pool = sub.add_parser(
        "pool", help="max, mean or sum pooling", description="Pooling (max, mean or sum)."
    )
    _common(pool, spatial)
    _window(pool, stride_default=None)
    _rounding(pool, "PyTorch's ceil_mode=True")
    pool.set_defaults(func=_command(_run_pool))

    fc = sub.add_parser("fc", help="a fully connected layer", description="A linear layer.")
    _common(fc, "input shape (its elements are the features): 6x6x256 or 9216")
    fc.add_argument("--units", type=int, required=True, help="output units")
    fc.add_argument("--no-bias", action="store_true", help="a layer without biases")
    fc.set_defaults(func=_command(_run_fc))

    lc = sub.add_parser(
        "lc",
        help="a locally connected layer",
        description="A locally connected layer: a convolution without weight sharing.",
    )
    _conv_arguments(lc, spatial, groups=False, no_bias_help="a layer without biases")
    lc.set_defaults(func=_command(_run_lc))
