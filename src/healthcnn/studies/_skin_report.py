"""The skin-taxonomy study as one self-contained HTML page.

Built from the report helper's pieces (the page style, tables, estimates with CIs, inline SVG
ROC and line charts, atomic write); the model-card ``build_report`` describes one bundle, while
this study compares three models and a learning curve, so it has its own page layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..report._format import est_text, num, table
from ..report.charts import roc_chart
from ..report.html import CSS, write_report
from ..report.svg import esc, line_chart
from ._skin_eval import CURVE_RULE


def _interval(lo: Any, hi: Any) -> str:
    """ "low&ndash;high", or a dash when either end is missing (one seed, degenerate AUC)."""
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (lo, hi)):
        return "&ndash;"
    return f"{num(lo)}&ndash;{num(hi)}"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def _approaches(result: Mapping[str, Any]) -> str:
    rows = []
    for a, ev in result["approaches"].items():
        two, seven = ev["two_way"], ev.get("seven_way") or {}
        rows.append(
            [
                esc(a),
                str(ev["training_classes"]),
                est_text(two["auc"]),
                est_text(two["auc_lesion_bootstrap"]),
                est_text(two["sensitivity@0.5"]),
                est_text(two["specificity@0.5"]),
                num(two["ece"]),
                est_text(seven["macro_auc"]) if seven else "n/a",
                est_text(seven["balanced_accuracy"]) if seven else "n/a",
                est_text(seven["balanced_accuracy_prior_corrected"]) if seven else "n/a",
                est_text(seven["mel_vs_nv_auc"]) if seven else "n/a",
            ]
        )
    header = [
        "approach",
        "training classes",
        "2-way AUC (DeLong)",
        "2-way AUC (lesion bootstrap)",
        "sens @0.5",
        "spec @0.5",
        "2-way ECE",
        "7-way macro AUC",
        "7-way balanced acc",
        "balanced acc (prior-corrected)",
        "mel vs nv AUC",
    ]
    body = table(header, rows, caption="Test split, lesion-level; 95% CIs")
    rocs = [(a, ev["two_way"]["roc"]) for a, ev in result["approaches"].items()]
    if rocs:
        first, *others = rocs
        body += roc_chart(first[1], others=others, label=first[0], readers=first_readers(result))
    return body


def _metadata(result: Mapping[str, Any]) -> str:
    """The 7-way scores with the patient's age, sex and lesion site fused in, beside the image
    alone (approaches with a 7-way answer, in a study run with ``metadata``)."""
    rows = []
    for a, ev in result["approaches"].items():
        seven, fused = ev.get("seven_way"), ev.get("seven_way_metadata")
        if not (seven and fused):
            continue
        for name, s in (("image", seven), ("image + age, sex, site", fused)):
            rows.append(
                [
                    esc(a),
                    esc(name),
                    est_text(s["macro_auc"]),
                    est_text(s["balanced_accuracy"]),
                    est_text(s["balanced_accuracy_prior_corrected"]),
                ]
            )
    header = ["approach", "input", "7-way macro AUC", "balanced acc"]
    header.append("balanced acc (prior-corrected)")
    caption = (
        "Test split; the metadata model (age, sex, site) is fitted on the training images and "
        "fused as p(y | image) p(y | metadata) / p(y)"
    )
    return table(header, rows, caption=caption)


def first_readers(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    for ev in result["approaches"].values():
        if ev["two_way"].get("readers"):
            return ev["two_way"]["readers"]
    return []


def _per_class(result: Mapping[str, Any]) -> str:
    out = []
    for a, ev in result["approaches"].items():
        seven = ev.get("seven_way")
        if not seven:
            continue
        rows = [
            [
                esc(d),
                est_text(seven["per_class_auc"][d]),
                est_text(seven["sensitivity"][d]),
                est_text(seven["sensitivity_prior_corrected"][d]),
            ]
            for d in seven["classes"]
        ]
        out.append(
            table(
                ["diagnosis", "AUC", "sensitivity (argmax)", "sensitivity (prior-corrected)"],
                rows,
                caption=f"{a}: 7-way",
            )
        )
    return "\n".join(out)


def _comparisons(result: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(f"{c['a']} - {c['b']}"),
            esc(c["level"]),
            num(c["difference"]),
            _interval(c["ci_low"], c["ci_high"]),
            num(c["p_value"], 4),
        ]
        for c in result["comparisons"]
    ]
    return table(
        ["pair", "level", "AUC difference", "95% CI", "p (DeLong, paired)"], rows, numeric_from=2
    )


def _subgroups(result: Mapping[str, Any]) -> str:
    out = []
    for a, ev in result["approaches"].items():
        for name, rows in ev["two_way"]["subgroups"].items():
            cells = [
                [
                    esc(r["group"]),
                    str(r["n"]) + (" (small)" if r["small"] else ""),
                    est_text(r["metrics"]["auc"]),
                ]
                for r in rows
            ]
            out.append(table([name, "n", "2-way AUC"], cells, caption=f"{a}: by {name}"))
    return "\n".join(out)


def _partition(result: Mapping[str, Any]) -> str:
    part = result["taxonomy"]["partitions"].get("partition")
    if not part:
        return ""
    rows = [[esc(c["node"]), str(c["images"])] for c in part["classes"]]
    return table(
        ["training class (taxonomy node)", "training images"],
        rows,
        caption=f"PartitionDisease, max_class_size = {part['max_class_size']}",
    )


def _curve(result: Mapping[str, Any]) -> str:
    lc = result["learning_curve"]
    summary = lc["summary"]
    if not summary:
        return "<p>No learning curve was run.</p>"
    xs = [s["train_images"] for s in summary]
    chart = line_chart(
        [
            ("mean test AUC", xs, [s["malignant_auc_mean"] for s in summary]),
            ("seed CI low", xs, [s["seed_ci_low"] for s in summary]),
            ("seed CI high", xs, [s["seed_ci_high"] for s in summary]),
        ],
        title="More data, better performance",
        x_label="training images",
        y_label="2-way test AUC",
        legend="lower right",
    ).render(description="test AUC against training-set size")
    # the 7-way columns where every fraction has them (a binary curve has none)
    extra = [
        (key, head)
        for key, head in (
            ("macro_auc_mean", "mean 7-way macro AUC"),
            ("balanced_accuracy_mean", f"mean balanced acc ({CURVE_RULE})"),
            ("metadata_macro_auc_mean", "with age, sex and site: macro AUC"),
            ("metadata_balanced_accuracy_mean", "with age, sex and site: balanced acc"),
        )
        if all(key in s for s in summary)
    ]
    rows = [
        [
            num(s["fraction"], 3),
            num(s["train_images"], 0),
            str(s["seeds"]),
            num(s["malignant_auc_mean"]),
            _interval(s["seed_ci_low"], s["seed_ci_high"]),
            _interval(s["delong_ci_low_mean"], s["delong_ci_high_mean"]),
            *(num(s[key]) for key, _ in extra),
        ]
        for s in summary
    ]
    tab = table(
        [
            "fraction of lesions",
            "training images",
            "seeds",
            "mean 2-way AUC",
            "t-interval over seeds",
            "mean DeLong CI",
            *(head for _, head in extra),
        ],
        rows,
        numeric_from=0,
    )
    return (
        f"<p>Approach: <b>{esc(lc['approach'])}</b> (chosen by {esc(lc['chosen_by'])}).</p>"
        + tab
        + chart
    )


def build(result: Mapping[str, Any]) -> str:
    cfg, data = result["config"], result["data"]
    intro = (
        f"<p>HAM10000 at {esc(cfg['size'])} px, model {esc(cfg['model'])}, seed "
        f"{esc(cfg['seed'])}; split: {esc(data['split'])} (train {data['train']['images']} "
        f"images / {data['train']['lesions']} lesions, val {data['val']['images']}, test "
        f"{data['test']['images']}). Wall time {esc(result['seconds'])} s on "
        f"{esc(result['device'])}.</p>"
    )
    sections = [
        _section("approaches", "Three approaches", _approaches(result)),
        _section("comparisons", "Paired comparisons", _comparisons(result)),
        *(
            [_section("metadata", "With the patient's age, sex and lesion site", _metadata(result))]
            if any(ev.get("seven_way_metadata") for ev in result["approaches"].values())
            else []
        ),
        _section("classes", "Per-class results", _per_class(result)),
        _section("partition", "Training classes", _partition(result)),
        _section("subgroups", "Subgroups", _subgroups(result)),
        _section("curve", "Learning curve", _curve(result)),
    ]
    title = "Skin-lesion classification over a disease taxonomy (HAM10000)"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>",
            f"<header><h1>{esc(title)}</h1>{intro}</header>",
            *sections,
            "</main></body></html>",
            "",
        ]
    )


def write(path: str | Path, result: Mapping[str, Any]) -> Path:
    return write_report(path, build(result))
