"""``healthcnn explain``: saliency maps for a file's inputs from a bundle, with their verdict."""

from __future__ import annotations

import argparse

from ..explain.files import explain_files
from ..explain.saliency import METHODS
from . import add_format_option, printed_as_json


def register(r: argparse.ArgumentParser) -> None:
    r.add_argument("bundle")
    r.add_argument("file", help="an image file or an .npz holding 'images'")
    r.add_argument("--method", default="gradcam", choices=list(METHODS))
    r.add_argument("--class", dest="class_name", default=None,
                   help="explain this class (default: each input's predicted class)")  # fmt: skip
    r.add_argument("--layer", default=None,
                   help="Grad-CAM layer, a dotted module name (default: the model's feature map, "
                   "the output of forward_features)")  # fmt: skip
    r.add_argument("--out", required=True, help="folder for the figures and explanation.json")
    add_format_option(r)
    r.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    result = explain_files(
        args.bundle,
        args.file,
        method=args.method,
        class_name=args.class_name,
        layer=args.layer,
        out=args.out,
    )
    if printed_as_json(args, {**result, "explanation": f"{args.out}/explanation.json"}):
        return 0
    sanity = result["sanity"]
    print(
        f"{result['method']}: {len(result['inputs'])} input(s); sanity "
        f"{sanity['verdict'].upper()} (Spearman {sanity['spearman']:.2f}, "
        f"SSIM {sanity['ssim']:.2f}; pass: both < {sanity['threshold']})"
    )
    for row in result["inputs"]:
        print(f"  {row['input']}: class {row['class']} -> {args.out}/{row['figure']}")
    print(f"verdicts: {args.out}/explanation.json")
    return 0
