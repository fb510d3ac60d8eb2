"""``evaluate_bundle`` end to end on a tiny real RetinaMNIST bundle: the JSON contract, thresholds
and temperature fitted on val only, readers, and subgroups from an image CSV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from healthcnn.evaluation import OperatingPoint, evaluate_bundle
from healthcnn.metrics import TemperatureScaler, roc_auc
from healthcnn.studies.run import train_run
from healthcnn.training import TrainConfig
from healthcnn.training.config import RunConfig

pytestmark = pytest.mark.data

EST = {"value", "ci_low", "ci_high", "method", "n"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, tiny_retina_bundle) -> Path:
    return tiny_retina_bundle(tmp_path_factory.mktemp("evaluate"), "retinamnist_subset.npz", 2)


def test_contract_and_thresholds_fitted_on_val(bundle: Path, tmp_path: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("reader,sensitivity,specificity\nR1,0.7,0.6\n")
    result = evaluate_bundle(bundle, precision="fp32", readers_csv=readers, n_resamples=200, seed=1)
    d = json.loads(json.dumps(result.to_dict()))  # JSON-serialisable
    assert d["task"] == "multiclass" and d["n"] == 40 and d["split"] == "test"
    assert d["positive"] == {"classes": ["2", "3", "4"], "name": "referable"}
    for key in ("auc", "acc", "balanced_accuracy", "kappa_quadratic", "auc_positive", "brier"):
        assert set(d["metrics"][key]) >= EST, key
    assert d["metrics"]["auc"]["method"] == "delong"
    assert d["metrics"]["acc"]["method"] == "wilson"
    assert d["metrics"]["ece"]["n_bins"] == 15 and d["metrics"]["ece"]["strategy"] == "uniform"
    # the numbers are those of the predictions the result carries
    auc = roc_auc(result.labels, result.scores)
    assert d["metrics"]["auc"]["value"] == pytest.approx(auc.value)
    assert d["metrics"]["acc"]["value"] == pytest.approx(
        np.mean(result.scores.argmax(1) == result.labels)
    )
    # operating points: the thresholds are the ones fitted on the val predictions
    y_val = np.isin(result.val_labels, [2, 3, 4])
    s_val = result.val_scores[:, 2:].sum(1)
    ops = d["operating_points"]
    assert [o["name"] for o in ops] == ["high sensitivity", "high specificity"]
    for o in ops:
        ref = OperatingPoint(o["rule"], o["target"]).fit(y_val, s_val)
        assert o["threshold"] == pytest.approx(ref.threshold_) and o["fitted_on"] == "val"
        y_test = np.isin(result.labels, [2, 3, 4])
        called = result.scores[:, 2:].sum(1) >= o["threshold"]
        if y_test.any():
            assert o["sensitivity"]["value"] == pytest.approx(called[y_test].mean())
        assert o["sensitivity"]["method"] == "wilson"
    # temperature fitted on val logits (compare with a scaler on val log-probabilities,
    # which differ from the logits by a per-row constant: the same softmax NLL)
    logp = np.log(np.clip(result.val_scores, 1e-30, None))
    t_ref = TemperatureScaler("softmax").fit(logp, result.val_labels).temperature_
    assert d["calibration"]["temperature"] == pytest.approx(t_ref, rel=1e-3)
    assert d["calibration"]["fitted_on"] == "val"
    assert set(d["calibration"]["ece_after"]) >= {"value", "n_bins", "strategy"}
    # curves and tables
    roc = d["curves"]["roc"]
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and len(roc["fpr"]) == len(roc["tpr"])
    band = d["curves"]["roc_ci_band"]
    assert len(band["fpr"]) == len(band["tpr_low"]) == 101
    assert all(lo <= hi for lo, hi in zip(band["tpr_low"], band["tpr_high"], strict=True))
    assert len(d["curves"]["reliability"]["count"]) == 15
    assert sum(map(sum, d["confusion_matrix"]["matrix"])) == 40
    assert [r["class"] for r in d["per_class"]] == ["0", "1", "2", "3", "4"]
    assert sum(r["n"] for r in d["per_class"]) == 40
    assert d["readers"][0]["reader"] == "R1" and isinstance(d["readers"][0]["below_curve"], bool)
    assert d["subgroups"] is None and d["seed"] == 1 and d["level"] == 0.95


def test_positive_option_and_errors(bundle: Path) -> None:
    result = evaluate_bundle(
        bundle,
        precision="fp32",
        positive="3,4",
        operating_points=[{"rule": "youden"}, {"rule": "fixed", "threshold": 0.5}],
        n_resamples=50,
    )
    assert result.positive == {"classes": ["3", "4"], "name": "positive: 3+4"}
    assert [o["name"] for o in result.operating_points] == ["youden", "threshold 0.5"]
    assert result.operating_points[1]["threshold"] == 0.5
    auc34 = result.metrics["auc_positive"].value
    y = np.isin(result.labels, [3, 4])
    if y.any() and not y.all():
        assert auc34 == pytest.approx(roc_auc(y, result.scores[:, 3:].sum(1)).value)
    else:
        assert math.isnan(auc34)
    with pytest.raises(ValueError, match="neither a class name"):
        evaluate_bundle(bundle, positive="7", n_resamples=10)
    with pytest.raises(ValueError, match="no column 'sex'"):
        evaluate_bundle(bundle, groups_column="sex", n_resamples=10)


def test_subgroups_from_an_image_csv(tmp_path: Path) -> None:
    import os

    from PIL import Image

    root = Path(os.environ["HEALTHCNN_DATA"])
    with np.load(root / "medmnist" / "retinamnist.npz") as npz:
        images, labels = npz["train_images"][:90], npz["train_labels"][:90, 0]
    rows = ["path,label,split,site"]
    for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
        split = "train" if i < 40 else ("val" if i < 65 else "test")
        rows.append(f"{i}.png,{lab},{split},{'A' if i % 3 else 'B'}")
    csv_path = tmp_path / "retina.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    cfg = RunConfig(
        data=str(csv_path),
        out=str(tmp_path / "b"),
        model="simple_cnn",
        size=28,
        train=TrainConfig(epochs=1, batch_size=16, precision="fp32", seed=0),
    )
    train_run(cfg, progress=False)
    result = evaluate_bundle(
        tmp_path / "b", precision="fp32", positive="2,3,4", groups_column="site", n_resamples=50
    )
    table = result.to_dict()["subgroups"]["site"]
    assert [r["group"] for r in table] == ["(all)", "A", "B"]
    assert [r["n"] for r in table] == [25, 17, 8]  # test rows 65..89; B: 66, 69, ..., 87
    assert all(r["small"] for r in table)  # below the default min_size of 30
    assert set(table[1]["metrics"]) >= {"auc", "sensitivity@high sensitivity"}
    assert set(table[1]["metrics"]["auc"]) >= EST


@pytest.mark.parametrize("kind", ["binary", "ordinal", "multilabel"])
def test_every_task_kind(kind: str, tmp_path: Path) -> None:
    import os

    root = Path(os.environ["HEALTHCNN_DATA"])
    arrays = {}
    with np.load(root / "medmnist" / "retinamnist.npz") as npz:
        for s, n in (("train", 32), ("val", 40), ("test", 40)):
            arrays[f"{s}_images"] = npz[f"{s}_images"][:n]
            grade = npz[f"{s}_labels"][:n]
            if kind == "binary":
                grade = (grade >= 2).astype(np.int64)  # referable as the stored label
            elif kind == "multilabel":
                grade = np.concatenate([grade >= 1, grade >= 2, grade >= 3], 1).astype(np.int64)
            arrays[f"{s}_labels"] = grade
    path = tmp_path / f"{kind}.npz"
    np.savez(path, **arrays)
    cfg = RunConfig(
        data=str(path),
        out=str(tmp_path / "b"),
        model="simple_cnn",
        task="ordinal" if kind == "ordinal" else None,
        train=TrainConfig(epochs=1, batch_size=16, precision="fp32", seed=0),
    )
    train_run(cfg, progress=False)
    result = evaluate_bundle(tmp_path / "b", precision="fp32", n_resamples=30)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["task"] == kind and set(d["metrics"]["auc"]) >= EST
    assert d["calibration"]["temperature"] > 0
    if kind == "multilabel":
        assert d["positive"] is None and d["operating_points"] == []
        assert d["confusion_matrix"] is None and len(d["per_class"]) == 3
        return
    assert len(d["operating_points"]) == 2 and "roc" in d["curves"]
    if kind == "binary":
        assert d["positive"] == {"classes": ["1"], "name": "1"}
        # temperature fitted on the val logits: logit(P(positive)) recovers them
        p = np.clip(result.val_scores, 1e-7, 1 - 1e-7)
        logits = np.log(p) - np.log1p(-p)
        t_ref = TemperatureScaler("sigmoid").fit(logits, result.val_labels).temperature_
        assert d["calibration"]["temperature"] == pytest.approx(t_ref, rel=1e-2)
    else:  # a 5-grade ordinal task defaults to referable = grade >= 2
        assert d["positive"]["name"] == "referable" and "kappa_quadratic" in d["metrics"]
