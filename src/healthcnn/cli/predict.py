"""``healthcnn predict``: class probabilities from a bundle for image or ``.npz`` files, DICOM
files, DICOM series folders and NIfTI volumes (read as the bundle's record says)."""

from __future__ import annotations

import argparse
import sys

from ..inference.files import predict_files
from . import add_format_option, printed_as_json


def register(r: argparse.ArgumentParser) -> None:
    r.add_argument("bundle")
    r.add_argument("files", nargs="+")
    r.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    r.add_argument(
        "--engine",
        default="torch",
        choices=["torch", "compiled", "onnx"],
        help="torch: eager (default); compiled: torch.compile, frozen (slow first call); "
        "onnx: ONNX Runtime on the bundle's model.onnx or a checked in-memory export",
    )
    add_format_option(r)
    r.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    rows = predict_files(args.bundle, args.files, precision=args.precision, engine=args.engine)
    if printed_as_json(args, rows):
        return 0
    classes = list(rows[0]["probabilities"]) if rows else []
    extra = [k for k in ("set", "abstain") if rows and k in rows[0]]
    points = list(rows[0].get("decisions", {})) if rows else []
    extra += [f"[{p}]" for p in points]
    width = max([len(r["input"]) for r in rows] + [5])
    head = "  ".join([c[:12].rjust(12) for c in classes] + extra)
    print("input".ljust(width) + "  " + head)
    for r in rows:
        cells = [f"{r['probabilities'][c]:12.4f}" for c in classes]
        if "set" in r:
            cells.append("{" + ", ".join(r["set"]) + "}")
        if "abstain" in r:
            cells.append("abstain" if r["abstain"] else "-")
        cells += [
            ("positive" if r["decisions"][p] else "negative").ljust(len(p) + 2) for p in points
        ]
        print(r["input"].ljust(width) + "  " + "  ".join(cells))
    sys.stdout.flush()
    return 0
