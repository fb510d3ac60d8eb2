"""Does bf16 training reach the accuracy of fp32? ResNet-18 (28 px stem) on RetinaMNIST.

Trains the ``make demo`` recipe (Adam, lr 1e-3, batch 128, multistep at 50% and 75% of the
epochs, best validation AUC) with ``precision="bf16"`` and ``precision="fp32"`` for each seed,
and prints the validation AUC of the best epoch, the test AUC, and the bf16 - fp32 difference
per seed and on average. The target is |mean difference| <= 0.01 (validation AUC).

Not part of ``make bench`` (it trains 2 x 3 models: about 20 minutes on 2 quiet cores); run
``python benchmarks/bf16_parity.py [--epochs 20] [--seeds 0 1 2] [--json FILE]``, or
``python benchmarks/run.py --full``. Needs RetinaMNIST under the data root ($HEALTHCNN_DATA).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import torch

from healthcnn.studies.run import train_run
from healthcnn.training import TrainConfig
from healthcnn.training.config import RunConfig

TARGET = 0.01


def run_one(precision: str, seed: int, epochs: int, data_dir: str | None) -> dict[str, float]:
    milestones = (epochs // 2, (3 * epochs) // 4) if epochs >= 4 else ()
    train = TrainConfig(
        epochs=epochs,
        batch_size=128,
        lr=1e-3,
        schedule="multistep" if milestones else "none",
        milestones=milestones,
        seed=seed,
        precision=precision,
    )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig(
            data="retinamnist",
            out=f"{tmp}/bundle",
            model="resnet18",
            size=28,
            train=train,
            data_dir=data_dir,
            download=False,
        )
        start = time.perf_counter()
        result = train_run(cfg, progress=False)
    return {
        "val_auc": result.metrics["val"]["auc"],
        "test_auc": result.metrics["test"]["auc"],
        "test_acc": result.metrics["test"]["acc"],
        "best_epoch": result.history.best_epoch,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", help="data root (default $HEALTHCNN_DATA)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    print(
        f"bf16 vs fp32 training parity: ResNet-18 (small stem), RetinaMNIST 28 px, "
        f"{args.epochs} epochs, seeds {args.seeds}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        flush=True,
    )
    rows = []
    print(f"{'seed':>4} {'precision':>9} {'val AUC':>8} {'test AUC':>9} {'best ep':>8} {'time':>7}")
    for seed in args.seeds:
        for precision in ("bf16", "fp32"):
            r = run_one(precision, seed, args.epochs, args.data_dir)
            rows.append({"seed": seed, "precision": precision, **r})
            print(
                f"{seed:>4} {precision:>9} {r['val_auc']:>8.4f} {r['test_auc']:>9.4f} "
                f"{r['best_epoch']:>8} {r['seconds']:>6.0f}s",
                flush=True,
            )
    diffs = {}
    for key in ("val_auc", "test_auc"):
        by = {(r["seed"], r["precision"]): r[key] for r in rows}
        diffs[key] = [by[(s, "bf16")] - by[(s, "fp32")] for s in args.seeds]
    for key, values in diffs.items():
        print(
            f"bf16 - fp32 {key}: per seed {', '.join(f'{d:+.4f}' for d in values)}; mean "
            f"{statistics.mean(values):+.4f}"
        )
    mean_val = statistics.mean(diffs["val_auc"])
    verdict = "within" if abs(mean_val) <= TARGET else "OUTSIDE"
    print(f"mean validation AUC difference {mean_val:+.4f}: {verdict} the +-{TARGET} target")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "differences": diffs}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
