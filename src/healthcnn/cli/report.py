"""``healthcnn report``: one self-contained HTML model card of a bundle."""

from __future__ import annotations

import argparse

from ..report import make_report
from . import add_format_option, add_scoring_options, printed_as_json


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle directory (e.g. runs/demo)")
    p.add_argument(
        "--compare", nargs="+", default=[], metavar="BUNDLE", help="other bundles to compare"
    )
    add_scoring_options(p)
    p.add_argument("--title", help="report title (default: model card of MODEL on DATA)")
    p.add_argument("-o", "--out", required=True, help="HTML file to write (e.g. report.html)")
    add_format_option(p)
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
    if not printed_as_json(args, {"report": path}):
        print(path)
    return 0
