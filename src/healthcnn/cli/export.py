"""``healthcnn export``: write a bundle's network as an ONNX graph, checked against PyTorch.

``--to onnx`` names the graph format (the only one); ``--format text|json`` the printout, as on
every command. ``--format onnx`` (the graph format's spelling before ``--to``) still works and
prints text; ``--json`` (before ``--format json``) still works, hidden, with a note on stderr."""

from __future__ import annotations

import argparse
import sys

from .._json import dumps
from ..bundle.export import DEFAULT_ATOL, export_onnx


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--to", dest="target", choices=["onnx"], default="onnx", help="graph format")
    p.add_argument("-o", "--out", help="output file (default BUNDLE/model.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--atol",
        type=float,
        default=DEFAULT_ATOL,
        help=f"largest accepted absolute logit difference (default {DEFAULT_ATOL:g})",
    )
    p.add_argument("--static-batch", action="store_true", help="fix the batch axis (at 2)")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the parity check")
    p.add_argument(
        "--format",
        choices=["text", "json", "onnx"],
        default="text",
        metavar="{text,json}",
        help="text for people (default) or JSON for programs; 'onnx', the graph format's old "
        "spelling, still works and means text",
    )
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # old --format json
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    result = export_onnx(
        args.bundle,
        args.out,
        opset=args.opset,
        batch_dynamic=not args.static_batch,
        check=args.check,
        atol=args.atol,
    )
    if args.json:
        print("healthcnn export: --json is deprecated; use --format json", file=sys.stderr)
    if args.json or args.format == "json":
        print(dumps(result.to_dict(), indent=2))
        return 0
    batch = "dynamic batch" if result.batch_dynamic else "batch 2"
    shape = "x".join(map(str, result.input_shape))
    print(f"wrote {result.path} (ONNX opset {result.opset}, input N x {shape}, {batch})")
    if args.check:
        print(
            f"parity vs PyTorch fp32 (ONNX Runtime): max abs logit difference "
            f"{result.max_abs_diff:.3g} (tolerance {result.atol:.3g})"
        )
    else:
        print("parity check skipped (--no-check)")
    return 0
