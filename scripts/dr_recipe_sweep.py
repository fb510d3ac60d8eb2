"""Find and measure the 5-grade RetinaMNIST recipe: candidates x seeds, chosen on validation.

Every candidate recipe (``healthcnn.studies.recipe.candidate_recipes``) is trained with each seed;
each run writes ``<out>/<recipe>/seed<k>.json`` (val and test AUC, ACC, quadratic kappa, best
epoch, seconds, device) and ``seed<k>.npz`` (val/test probabilities) as soon as it ends. The
summary picks the recipe with the best mean *validation* AUC (ties: validation accuracy) and only
then reads its test numbers: the mean and spread over seeds, and the ensemble (probabilities
averaged over the seeds). Test numbers of the other recipes are written but never used to choose.

    PYTHONPATH=src python scripts/dr_recipe_sweep.py --device cuda --jobs 8 --data-dir .gpu-data
    .venv/bin/python scripts/dr_recipe_sweep.py --recipes ce-aug-cos --seeds 0 1 2   # CPU
    .venv/bin/python scripts/dr_recipe_sweep.py --summary-only --out DIR             # re-summarise
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "results-data" / "dr-recipe"


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from healthcnn.studies.grading import grade_metrics

    return grade_metrics(y, p)


def run_one(name: str, seed: int, args_dict: dict) -> dict:
    import torch

    from healthcnn.data import load_medmnist
    from healthcnn.studies.recipe import candidate_recipe

    torch.set_num_threads(args_dict["threads"])
    recipe = candidate_recipe(name, args_dict["epochs"])
    if args_dict["precision"] != "auto":
        recipe = recipe.with_train(precision=args_dict["precision"])
    splits = {
        s: load_medmnist("retinamnist", s, size=28, root=args_dict["data_dir"])
        for s in ("train", "val", "test")
    }
    if args_dict["quick"]:
        splits["train"] = splits["train"].subset(range(0, len(splits["train"]), 8))
    from healthcnn.studies.recipe import fit_member

    member = fit_member(
        recipe,
        seed,
        splits["train"],
        splits["val"],
        {"test": splits["test"]},
        device=args_dict["device"],
    )
    from healthcnn.studies.recipe import predict_probs

    # the same network scored with test-time augmentation (8 flips/rotations): a choice the
    # summary makes on validation
    tta = {
        s: predict_probs(member, splits[s], tta=True, device=args_dict["device"])
        for s in ("val", "test")
    }
    scratch = Path(args_dict["scratch"]) / name
    scratch.mkdir(parents=True, exist_ok=True)
    y = {s: splits[s].labels.numpy() for s in ("val", "test")}
    from healthcnn._atomic import atomic_write_with

    def write_scores(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a file object: a name would get ".npz" appended
            np.savez_compressed(
                fh,
                **member.scores,
                **{f"{k}_tta": v for k, v in tta.items()},
                **{f"y_{k}": v for k, v in y.items()},
            )

    atomic_write_with(scratch / f"seed{seed}.npz", write_scores)
    from healthcnn.studies._common import device_name

    device = f"{device_name(args_dict['device'])} (torch {torch.__version__})"
    result = {
        "recipe": recipe.to_dict(),
        "seed": seed,
        "best_epoch": member.history.best_epoch,
        "epochs_run": len(member.history.epochs),
        "val": _metrics(y["val"], member.scores["val"]),
        "test": _metrics(y["test"], member.scores["test"]),
        "val_tta": _metrics(y["val"], tta["val"]),
        "test_tta": _metrics(y["test"], tta["test"]),
        "seconds": round(member.seconds, 1),
        "device": device,
        "n_train": member.n_train,
    }
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(scratch / f"seed{seed}.json", json.dumps(result, indent=1))
    return result


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarise(scratch: Path, out: Path, ensemble_size: int = 5) -> dict:
    """Choose on validation, then report test: single networks and seed ensembles.

    A configuration is (recipe, tta). The chosen one has the best mean validation AUC over
    its single networks (ties: validation ACC). Ensembles average the probabilities of
    ``ensemble_size`` networks from disjoint seed groups (seeds in sorted order).
    """
    table, runs_out = {}, {}
    for folder in sorted(p for p in scratch.iterdir() if p.is_dir()):
        runs = sorted(
            (json.loads(f.read_text()) for f in folder.glob("seed*.json")), key=lambda r: r["seed"]
        )
        if not runs:
            continue
        runs_out[folder.name] = runs
        probs = {r["seed"]: np.load(folder / f"seed{r['seed']}.npz") for r in runs}
        seeds = [r["seed"] for r in runs]
        groups = [seeds[i : i + ensemble_size] for i in range(0, len(seeds), ensemble_size)]
        groups = [g for g in groups if len(g) == ensemble_size]
        for tta in (False, True):
            suffix = "_tta" if tta else ""
            entry = {
                "recipe": folder.name,
                "tta": tta,
                "seeds": seeds,
                "device": runs[0]["device"],
                "seconds": _spread([r["seconds"] for r in runs]),
                "best_epochs": [r["best_epoch"] for r in runs],
            }
            for split in ("val", "test"):
                entry[split] = {
                    m: _spread([r[split + suffix][m] for r in runs])
                    for m in ("auc", "acc", "kappa")
                }
                ens = [
                    _metrics(
                        probs[g[0]][f"y_{split}"],
                        np.mean([probs[k][split + suffix] for k in g], axis=0),
                    )
                    for g in groups
                ]
                if ens:
                    entry[f"ensemble{ensemble_size}_{split}"] = {
                        m: _spread([e[m] for e in ens]) for m in ("auc", "acc", "kappa")
                    }
                allp = np.mean([probs[k][split + suffix] for k in seeds], axis=0)
                entry[f"ensemble_all_{split}"] = _metrics(probs[seeds[0]][f"y_{split}"], allp)
            entry["ensemble_groups"] = groups
            table[folder.name + (" +tta" if tta else "")] = entry
    if not table:
        raise SystemExit(f"no results under {scratch}")
    chosen = max(
        table, key=lambda k: (table[k]["val"]["auc"]["mean"], table[k]["val"]["acc"]["mean"])
    )
    summary = {
        "chosen_on_validation": chosen,
        "rule": "max mean single-network val AUC over (recipe, tta); ties: val ACC",
        "ensemble_size": ensemble_size,
        "configurations": table,
    }
    from healthcnn._atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    atomic_write_text(out / "runs.json", json.dumps(runs_out, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    from healthcnn.studies.recipe import candidate_recipes

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--recipes", nargs="*", help="recipe names (default: every candidate)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    ap.add_argument("--jobs", type=int, default=1, help="parallel processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="summary.json and runs.json")
    ap.add_argument("--scratch", default=None, help="per-run files (default: OUT/runs)")
    ap.add_argument("--ensemble-size", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1/8 of train, for smoke tests")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    scratch = Path(args.scratch) if args.scratch else out / "runs"
    if not args.summary_only:
        known = [r.name for r in candidate_recipes(args.epochs)]
        names = args.recipes or known
        bad = sorted(set(names) - set(known))
        if bad:
            ap.error(f"unknown recipe(s) {bad}; choose from {known}")
        jobs = [(n, s) for s in args.seeds for n in names]
        config = {
            k: getattr(args, k)
            for k in ("threads", "epochs", "precision", "data_dir", "quick", "device")
        }
        config["scratch"] = str(scratch)
        start = time.perf_counter()
        ctx = mp.get_context("spawn")
        from healthcnn._lifeline import exit_with_parent

        # the workers end with this process, so a stopped sweep stops training too
        with ProcessPoolExecutor(
            max_workers=args.jobs,
            mp_context=ctx,
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = {pool.submit(run_one, n, s, config): (n, s) for n, s in jobs}
            for fut in as_completed(futures):
                n, s = futures[fut]
                try:
                    r = fut.result()
                except Exception as exc:  # one failed run must not lose the others
                    print(f"{n} seed {s}: FAILED {exc!r}", file=sys.stderr, flush=True)
                    continue
                print(
                    f"{n} seed {s}: val AUC {r['val']['auc']:.4f} ACC {r['val']['acc']:.3f} | "
                    f"test AUC {r['test']['auc']:.4f} ACC {r['test']['acc']:.3f} "
                    f"(best epoch {r['best_epoch']}, {r['seconds']:.0f} s)",
                    flush=True,
                )
        print(f"sweep wall time {time.perf_counter() - start:.0f} s", flush=True)
    summary = summarise(scratch, out, args.ensemble_size)
    c = summary["chosen_on_validation"]
    e = summary["configurations"][c]
    k = summary["ensemble_size"]
    print(f"chosen on validation: {c}")
    for split in ("val", "test"):
        m = e[split]
        line = (
            f"  {split}: AUC {m['auc']['mean']:.4f} (sd {m['auc']['sd']:.4f}), "
            f"ACC {m['acc']['mean']:.4f} (sd {m['acc']['sd']:.4f}), kappa {m['kappa']['mean']:.3f}"
        )
        ens = e.get(f"ensemble{k}_{split}")
        if ens:
            line += (
                f"; ensembles of {k}: AUC {ens['auc']['mean']:.4f} (sd {ens['auc']['sd']:.4f}) "
                f"ACC {ens['acc']['mean']:.4f} (sd {ens['acc']['sd']:.4f})"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
