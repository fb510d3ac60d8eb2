"""One self-contained HTML model card from a bundle and its evaluation.

``build_report`` lays the sections out in the order of TRIPOD+AI / CLAIM items: intended use,
data provenance, task, model, training, discrimination, operating points, confusion matrix,
calibration, subgroups, readers, comparison, versions, and a footer with the counting convention
and the CI methods. The document needs nothing else to view: CSS is inline, figures are inline
SVG, there is no JavaScript and no URL. ``write_report`` writes it atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from . import card, examples, results
from ._format import CI_METHODS, methods_used
from .svg import esc
from .trust import trust_section

CSS = """
:root{--ink:#1a1a1a;--muted:#555;--rule:#d9d9d9;--accent:#0b4f8a;--soft:#f4f7fa}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:#fff;font:15px/1.5 system-ui,-apple-system,
 "Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:28px 32px 40px}
header{border-bottom:3px solid var(--accent);padding-bottom:14px;margin-bottom:8px}
h1{font-size:26px;margin:0 0 4px;color:var(--accent)}
.subtitle{color:var(--muted);margin:0}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--rule);
 color:var(--accent)}
nav{font-size:13px;color:var(--muted);margin:10px 0 4px;line-height:1.9}
nav a{color:var(--accent);text-decoration:none;margin-right:12px;white-space:nowrap}
table{border-collapse:collapse;margin:10px 0 14px;font-size:13.5px;
 font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--ink)}
th,td{border-bottom:1px solid var(--rule);padding:5px 10px;text-align:left;vertical-align:top}
thead th{background:var(--soft);border-bottom:2px solid #b9c6d3;font-weight:600}
td.num{text-align:right;white-space:nowrap}th.num{text-align:right}
.tablewrap{max-width:100%;overflow-x:auto}
table.kv th{width:16em;font-weight:600;background:none;color:#333}
table.kv.compact{font-size:12.5px}
.ci{color:var(--muted);font-size:92%}
.note{color:var(--muted);font-size:13.5px;max-width:62em}
.flag{display:inline-block;background:#fff1d6;color:#7a4b00;border:1px solid #e6b85c;
 border-radius:3px;font-size:11px;padding:0 5px;margin-left:4px}
.callout{border:1px solid #e6b85c;background:#fffaf0;padding:8px 14px;margin:10px 0;
 font-size:13.5px;border-radius:3px}.callout ul{margin:4px 0}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 6px}
.kpi{flex:1 1 170px;border:1px solid var(--rule);border-left:4px solid var(--accent);
 background:var(--soft);padding:10px 14px;border-radius:3px}
.kpi span{display:block}
.kpi-label{font-size:12.5px;color:var(--muted)}
.kpi-value{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi-ci{font-size:12.5px;color:var(--muted)}
.figrow{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure{margin:10px 0;max-width:100%}
.side{flex:1 1 420px;min-width:0}
figure svg{display:block;max-width:100%;height:auto;margin-bottom:4px}
figcaption{font-size:12.5px;color:var(--muted);max-width:460px}
details{margin:8px 0 12px}
summary{cursor:pointer;color:var(--accent);font-weight:600;font-size:14px}
details table{font-size:12px}
.healthcnn-summary caption{font-weight:400;font-size:12px;color:var(--muted);max-width:60em}
ul{padding-left:1.3em}li{margin:4px 0;max-width:62em}
code{font-size:12px;word-break:break-all}
footer{margin-top:36px;padding-top:12px;border-top:1px solid var(--rule);font-size:12.5px;
 color:var(--muted)}
footer p{max-width:70em}
@media print{
 body{font-size:11pt}main{max-width:none;padding:0}nav{display:none}
 section{break-inside:auto}figure,table,.kpis{break-inside:avoid}
 h2{break-after:avoid}details>summary{display:none}details{display:block}
 a{color:inherit;text-decoration:none}.tablewrap{overflow:visible}
}
@page{size:A4;margin:16mm}
img.example-slice{display:block;image-rendering:pixelated;border:1px solid var(--rule)}
figure.slice{margin:4px 0}figure.slice figcaption{text-align:center}
"""

_NAV = (
    ("intended-use", "Intended use"),
    ("data", "Data"),
    ("example", "Example input"),
    ("task", "Task"),
    ("model", "Model"),
    ("training", "Training"),
    ("discrimination", "Discrimination"),
    ("operating-points", "Operating points"),
    ("confusion", "Confusion matrix"),
    ("calibration", "Calibration"),
    ("trust", "Prediction sets"),
    ("subgroups", "Subgroups"),
    ("readers", "Readers"),
    ("comparison", "Comparison"),
    ("versions", "Versions"),
)


def _read_bundle(bundle_dir: str | Path) -> tuple[dict, dict, Any, Any]:
    """metadata, config, the rebuilt model and the preprocessing record."""
    from ..bundle import load_bundle

    b = load_bundle(bundle_dir)
    return b.metadata, b.config, b.model, b.preprocessing


def _evaluation_dict(evaluation: Any, what: str = "evaluation") -> Mapping[str, Any]:
    """The JSON form of an ``EvaluationResult`` (given as the result or as its dict)."""
    if hasattr(evaluation, "to_dict"):
        evaluation = evaluation.to_dict()
    if not isinstance(evaluation, Mapping):
        raise TypeError(
            f"{what} must be an EvaluationResult or its to_dict(), got {type(evaluation).__name__}"
        )
    return evaluation


def build_report(
    bundle_dir: str | Path,
    evaluation: Any,
    *,
    compare: Sequence[tuple[str, Any]] = (),
    title: str | None = None,
    data_dir: str | Path | None = None,
    example_data: Any = None,
) -> str:
    """The model card of the bundle at ``bundle_dir`` as one HTML document (a string).

    ``evaluation`` is this bundle's ``EvaluationResult`` (or its ``to_dict()``), the only
    measured numbers the report shows; ``compare`` holds ``(label, evaluation)`` of other bundles
    scored the same way; ``title`` defaults to
    "Model card: <model> on <dataset>". The "Example input" section loads the evaluated split
    from ``data_dir`` (or takes it as ``example_data``, an ArrayDataset) and shows one sample
    with its prediction (see :mod:`healthcnn.report.examples`).
    """
    evaluation, compare = _checked_evaluations(evaluation, compare)
    meta, config, model, record = _read_bundle(bundle_dir)
    name = Path(bundle_dir).name or str(bundle_dir)
    dataset = (meta.get("data") or {}).get("source") or evaluation.get("data") or "?"
    title = title or f"Model card: {config.get('model_name', 'model')} on {dataset}"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from ..bundle import library_versions

    sections = [
        card.intended_use(meta, evaluation),
        card.data_provenance(meta, evaluation),
        examples.example_section(bundle_dir, evaluation, dataset=example_data, data_dir=data_dir),
        card.task_section(meta, evaluation),
        card.model_section(config, meta, model, record),
        card.training_section(meta),
        results.discrimination(evaluation),
        results.operating_points(evaluation),
        results.confusion(evaluation),
        results.calibration(evaluation),
        trust_section(evaluation),
        results.subgroups(evaluation),
        results.readers(evaluation),
        results.comparison((name, evaluation), list(compare)),
        card.versions_section(meta, library_versions()),
    ]
    subtitle = (
        f"Bundle <code>{esc(name)}</code> &middot; {esc(config.get('model_name', '?'))} &middot; "
        f"{esc(evaluation.get('task', '?'))} task &middot; evaluated on the "
        f"{esc(evaluation.get('split', '?'))} split of {esc(evaluation.get('data', dataset))} "
        f"(n = {esc(evaluation.get('n', '?'))})"
    )
    header = [
        f"<header><h1>{esc(title)}</h1><p class=subtitle>{subtitle}</p>",
        results.headline(evaluation),
        results.notes(evaluation),
        f"<nav>{_nav(bool(compare))}</nav></header>",
    ]
    body = [*header, *[s for s in sections if s], _footer(evaluation, name, dataset, generated)]
    meta_json = esc(json.dumps({"bundle": name, "generated": generated}))
    return _document(title, meta_json, body)


def _checked_evaluations(
    evaluation: Any, compare: Sequence[tuple[str, Any]]
) -> tuple[Mapping[str, Any], list[tuple[str, Mapping[str, Any]]]]:
    """The evaluation and the compared ones in their JSON form (each given as an
    ``EvaluationResult`` or its dict)."""
    for item in compare:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError("compare must hold (label, evaluation) pairs")
    others = [(label, _evaluation_dict(ev, f"compare[{label!r}]")) for label, ev in compare]
    return _evaluation_dict(evaluation), others


def _nav(with_comparison: bool) -> str:
    return " ".join(
        f'<a href="#{sid}">{esc(label)}</a>'
        for sid, label in _NAV
        if sid != "comparison" or with_comparison
    )


def _footer(evaluation: Mapping[str, Any], name: str, dataset: str, generated: str) -> str:
    """The CI methods and level, the counting convention and where the report came from."""
    from ..analysis import CONVENTION

    methods = methods_used(evaluation) or ["none recorded"]
    method_text = "; ".join(
        f"<b>{esc(m)}</b>: {esc(CI_METHODS.get(m, 'see healthcnn.metrics'))}" for m in methods
    )
    level = evaluation.get("level", 0.95)
    level_text = f"{100 * float(level):g}%" if _is_number(level) else esc(level)
    return (
        "<footer>"
        f"<p><b>Confidence intervals</b> are {level_text} intervals. Methods used: "
        f"{method_text}. Random resampling used seed {esc(evaluation.get('seed', '?'))}.</p>"
        f"<p><b>Counting convention</b> (model table): {esc(CONVENTION)}</p>"
        "<p><b>Reporting.</b> Laid out after the TRIPOD+AI (Collins et al., BMJ 2024) and CLAIM "
        "(Mongan et al., Radiology: Artificial Intelligence 2020; 2024 update) checklists. "
        f"Generated by healthcnn on {esc(generated)} from the bundle "
        f"<code>{esc(name)}</code> scored on <code>{esc(evaluation.get('data', dataset))}</code> "
        f"[{esc(evaluation.get('split', '?'))}].</p>"
        "</footer>"
    )


def _document(title: str, meta_json: str, body: list[str]) -> str:
    """The HTML page around ``body``: head with the inline CSS, one ``main``."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="generator" content="healthcnn report" data-report="{meta_json}">',
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def write_report(path: str | Path, html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a temporary sibling, then ``os.replace``).

    A reader never sees a half-written file, and a failed write leaves the old report intact.
    """
    if not isinstance(html, str):
        raise TypeError(f"html must be a str, got {type(html).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name such as report.html")
    return atomic_write_text(path, html)
