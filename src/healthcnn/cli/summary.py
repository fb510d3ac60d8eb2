"""``healthcnn summary TARGET --input HxWxC``: the exact per-layer table of a model.

TARGET is a registered model name (built with ``create_model``) or ``package.module:callable``
returning an ``nn.Module`` (an ``nn.Module`` object there is used as it is). ``--input`` is
written as in ``healthcnn shapes`` and the lecture: without the batch axis, channels last:
``5000x12`` (signal), ``224x224x3`` (image), ``64x64x64x1`` (volume); several inputs are
separated by commas, a single number is a vector. The table shows tensors as PyTorch holds them,
channels first (N, C, ...).

A shape that reads like the channels-first order (``3x224x224``) is refused with the
channels-last spelling (see :mod:`._sizes`), unless ``--in-channels`` confirms it.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import math
from typing import Any

from torch import nn

from ..data.image_stream import available_memory
from . import CLIError
from ._sizes import check_channels_last

FORMATS = ("text", "md", "csv", "json", "html")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", help="registered model name, or package.module:callable returning a model"
    )
    parser.add_argument(
        "--input",
        dest="input",
        help="input shape without batch, channels last as in `healthcnn shapes`: 224x224x3, "
        "5000x12, 64x64x64x1; several inputs separated by commas (default for a registered "
        "model: its default size with --in-channels channels)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--spatial-dims",
        type=int,
        choices=(1, 2, 3),
        help="spatial dimensions of a registered model (default: axes in --input minus one)",
    )
    parser.add_argument(
        "--in-channels",
        type=int,
        help="input channels (default: the last number of --input, else 3)",
    )
    parser.add_argument("--num-classes", type=int, help="classes (default 1000)")
    parser.add_argument("--depth", type=int, help="fold calls deeper than this into one row")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    parser.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra builder argument, e.g. --set dropout=0.2 (repeatable)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import render, summarize

    shapes = None
    if args.input is not None:
        shapes = channels_first(parse_inputs(args.input), args.in_channels)
    model, shapes = build_target(args, shapes)
    check_input_memory(shapes, args.batch_size)
    try:
        report = summarize(model, shapes, batch_size=args.batch_size, depth=args.depth)
    except MemoryError:
        raise CLIError(_too_large(shapes, args.batch_size, "the forward pass")) from None
    except RuntimeError as exc:
        if "allocate" not in str(exc):
            raise
        raise CLIError(_too_large(shapes, args.batch_size, "the forward pass")) from None
    print(render(report, args.format), end="")
    return 0


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _too_large(shapes: list[tuple[int, ...]], batch_size: int, what: str) -> str:
    text = ",".join(_written(s) for s in shapes)
    return (
        f"--input {text} (batch {batch_size}) is too large for this machine's memory "
        f"({_gib(available_memory() or 0)} available) in {what}; use a smaller input or batch"
    )


def check_input_memory(shapes: list[tuple[int, ...]], batch_size: int) -> None:
    """Refuse, before allocating, inputs whose float32 tensors alone exceed available memory
    (the activations need several times more)."""
    need = sum(4 * batch_size * math.prod(s) for s in shapes)
    have = available_memory()
    if have is not None and need > have:
        raise CLIError(
            f"--input {','.join(_written(s) for s in shapes)} (batch {batch_size}) "
            f"needs {_gib(need)} for the float32 input alone, more than the {_gib(have)} of "
            "memory available; use a smaller input or batch"
        )


def parse_inputs(text: str) -> list[tuple[int, ...]]:
    """``"224x224x3,10"`` -> ``[(224, 224, 3), (10,)]`` as written (channels last); raises
    ``ValueError`` on bad text."""
    shapes = []
    for part in text.split(","):
        try:
            shape = tuple(int(v) for v in part.strip().lower().split("x"))
        except ValueError:
            shape = ()
        if not shape or any(v < 1 for v in shape):
            raise ValueError(
                f"--input {text!r}: {part.strip()!r} is not a shape like 224x224x3 (channels "
                f"last, positive integers joined by 'x'; several inputs joined by ',')"
            )
        shapes.append(shape)
    return shapes


def channels_first(shapes: list[tuple[int, ...]], in_channels: int | None) -> list[tuple[int, ...]]:
    """Shapes written channels last -> PyTorch's channels-first order (a single number, a
    vector, is kept); the first is checked by :func:`._sizes.check_channels_last`."""
    check_channels_last(shapes[0], in_channels)
    return [(s[-1], *s[:-1]) if len(s) > 1 else s for s in shapes]


def parse_option(text: str) -> tuple[str, Any]:
    """``"dropout=0.2"`` -> ``("dropout", 0.2)``; values are Python literals, else strings."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"--set {text!r}: expected KEY=VALUE with KEY a Python identifier")
    raw = raw.strip()
    words = {"true": True, "false": False, "none": None}
    if raw.lower() in words:
        return key, words[raw.lower()]
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def build_target(
    args: argparse.Namespace, shapes: list[tuple[int, ...]] | None
) -> tuple[nn.Module, list[tuple[int, ...]]]:
    """The model named by ``args.target`` and the input shapes to run it on."""
    options = dict(parse_option(o) for o in args.options)
    if ":" in args.target:
        if shapes is None:
            raise ValueError(f"--input is required for the target {args.target!r}")
        explicit = {
            "spatial_dims": args.spatial_dims,
            "in_channels": args.in_channels,
            "num_classes": args.num_classes,
        }
        options = {**{k: v for k, v in explicit.items() if v is not None}, **options}
        return _from_callable(args.target, options), shapes
    return _from_registry(args, shapes, options)


def _from_registry(
    args: argparse.Namespace, shapes: list[tuple[int, ...]] | None, options: dict[str, Any]
) -> tuple[nn.Module, list[tuple[int, ...]]]:
    from ..models import create_model
    from ..models._registry import get_entry

    entry = get_entry(args.target)  # unknown name: ValueError with the closest matches
    if shapes is None:
        dims = args.spatial_dims or 2
        channels = args.in_channels or 3
        shapes = [(channels, *(entry.default_input_size,) * dims)]
    first = shapes[0]
    dims = len(first) - 1
    if args.spatial_dims is not None and args.spatial_dims != dims:
        raise ValueError(
            f"--spatial-dims {args.spatial_dims} disagrees with --input "
            f"{_written(first)}, which has {dims} spatial axes"
        )
    if dims not in (1, 2, 3):
        raise ValueError(
            f"--input {_written(first)} has {dims} spatial axes; give 1 to 3 spatial sizes "
            f"then the channels, e.g. 5000x12, 224x224x3 or 64x64x64x1"
        )
    in_channels = args.in_channels if args.in_channels is not None else first[0]
    if in_channels != first[0]:
        raise ValueError(
            f"--in-channels {in_channels} disagrees with --input {_written(first)} "
            f"({first[0]} channels)"
        )
    num_classes = args.num_classes if args.num_classes is not None else 1000
    model = _call_builder(
        args.target,
        lambda: create_model(
            args.target,
            spatial_dims=dims,
            in_channels=in_channels,
            num_classes=num_classes,
            **options,
        ),
    )
    return model, shapes


def _written(shape: tuple[int, ...]) -> str:
    """A channels-first shape as the user wrote it, channels last."""
    return "x".join(map(str, (*shape[1:], shape[0]) if len(shape) > 1 else shape))


def _from_callable(target: str, options: dict[str, Any]) -> nn.Module:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"target {target!r} must look like package.module:callable")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"cannot import {module_name!r} (from target {target!r}): {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CLIError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        if options:
            raise ValueError(f"{target} is a module object; it takes no --set or size options")
        return obj
    if not callable(obj):
        raise TypeError(f"{target} is a {type(obj).__name__}, not a callable returning a model")
    model = _call_builder(target, lambda: obj(**options))
    if not isinstance(model, nn.Module):
        raise TypeError(f"{target}(...) returned a {type(model).__name__}, not an nn.Module")
    return model


def _call_builder(target: str, build) -> Any:
    try:
        return build()
    except (ValueError, TypeError, KeyError):
        raise
    except Exception as exc:
        raise CLIError(f"building {target!r} failed: {type(exc).__name__}: {exc}") from None
