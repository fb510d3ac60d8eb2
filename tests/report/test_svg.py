"""The SVG figures: well-formed, labelled, placed where the data say, escaped."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from healthcnn.report.charts import (
    confusion_heatmap,
    pr_chart,
    reliability_chart,
    roc_chart,
    training_charts,
)
from healthcnn.report.svg import Plot, esc, line_chart, nice_ticks

HOSTILE = "<script>alert('x')</script> & \"quoted\""


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("text")]


def points(poly: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in poly.get("points").split()]


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.13, 0.87, [0.2, 0.4, 0.6, 0.8]),
        (0.0, 73.0, [0.0, 20.0, 40.0, 60.0]),
        (-1.0, 1.0, [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ],
)
def test_nice_ticks_are_round_and_inside_the_range(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_nice_ticks_reject_a_non_finite_range():
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0.0, math.inf)


def test_plot_maps_data_to_the_frame_and_labels_its_axes():
    p = Plot("T", "False-positive rate", "Sensitivity", x_range=(0, 1), y_range=(0, 1))
    left, top, w, h = p.frame
    assert (p.sx(0), p.sx(1)) == pytest.approx((left, left + w))
    assert (p.sy(0), p.sy(1)) == pytest.approx((top + h, top))  # y grows upwards
    p.line([0, 0.5, 1], [0, 0.8, 1], label="model")
    root = parse(p.render())
    labels = texts(root)
    assert "False-positive rate" in labels and "Sensitivity" in labels and "T" in labels
    assert {"0.0", "0.2", "1.0"} <= set(labels)  # tick labels
    assert root.find("title").text == "T"
    line = next(e for e in root.iter("polyline") if e.get("class") == "series")
    flat = [c for xy in points(line) for c in xy]
    expected = [left, top + h, left + w / 2, top + 0.2 * h, left + w, top]
    assert flat == pytest.approx(expected, abs=0.01)
    assert "model" in labels  # legend entry


def test_non_finite_points_are_dropped_not_drawn():
    p = Plot("T", "x", "y")
    p.line([0, 0.5, None, 1], [0, math.nan, 0.5, 1])
    line = next(e for e in parse(p.render()).iter("polyline") if e.get("class") == "series")
    assert len(points(line)) == 2


def test_geometry_cannot_change_after_drawing():
    p = Plot("T", "x", "y")
    p.y_range = (0.0, 2.0)  # fine before drawing
    p.line([0, 1], [0, 1])
    with pytest.raises(ValueError, match="before drawing"):
        p.y_range = (0.0, 1.0)


@pytest.mark.parametrize("bad", [(1.0, 0.0), (0.0, math.nan)])
def test_bad_range_is_rejected(bad):
    with pytest.raises(ValueError, match="x_range"):
        Plot("T", "x", "y", x_range=bad)


def test_hostile_labels_are_escaped_and_round_trip():
    p = line_chart(
        [(HOSTILE, [1, 2, 3], [0.1, 0.5, 0.2])], title=HOSTILE, x_label="x", y_label=HOSTILE
    )
    svg = p.render()
    assert "<script" not in svg
    root = parse(svg)
    assert texts(root).count(HOSTILE) == 3  # title, y label, legend: text intact after parsing
    assert esc("a<b") == "a&lt;b"


def test_roc_chart_has_a_ci_band_operating_points_and_readers():
    roc = {"fpr": [0, 0.1, 0.3, 1], "tpr": [0, 0.6, 0.9, 1], "thresholds": [9, 0.8, 0.4, 0.1]}
    band = {"fpr": [0, 0.5, 1], "tpr_low": [0, 0.8, 1], "tpr_high": [0.1, 1, 1]}
    ops = [{"name": "high sens", "sensitivity": {"value": 0.9}, "specificity": {"value": 0.7}}]
    readers = [{"reader": HOSTILE, "sensitivity": 0.7, "specificity": 0.8}]
    svg = roc_chart(roc, band=band, operating_points=ops, readers=readers, label="model")
    root = parse(svg)
    bands = [e for e in root.iter("polygon") if e.get("class") == "ci-band"]
    assert len(bands) == 1 and len(points(bands[0])) == 6  # upper edge + lower edge
    labels = texts(root)
    assert "Sensitivity (true-positive rate)" in labels
    assert "1 - specificity (false-positive rate)" in labels
    assert "operating point: high sens" in labels and "human readers" in labels
    assert HOSTILE in labels  # the reader's name, escaped in the file and intact when parsed
    # the operating point's diamond is centred at (1 - 0.7, 0.9) in data coordinates
    plot = Plot(
        "ROC curve",
        "a",
        "b",
        width=412,
        height=422 + 18 * 5,
        square=True,
        legend="below",
        legend_rows=5,
        legend_columns=1,
    )
    diamond = next(
        e for e in root.iter("polygon") if e.get("class") != "ci-band" and len(points(e)) == 4
    )
    xs, ys = zip(*points(diamond), strict=True)
    centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    assert centre == pytest.approx((plot.sx(0.3), plot.sy(0.9)), abs=0.02)


def test_missing_curves_give_a_placeholder_that_says_so():
    for svg in (roc_chart(None), pr_chart({"recall": [], "precision": []})):
        assert "no " in " ".join(texts(parse(svg)))
    assert "no reliability data" in " ".join(texts(parse(reliability_chart(None)))).lower()


def test_pr_chart_draws_the_prevalence_line():
    svg = pr_chart({"recall": [0, 0.5, 1], "precision": [1, 0.8, 0.3]}, prevalence=0.3)
    labels = texts(parse(svg))
    assert "prevalence 0.30 (no skill)" in labels and "Recall (sensitivity)" in labels


def test_reliability_diagram_draws_one_bar_per_non_empty_bin_and_counts():
    rel = {
        "bin_edges": [0, 0.25, 0.5, 0.75, 1],
        "confidence": [0.1, 0.4, None, 0.9],
        "accuracy": [0.2, 0.3, None, 0.8],
        "count": [5, 10, 0, 20],
    }
    svg = reliability_chart(rel, ece_text="ECE 0.05")
    two = svg.split("\n<svg")
    assert len(two) == 2  # diagram and the cases-per-bin histogram
    main, hist = parse(two[0]), parse("<svg" + two[1])
    bars = [r for g in main.iter("g") if g.get("class") == "bars" for r in g.iter("rect")]
    assert len(bars) == 3  # the empty bin has no bar
    assert "Observed frequency" in texts(main)
    assert "Reliability diagram (ECE 0.05)" in texts(main)
    hist_bars = [r for g in hist.iter("g") if g.get("class") == "bars" for r in g.iter("rect")]
    heights = [float(r.get("height")) for r in hist_bars]
    assert heights[3] == pytest.approx(2 * heights[1], rel=0.01)  # 20 cases vs 10


def test_confusion_heatmap_cells_counts_and_escaped_labels():
    labels = ["no DR", HOSTILE]
    svg = confusion_heatmap(labels, [[8, 2], [1, 9]])
    root = parse(svg)
    cells = [r for r in root.iter("rect") if r.get("fill", "").startswith("#")]
    assert len(cells) == 4
    shown = texts(root)
    assert {"8", "2", "1", "9", "80%", "90%"} <= set(shown)
    assert HOSTILE[:24] in shown and "<script" not in svg
    assert "Predicted class" in shown and "True class" in shown
    # the darker cell holds the larger share of its row
    assert cells[0].get("fill") < cells[1].get("fill")  # 80% darker (smaller hex) than 20%


def test_confusion_heatmap_rejects_a_ragged_matrix_with_a_placeholder():
    assert "no confusion matrix" in " ".join(texts(parse(confusion_heatmap(["a"], [[1, 2]]))))


def test_training_charts_plot_losses_and_validation_auc_per_epoch():
    history = {
        "best_epoch": 2,
        "epochs": [
            {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e,
             "val_metrics": {"auc": 0.6 + 0.05 * e, "accuracy": 0.4}}
            for e in (1, 2, 3)
        ],
    }  # fmt: skip
    loss, metric = (parse(s) for s in training_charts(history))
    assert "Epoch" in texts(loss) and "Cross-entropy loss" in texts(loss)
    assert {"training loss", "validation loss", "best epoch (2)"} <= set(texts(loss))
    assert {"validation AUC", "validation accuracy"} <= set(texts(metric))
    assert {"1", "2", "3"} <= set(texts(metric))  # integer epoch ticks
    # the validation AUC line rises: its y pixels fall from epoch 1 to 3
    auc = next(e for e in metric.iter("polyline") if e.get("stroke") == "#009E73")
    ys = [y for _, y in points(auc)]
    assert ys[0] > ys[1] > ys[2]
    assert len(training_charts({"epochs": []})) == 1


def test_svg_holds_no_url_and_no_script():
    roc = {"fpr": [0, 1], "tpr": [0, 1]}
    svg = roc_chart(roc) + reliability_chart({"bin_edges": [0, 1], "accuracy": [1]})
    assert not re.search(r"https?://", svg) and "<script" not in svg
    assert all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", svg))
