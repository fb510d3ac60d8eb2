"""``healthcnn inspect PATH``: what a DICOM file, a DICOM series folder or a NIfTI volume reads
to: shape, spacing, orientation (LPS), the steps applied, optionally the array as ``.npy``.

Examples::

    healthcnn inspect scan.dcm
    healthcnn inspect series_dir --window lung --format json
    healthcnn inspect scan.nii.gz --save-npy scan.npy

Patient-identifying header tags (name, ID, birth date, accession number, UIDs) are never
printed unless ``--show-tags`` is given.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._json import dumps
from ..io.inspect import inspect
from . import add_format_option


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a .dcm file, a DICOM series folder, or a .nii/.nii.gz file")
    parser.add_argument(
        "--window",
        default=None,
        help="lung, mediastinum, soft_tissue, bone, brain, 'file' (the DICOM's own) or C,W",
    )
    add_format_option(parser)
    parser.add_argument("--save-npy", metavar="OUT", default=None, help="write the array here")
    parser.add_argument(
        "--show-tags",
        action="store_true",
        help="also print header tags, including those that identify the patient",
    )
    parser.set_defaults(func=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    result = inspect(
        args.path, window=args.window, show_tags=args.show_tags, save_npy=args.save_npy
    )
    if args.format == "json":
        print(dumps(result, indent=2))
        return 0
    _print_text(result)
    return 0


def _print_text(result: dict[str, Any]) -> None:
    spatial = len(result["shape"]) - 1
    axes = "channels, slices, rows, columns" if spatial == 3 else "channels, rows, columns"
    spacing = result["spacing_mm"]
    low_high = result["value_range"]
    rows = [
        ("source", result["source"]),
        ("format", f"{result['format']} (modality {result['modality'] or 'unknown'})"),
        ("shape", f"{' x '.join(map(str, result['shape']))} ({axes}), {result['dtype']}"),
        (
            "spacing",
            "unknown" if spacing is None else " x ".join(f"{s:g}" for s in spacing) + " mm",
        ),
        ("orientation", _orientation(result["orientation"])),
        ("values", "-" if low_high is None else f"{low_high[0]:g} .. {low_high[1]:g}"),
    ]
    for name, value in rows:
        print(f"{name:>12}: {value}")
    print(f"{'steps':>12}:")
    for i, step in enumerate(result["steps"], 1):
        detail = ", ".join(f"{k}={v}" for k, v in step.items() if k != "step")
        print(f"{'':>12}  {i}. {step['step']}({detail})")
    for key, value in result.get("tags", {}).items():
        print(f"{'tag':>12}: {key} = {value}")
    if "saved_npy" in result:
        print(f"{'saved':>12}: {result['saved_npy']}")


def _orientation(codes: str | None) -> str:
    if codes is None:
        return "unknown (the file gives no patient geometry)"
    return f"{codes} (the letter each array axis points to, patient frame LPS)"
