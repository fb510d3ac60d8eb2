"""The report's "Prediction sets and abstention" section: coverage of the split-conformal sets
per class (Wilson intervals) and the risk-coverage curve of each confidence score, from the
``prediction_sets`` and ``selective`` parts of ``EvaluationResult.to_dict()``. An evaluation
without them (older JSON, multi-label tasks) gets a sentence that says so."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._format import ci, est_text, figure, kv_table, note, num, table
from .card import section
from .charts import placeholder
from .svg import PALETTE, Plot, esc

_CONFIDENCE = {
    "softmax": "softmax confidence (highest probability)",
    "ensemble": "ensemble mean's highest probability",
    "set_size": "prediction set size (smaller = more confident)",
}


def trust_section(evaluation: Mapping[str, Any]) -> str:
    """Sets (coverage overall and per class, sizes) and selective prediction (curve, AURC,
    accuracy at 50% coverage, the abstain rule)."""
    sets, sel = evaluation.get("prediction_sets"), evaluation.get("selective")
    if not sets and not sel:
        body = note(
            "The evaluation holds no prediction sets or selective prediction (a multi-label "
            "task, or an evaluation from before they existed)."
        )
        return section("trust", "Prediction sets and abstention", body)
    body = sets_part(sets, evaluation.get("split", "test")) + selective_part(sel)
    return section("trust", "Prediction sets and abstention", body)


def sets_part(ps: Mapping[str, Any] | None, split: str) -> str:
    if not ps:
        return note("No prediction sets were requested for this evaluation.")
    mode = (
        "class-conditional (one threshold per class)"
        if ps.get("class_conditional")
        else ("marginal (one threshold)")
    )
    spread = ps.get("expected_spread") or {}
    pairs = [
        ("Method", esc(f"{str(ps.get('method', '?')).upper()}, {mode}")),
        ("Target coverage", num(ps.get("coverage"), 2)),
        ("Fitted on", esc(f"validation split, n = {ps.get('n', '?')}")),
        (f"Coverage on the {esc(split)} split", est_text(ps.get("coverage_achieved"))),
        ("Mean set size", num(ps.get("mean_set_size"), 2)),
    ]
    if spread:
        pairs.append(
            (
                "Spread one validation draw allows",
                esc(
                    f"{spread.get('mean', math.nan):.3f} +/- {spread.get('sd', math.nan):.3f} "
                    f"(90% of draws {spread.get('low_05', math.nan):.3f}-"
                    f"{spread.get('high_95', math.nan):.3f})"
                ),
            )
        )
    rows = [
        [
            esc(r.get("class", "?")),
            esc(r.get("n", "?")),
            num(r.get("coverage"), percent=True),
            ci(r.get("coverage"), percent=True),
            num(r.get("mean_set_size"), 2),
        ]
        for r in ps.get("per_class") or []
    ]
    body = kv_table(pairs)
    body += table(
        ["Class", "n", "Coverage", "95% CI (Wilson)", "Mean set size"],
        rows,
        caption="Coverage per true class",
    )
    return body + (
        "<p class=note>A prediction set holds every class the model cannot rule out at the "
        "target coverage; the threshold was fitted on the validation split only. The guarantee "
        "is on average over validation draws; per class only for class-conditional sets.</p>"
    )


def selective_part(sel: Mapping[str, Any] | None) -> str:
    if not sel:
        return ""
    scores = sel.get("scores") or {}
    rows = [
        [
            esc(_CONFIDENCE.get(name, name)),
            num(s.get("aurc"), 4),
            num(s.get("e_aurc"), 4),
            est_text(s.get("accuracy_at_50"), percent=True),
        ]
        for name, s in scores.items()
    ]
    body = table(
        ["Confidence score", "AURC", "E-AURC", "Accuracy at 50% coverage"],
        rows,
        caption="Selective prediction (lower AURC is better)",
    )
    body += figure(
        risk_coverage_chart(scores),
        "Risk-coverage curve: the error rate among the cases kept when the model abstains on "
        "its least confident cases, for each confidence score.",
    )
    return body + abstain_part(sel.get("abstain"))


def risk_coverage_chart(scores: Mapping[str, Any]) -> str:
    title = "Risk-coverage curve"
    curves = [(n, s.get("curve") or {}) for n, s in scores.items()]
    curves = [(n, c) for n, c in curves if c.get("coverage")]
    if not curves:
        return placeholder(title, "no risk-coverage curve in the evaluation")
    top = max(max(c["risk"]) for _, c in curves)
    p = Plot(title, "Coverage (share of cases kept)", "Risk (error rate of the kept)",
             x_range=(0.0, 1.0), y_range=(0.0, max(0.05, min(1.0, 1.1 * top))),
             legend="upper left")  # fmt: skip
    for i, (name, c) in enumerate(curves):
        p.line(c["coverage"], c["risk"], color=PALETTE[i % len(PALETTE)], label=name)
    return p.render(description=title)


def abstain_part(rule: Mapping[str, Any] | None) -> str:
    if not rule:
        return ""
    thr = rule.get("threshold")
    pairs = [
        ("Target accuracy of the kept cases", num(rule.get("target_accuracy"), 2)),
        (
            "Abstain when softmax confidence is below",
            "never reached" if thr is None else num(thr, 4),
        ),
        ("On validation: share kept", num(rule.get("val_coverage"), percent=True)),
        ("On this split: share kept", num(rule.get("coverage"), percent=True)),
        ("On this split: accuracy of the kept", est_text(rule.get("accuracy_kept"), percent=True)),
    ]
    return (
        "<h3>Abstain rule</h3>"
        + kv_table(pairs)
        + (
            "<p class=note>Fitted on the validation split and applied unchanged: a plug-in rule, "
            "so the kept cases' accuracy on new data is near the target, not guaranteed.</p>"
        )
    )
