"""``healthcnn report``: one self-contained HTML model card of a bundle."""

from __future__ import annotations

import argparse

from ..report import make_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a self-contained HTML model card of a bundle",
        description="Score a bundle (thresholds fitted on val, then the chosen split) and write "
        "one HTML file: data provenance, model, training curves, ROC with CI band, operating "
        "points, calibration, subgroups, readers, versions. Prints the path written.",
    )
    p.add_argument("bundle", help="bundle directory (e.g. runs/demo)")
    p.add_argument(
        "--compare", nargs="+", default=[], metavar="BUNDLE", help="other bundles to compare"
    )
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data-dir", help="data root (default $HEALTHCNN_DATA, ~/.cache/healthcnn)")
    p.add_argument("--groups", metavar="COL", help="subgroup column (e.g. sex, age_band)")
    p.add_argument("--readers", metavar="CSV", help="human readers' sensitivity/specificity")
    p.add_argument(
        "--positive",
        metavar="CLASSES",
        help="positive classes of the binary view (ROC, operating points), names or indices, "
        "e.g. 2,3,4; RetinaMNIST defaults to 2,3,4 (referable DR)",
    )
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    p.add_argument("--title", help="report title (default: model card of MODEL on DATA)")
    p.add_argument("-o", "--out", required=True, help="HTML file to write (e.g. report.html)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    path = make_report(
        args.bundle,
        args.out,
        compare=args.compare,
        split=args.split,
        data_dir=args.data_dir,
        groups_column=args.groups,
        readers_csv=args.readers,
        positive=args.positive,
        precision=args.precision,
        seed=args.seed,
        title=args.title,
    )
    print(path)
    return 0
