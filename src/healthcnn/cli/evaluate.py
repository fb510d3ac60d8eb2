"""``healthcnn evaluate``: score a bundle on a split of its data, with confidence intervals,
operating points fitted on val, calibration, subgroups and reader comparison."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .._json import dumps
from ..evaluation import OperatingPoints, evaluate_bundle, parse_points
from . import add_format_option, add_scoring_options, add_trust_options


def register(e: argparse.ArgumentParser) -> None:
    e.add_argument("bundle")
    add_scoring_options(e)
    e.add_argument("--data", help="score on this dataset instead of the bundle's own")
    e.add_argument(
        "--operating-points",
        metavar="FILE",
        help='JSON list of {"rule": sensitivity|specificity|youden|accuracy|fixed, "target": 0.9, '
        '"threshold": ..., "name": ...}',
    )
    e.add_argument("--target-sensitivity", type=float, metavar="T", default=None)
    e.add_argument("--target-specificity", type=float, metavar="T", default=None)
    e.add_argument("--youden", action="store_true", help="add the Youden-index point")
    e.add_argument("--ci", default="delong", choices=["delong", "bootstrap"])
    e.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples")
    e.add_argument("--bins", type=int, default=15, help="calibration bins (ECE)")
    add_trust_options(e, "--set-method")
    add_format_option(e)
    e.set_defaults(func=_evaluate)


def _points(args: argparse.Namespace) -> OperatingPoints | None:
    if args.operating_points:
        if args.target_sensitivity is not None or args.target_specificity is not None:
            raise ValueError("give --operating-points FILE or --target-*, not both")
        path = Path(args.operating_points)
        if not path.is_file():
            raise FileNotFoundError(f"operating points file {path} does not exist")
        try:
            specs = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        return parse_points(specs)
    if args.target_sensitivity is None and args.target_specificity is None and not args.youden:
        return None  # the default pair: sensitivity 0.90, specificity 0.90
    sens = args.target_sensitivity
    spec = args.target_specificity
    if sens is None and spec is None:
        sens = spec = 0.90
    points = list(OperatingPoints.default(sens, spec))
    if args.youden:
        from ..evaluation import OperatingPoint

        points.append(OperatingPoint("youden"))
    return OperatingPoints(points)


def _evaluate(args: argparse.Namespace) -> int:
    result = evaluate_bundle(
        args.bundle,
        split=args.split,
        data=args.data,
        data_dir=args.data_dir,
        operating_points=_points(args),
        groups_column=args.groups,
        readers_csv=args.readers,
        positive=args.positive,
        precision=args.precision,
        ci=args.ci,
        seed=args.seed,
        n_bins=args.bins,
        n_resamples=args.n_resamples,
        set_coverage=None if args.no_sets else args.coverage,
        set_method=args.set_method,
        class_conditional=args.class_conditional,
        abstain_accuracy=args.abstain_accuracy,
    )
    data = result.to_dict()
    if args.format == "json":
        print(dumps(data, indent=2))
        return 0
    print(format_text(data))
    return 0


def _est(e: dict[str, Any] | None, digits: int = 3) -> str:
    if not e:
        return "-"
    v, lo, hi = e["value"], e["ci_low"], e["ci_high"]
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "undefined"
    if lo is None or math.isnan(lo) or math.isnan(hi):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f}, {e['method']})"


def format_text(d: dict[str, Any]) -> str:
    """The evaluation as a readable report (what ``--format text`` prints)."""
    m = d["metrics"]
    level = round(100 * d["level"])
    lines = [
        f"{d['bundle']} on {d['data']} [{d['split']}, n={d['n']}], task {d['task']}",
        f"classes: {', '.join(d['classes'])}",
        "",
        f"Metric (value, {level}% CI)",
        f"  AUC{'':24}{_est(m['auc'])}",
        f"  accuracy{'':19}{_est(m['acc'])}",
    ]
    order = ("balanced_accuracy", "kappa_quadratic", "kappa_linear", "brier")
    for key in order:
        if key in m:
            lines.append(f"  {key.replace('_', ' '):<27}{_est(m[key])}")
    ece = m["ece"]
    lines.append(
        f"  ECE ({ece['n_bins']} {ece['strategy']} bins, {ece['kind']}){'':2}{ece['value']:.3f}"
    )
    pos = d["positive"]
    if pos:
        lines += ["", f"Binary view: {pos['name']} = {', '.join(pos['classes'])}"]
        lines.append(f"  AUC{'':24}{_est(m['auc_positive'])}")
        slope = m.get("calibration_slope", {}).get("value")
        if slope is not None and not math.isnan(slope):
            lines.append(
                f"  calibration slope {slope:.2f}, intercept "
                f"{m['calibration_intercept']['value']:.2f}"
            )
    if d["operating_points"]:
        lines += ["", f"Operating points (thresholds fitted on val; Wilson {level}% CIs)"]
        for op in d["operating_points"]:
            lines.append(f"  {op['name']}: threshold {op['threshold']:.4f} ({op['rule']})")
            for k in ("sensitivity", "specificity", "ppv", "npv"):
                lines.append(f"    {k:<12}{_est(op[k])}")
    cal = d["calibration"]
    if cal:
        lines += [
            "",
            f"Temperature scaling (fitted on val): T = {cal['temperature']:.3f}, "
            f"ECE after {cal['ece_after']['value']:.3f}",
        ]
    if d["per_class"]:
        lines += ["", "Per class: AUC (one-vs-rest) | sensitivity | n"]
        for row in d["per_class"]:
            lines.append(
                f"  {row['class']:<14}{_est(row['auc']):<34}{_est(row['sensitivity']):<34}"
                f"{row['n']}"
            )
    if d["confusion_matrix"]:
        cm = d["confusion_matrix"]
        lines += ["", "Confusion matrix (rows: truth, columns: prediction)"]
        width = max(6, *(len(c) for c in cm["labels"]))
        lines.append(" " * (width + 2) + "".join(f"{c:>{width + 1}}" for c in cm["labels"]))
        for c, row in zip(cm["labels"], cm["matrix"], strict=True):
            lines.append(f"  {c:<{width}}" + "".join(f"{v:>{width + 1}}" for v in row))
    for column, rows in (d["subgroups"] or {}).items():
        lines += ["", f"Subgroups by {column} (gap = group - overall; * small group)"]
        for r in rows:
            cells = "  ".join(
                f"{k} {_est(v)} [{_gap(r['gap'][k])}]" for k, v in r["metrics"].items()
            )
            lines.append(f"  {r['group']}{'*' if r['small'] else ''} (n={r['n']}): {cells}")
    if d["readers"]:
        lines += ["", "Readers vs the model (bootstrap CIs)"]
    for r in d["readers"] or []:
        lines.append(
            f"  reader {r['reader']}: sens {r['sensitivity']:.3f} spec {r['specificity']:.3f}; "
            f"model spec at that sens "
            f"{_est(r['model_specificity_at_reader_sensitivity'])}, sens at that spec "
            f"{_est(r['model_sensitivity_at_reader_specificity'])}; "
            f"{'below' if r['below_curve'] else 'on/above'} the model's ROC"
        )
    lines += format_sets(d.get("prediction_sets"), level)
    lines += format_selective(d.get("selective"), level)
    for note in d.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _gap(value: float | None) -> str:
    """A subgroup's gap to the overall value, or "-" when either is undefined."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.3f}"


def format_sets(ps: dict[str, Any] | None, level: int) -> list[str]:
    """The prediction sets' lines of the text report."""
    if not ps:
        return []
    mode = "class-conditional" if ps["class_conditional"] else "marginal"
    spread = ps["expected_spread"]
    lines = [
        "",
        f"Prediction sets ({ps['method'].upper()}, {mode}, target coverage "
        f"{ps['coverage']:.2f}, fitted on val n={ps['n']}; Wilson {level}% CIs)",
        f"  coverage{'':19}{_est(ps['coverage_achieved'])}",
        f"  mean set size{'':14}{ps['mean_set_size']:.2f}  (sizes 0..K: {ps['size_counts']})",
        f"  one val draw of n={spread['n']}: coverage {spread['mean']:.3f} +/- "
        f"{spread['sd']:.3f} (90% of draws {spread['low_05']:.3f}-{spread['high_95']:.3f})",
        "  per class: coverage | mean set size | n",
    ]
    for row in ps["per_class"]:
        size = row["mean_set_size"]
        size_text = "-" if size is None or math.isnan(size) else f"{size:.2f}"
        lines.append(f"    {row['class']:<14}{_est(row['coverage']):<34}{size_text:<8}{row['n']}")
    return lines


def format_selective(sel: dict[str, Any] | None, level: int) -> list[str]:
    """Selective prediction's lines of the text report."""
    if not sel:
        return []
    lines = ["", f"Selective prediction (accuracy of all: {sel['accuracy_all']:.3f})"]
    lines.append("  confidence    AURC    E-AURC  accuracy at 50% coverage")
    for name, s in sel["scores"].items():
        e_aurc = s["e_aurc"]
        lines.append(f"  {name:<12}{s['aurc']:>6.3f}  {e_aurc:>7.3f}  {_est(s['accuracy_at_50'])}")
    a = sel["abstain"]
    if a:
        thr = "inf" if a["threshold"] is None else f"{a['threshold']:.4f}"
        cov = "-" if a["coverage"] is None else f"{a['coverage']:.3f}"
        lines.append(
            f"  abstain rule (target accuracy {a['target_accuracy']:.2f}, fitted on val): keep "
            f"softmax confidence >= {thr}; here coverage {cov}, {a['n_abstained']} abstained, "
            f"accuracy of the kept {_est(a['accuracy_kept'])}"
        )
    return lines
