"""Measure prediction sets and selective prediction on trained bundles (docs/results-trust.md).

    python scripts/trust_measure.py BUNDLE [BUNDLE ...] --out docs/results-data/trust

For each bundle: predict its validation and test splits once (the bundle's record, its own
split seed), then, with every rule fitted on validation only:

- 90% sets (LAC, APS, RAPS; marginal and class-conditional): test coverage overall and per
  class with Wilson 95% intervals, mean set size;
- the spread of coverage one validation draw allows (the Beta law of the finite-sample bound)
  and, as a check, the empirical spread over random re-splits of the pooled val + test rows
  (same sizes; exchangeable by construction);
- selective prediction: AURC, E-AURC and accuracy at 50% coverage for softmax confidence and
  for the APS set size; an abstain rule fitted on val.

Writes ``<out>/<bundle name>.json`` and prints the markdown tables of the doc.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from healthcnn._atomic import atomic_write_text
from healthcnn._json import dumps
from healthcnn.bundle import load_bundle
from healthcnn.evaluation.evaluate import _bundle_splits, _data_source, _split_predictor
from healthcnn.inference.precision import PrecisionPolicy
from healthcnn.metrics import conformal, selective

COVERAGE = 0.9
#: (method, class-conditional, randomized)
RULES = [
    ("lac", False, False),
    ("aps", False, False),
    ("aps", False, True),
    ("raps", False, False),
    ("lac", True, False),
    ("aps", True, False),
    ("aps", True, True),
]


def predict_splits(bundle_dir: str, data_dir: str | None) -> tuple[Any, Any, Any]:
    bundle = load_bundle(bundle_dir)
    source = _data_source(bundle, None, bundle_dir)
    splits = _bundle_splits(bundle, source, data_dir)
    predict = _split_predictor(bundle, PrecisionPolicy.resolve("fp32"), 256)
    return bundle, predict(splits["val"]), predict(splits["test"])


def sets_rows(task: Any, pv, yv, pt, yt) -> list[dict[str, Any]]:
    rows = []
    for method, cc, randomized in RULES:
        rule = conformal.ConformalClassifier(COVERAGE, method, cc, randomized=randomized).fit(
            pv, yv
        )
        sets = rule.predict_sets(pt)
        rows.append(
            {
                "method": method,
                "class_conditional": cc,
                "randomized": randomized,
                "coverage": conformal.set_coverage(sets, yt),
                "mean_set_size": conformal.mean_set_size(sets),
                "per_class": conformal.coverage_by_class(sets, yt, task.classes),
            }
        )
    return rows


def observed_spread(n_val: int, n_test: int) -> dict[str, float]:
    """The 5% and 95% quantiles of the test coverage one val draw of ``n_val`` and one test
    draw of ``n_test`` give: hits ~ BetaBinomial(n_test, r, n_val + 1 - r), r = ceil((n_val +
    1) 0.9) (continuous scores; exact quantiles by scipy)."""
    from scipy.stats import beta, betabinom

    r = math.ceil((n_val + 1) * COVERAGE - 1e-9)
    if r > n_val or n_test == 0:
        return {"n_val": n_val, "n_test": n_test, "cond_p05": 1.0, "cond_p95": 1.0,
                "test_p05": 1.0, "test_p95": 1.0}  # fmt: skip
    a, b = r, n_val + 1 - r
    hits = betabinom(n_test, a, b)
    return {
        "n_val": n_val,
        "n_test": n_test,
        "cond_p05": float(beta.ppf(0.05, a, b)),
        "cond_p95": float(beta.ppf(0.95, a, b)),
        "test_p05": float(hits.ppf(0.05) / n_test),
        "test_p95": float(hits.ppf(0.95) / n_test),
    }


def resplit_spread(p: np.ndarray, y: np.ndarray, n_val: int, reps: int, method: str) -> dict:
    """Marginal test coverage over random re-splits of the pooled rows (sizes kept)."""
    rng = np.random.default_rng(0)
    cov = []
    for _ in range(reps):
        idx = rng.permutation(len(y))
        v, t = idx[:n_val], idx[n_val:]
        sets = conformal.ConformalClassifier(COVERAGE, method).fit(p[v], y[v]).predict_sets(p[t])
        cov.append(sets[np.arange(len(t)), y[t]].mean())
    cov = np.asarray(cov)
    return {
        "reps": reps,
        "mean": float(cov.mean()),
        "sd": float(cov.std()),
        "p05": float(np.quantile(cov, 0.05)),
        "p95": float(np.quantile(cov, 0.95)),
        "share_in_0.85_0.95": float(((cov >= 0.85) & (cov <= 0.95)).mean()),
    }


def selective_rows(task: Any, val: Any, test: Any, pv, yv, pt, yt) -> dict[str, Any]:
    right = task.decisions(test.scores) == yt
    sets = conformal.ConformalClassifier(COVERAGE, "aps").fit(pv, yv).predict_sets(pt)
    out: dict[str, Any] = {"accuracy_all": float(right.mean())}
    for name, conf in (
        ("softmax", selective.confidence_scores(pt)),
        ("set_size", selective.confidence_scores(pt, "set_size", sets)),
    ):
        out[name] = {
            "aurc": selective.aurc(conf, right),
            "e_aurc": selective.excess_aurc(conf, right),
            "accuracy_at_50": selective.accuracy_at_coverage(conf, right, 0.5),
        }
    right_val = task.decisions(val.scores) == yv
    target = round(float(right_val.mean()) + 0.1, 2)  # ten points above val accuracy
    rule = selective.AbstainRule(target_accuracy=min(target, 0.99)).fit(
        selective.confidence_scores(pv), right_val
    )
    keep = ~rule.abstain(selective.confidence_scores(pt))
    out["abstain"] = {
        **rule.to_dict(),
        "test_coverage": float(keep.mean()),
        "test_accuracy_kept": float(right[keep].mean()) if keep.any() else None,
    }
    return out


def measure(bundle_dir: str, data_dir: str | None, reps: int) -> dict[str, Any]:
    bundle, val, test = predict_splits(bundle_dir, data_dir)
    task = bundle.task
    pv, pt = task.class_columns(val.scores), task.class_columns(test.scores)
    yv, yt = np.asarray(val.labels), np.asarray(test.labels)
    pooled_p, pooled_y = np.concatenate([pv, pt]), np.concatenate([yv, yt])
    return {
        "bundle": str(bundle_dir),
        "task": task.kind,
        "classes": list(task.classes),
        "n_val": len(yv),
        "n_test": len(yt),
        "val_class_counts": np.bincount(yv, minlength=task.num_classes).tolist(),
        "test_class_counts": np.bincount(yt, minlength=task.num_classes).tolist(),
        "sets": sets_rows(task, pv, yv, pt, yt),
        "bound_spread": conformal.coverage_spread(len(yv), COVERAGE),
        "observed_spread": observed_spread(len(yv), len(yt)),
        "observed_spread_per_class": [
            observed_spread(int((yv == k).sum()), int((yt == k).sum()))
            for k in range(task.num_classes)
        ],
        "resplit_spread": {
            m: resplit_spread(pooled_p, pooled_y, len(yv), reps, m) for m in ("lac", "aps")
        },
        "selective": selective_rows(task, val, test, pv, yv, pt, yt),
    }


def _e(e: Any) -> str:
    return f"{e.value:.3f} ({e.ci_low:.3f}-{e.ci_high:.3f})"


def _name(s: dict[str, Any], cc: str = " class-conditional") -> str:
    return (
        s["method"].upper()
        + (" randomized" if s["randomized"] else "")
        + (cc if s["class_conditional"] else "")
    )


def markdown(r: dict[str, Any]) -> str:
    lines = [f"### {r['bundle']} (val n={r['n_val']}, test n={r['n_test']})", ""]
    lines += ["| sets | test coverage (Wilson 95%) | mean size |", "|---|---|---|"]
    for s in r["sets"]:
        name = _name(s)
        lines.append(f"| {name} | {_e(s['coverage'])} | {s['mean_set_size']:.2f} |")
    lines += ["", "| class | n test | " + " | ".join(_name(s, " cc") for s in r["sets"]) + " |"]
    lines += ["|---|---|" + "---|" * len(r["sets"])]
    for k, name in enumerate(r["classes"]):
        cells = [_e(s["per_class"][k]["coverage"]) for s in r["sets"]]
        lines.append(f"| {name} | {r['test_class_counts'][k]} | " + " | ".join(cells) + " |")
    b = r["bound_spread"]
    lines += ["", f"bound: mean {b['mean']:.3f} sd {b['sd']:.3f} 90% {b['low_05']:.3f}-"
              f"{b['high_95']:.3f}"]  # fmt: skip
    o = r["observed_spread"]
    lines.append(
        f"observed test coverage, 90% range: {o['test_p05']:.3f}-{o['test_p95']:.3f} "
        f"(conditional on val alone {o['cond_p05']:.3f}-{o['cond_p95']:.3f})"
    )
    for k, o in enumerate(r["observed_spread_per_class"]):
        lines.append(
            f"  class {r['classes'][k]} (val {o['n_val']}, test {o['n_test']}): class-conditional "
            f"90% range {o['test_p05']:.3f}-{o['test_p95']:.3f}"
        )
    for m, e in r["resplit_spread"].items():
        lines.append(
            f"resplits {m} ({e['reps']}): mean {e['mean']:.3f} sd {e['sd']:.3f} 5-95% "
            f"{e['p05']:.3f}-{e['p95']:.3f}, in [0.85, 0.95]: {e['share_in_0.85_0.95']:.2f}"
        )
    sel = r["selective"]
    lines += ["", f"accuracy (all test): {sel['accuracy_all']:.3f}", ""]
    lines += ["| confidence | AURC | E-AURC | accuracy at 50% coverage |", "|---|---|---|---|"]
    for name in ("softmax", "set_size"):
        s = sel[name]
        lines.append(
            f"| {name} | {s['aurc']:.4f} | {s['e_aurc']:.4f} | {_e(s['accuracy_at_50'])} |"
        )
    a = sel["abstain"]
    lines.append(f"\nabstain rule: {a}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+")
    ap.add_argument("--out", default="docs/results-data/trust")
    ap.add_argument("--data-dir")
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for b in args.bundles:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # too-few-rows classes: stated in the tables (n)
            r = measure(b, args.data_dir, args.reps)
        atomic_write_text(out / f"{Path(b).name}.json", dumps(r, indent=2) + "\n")
        print(markdown(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
