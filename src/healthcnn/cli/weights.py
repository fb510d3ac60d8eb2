"""``healthcnn weights inflate|info``: inspect local weight files and inflate 2D ones.

Examples::

    healthcnn weights info resnet18.pth
    healthcnn weights inflate resnet18.pth resnet18_3d.safetensors --spatial-dims 3

``inflate`` writes ``.safetensors`` atomically (a temporary file renamed into place); load the
result with ``create_model(name, spatial_dims=3, weights=...)``. See docs/weights.md.
"""

from __future__ import annotations

import argparse

from ..models.weights import INFLATE_MODES, inflate_file, weights_info
from . import add_format_option, add_info_action, printed_as_json


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    inflate = sub.add_parser("inflate", help="2D weights -> 1D or 3D (.safetensors)")
    inflate.add_argument("source", help="2D weights: .safetensors, .pt or .pth")
    inflate.add_argument("dest", help="output .safetensors file")
    inflate.add_argument("--spatial-dims", type=int, choices=[1, 3], required=True)
    inflate.add_argument(
        "--mode",
        choices=INFLATE_MODES,
        default="i3d",
        help="i3d: repeat along the new axis and average (default); centre: middle slice only",
    )
    inflate.add_argument(
        "--depth", type=int, default=None, help="3D kernel depth (default: each kernel's height)"
    )
    add_format_option(inflate)
    inflate.set_defaults(func=_inflate)

    add_info_action(sub, "tensors, parameters and dimensionality of a weights file", "file", _info)


def _inflate(args: argparse.Namespace) -> int:
    path = inflate_file(args.source, args.dest, args.spatial_dims, mode=args.mode, depth=args.depth)
    doc = {"path": path, "spatial_dims": args.spatial_dims, "mode": args.mode}
    if not printed_as_json(args, doc):
        print(f"wrote {path} ({args.spatial_dims}D, mode {args.mode})")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = weights_info(args.file)
    if printed_as_json(args, info.as_dict()):
        return 0
    dims = "unknown (no convolution weights)" if info.spatial_dims is None else info.spatial_dims
    print(f"{'file':>12}: {info.path}")
    print(f"{'tensors':>12}: {info.tensors:,}")
    print(f"{'parameters':>12}: {info.parameters:,} (without batch-norm running statistics)")
    print(f"{'elements':>12}: {info.elements:,} (every stored number)")
    print(f"{'spatial dims':>12}: {dims} (guessed from the convolution weights)")
    print(f"{'dtypes':>12}: {', '.join(f'{k} x{v}' for k, v in info.dtypes.items())}")
    if info.metadata:
        print(f"{'metadata':>12}: {', '.join(f'{k}={v}' for k, v in info.metadata.items())}")
    return 0
