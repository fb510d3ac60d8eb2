"""Leakage guards on small synthetic data where validation and test disagree on purpose: every
choice (the referable scorer, its operating points) follows validation only. These run without
the data folder, so they guard the rules wherever the suite runs."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.evaluation import OperatingPoint
from healthcnn.metrics import roc_auc
from healthcnn.studies.dr_screening import StudyConfig, _referable

RNG = np.random.default_rng(7)
GRADES = {s: RNG.integers(0, 5, 200) for s in ("val", "test")}


def _scores(grades: np.ndarray, quality: float) -> np.ndarray:
    """P(referable)-like scores: ``quality`` 1 ranks every referable eye first, 0 at random."""
    referable = (grades >= 2).astype(float)
    noise = np.random.default_rng(int(quality * 100)).random(len(grades))
    return quality * referable * 0.5 + (1 - quality * 0.5) * noise


def _candidates(val_good: str) -> dict[str, dict[str, np.ndarray]]:
    """Two scorers: ``val_good`` is strong on val and weak on test, the other the reverse."""
    other = "binary" if val_good == "derived" else "derived"
    return {
        val_good: {"val": _scores(GRADES["val"], 0.9), "test": _scores(GRADES["test"], 0.1)},
        other: {"val": _scores(GRADES["val"], 0.1), "test": _scores(GRADES["test"], 0.9)},
    }


@pytest.mark.parametrize("val_good", ["derived", "binary"])
def test_the_referable_scorer_is_chosen_on_validation(val_good: str) -> None:
    candidates = _candidates(val_good)
    y_test = (GRADES["test"] >= 2).astype(int)
    test_auc = {k: float(roc_auc(y_test, v["test"], ci=None)) for k, v in candidates.items()}
    assert max(test_auc, key=test_auc.get) != val_good  # test would choose the other one
    result = _referable(StudyConfig(out="unused"), GRADES, candidates)
    assert result["chosen_on_val"] == val_good
    assert result["test_auc"]["value"] == pytest.approx(float(test_auc[val_good]))


def test_operating_points_are_fitted_on_validation_and_ignore_test() -> None:
    candidates = _candidates("derived")
    cfg = StudyConfig(out="unused")
    result = _referable(cfg, GRADES, candidates)
    y_val = (GRADES["val"] >= 2).astype(int)
    want = OperatingPoint("sensitivity", cfg.sensitivity_target).fit(
        y_val, candidates["derived"]["val"]
    )
    got = result["operating_points"]["high_sensitivity"]
    assert got["threshold"] == pytest.approx(want.threshold_) and got["fitted_on"] == "val"
    # the same thresholds whatever the test scores are
    shuffled = {k: {**v, "test": v["test"][::-1].copy()} for k, v in candidates.items()}
    again = _referable(cfg, GRADES, shuffled)
    for key, point in result["operating_points"].items():
        assert again["operating_points"][key]["threshold"] == point["threshold"]
    assert again["chosen_on_val"] == result["chosen_on_val"]


def _load_sweep():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "dr_recipe_sweep.py"
    spec = importlib.util.spec_from_file_location("dr_recipe_sweep", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_recipe_runs(folder, quality: dict[str, float], seeds=(0, 1)) -> None:
    """Runs of one recipe whose grade probabilities have the given quality per split."""
    import json

    folder.mkdir(parents=True)
    for seed in seeds:
        arrays = {}
        for split in ("val", "test"):
            y = GRADES[split]
            onehot = np.eye(5)[y]
            noise = np.random.default_rng(seed + 10 * len(split)).random((len(y), 5))
            p = quality[split] * onehot + (1 - quality[split]) * noise
            p /= p.sum(1, keepdims=True)
            arrays |= {f"y_{split}": y, split: p, f"{split}_tta": p}
        np.savez(folder / f"seed{seed}.npz", **arrays)
        sweep = _load_sweep()
        run = {"seed": seed, "device": "cpu", "seconds": 1.0, "best_epoch": 1}
        for split in ("val", "test"):
            metrics = sweep._metrics(arrays[f"y_{split}"], arrays[split])
            run[split] = run[f"{split}_tta"] = metrics
        (folder / f"seed{seed}.json").write_text(json.dumps(run))


def test_the_dr_recipe_is_chosen_on_validation(tmp_path) -> None:
    scratch = tmp_path / "runs"
    _write_recipe_runs(scratch / "good-on-val", {"val": 0.6, "test": 0.05})
    _write_recipe_runs(scratch / "good-on-test", {"val": 0.05, "test": 0.6})
    summary = _load_sweep().summarise(scratch, tmp_path / "out", ensemble_size=2)
    table = summary["configurations"]
    by_test = max(table, key=lambda k: table[k]["test"]["auc"]["mean"])
    assert by_test.startswith("good-on-test")  # test would choose the other recipe
    assert summary["chosen_on_validation"].startswith("good-on-val")
