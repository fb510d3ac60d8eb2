"""ECG studies: the fold helpers, and the AF and ECG5000 pipelines end to end on real records
for a few steps (a tiny model, one epoch: the pipeline is checked, not the accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("wfdb")
pytest.importorskip("scipy")

from healthcnn.studies.ecg import (
    QUICK_MODEL_KWARGS,
    CVConfig,
    aggregate_max,
    inner_validation,
    run_ecg5000,
    run_ecg_af,
    strata,
)

TINY = CVConfig(
    model_kwargs=dict(QUICK_MODEL_KWARGS), epochs=1, batch_size=32, n_resamples=50, folds=3
)


def test_inner_validation_keeps_rare_classes_in_training() -> None:
    labels = np.array([0] * 40 + [1] * 10 + [2])
    train, val = inner_validation(labels, 0.2, seed=0)
    assert sorted(np.r_[train, val].tolist()) == list(range(51))
    assert np.bincount(labels[val], minlength=3).tolist() == [8, 2, 0]
    assert 50 in train  # the single sample of class 2 stays in training
    small = np.array([0, 0, 1, 1, 2])  # floor(0.2 x 2) = 0 everywhere: topped up to one
    train, val = inner_validation(small, 0.2, seed=0)
    assert len(val) == 1 and set(small[train]) == {0, 1, 2}


def test_strata_of_multilabel_rows_is_their_rarest_label() -> None:
    y = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 0]], dtype=np.float32)
    # column counts 4, 2, 1: the rarest label a row carries names its stratum
    assert strata(y).tolist() == [0, 1, 2, -1, 1]
    assert strata(np.array([2, 0, 1])).tolist() == [2, 0, 1]


def test_aggregate_max_per_record() -> None:
    keys = ["r1", "r1", "r2", "r3", "r2"]
    names, y, s = aggregate_max(
        keys, np.array([0, 1, 0, 0, 0]), np.array([0.2, 0.9, 0.4, 0.1, 0.7])
    )
    assert names == ["r1", "r2", "r3"]
    assert y.tolist() == [1, 0, 0]
    assert s.tolist() == [0.9, 0.7, 0.1]


@pytest.mark.data
def test_af_study_end_to_end(data_root: Path, tmp_path: Path, strict_json) -> None:
    records = ["data_8_4", "data_92_12", "data_21_7", "data_101_6"]
    result = run_ecg_af(TINY, data_dir=str(data_root), out=tmp_path, records=records)
    saved = strict_json((tmp_path / "results.json").read_text())
    assert saved["study"] == "ecg-af" and saved["data"]["records"] == sorted(records)
    (seed,) = result["per_seed"]
    for key in ("window_auc", "record_auc", "patient_auc"):
        assert set(seed[key]) >= {"value", "ci_low", "ci_high", "method", "n"}
    assert seed["window_auc"]["method"] == "bootstrap"
    assert seed["window_auc"]["n"] == result["data"]["n_windows"]
    # record- and patient-level AUC recomputed independently from the saved maxima
    skm = pytest.importorskip("sklearn.metrics")
    for key, rows in (("record_auc", seed["records"]), ("patient_auc", seed["patients"])):
        y = [r["af"] for r in rows]
        s = [r["max_score"] for r in rows]
        assert seed[key]["value"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)
    assert seed["record_auc"]["n"] == len(records)
    assert seed["patient_auc"]["n"] == 4
    # leave-patients-out: the test folds partition the four patients
    tested = [p for fold in seed["folds"] for p in fold["test_patients"]]
    assert sorted(tested, key=int) == ["8", "21", "92", "101"]
    assert sum(f["n_windows"] for f in seed["folds"]) == result["data"]["n_windows"]
    assert sum(f["n_af"] for f in seed["folds"]) == result["data"]["n_af_windows"] > 0
    # record-level labels: a record is AF when any of its windows is
    by_record = {r["record"]: r["af"] for r in seed["records"]}
    assert by_record == {"data_8_4": 1, "data_92_12": 1, "data_21_7": 0, "data_101_6": 1}
    assert result["summary"]["window_auc"]["n"] == 1
    assert result["environment"]["seconds"] > 0


@pytest.mark.data
def test_ecg5000_study_end_to_end(data_root: Path) -> None:
    cfg = CVConfig(
        model="simple_cnn",
        model_kwargs={"channels": (8, 16)},
        epochs=1,
        folds=2,
        seeds=(0, 1),
        n_resamples=50,
    )
    result = run_ecg5000(cfg, data_dir=str(data_root))
    assert len(result["per_seed"]) == 2
    for seed in result["per_seed"]:
        cm = np.array(seed["confusion_matrix"])
        assert cm.shape == (5, 5)
        assert cm.sum(axis=1).tolist() == [292, 177, 10, 19, 2]  # every beat predicted once
        acc = seed["accuracy"]
        assert acc["value"] == pytest.approx(np.trace(cm) / 500)
        assert acc["method"] == "wilson" and acc["ci_low"] <= acc["value"] <= acc["ci_high"]
        assert seed["macro_auc"]["method"] == "delong"
        assert set(seed["per_class_auc"]) == set(result["data"]["classes"])
        assert [f["n"] for f in seed["folds"]] == [250, 250]
    spread = result["summary"]["accuracy"]
    assert spread["n"] == 2 and spread["sd"] >= 0


@pytest.mark.data
def test_ecg5000_study_interrupted_part_way_goes_on_with_resume(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """The ECG5000 study stopped in its second fold's training is refused without --resume
    and with it ends where an uninterrupted study ends (the same out-of-fold numbers); its
    checkpoints are gone afterwards. Begun with precision "auto", it is resumed naming what
    auto gave here, as a resume on a machine where auto means other numerics must be."""
    import dataclasses
    import json

    from healthcnn.inference.precision import PrecisionPolicy
    from healthcnn.studies import _resume, ecg
    from healthcnn.training import TrainingInterrupted
    from interrupting import stop_nth_fit

    cfg = CVConfig(model="simple_cnn", model_kwargs={"channels": (8, 16)}, epochs=2, folds=2,
                   seeds=(0,), n_resamples=50)  # fmt: skip
    whole = run_ecg5000(cfg, data_dir=str(data_root), out=tmp_path / "whole")
    # a checkpoint every epoch, as on a CPU where an epoch is longer than the interval
    monkeypatch.setattr(ecg, "CHECKPOINT_EVERY_S", 0.0)
    parts = tmp_path / "parts"
    with monkeypatch.context() as patch:
        stop_nth_fit(patch, ecg, nth=2)
        with pytest.raises(TrainingInterrupted):
            run_ecg5000(cfg, data_dir=str(data_root), out=parts)
    folders = sorted(p.name for p in (parts / _resume.CHECKPOINTS).iterdir())
    assert folders == ["seed0-fold0", "seed0-fold1"]
    with pytest.raises(ValueError, match=r"\(seed0-fold0, seed0-fold1\): pass --resume"):
        run_ecg5000(cfg, data_dir=str(data_root), out=parts)
    assert cfg.precision == "auto"
    named = dataclasses.replace(cfg, precision=PrecisionPolicy.resolve("auto", "cpu").name)
    resumed = run_ecg5000(named, data_dir=str(data_root), out=parts, resume=True)
    assert not (parts / _resume.CHECKPOINTS).exists()

    def numbers(result: dict) -> str:
        seeds = [{k: v for k, v in s.items() if "seconds" not in k} for s in result["per_seed"]]
        for s in seeds:  # per-fold wall times differ between any two runs
            s["folds"] = [{k: v for k, v in f.items() if "seconds" not in k} for f in s["folds"]]
        return json.dumps({"per_seed": seeds, "summary": result["summary"]}, sort_keys=True)

    assert numbers(resumed) == numbers(whole)
