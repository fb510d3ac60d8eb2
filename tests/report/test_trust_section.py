"""The report's prediction-set section: coverage per class and the risk-coverage curve when the
evaluation has them, a sentence when it has not."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import numpy as np
import torch

from healthcnn._json import plain
from healthcnn.evaluation import EvaluationConfig, SplitPredictions, evaluate_predictions
from healthcnn.report.html import build_report
from healthcnn.report.trust import trust_section
from healthcnn.tasks import make_task


def _evaluation(**options) -> dict:
    task = make_task("multiclass", ["mild", "moderate", "severe"])
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    z = rng.normal(size=(150, 3))
    z[np.arange(150), y] += 1.5
    scores = task.probabilities(torch.tensor(z, dtype=torch.float32)).numpy()
    split = SplitPredictions(logits=z, scores=scores, labels=y)
    config = EvaluationConfig(n_resamples=20, **options)
    return json.loads(json.dumps(plain(evaluate_predictions(split, split, task, config).to_dict())))


def test_section_shows_coverage_per_class_and_the_curve():
    d = _evaluation(abstain_accuracy=0.8, class_conditional=True)
    html = trust_section(d)
    for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
        ElementTree.fromstring(svg)  # the chart is well-formed XML
    for name in ("mild", "moderate", "severe"):
        assert f">{name}</td>" in html
    cov = d["prediction_sets"]["per_class"][0]["coverage"]["value"]
    assert f"{100 * cov:.1f}%" in html
    assert "Risk-coverage curve" in html and "<polyline" in html
    assert "class-conditional" in html and "Abstain rule" in html
    assert "prediction set size" in html  # the set-size score's row


def test_section_says_when_the_evaluation_has_no_sets():
    d = _evaluation(set_coverage=None)
    html = trust_section(d)
    assert "No prediction sets were requested" in html and "Risk-coverage curve" in html
    old = {k: v for k, v in d.items() if k not in ("prediction_sets", "selective")}
    assert "holds no prediction sets" in trust_section(old)


def test_the_report_links_the_section(tmp_path, tiny_bundle):
    html = build_report(tiny_bundle, _evaluation(), example_data=None, data_dir=tmp_path)
    assert 'href="#trust"' in html and '<section id="trust">' in html
