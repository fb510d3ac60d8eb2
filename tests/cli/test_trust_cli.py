"""Prediction sets and abstention through the command line: ``evaluate`` prints them,
``calibrate`` seals the rules into the bundle, ``predict`` returns each input's set and flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from healthcnn.bundle import BundleError, load_bundle
from healthcnn.bundle.seal import read_manifest
from healthcnn.bundle.trust import TRUST_FILE, read_trust, write_trust
from healthcnn.cli import main
from healthcnn.inference.files import predict_files

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, tiny_retina_bundle) -> Path:
    return tiny_retina_bundle(tmp_path_factory.mktemp("trust_cli"), "retinamnist_small.npz", 5)


@pytest.fixture
def copy(bundle: Path, tmp_path: Path) -> Path:
    """A copy of the bundle (and its data file) this test may change."""
    shutil.copy(bundle.parent / "retinamnist_small.npz", tmp_path / "retinamnist_small.npz")
    shutil.copytree(bundle, tmp_path / "bundle")
    return tmp_path / "bundle"


FAST = ["--precision", "fp32", "--n-resamples", "50"]


def test_evaluate_prints_sets_and_selective(bundle: Path, capsys, strict_json) -> None:
    assert main(["evaluate", str(bundle), *FAST]) == 0
    out = capsys.readouterr().out
    assert "Prediction sets (APS, marginal, target coverage 0.90, fitted on val n=40" in out
    assert "one val draw of n=40" in out and "Selective prediction" in out
    args = ["--coverage", "0.8", "--set-method", "lac", "--class-conditional"]
    assert main(["evaluate", str(bundle), *FAST, *args, "--abstain-accuracy", "0.6",
                 "--format", "json"]) == 0  # fmt: skip
    d = strict_json(capsys.readouterr().out)
    ps = d["prediction_sets"]
    assert ps["method"] == "lac" and ps["class_conditional"] and ps["coverage"] == 0.8
    assert len(ps["per_class"]) == 5 and ps["coverage_achieved"]["method"] == "wilson"
    assert d["selective"]["abstain"]["target_accuracy"] == 0.6
    assert {"aurc", "e_aurc", "accuracy_at_50", "curve"} <= set(d["selective"]["scores"]["softmax"])
    assert main(["evaluate", str(bundle), *FAST, "--no-sets", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["prediction_sets"] is None
    assert main(["evaluate", str(bundle), "--coverage", "1.5"]) == 2
    assert "set_coverage must be a number in (0, 1)" in capsys.readouterr().err


def test_calibrate_then_predict_returns_sets_and_flags(copy: Path, capsys) -> None:
    inputs = copy.parent / "retinamnist_small.npz"
    assert "set" not in predict_files(copy, [inputs], precision="fp32")[0]
    args = ["calibrate", str(copy), "--coverage", "0.8", "--abstain-accuracy", "0.5"]
    assert main([*args, "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "sealed in trust.json" in out and "coverage on val" in out
    assert TRUST_FILE in read_manifest(copy)
    load_bundle(copy)  # still a verified bundle
    rules = read_trust(copy)
    rows = predict_files(copy, [inputs], precision="fp32")
    probs = np.array([list(r["probabilities"].values()) for r in rows])
    sets = rules.conformal.predict_sets(probs)
    assert [r["set"] for r in rows] == [[str(k) for k in np.flatnonzero(s)] for s in sets]
    flags = probs.max(1) < rules.abstain.threshold_
    assert [r["abstain"] for r in rows] == flags.tolist()
    assert main(["predict", str(copy), str(inputs), "--precision", "fp32"]) == 0
    assert "abstain" in capsys.readouterr().out.splitlines()[0]


def test_calibrate_fits_operating_points_that_predict_decides_with(copy: Path, capsys) -> None:
    inputs = copy.parent / "retinamnist_small.npz"
    assert main(["calibrate", str(copy), "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "referable" in out and "at high sensitivity: threshold" in out
    points = read_trust(copy).points
    assert points.positive == ("2", "3", "4")  # RetinaMNIST's referable view
    by_name = {p["name"]: p for p in points.points}
    assert by_name["high sensitivity"]["val_sensitivity"] >= 0.9
    assert by_name["high specificity"]["val_specificity"] >= 0.9
    rows = predict_files(copy, [inputs], precision="fp32")
    score = np.array([sum(r["probabilities"][c] for c in "234") for r in rows])
    for name, point in by_name.items():
        assert [r["decisions"][name] for r in rows] == (score >= point["threshold"]).tolist()
    # a chosen view: class 0 against the rest
    assert main(["calibrate", str(copy), "--positive", "0", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["operating_points"]["positive"] == ["0"]


def test_bad_operating_points_are_refused(copy: Path) -> None:
    point = {"name": "p", "rule": "youden", "target": None, "threshold": 0.5,
             "val_sensitivity": 0.8, "val_specificity": 0.7}  # fmt: skip
    record = {
        "format": "healthcnn-trust",
        "format_version": 1,
        "conformal": None,
        "abstain": {"target_accuracy": 0.9, "threshold": 0.5, "val_coverage": 0.5,
                    "val_accuracy": 0.9, "n": 40},
        "operating_points": {"positive": ["2"], "name": "x", "points": [point]},
    }  # fmt: skip
    assert read_trust(write_trust(copy, record).parent).points.positive == ("2",)
    for bad, match in (
        ({**point, "threshold": float("nan")}, "finite number"),
        ({**point, "val_sensitivity": 1.5}, "rate in"),
        ({k: v for k, v in point.items() if k != "name"}, "with a name"),
    ):
        with pytest.raises(BundleError, match=match):
            write_trust(copy, {**record, "operating_points": {"positive": ["2"], "points": [bad]}})


def test_trust_file_is_sealed(copy: Path, capsys) -> None:
    assert main(["calibrate", str(copy), "--method", "raps", "--precision", "fp32"]) == 0
    capsys.readouterr()
    path = copy / TRUST_FILE
    record = json.loads(path.read_text())
    assert record["conformal"]["method"] == "raps" and record["abstain"] is None
    path.write_text(path.read_text().replace('"raps"', '"lac"'))
    with pytest.raises(BundleError, match=r"trust\.json was changed"):
        load_bundle(copy)
    assert main(["predict", str(copy), str(copy.parent / "retinamnist_small.npz")]) == 2
    assert "trust.json was changed" in capsys.readouterr().err


def test_rules_of_other_weights_and_bad_records_are_refused(copy: Path) -> None:
    meta = json.loads((copy / "metadata.json").read_text())
    record = {
        "format": "healthcnn-trust",
        "format_version": 1,
        "model_sha256": "0" * 64,
        "conformal": None,
        "abstain": {"target_accuracy": 0.9, "threshold": 0.5, "val_coverage": 0.5,
                    "val_accuracy": 0.9, "n": 40},
    }  # fmt: skip
    write_trust(copy, record)
    with pytest.raises(BundleError, match="fitted for other weights"):
        read_trust(copy, meta["model_sha256"])
    with pytest.raises(BundleError, match="neither"):
        write_trust(copy, {**record, "abstain": None})
    with pytest.raises(BundleError, match="format_version"):
        write_trust(copy, {**record, "format_version": 7})


def test_unlisted_trust_file_is_ignored(copy: Path) -> None:
    (copy / TRUST_FILE).write_text("{not json")  # not in the manifest: not part of the bundle
    assert read_trust(copy) is None


def test_calibrate_needs_a_rule(copy: Path, capsys) -> None:
    assert main(["calibrate", str(copy), "--no-sets"]) == 2
    assert "give a coverage" in capsys.readouterr().err


def test_version_1_bundle_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    golden = Path(__file__).resolve().parents[1] / "golden" / "bundle_v1"
    shutil.copytree(golden, tmp_path / "v1")
    assert main(["calibrate", str(tmp_path / "v1")]) == 2
    assert "version-1 bundle" in capsys.readouterr().err
    assert not (tmp_path / "v1" / TRUST_FILE).exists()
