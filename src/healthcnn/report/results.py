"""Report sections that come from an evaluation result: how well the model performs.

Discrimination (AUC with CI, per-class table, ROC with CI band and operating points, PR),
operating points, confusion matrix, calibration, subgroups, reader comparison and the
comparison with other bundles. Each takes the dict of ``EvaluationResult.to_dict()`` (see
``healthcnn.evaluation``) and returns one ``<section>``; a part the evaluation does not hold is
stated as absent, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._format import (
    ci,
    est_text,
    figure,
    is_estimate,
    is_percent,
    kv_table,
    label_of,
    note,
    num,
    plain_est,
    table,
)
from .card import section
from .charts import confusion_heatmap, pr_chart, reliability_chart, roc_chart, value
from .svg import esc

#: order of the headline metrics (others follow in the evaluation's order)
_HEADLINE = (
    "auc",
    "auc_positive",
    "acc",
    "accuracy",
    "balanced_accuracy",
    "kappa_quadratic",
    "kappa_linear",
)

#: calibration measures: shown in the calibration section, not with discrimination
_CALIBRATION = ("ece", "mce", "brier", "calibration_slope", "calibration_intercept")

#: operating-point rule (as the evaluation names it) -> how the report explains it
_RULES = {
    "sensitivity": "target sensitivity",
    "target_sensitivity": "target sensitivity",
    "specificity": "target specificity",
    "target_specificity": "target specificity",
    "youden": "Youden index (maximum sensitivity + specificity - 1)",
    "accuracy": "maximum accuracy on the tuning split",
    "fixed": "fixed threshold",
}


# The sections an evaluation may lack: their titles and what they say in its place.
_OPTIONAL = {
    "operating-points": (
        "Operating points",
        "No operating points were requested for this evaluation.",
    ),
    "subgroups": (
        "Subgroups",
        "No subgroup analysis: the evaluation was run without a group column "
        "(healthcnn report --groups COLUMN).",
    ),
    "readers": (
        "Comparison with human readers",
        "No reader data: run with --readers CSV to place readers on the ROC.",
    ),
}


def _optional_section(key: str, body: str | None = None) -> str:
    """The optional section ``key`` with ``body``, or (None) saying why it is empty."""
    title, missing = _OPTIONAL[key]
    return section(key, title, note(missing) if body is None else body)


def _label(key: str, evaluation: Mapping[str, Any]) -> str:
    """A metric's name; the positive-vs-rest AUC names the positive classes."""
    pos = evaluation.get("positive") or {}
    if key == "auc_positive" and pos:
        classes = ", ".join(str(c) for c in pos.get("classes", []))
        return f"AUC, {pos.get('name') or 'positive'} ({classes}) vs rest"
    return label_of(key)


def notes(evaluation: Mapping[str, Any]) -> str:
    """The evaluation's own notes (what it could not do, or did differently), as a callout."""
    items = [n for n in evaluation.get("notes") or [] if n]
    if not items:
        return ""
    lis = "".join(f"<li>{esc(n)}</li>" for n in items)
    return f'<div class="callout"><b>Notes from the evaluation</b><ul>{lis}</ul></div>'


def headline(evaluation: Mapping[str, Any]) -> str:
    """The summary box at the top: AUC with its CI, the split and n."""
    m = evaluation.get("metrics") or {}
    key = "auc_positive" if is_estimate(m.get("auc_positive")) else "auc"
    parts = [
        f'<div class="kpi"><span class="kpi-label">{esc(_label(key, evaluation))}</span>'
        f'<span class="kpi-value">{num(m.get(key))}</span>'
        f'<span class="kpi-ci">95% CI {ci(m.get(key))}</span></div>'
    ]
    for k in ("auc", "balanced_accuracy", "kappa_quadratic", "acc"):
        if k != key and is_estimate(m.get(k)):
            pct = is_percent(k)
            parts.append(
                f'<div class="kpi"><span class="kpi-label">{esc(_label(k, evaluation))}</span>'
                f'<span class="kpi-value">{num(m[k], percent=pct)}</span>'
                f'<span class="kpi-ci">95% CI {ci(m[k], percent=pct)}</span></div>'
            )
    parts = parts[:4]
    parts.append(
        f'<div class="kpi"><span class="kpi-label">Evaluated on</span>'
        f'<span class="kpi-value">{esc(evaluation.get("split", "?"))}</span>'
        f'<span class="kpi-ci">n = {esc(evaluation.get("n", "?"))}</span></div>'
    )
    return '<div class="kpis">' + "".join(parts) + "</div>"


def discrimination(evaluation: Mapping[str, Any]) -> str:
    """Metric table with CIs, per-class table, ROC with CI band and operating points, PR curve."""
    m = evaluation.get("metrics") or {}
    keys = [k for k in _HEADLINE if is_estimate(m.get(k))]
    keys += [k for k, v in m.items() if is_estimate(v) and k not in keys and k not in _CALIBRATION]
    rows = [
        [
            esc(_label(k, evaluation)),
            num(m[k], percent=is_percent(k)),
            ci(m[k], percent=is_percent(k)),
            esc(m[k].get("method") or "-"),
            esc(m[k].get("n", "")),
        ]
        for k in keys
    ]
    body = (
        table(["Metric", "Estimate", "95% CI", "CI method", "n"], rows)
        if rows
        else note("The evaluation holds no metric estimates.")
    )
    per_class = evaluation.get("per_class") or []
    if per_class:
        body += table(
            ["Class", "n", "AUC (one-vs-rest)", "95% CI", "Sensitivity (recall)", "95% CI"],
            [
                [
                    esc(p.get("class", "?")),
                    esc(p.get("n", "?")),
                    num(p.get("auc")),
                    ci(p.get("auc")),
                    num(p.get("sensitivity"), percent=True),
                    ci(p.get("sensitivity"), percent=True),
                ]
                for p in per_class
            ],
            caption="Per class",
        )
    curves = evaluation.get("curves") or {}
    key = "auc_positive" if is_estimate(m.get("auc_positive")) else "auc"
    auc_note = f"model, AUC {plain_est(m.get(key))}" if key in m else "model"
    ops = evaluation.get("operating_points") or []
    roc = roc_chart(
        curves.get("roc"),
        band=curves.get("roc_ci_band"),
        operating_points=ops,
        readers=evaluation.get("readers") or [],
        label=auc_note,
    )
    pos = evaluation.get("positive") or {}
    what = f"{pos.get('name', 'positive')} vs rest" if pos else "positive vs rest"
    prevalence = _prevalence(evaluation)
    ap = m.get("average_precision")
    pr = pr_chart(
        curves.get("pr"),
        prevalence=prevalence,
        ap_text=f"AP {plain_est(ap)}" if ap is not None else None,
    )
    body += '<div class="figrow">'
    body += figure(
        roc,
        f"ROC curve ({what}) on the {evaluation.get('split', '?')} split. Shaded: pointwise "
        "95% confidence band. Markers: operating points fitted on the validation split"
        + (", and human readers." if evaluation.get("readers") else "."),
    )
    body += figure(pr, f"Precision-recall curve ({what}). Dashed: prevalence, a no-skill model.")
    body += "</div>"
    return section("discrimination", "Discrimination", body)


def _prevalence(evaluation: Mapping[str, Any]) -> float | None:
    """Share of positive cases, from the per-class counts and the positive class list."""
    pos = evaluation.get("positive") or {}
    per_class = evaluation.get("per_class") or []
    n = evaluation.get("n")
    if not pos or not per_class or not isinstance(n, int) or n <= 0:
        return None
    names = {str(c) for c in pos.get("classes", [])}
    k = sum(p.get("n", 0) for p in per_class if str(p.get("class")) in names)
    return k / n if k else None


def operating_points(evaluation: Mapping[str, Any]) -> str:
    """Thresholds, how each was chosen, and sensitivity/specificity/PPV/NPV with CIs."""
    ops = evaluation.get("operating_points") or []
    if not ops:
        return _optional_section("operating-points")
    rows = []
    for op in ops:
        rule = str(op.get("rule", "?"))
        rule = _RULES.get(rule, rule.replace("_", " "))
        target = value(op.get("target"))
        how = f"{rule} {target:.2f}" if math.isfinite(target) and "Youden" not in rule else rule
        fitted = op.get("fitted_on", "?")
        rows.append(
            [
                esc(op.get("name", "?")),
                esc(how),
                num(op.get("threshold"), 4),
                esc("validation split" if fitted == "val" else fitted),
                est_text(op.get("sensitivity"), percent=True, stack=True),
                est_text(op.get("specificity"), percent=True, stack=True),
                est_text(op.get("ppv"), percent=True, stack=True),
                est_text(op.get("npv"), percent=True, stack=True),
            ]
        )
    body = table(
        [
            "Operating point",
            "How chosen",
            "Threshold",
            "Fitted on",
            "Sensitivity",
            "Specificity",
            "PPV",
            "NPV",
        ],
        rows,
        numeric_from=2,
        caption="Estimates on the evaluated split, 95% confidence intervals in brackets",
    )
    body += (
        "<p class=note>Each threshold was fitted on the validation split, then applied "
        f"unchanged to the {esc(evaluation.get('split', 'test'))} split; the test data never "
        "influenced it. PPV and NPV depend on prevalence and hold only for a population with "
        "this split's case mix.</p>"
    )
    return _optional_section("operating-points", body)


def confusion(evaluation: Mapping[str, Any]) -> str:
    cm = evaluation.get("confusion_matrix") or {}
    labels = [str(x) for x in cm.get("labels", [])]
    svg = confusion_heatmap(labels, cm.get("matrix") or [])
    return section(
        "confusion",
        "Confusion matrix",
        figure(
            svg,
            "Rows: true class; columns: predicted class (highest score). Each cell: number of "
            "cases and its share of the true class's row; outlined: correct predictions.",
        )
        if labels
        else note("The evaluation holds no confusion matrix."),
    )


def calibration(evaluation: Mapping[str, Any]) -> str:
    """ECE (bin count and scheme), Brier score, temperature, reliability diagram."""
    m = evaluation.get("metrics") or {}
    cal = evaluation.get("calibration") or {}
    ece = m.get("ece") or {}
    pairs = []
    if ece:
        pairs.append(
            (
                "Expected calibration error (ECE)",
                f"{num(ece)} ({esc(ece.get('n_bins', '?'))} bins, "
                f"{esc(ece.get('strategy', '?'))} binning)",
            )
        )
    if "mce" in m:
        mce = m["mce"]
        pairs.append(("Maximum calibration error (MCE)", num(mce)))
        if isinstance(mce, Mapping) and mce.get("kind"):
            pairs.append(("Calibration of", esc(_KIND.get(mce["kind"], mce["kind"]))))
    if "brier" in m:
        pairs.append(("Brier score", est_text(m["brier"])))
    for k in ("calibration_slope", "calibration_intercept"):
        if k in m:
            pairs.append((k.replace("_", " ").capitalize(), est_text(m[k])))
    if cal:
        after = cal.get("ece_after") or {}
        pairs.append(
            (
                "Temperature scaling",
                f"T = {num(cal.get('temperature'))}, fitted on the {_split_name(cal)}"
                + (f"; ECE after scaling {num(after)}" if after else ""),
            )
        )
    measures = kv_table(pairs) if pairs else note("The evaluation holds no calibration measures.")
    body = f'<div class="figrow"><div class="side">{measures}</div>'
    rel = (evaluation.get("curves") or {}).get("reliability")
    ece_note = None
    if ece and math.isfinite(value(ece)):
        ece_note = f"ECE {value(ece):.3f}, {ece.get('n_bins', '?')} bins"
    body += figure(
        reliability_chart(rel, ece_text=ece_note),
        "Reliability diagram: in each bin of predicted probability, the observed frequency "
        "(bars) against the mean prediction (points); on the diagonal the model is calibrated. "
        "Below: cases per bin.",
    )
    body += "</div>"
    return section("calibration", "Calibration", body)


#: reliability "kind" -> plain words
_KIND = {
    "top-label": "the predicted class (top-label confidence: the highest probability)",
    "binary": "the positive class probability",
}


def _split_name(fitted: Mapping[str, Any]) -> str:
    where = fitted.get("fitted_on")
    return "validation split" if where == "val" else esc(where or "?")


def subgroups(evaluation: Mapping[str, Any]) -> str:
    """Every metric per group value with CIs and the gap to the overall value; small flagged."""
    groups = evaluation.get("subgroups")
    if not groups:
        return _optional_section("subgroups")
    body = ""
    for column, entries in groups.items():
        keys: list[str] = []
        for g in entries:
            for k, v in (g.get("metrics") or {}).items():
                if is_estimate(v) and k not in keys:
                    keys.append(k)
        keys = keys[:5]
        header = ["Group", "n"] + [label_of(k) for k in keys] + [f"Gap: {label_of(keys[0])}"]
        rows = []
        for g in entries:
            small = bool(g.get("small"))
            name = esc(g.get("group", "?"))
            if small:
                name += ' <span class="flag">small group</span>'
            gap = (g.get("gap") or {}).get(keys[0]) if keys else None
            metrics = g.get("metrics") or {}
            rows.append(
                [name, esc(g.get("n", "?"))]
                + [est_text(metrics.get(k), percent=is_percent(k), stack=True) for k in keys]
                + [_signed(gap, percent=bool(keys) and is_percent(keys[0]))]
            )
        body += table(header, rows, caption=f"By {column}")
    body += (
        "<p class=note>Gap: the group's value minus the overall value. Groups flagged "
        "&ldquo;small&rdquo; have too few cases for a stable estimate; they are shown, not "
        "hidden.</p>"
    )
    return _optional_section("subgroups", body)


def _signed(x: Any, *, percent: bool = False) -> str:
    v = value(x)
    if not math.isfinite(v):
        return "&ndash;"
    return esc(f"{100 * v:+.1f} pts" if percent else f"{v:+.3f}")


def readers(evaluation: Mapping[str, Any]) -> str:
    """Each reader's point against the model's curve, with the model's matched values."""
    rs = evaluation.get("readers")
    if not rs:
        return _optional_section("readers")
    rows = [
        [
            esc(r.get("reader", "?")),
            num(r.get("sensitivity"), percent=True),
            num(r.get("specificity"), percent=True),
            est_text(r.get("model_specificity_at_reader_sensitivity"), percent=True, stack=True),
            est_text(r.get("model_sensitivity_at_reader_specificity"), percent=True, stack=True),
            "below the model's curve" if r.get("below_curve") else "on or above the curve",
        ]
        for r in rs
    ]
    body = table(
        [
            "Reader",
            "Reader sensitivity",
            "Reader specificity",
            "Model specificity at reader's sensitivity",
            "Model sensitivity at reader's specificity",
            "Reader point",
        ],
        rows,
    )
    body += "<p class=note>Reader points are drawn on the ROC curve above.</p>"
    return _optional_section("readers", body)


def comparison(
    main: tuple[str, Mapping[str, Any]], others: Sequence[tuple[str, Mapping[str, Any]]]
) -> str:
    """A table of headline metrics per bundle and their ROC curves overlaid."""
    if not others:
        return ""
    entries = [main, *others]
    keys = ["auc", "auc_positive", "acc", "balanced_accuracy", "kappa_quadratic", "brier"]
    keys = [
        k for k in keys if any(is_estimate((e.get("metrics") or {}).get(k)) for _, e in entries)
    ]
    rows = []
    for name, e in entries:
        m = e.get("metrics") or {}
        rows.append(
            [esc(name), esc(e.get("data", "?")), esc(e.get("split", "?")), esc(e.get("n", "?"))]
            + [est_text(m.get(k), percent=is_percent(k), stack=True) for k in keys]
            + [num(m.get("ece"))]
        )
    body = table(["Bundle", "Data", "Split", "n"] + [label_of(k) for k in keys] + ["ECE"], rows)
    svg = roc_chart(
        (main[1].get("curves") or {}).get("roc"),
        others=[(n, (e.get("curves") or {}).get("roc") or {}) for n, e in others],
        label=main[0],
    )
    body += figure(svg, "ROC curves of the compared bundles (solid: this bundle).")
    body += (
        "<p class=note>Intervals are per model; whether two models differ needs a paired test "
        "on the same cases (DeLong's test, healthcnn.metrics.delong_test).</p>"
    )
    return section("comparison", "Comparison with other models", body)
