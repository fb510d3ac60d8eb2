"""``healthcnn report``: the command line over ``healthcnn.report.make_report``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import healthcnn.report as report_pkg
from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.cli import main
from healthcnn.evaluation import evaluate_bundle
from healthcnn.models import create_model
from healthcnn.tasks import make_task


def _bundle(path: Path) -> Path:
    kwargs = {"spatial_dims": 2, "in_channels": 1, "num_classes": 2, "channels": [4]}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **kwargs)
    return save_bundle(
        path,
        model,
        model_name="simple_cnn",
        model_kwargs=kwargs,
        task=make_task("multiclass", ["benign", "malignant"]),
        preprocessing=Preprocessing(channels=1, size=(8, 8), spatial_dims=2),
        metadata={"data": {"source": "x.npz"}},
    )


def test_arguments_reach_make_report_and_the_path_is_printed(tmp_path, monkeypatch, capsys):
    """Wiring without data: evaluation is replaced by a recorder returning a minimal result."""
    calls = []

    def fake_evaluate(bundle, **kwargs):
        calls.append((Path(bundle).name, kwargs))
        return {"split": kwargs["split"], "n": 10, "task": "multiclass", "metrics": {}}

    monkeypatch.setattr(report_pkg, "_evaluate", fake_evaluate)
    a, b = _bundle(tmp_path / "a"), _bundle(tmp_path / "b")
    out = tmp_path / "reports" / "card.html"
    code = main(
        ["report", str(a), "--compare", str(b), "--split", "val", "--groups", "sex",
         "--readers", "readers.csv", "--positive", "1", "--precision", "fp32", "--seed", "3",
         "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert [c[0] for c in calls] == ["a", "b"]
    first, second = calls[0][1], calls[1][1]
    assert first["groups_column"] == "sex" and first["readers_csv"] == "readers.csv"
    assert first["split"] == second["split"] == "val" and first["seed"] == 3
    assert first["positive"] == second["positive"] == "1"
    assert "groups_column" not in second  # compared bundles: same split, no groups/readers
    doc = out.read_text()
    assert '<section id="comparison">' in doc and "n = 10" in doc
    assert "The evaluation holds no metric estimates." in doc  # a minimal result still renders


def test_missing_bundle_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("healthcnn report: error:") and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_output_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "runs/x"])
    assert exc.value.code == 2 and "-o/--out" in capsys.readouterr().err


@pytest.fixture
def small_npz(retina_subset, tmp_path: Path) -> Path:
    """360 real RetinaMNIST images (100 train, 60 val, 200 test) under a non-official name."""
    return retina_subset(tmp_path / "retina_small.npz", {"train": 100, "val": 60, "test": 200})


@pytest.mark.data
def test_report_end_to_end_on_a_real_bundle(small_npz, tmp_path, capsys):
    bundle = tmp_path / "run"
    code = main(
        ["train", "--data", str(small_npz), "--model", "simple_cnn", "--epochs", "2",
         "--batch-size", "25", "--precision", "fp32", "--seed", "1", "--out", str(bundle),
         "--format", "json"]
    )  # fmt: skip
    assert code == 0
    capsys.readouterr()
    out = tmp_path / "report.html"
    readers = tmp_path / "readers.csv"
    readers.write_text('reader,sensitivity,specificity\n"Dr <b>X</b>",0.7,0.8\n')
    args = ["--readers", str(readers), "--positive", "2,3,4", "--compare", str(bundle)]
    args += ["--precision", "fp32"]
    assert main(["report", str(bundle), *args, "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    doc = out.read_text()
    # the numbers in the card are those of the real evaluation of this bundle
    ev = evaluate_bundle(bundle, precision="fp32", positive="2,3,4").to_dict()
    json.dumps(ev)  # the result the report reads is plain JSON
    auc = ev["metrics"]["auc"]
    assert f"{auc['value']:.3f}" in doc
    assert f"{auc['ci_low']:.3f}&ndash;{auc['ci_high']:.3f}" in doc
    for op in ev["operating_points"]:
        assert f"{op['threshold']:.4f}" in doc
    assert "validation split" in doc and "Training" in doc and "simple_cnn" in doc
    assert not re.search(r"https?://", doc)
    # the reader sits in the table and on the ROC, escaped; the compared bundle has its section
    assert "Dr <b>" not in doc and doc.count("Dr &lt;b&gt;X&lt;/b&gt;") >= 2
    assert '<section id="comparison">' in doc
