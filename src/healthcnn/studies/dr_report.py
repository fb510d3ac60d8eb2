"""The DR study's HTML report: the main bundle's model card plus the study's own sections.

The model card comes from :func:`healthcnn.report.build_report` (the first ensemble member,
scored by :func:`healthcnn.evaluation.evaluate_bundle`); the study adds ensemble, referable DR
with its operating points, the learning curve (inline SVG) and the grade-sampling simulation
before the card's footer. If the card cannot be built (e.g. the evaluation fails), the study
sections are written as a standalone document and the reason is stated at its top.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..report.svg import PALETTE, Plot

REPORT = "report.html"


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:.{digits}f}" if math.isfinite(v) else "n/a"


def _est(e: Mapping[str, Any] | None, digits: int = 3, percent: bool = False) -> str:
    if not e:
        return "n/a"
    k = 100.0 if percent else 1.0
    d = 1 if percent else digits
    v, lo, hi = (e.get(n) for n in ("value", "ci_low", "ci_high"))
    unit = "%" if percent else ""
    text = f"{_f(None if v is None else v * k, d)}{unit}"
    if lo is not None and hi is not None and math.isfinite(float(lo)):
        text += f" ({_f(lo * k, d)}-{_f(hi * k, d)}{unit})"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="tablewrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>{body}</section>'


def ensemble_section(n: Mapping[str, Any]) -> str:
    e = n["ensemble"]
    rows = []
    for key, label in (("single", "single network (first seed)"), ("ensemble", "ensemble")):
        g = e[key]["grade"]
        rows.append(
            [
                label if key == "single" else f"ensemble of {e['members']} (mean probabilities)",
                _f(g["auc"]),
                _f(g["acc"]),
                _f(g["kappa"]),
                _est(e[key]["referable_auc"]),
            ]
        )
    d = e["delong_ensemble_minus_single"]
    text = (
        f"<p>Paired DeLong test of the referable-DR AUC on the same test images: difference "
        f"(ensemble - single) {_f(d['difference'])} (95% CI {_f(d['ci_low'])} to "
        f"{_f(d['ci_high'])}), z = {_f(d['z'], 2)}, p = {_f(d['p_value'], 4)}.</p>"
    )
    return _section(
        "dr-ensemble",
        "Ensemble vs single network (test)",
        _table(
            [
                "model",
                "5-grade macro AUC",
                "accuracy",
                "quadratic kappa",
                "referable AUC (DeLong CI)",
            ],
            rows,
        )
        + text,
    )


def referable_section(n: Mapping[str, Any]) -> str:
    r = n["referable"]
    rows = []
    for key, p in r["operating_points"].items():
        t = p["test"]
        rows.append(
            [
                html.escape(key.replace("_", " ")),
                f"{html.escape(p['rule'])} &ge; {_f(p['target'], 2)} on val",
                _f(p["threshold"], 4),
                _est(t["sensitivity"], percent=True),
                _est(t["specificity"], percent=True),
            ]
        )
    cands = ", ".join(f"{html.escape(k)}: {_f(v)}" for k, v in r["candidates_val_auc"].items())
    body = (
        f"<p>{html.escape(r['definition'])}. Referable score chosen on validation AUC "
        f"({cands}): <b>{html.escape(r['chosen_on_val'])}</b>. Test AUC "
        f"{_est(r['test_auc'])} (DeLong 95% CI); test prevalence {_f(r['test_prevalence'], 3)}."
        "</p>"
        + _table(
            [
                "operating point",
                "fitted",
                "threshold",
                "test sensitivity (Wilson CI)",
                "test specificity (Wilson CI)",
            ],
            rows,
            "Thresholds fitted on the validation (tuning) split before the test split was scored",
        )
    )
    return _section("dr-referable", "Referable DR and operating points", body)


def curve_svg(curve: Mapping[str, Any]) -> str:
    pts = curve["points"]
    xs = [100.0 * p["fraction"] for p in pts]
    lows = [p[m]["ci_low"] for p in pts for m in ("auc", "referable_auc")]
    highs = [p[m]["ci_high"] for p in pts for m in ("auc", "referable_auc")]
    finite = [v for v in lows + highs if v is not None and math.isfinite(v)]
    lo = max(0.0, min(finite) - 0.02) if finite else 0.4
    hi = min(1.0, max(finite) + 0.02) if finite else 1.0
    plot = Plot(
        title="Image sampling: test AUC vs training-set size",
        x_label="% of the training split",
        y_label="test AUC",
        x_range=(0.0, 100.0),
        y_range=(lo, hi if hi > lo else lo + 0.1),
        legend="lower right",
    )
    for i, (m, label) in enumerate(
        (("auc", "5-grade macro AUC"), ("referable_auc", "referable AUC"))
    ):
        color = PALETTE[i]
        plot.band(xs, [p[m]["ci_low"] for p in pts], [p[m]["ci_high"] for p in pts], color=color)
        plot.line(xs, [p[m]["mean"] for p in pts], color=color, label=label)
        plot.markers(xs, [p[m]["mean"] for p in pts], color=color)
    return plot.render(description="mean over seeds with a 95% t-interval band")


def curve_section(n: Mapping[str, Any]) -> str:
    c = n["learning_curve"]
    rows = [
        [
            f"{100 * p['fraction']:.0f}%",
            str(p["n_train"]),
            f"{_f(p['auc']['mean'])} ({_f(p['auc']['ci_low'])}-{_f(p['auc']['ci_high'])})",
            f"{_f(p['acc']['mean'])}",
            f"{_f(p['kappa']['mean'])}",
            f"{_f(p['referable_auc']['mean'])} ({_f(p['referable_auc']['ci_low'])}-"
            f"{_f(p['referable_auc']['ci_high'])})",
        ]
        for p in c["points"]
    ]
    body = (
        f"<p>Each fraction of the training split is drawn stratified by grade, once per seed "
        f"(seeds {', '.join(map(str, c['seeds']))}); intervals: {html.escape(c['interval'])}.</p>"
        + f'<figure class="chart">{curve_svg(c)}</figure>'
        + _table(["fraction", "images", "5-grade AUC", "accuracy", "kappa", "referable AUC"], rows)
    )
    return _section("dr-learning-curve", "Image sampling (learning curve)", body)


def grading_section(n: Mapping[str, Any]) -> str:
    g = n["grade_sampling"]
    m = g["grader_model"]
    rows = []
    for r in g["rows"]:
        ops = r["operating_points"]
        cells = [
            str(r["k"]),
            _f(r["reference_referable_error_rate"]),
            f"{_f(r['tuning_auc_mean'])} &plusmn; {_f(r['tuning_auc_sd'])}",
        ]
        for key in ("high_sensitivity", "high_specificity"):
            o = ops[key]
            cells.append(
                f"thr {_f(o['threshold_mean'])} &plusmn; {_f(o['threshold_sd'])}; sens "
                f"{_f(o['test_sensitivity_mean'])} &plusmn; {_f(o['test_sensitivity_sd'])}, spec "
                f"{_f(o['test_specificity_mean'])} &plusmn; {_f(o['test_specificity_sd'])}"
            )
        rows.append(cells)
    body = (
        f'<p class="warn"><b>{html.escape(g["label"])}.</b> Our data have one grade per image; '
        f"here each tuning image gets k simulated grades. Each simulated grader reproduces the "
        f"true grade with probability {_f(m['exact_agreement_with_truth'], 2)} and otherwise "
        f"gives an adjacent grade (two steps away with probability {_f(m['p_far'], 2)} of an "
        f"error), which on this grade distribution gives an expected quadratic-weighted kappa "
        f"vs the truth of {_f(m.get('expected_weighted_kappa_vs_truth'), 2)} (calibrated to "
        f"the approx. 0.80-0.84 reported for individual ophthalmologists by Krause et al., "
        f"Ophthalmology 2018). Reference: {html.escape(g['reference_rule'])}. Operating points "
        f"are refitted on the simulated tuning labels and applied to the real test labels; "
        f"&plusmn; is the SD over {g['rows'][0]['replicates']} simulation replicates.</p>"
        + _table(
            [
                "k graders",
                "referable label error",
                "tuning AUC (simulated ref.)",
                "high-sensitivity point (simulation)",
                "high-specificity point (simulation)",
            ],
            rows,
            "SIMULATION: grade sampling on the tuning split",
        )
    )
    return _section("dr-grade-sampling", "Grade sampling (SIMULATION)", body)


def study_sections(numbers: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            referable_section(numbers),
            ensemble_section(numbers),
            curve_section(numbers),
            grading_section(numbers),
        ]
    )


def write_study_report(
    out: Path, numbers: Mapping[str, Any], main_bundle: Path, *, data_dir: str | None = None
) -> Path:
    """Write ``out/report.html`` (model card + study sections, or the sections alone)."""
    sections = study_sections(numbers)
    note = ""
    try:
        from ..evaluation import evaluate_bundle
        from ..report import build_report

        evaluation = evaluate_bundle(main_bundle, split="test", data_dir=data_dir, n_resamples=200)
        doc = build_report(
            main_bundle,
            evaluation.to_dict(),
            title="Diabetic-retinopathy screening study (Gulshan-style) on "
            f"{numbers['config']['data']}",
            data_dir=data_dir,
        )
        marker = "<footer>"
        at = doc.rfind(marker)
        if at < 0:
            raise ValueError("the model card has no footer to insert the study sections before")
        doc = doc[:at] + sections + doc[at:]
    except Exception as exc:  # the study's own numbers must still be reported
        note = (
            f"<p class=warn>The model card could not be built ({html.escape(repr(exc))}); "
            "this page holds the study sections only.</p>"
        )
        doc = (
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>DR screening "
            f"study</title></head><body><main><h1>DR screening study</h1>{note}{sections}"
            "</main></body></html>"
        )
    path = out / REPORT
    atomic_write_text(path, doc)
    return path
