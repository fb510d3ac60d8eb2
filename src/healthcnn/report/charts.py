"""The report's figures as inline SVG: ROC with CI band, PR, reliability, confusion, training.

Each function takes the plain lists and dicts of an evaluation result (see
``healthcnn.evaluation``) or a bundle's training history and returns an ``<svg>`` string drawn
with :class:`healthcnn.report.svg.Plot`. Missing or empty inputs give a short placeholder figure
that says what is missing rather than an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .svg import PALETTE, Plot, _num, esc, finite_pairs

#: size of the square charts (ROC, PR, reliability): a 340 px frame with the default margins
SQUARE_W, SQUARE_H = 56 + 340 + 16, 34 + 340 + 48

#: marker shapes of the operating points, in order
_OP_SHAPES = ("diamond", "square", "triangle", "circle")


def value(x: Any) -> float:
    """The number in ``x``: an estimate dict's ``value``, a plain number, or NaN."""
    if isinstance(x, Mapping):
        x = x.get("value")
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def placeholder(title: str, message: str, *, width: int = 440, height: int = 120) -> str:
    """A framed figure that says why there is nothing to draw."""
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'class="chart placeholder"><title>{esc(title)}</title>'
        f'<rect x="1" y="1" width="{width - 2}" height="{height - 2}" fill="#fafafa" '
        f'stroke="#bbb" stroke-dasharray="4 3"/>'
        f'<text x="{width / 2}" y="{height / 2 - 8}" text-anchor="middle" font-size="13" '
        f'font-weight="600">{esc(title)}</text>'
        f'<text x="{width / 2}" y="{height / 2 + 12}" text-anchor="middle" font-size="12" '
        f'fill="#555">{esc(message)}</text></svg>'
    )


def roc_chart(
    roc: Mapping[str, Sequence] | None,
    *,
    band: Mapping[str, Sequence] | None = None,
    operating_points: Sequence[Mapping[str, Any]] = (),
    readers: Sequence[Mapping[str, Any]] = (),
    others: Sequence[tuple[str, Mapping[str, Sequence]]] = (),
    label: str = "model",
) -> str:
    """ROC curve (sensitivity vs 1 - specificity) with its CI band, operating points, readers.

    ``operating_points`` are evaluation entries (``name``, ``sensitivity``, ``specificity``);
    ``readers`` are entries with ``reader``, ``sensitivity``, ``specificity`` (numbers or
    estimates); ``others`` adds the ROC curves of compared models.
    """
    title = "ROC curve"
    if not roc or not finite_pairs(roc.get("fpr", []), roc.get("tpr", []))[0]:
        return placeholder(title, "no ROC curve in the evaluation")
    # the key goes under the chart, one entry per row: a curve can pass through any corner
    entries = 2 + bool(band) + len(others) + len(operating_points) + bool(readers)
    p = Plot(
        title,
        "1 - specificity (false-positive rate)",
        "Sensitivity (true-positive rate)",
        width=SQUARE_W,
        height=SQUARE_H + 18 * entries,
        legend="below",
        legend_rows=entries,
        legend_columns=1,
        square=True,
    )
    if band:
        p.band(
            band.get("fpr", []),
            band.get("tpr_low", []),
            band.get("tpr_high", []),
            color=PALETTE[0],
            label="95% CI band",
        )
    p.diagonal()
    for i, (name, other) in enumerate(others):
        p.line(
            other.get("fpr", []),
            other.get("tpr", []),
            color=PALETTE[(i + 2) % len(PALETTE)],
            width=1.6,
            dash="6 3",
            label=name,
        )
    p.line(roc["fpr"], roc["tpr"], color=PALETTE[0], width=2.2, label=label)
    for i, op in enumerate(operating_points):
        sens, spec = value(op.get("sensitivity")), value(op.get("specificity"))
        p.markers(
            [1 - spec],
            [sens],
            color=PALETTE[1],
            shape=_OP_SHAPES[i % len(_OP_SHAPES)],
            size=6,
            label=f"operating point: {op.get('name', i + 1)}",
        )
    if readers:
        xs = [1 - value(r.get("specificity")) for r in readers]
        ys = [value(r.get("sensitivity")) for r in readers]
        p.markers(
            xs,
            ys,
            color=PALETTE[3],
            shape="circle",
            size=4.5,
            label="human readers",
            annotations=[str(r.get("reader", "")) for r in readers],
        )
    return p.render(description=f"{title}: {label}")


def pr_chart(
    pr: Mapping[str, Sequence] | None,
    *,
    prevalence: float | None = None,
    ap_text: str | None = None,
) -> str:
    """Precision-recall curve, with the prevalence (a no-skill model's precision) as reference."""
    title = "Precision-recall curve"
    if not pr or not finite_pairs(pr.get("recall", []), pr.get("precision", []))[0]:
        return placeholder(title, "no precision-recall curve in the evaluation")
    p = Plot(
        title,
        "Recall (sensitivity)",
        "Precision (positive predictive value)",
        width=SQUARE_W,
        height=SQUARE_H,
        legend="lower left",
        square=True,
    )
    if prevalence is not None and math.isfinite(prevalence):
        p.line(
            [0, 1],
            [prevalence, prevalence],
            color="#999999",
            width=1.0,
            dash="5 4",
            label=f"prevalence {prevalence:.2f} (no skill)",
        )
    p.line(pr["recall"], pr["precision"], color=PALETTE[0], width=2.2, label="model")
    if ap_text:
        p.note(ap_text, x=0.96, y=0.95, anchor="end")
    return p.render(description=title)


def reliability_chart(rel: Mapping[str, Sequence] | None, *, ece_text: str | None = None) -> str:
    """Reliability diagram: observed accuracy per confidence bin, with bin counts beneath."""
    title = "Reliability diagram"
    edges = list((rel or {}).get("bin_edges", []))
    if len(edges) < 2:
        return placeholder(title, "no reliability data in the evaluation")
    conf = list(rel.get("confidence", []))
    acc = list(rel.get("accuracy", []))
    counts = [value(c) for c in rel.get("count", [])]
    lo, hi = float(edges[0]), float(edges[-1])
    p = Plot(
        f"{title} ({ece_text})" if ece_text else title,
        "Predicted probability (confidence)",
        "Observed frequency",
        x_range=(lo, hi),
        width=SQUARE_W,
        height=SQUARE_H + 18 * 3,
        legend="below",
        legend_rows=3,
        legend_columns=1,
        square=True,
    )
    p.diagonal(label="perfect calibration")
    p.bars(edges[:-1], edges[1:], acc, color=PALETTE[0], opacity=0.55, label="observed frequency")
    p.markers(conf, acc, color=PALETTE[1], size=3.5, label="at the bin's mean prediction")
    main = p.render(description=f"{title}. {ece_text or ''}".strip())
    finite = [c for c in counts if math.isfinite(c)]
    if not finite or max(finite) <= 0:
        return main
    top = max(finite)
    h = Plot(
        "Cases per bin",
        "Predicted probability (confidence)",
        "Cases",
        x_range=(lo, hi),
        y_range=(0, top * 1.1),
        width=SQUARE_W,
        height=190,
        legend="upper right",
    )
    h.bars(edges[:-1], edges[1:], counts, color="#777777", opacity=0.7)
    return main + "\n" + h.render(description="Number of cases in each confidence bin")


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """Confusion matrix as a heat map: rows true class, columns predicted, shade = row share."""
    title = "Confusion matrix"
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        return placeholder(title, "no confusion matrix in the evaluation")
    cell = max(34, min(72, 360 // n))
    longest = max(len(str(x)) for x in labels)
    left = 70 + min(longest, 24) * 6.5
    top = 58
    width = int(left + n * cell + 20)
    height = int(top + n * cell + 12)
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'class="chart heatmap" font-family="system-ui, Helvetica, Arial, sans-serif">',
        f"<title>{esc(title)}: rows are the true class, columns the predicted class</title>",
        f'<text x="{_num(left)}" y="20" font-size="13.5" font-weight="600">{esc(title)}</text>',
        f'<text x="{_num(left + n * cell / 2)}" y="{top - 24}" text-anchor="middle" '
        f'font-size="12.5">Predicted class</text>',
    ]
    cy = top + n * cell / 2
    out.append(
        f'<text x="16" y="{_num(cy)}" text-anchor="middle" font-size="12.5" '
        f'transform="rotate(-90 16 {_num(cy)})">True class</text>'
    )
    for j, name in enumerate(labels):
        short = str(name)[:24]
        out.append(
            f'<text x="{_num(left + (j + 0.5) * cell)}" y="{top - 7}" text-anchor="middle" '
            f'font-size="11">{esc(short)}</text>'
        )
        out.append(
            f'<text x="{_num(left - 8)}" y="{_num(top + (j + 0.5) * cell)}" dy="0.32em" '
            f'text-anchor="end" font-size="11">{esc(short)}</text>'
        )
    for i, row in enumerate(matrix):
        vals = [value(v) for v in row]
        total = sum(v for v in vals if math.isfinite(v))
        for j, v in enumerate(vals):
            share = v / total if total > 0 and math.isfinite(v) else 0.0
            fill = _blue(share)
            ink = "#ffffff" if share > 0.55 else "#111111"
            x, y = left + j * cell, top + i * cell
            count = "" if not math.isfinite(v) else f"{v:g}"
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{cell}" height="{cell}" '
                f'fill="{fill}" stroke="#ffffff" stroke-width="1.5"/>'
                f'<text x="{_num(x + cell / 2)}" y="{_num(y + cell / 2 - 3)}" text-anchor="middle" '
                f'font-size="12.5" font-weight="600" fill="{ink}">{esc(count)}</text>'
                f'<text x="{_num(x + cell / 2)}" y="{_num(y + cell / 2 + 12)}" '
                f'text-anchor="middle" font-size="10" fill="{ink}">{share:.0%}</text>'
            )
        # a bold outline on the diagonal: correct predictions
        d = left + i * cell
        out.append(
            f'<rect x="{_num(d)}" y="{_num(top + i * cell)}" width="{cell}" height="{cell}" '
            f'fill="none" stroke="#222" stroke-width="1.2"/>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _blue(share: float) -> str:
    """White to dark blue, linear in ``share`` (0..1)."""
    share = min(max(share, 0.0), 1.0)
    r = round(247 + (8 - 247) * share)
    g = round(251 + (48 - 251) * share)
    b = round(255 + (107 - 255) * share)
    return f"#{r:02x}{g:02x}{b:02x}"


def training_charts(history: Mapping[str, Any] | None, *, monitor: str = "auc") -> list[str]:
    """Two charts from a bundle's history: losses per epoch, validation metrics per epoch."""
    epochs = list((history or {}).get("epochs", []))
    if not epochs:
        return [placeholder("Training curves", "the bundle holds no training history")]
    xs = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    best = (history or {}).get("best_epoch")
    x_axis = {
        "x_range": (min(xs) - 0.5, max(xs) + 0.5) if xs else (0, 1),
        "x_ticks": _epoch_ticks(xs),
    }
    return [
        _loss_chart(epochs, xs, best, x_axis).render(),
        _metric_chart(epochs, xs, best, x_axis, monitor).render(),
    ]


def _loss_chart(epochs: list, xs: list, best: Any, x_axis: dict[str, Any]) -> Plot:
    """Training and validation loss per epoch, the best epoch marked."""
    train = [value(e.get("train_loss")) for e in epochs]
    val = [value(e.get("val_loss")) for e in epochs]
    finite = [v for v in train + val if math.isfinite(v)]
    y_range = (0.0, 1.0)
    if finite:
        lo, hi = min(finite), max(finite)
        pad = (hi - lo) * 0.08 or 0.1
        y_range = (max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    loss = Plot(
        "Loss per epoch",
        "Epoch",
        "Cross-entropy loss",
        **x_axis,
        y_range=y_range,
        legend="below",
        height=370,
    )
    loss.line(xs, train, color=PALETTE[0], label="training loss")
    loss.line(xs, val, color=PALETTE[1], label="validation loss", dash="6 3")
    if best is not None:
        loss.vline(best, label=f"best epoch ({best})")
    loss.markers(xs, train, color=PALETTE[0], size=2.5)
    loss.markers(xs, val, color=PALETTE[1], size=2.5)
    return loss


def _metric_chart(epochs: list, xs: list, best: Any, x_axis: dict[str, Any], monitor: str) -> Plot:
    """Up to three validation metrics per epoch (``monitor`` first), the best epoch marked."""
    names = []
    for e in epochs:
        for k in e.get("val_metrics") or {}:
            if k not in names:
                names.append(k)
    names.sort(key=lambda k: (k != monitor, k))
    names = names[:3]
    series = {n: [value((e.get("val_metrics") or {}).get(n)) for e in epochs] for n in names}
    allv = [v for ys in series.values() for v in ys if math.isfinite(v)]
    y_range = (0.0, 1.0)
    if allv:
        lo, hi = min(allv), max(allv)
        pad = (hi - lo) * 0.1 or 0.05
        top = min(1.0, hi + pad) if hi <= 1 else hi + pad
        if top > max(0.0, lo - pad):
            y_range = (max(0.0, lo - pad), top)
    metric = Plot(
        "Validation metrics per epoch",
        "Epoch",
        "Metric value",
        **x_axis,
        y_range=y_range,
        legend="below",
        height=370,
    )
    for i, (name, ys) in enumerate(series.items()):
        pretty = "AUC" if name == "auc" else name.replace("_", " ")
        color = PALETTE[(i + 2) % len(PALETTE)]
        metric.line(xs, ys, color=color, label=f"validation {pretty}")
        metric.markers(xs, ys, color=color, size=2.5)
    if best is not None:
        metric.vline(best, label=f"best epoch ({best})")
    return metric


def _epoch_ticks(xs: Sequence[int]) -> list[float]:
    """Integer epoch ticks, about eight of them."""
    if not xs:
        return [0.0]
    lo, hi = int(min(xs)), int(max(xs))
    step = max(1, math.ceil((hi - lo + 1) / 8))
    return [float(v) for v in range(lo, hi + 1, step)]
