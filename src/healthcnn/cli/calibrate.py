"""``healthcnn calibrate``: fit prediction sets and an abstain rule on a bundle's validation
split and store them in the bundle (``trust.json``, sealed); ``predict`` then returns each
input's set and abstain flag."""

from __future__ import annotations

import argparse

from ..evaluation.calibrate import calibrate_bundle
from . import add_format_option, add_trust_options, printed_as_json


def register(c: argparse.ArgumentParser) -> None:
    c.add_argument("bundle")
    add_trust_options(c, "--method")
    c.add_argument(
        "--positive",
        metavar="CLASSES",
        help="positive classes of the binary view whose operating points (sensitivity 0.90, "
        "specificity 0.90) are fitted, names or indices; default: the data's clinical view",
    )
    c.add_argument("--data-dir")
    c.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    add_format_option(c)
    c.set_defaults(func=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    record = calibrate_bundle(
        args.bundle,
        coverage=None if args.no_sets else args.coverage,
        method=args.set_method,
        class_conditional=args.class_conditional,
        abstain_accuracy=args.abstain_accuracy,
        positive=args.positive,
        data_dir=args.data_dir,
        precision=args.precision,
    )
    if printed_as_json(args, record):
        return 0
    print(f"{args.bundle}: rules fitted on val (n={record['n_val']}) and sealed in trust.json")
    sets = record["conformal"]
    if sets:
        mode = "class-conditional" if sets["class_conditional"] else "marginal"
        print(
            f"  sets: {sets['method'].upper()} {mode}, target coverage {sets['coverage']:.2f}, "
            f"coverage on val {record['val_coverage']:.3f}"
        )
    rule = record["abstain"]
    if rule:
        thr = "inf (abstain on all)" if rule["threshold"] is None else f"{rule['threshold']:.4f}"
        print(
            f"  abstain below softmax confidence {thr}: on val keeps "
            f"{rule['val_coverage']:.3f} of cases for target accuracy {rule['target_accuracy']:.2f}"
        )
    points = record["operating_points"]
    for p in points["points"] if points else []:
        print(
            f"  {points['name']} at {p['name']}: threshold {p['threshold']:.4f}, on val "
            f"sensitivity {p['val_sensitivity']:.3f}, specificity {p['val_specificity']:.3f}"
        )
    for w in record["warnings"]:
        print(f"warning: {w}")
    return 0
