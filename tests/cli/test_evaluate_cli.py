"""``healthcnn evaluate`` through the command line: the text table and the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcnn.cli import main

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, tiny_retina_bundle) -> Path:
    return tiny_retina_bundle(tmp_path_factory.mktemp("evaluate_cli"), "retinamnist_small.npz", 4)


def test_text_table(bundle: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["evaluate", str(bundle), "--precision", "fp32", "--n-resamples", "100"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "delong" in out
    assert "ECE (15 uniform bins" in out
    assert "kappa quadratic" in out
    assert "Binary view: referable = 2, 3, 4" in out
    assert "high sensitivity: threshold" in out and "high specificity: threshold" in out
    assert "wilson" in out and "fitted on val" in out


def test_json_with_options(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture, strict_json
) -> None:
    args = ["evaluate", str(bundle), "--precision", "fp32", "--n-resamples", "100"]
    assert main([*args, "--target-sensitivity", "0.8", "--youden", "--format", "json"]) == 0
    d = strict_json(capsys.readouterr().out)
    assert {"value", "ci_low", "ci_high", "method", "n"} <= set(d["metrics"]["auc"])
    assert [o["name"] for o in d["operating_points"]] == ["high sensitivity", "youden"]
    assert d["operating_points"][0]["target"] == 0.8
    points = tmp_path / "points.json"
    points.write_text(json.dumps([{"rule": "specificity", "target": 0.75, "name": "rule-out"}]))
    common = [*args, "--positive", "3,4", "--ci", "bootstrap", "--format", "json"]
    assert main([*common, "--operating-points", str(points)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["positive"]["classes"] == ["3", "4"]
    assert [o["name"] for o in d["operating_points"]] == ["rule-out"]
    assert d["metrics"]["auc"]["method"] == "bootstrap"


def test_errors_exit_2(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["evaluate", str(bundle), "--operating-points", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["evaluate", str(bundle), "--positive", "9"]) == 2
    assert "positive class '9'" in capsys.readouterr().err
