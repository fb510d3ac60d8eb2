"""``healthcnn evaluate``: score a bundle on a split of its data."""

from __future__ import annotations

import argparse
import json

from ..training.run import evaluate_bundle


def register(subparsers: argparse._SubParsersAction) -> None:
    e = subparsers.add_parser("evaluate", help="score a bundle on a split of its data")
    e.add_argument("bundle")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--data", help="score on this dataset instead of the bundle's own")
    e.add_argument("--data-dir")
    e.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    e.add_argument("--format", choices=["text", "json"], default="text")
    e.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    result = evaluate_bundle(
        args.bundle,
        split=args.split,
        data=args.data,
        data_dir=args.data_dir,
        precision=args.precision,
    )
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    m = result["metrics"]
    print(
        f"{result['bundle']} on {result['data']} [{result['split']}], task {result['task']}: "
        f"AUC {m['auc']:.4f}  ACC {m['acc']:.4f}  (n={m['n']})"
    )
    return 0
