"""The DR screening study: its parts on hand-made data, and the whole study on real RetinaMNIST."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.evaluation import OperatingPoint
from healthcnn.metrics import cohen_kappa, roc_auc
from healthcnn.studies.dr_screening import StudyConfig, _referable, run_study
from healthcnn.studies.ensemble import average_probabilities, compare_single_vs_ensemble
from healthcnn.studies.grade_sampling import (
    GraderModel,
    median_reference,
    simulate_grade_sampling,
)
from healthcnn.studies.grading import grade_metrics, referable_labels, referable_scores
from healthcnn.studies.learning_curve import mean_ci, stratified_subset
from healthcnn.studies.recipe import Recipe

PRIOR = np.array([0.45, 0.10, 0.23, 0.17, 0.05])


# ---- grade sampling: the disagreement model ---------------------------------------------------


def test_grader_model_confuses_adjacent_grades() -> None:
    t = GraderModel(p_error=0.3, p_far=0.1).transition()
    assert np.allclose(t.sum(axis=1), 1.0)
    assert np.allclose(np.diag(t), 0.7)
    i, j = np.indices(t.shape)
    assert np.all(t[np.abs(i - j) > 2] == 0)  # never more than two grades off
    assert t[2, 1] == pytest.approx(0.3 * 0.9 / 2) and t[2, 0] == pytest.approx(0.3 * 0.1 / 2)
    assert t[0, 1] == pytest.approx(0.3 * 0.9)  # the scale's end: one neighbour takes it all


def test_simulated_graders_reproduce_the_stated_agreement() -> None:
    """Calibrated to kappa 0.80: simulated grades must show that kappa (measured with the
    metrics package's independent Cohen's kappa) and the stated exact agreement."""
    model = GraderModel.for_kappa(0.80, PRIOR)
    assert model.expected_kappa(PRIOR) == pytest.approx(0.80, abs=1e-6)
    rng = np.random.default_rng(0)
    truth = rng.choice(5, size=40_000, p=PRIOR)
    graded = model.simulate(truth, 3, rng)
    for g in range(3):
        kappa = float(cohen_kappa(truth, graded[:, g], "quadratic", labels=range(5), ci=None))
        assert kappa == pytest.approx(0.80, abs=0.01)
        assert np.mean(graded[:, g] == truth) == pytest.approx(1 - model.p_error, abs=0.01)
    # majority/median of more graders is closer to the truth
    errors = [np.mean(median_reference(model.simulate(truth, k, rng)) != truth) for k in (1, 3, 7)]
    assert errors[0] > errors[1] > errors[2]


def test_grade_sampling_simulation_is_labelled_and_shrinks_threshold_spread() -> None:
    rng = np.random.default_rng(1)
    val = rng.choice(5, size=300, p=PRIOR)
    test = rng.choice(5, size=300, p=PRIOR)
    noise = rng.normal(0, 0.8, size=600)
    s_val, s_test = val + noise[:300], test + noise[300:]
    out = simulate_grade_sampling(
        val, s_val, referable_labels(test), s_test, ks=(1, 7), replicates=30, seed=0
    )
    assert "SIMULATION" in out["label"]
    assert out["grader_model"]["expected_weighted_kappa_vs_truth"] == pytest.approx(0.80, 1e-6)
    k1, k7 = out["rows"]
    assert k7["reference_referable_error_rate"] < k1["reference_referable_error_rate"]
    assert k7["tuning_auc_mean"] > k1["tuning_auc_mean"]
    sd = "threshold_sd"
    assert (
        k7["operating_points"]["high_sensitivity"][sd]
        < k1["operating_points"]["high_sensitivity"][sd]
    )


# ---- grading, ensembles, learning curve helpers ------------------------------------------------


def test_referable_scores_and_grade_metrics() -> None:
    p = np.array([[0.5, 0.2, 0.2, 0.1, 0.0], [0.0, 0.1, 0.3, 0.3, 0.3]])
    assert referable_scores(p).tolist() == pytest.approx([0.3, 0.9])
    assert referable_labels(np.array([0, 1, 2, 4])).tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="start"):
        referable_scores(p, start=5)
    y = np.array([0, 1, 2, 3, 4, 0])
    perfect = np.eye(5)[y]
    m = grade_metrics(y, perfect)
    assert m["auc"] == 1.0 and m["acc"] == 1.0 and m["kappa"] == pytest.approx(1.0)
    off_by_one = np.eye(5)[np.minimum(y + 1, 4)]
    assert 0 < grade_metrics(y, off_by_one)["kappa"] < 1


def test_ensemble_average_and_paired_delong() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(5, size=200, p=PRIOR)
    members = [np.eye(5)[y] * 0.5 + rng.dirichlet(np.ones(5), size=200) * 0.5 for _ in range(3)]
    avg = average_probabilities(members)
    assert np.allclose(avg, np.mean(members, axis=0))
    same = compare_single_vs_ensemble(y, members[0], [members[0], members[0]])
    assert same["delong_ensemble_minus_single"]["difference"] == 0
    assert same["delong_ensemble_minus_single"]["p_value"] == 1.0
    res = compare_single_vs_ensemble(y, members[0], members)
    auc_e = roc_auc(referable_labels(y), referable_scores(avg), ci=None).value
    assert res["ensemble"]["referable_auc"]["value"] == pytest.approx(auc_e)
    with pytest.raises(ValueError, match="differ in shape"):
        average_probabilities([np.zeros((2, 5)), np.zeros((3, 5))])


def test_stratified_subset_keeps_every_grade() -> None:
    y = np.repeat(np.arange(5), [500, 100, 200, 150, 10])
    idx = stratified_subset(y, 0.05, seed=3)
    assert set(y[idx]) == set(range(5))
    assert len(idx) == pytest.approx(0.05 * len(y), abs=5)
    assert not np.array_equal(idx, stratified_subset(y, 0.05, seed=4))
    with pytest.raises(ValueError, match="fraction"):
        stratified_subset(y, 0.0, seed=0)


def test_mean_ci_is_a_t_interval() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    v = [0.70, 0.74, 0.71]
    ci = mean_ci(v)
    lo, hi = scipy_stats.t.interval(0.95, 2, loc=np.mean(v), scale=scipy_stats.sem(v))
    assert ci["ci_low"] == pytest.approx(lo, abs=1e-3) and ci["ci_high"] == pytest.approx(
        hi, abs=1e-3
    )


# ---- operating points are fitted on val only ---------------------------------------------------


def test_operating_points_are_fitted_on_validation_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = {"val": rng.choice(5, 300, p=PRIOR), "test": rng.choice(5, 300, p=PRIOR)}
    scores = {s: referable_labels(y[s]) * 0.3 + rng.uniform(0, 1, 300) for s in y}
    cfg = StudyConfig(out=str(tmp_path), sensitivity_target=0.85, specificity_target=0.95)
    res = _referable(cfg, y, {"derived": scores})
    hs = res["operating_points"]["high_sensitivity"]
    expected = OperatingPoint("sensitivity", 0.85).fit(referable_labels(y["val"]), scores["val"])
    assert hs["threshold"] == expected.threshold_ and hs["fitted_on"] == "val"
    assert hs["val"]["sensitivity"]["value"] >= 0.85
    assert res["operating_points"]["high_specificity"]["val"]["specificity"]["value"] >= 0.95
    assert hs["test"]["sensitivity"]["method"] == "wilson"
    # changing the test scores cannot move a threshold
    shuffled = {"val": scores["val"], "test": rng.permutation(scores["test"])}
    again = _referable(cfg, y, {"derived": shuffled})
    for k in ("high_sensitivity", "high_specificity"):
        assert again["operating_points"][k]["threshold"] == res["operating_points"][k]["threshold"]


def test_config_and_recipe_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="referable_model"):
        StudyConfig(out=str(tmp_path), referable_model="both")
    with pytest.raises(ValueError, match="fractions"):
        StudyConfig(out=str(tmp_path), fractions=(0.0, 1.0))
    with pytest.raises(ValueError, match="sensitivity_target"):
        StudyConfig(out=str(tmp_path), sensitivity_target=1.0)
    with pytest.raises(ValueError, match="recipe task"):
        Recipe(task="binary")
    r = Recipe(name="x", task="ordinal", upsample=64, stem="imagenet")
    assert Recipe.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="unknown recipe field"):
        Recipe.from_dict({**r.to_dict(), "mixup": 0.2})


def test_mixing_candidates_differ_from_the_default_only_in_the_mixing() -> None:
    import dataclasses

    from healthcnn.studies.recipe import candidate_recipes

    recipes = {r.name: r for r in candidate_recipes(40)}
    assert len(recipes) == len(candidate_recipes(40))  # names are unique
    base = recipes["ordinal-aug-cos"]
    for name, mix, alpha in (("mixup", "mixup", 0.2), ("cutmix", "cutmix", 1.0)):
        r = recipes[f"ordinal-aug-cos-{name}"]
        assert (r.train.mix, r.train.mix_alpha) == (mix, alpha)
        assert dataclasses.replace(r, name=base.name, train=base.train) == base
        assert (
            dataclasses.replace(r.train, mix="none", mix_alpha=base.train.mix_alpha) == base.train
        )
        assert Recipe.from_dict(r.to_dict()) == r  # the bundle's record keeps the mixing


def test_study_default_is_the_configuration_chosen_on_validation() -> None:
    """The study trains what the last recipe round chose (docs/results-data/dr-recipe/), with
    its test-time views, plus early stopping."""
    import dataclasses
    import json

    from healthcnn.studies.dr_screening import DEFAULT_RECIPE
    from healthcnn.studies.recipe import candidate_recipe

    summary = Path(__file__).parents[2] / "docs/results-data/dr-recipe/round5-cpu-summary.json"
    chosen = json.loads(summary.read_text())["chosen_on_validation"]
    name, _, views = chosen.partition(" +")
    assert (DEFAULT_RECIPE.name, DEFAULT_RECIPE.tta) == (name, views == "tta")
    sweep = candidate_recipe(name)
    assert DEFAULT_RECIPE.train == dataclasses.replace(sweep.train, early_stopping_patience=10)
    assert dataclasses.replace(DEFAULT_RECIPE, train=sweep.train, tta=sweep.tta) == sweep
    with pytest.raises(ValueError, match="unknown recipe 'nope'; choose from"):
        candidate_recipe("nope")


# ---- the whole study, quick mode, real data ------------------------------------------------------


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory: pytest.TempPathFactory):
    import os

    out = tmp_path_factory.mktemp("dr")
    cfg = StudyConfig(out=str(out), data_dir=os.environ.get("HEALTHCNN_DATA"), quick=True)
    return run_study(cfg)


@pytest.mark.data
def test_quick_study_end_to_end(quick_study, strict_json) -> None:
    out = quick_study.out
    numbers = strict_json((out / "study.json").read_text())
    assert numbers["config"]["quick"] is True
    # the device line says what the recipe's precision ran as here ("auto" is bf16 or fp32)
    from healthcnn.inference.precision import PrecisionPolicy

    asked = numbers["config"]["recipe"]["train"]["precision"]
    ran = PrecisionPolicy.resolve(asked, "cpu").name
    assert f", {ran}, torch {torch.__version__}" in numbers["device"]
    for key in ("grade", "referable", "ensemble", "learning_curve", "grade_sampling"):
        assert key in numbers
    auc = numbers["referable"]["test_auc"]
    assert auc["method"] == "delong" and auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    for op in numbers["referable"]["operating_points"].values():
        for m in ("sensitivity", "specificity"):
            e = op["test"][m]
            assert e["method"] == "wilson" and e["ci_low"] <= e["value"] <= e["ci_high"]
    assert 0 <= numbers["ensemble"]["delong_ensemble_minus_single"]["p_value"] <= 1
    curve = numbers["learning_curve"]["points"]
    assert [p["fraction"] for p in curve] == [0.5, 1.0]
    assert curve[0]["n_train"] < curve[1]["n_train"]
    assert numbers["grade_sampling"]["label"].startswith("SIMULATION")
    html = (out / "report.html").read_text()
    assert "Grade sampling (SIMULATION)" in html and "<svg" in html
    assert "could not be built" not in html  # the model card was integrated
    assert all((out / b / "model.safetensors").is_file() for b in numbers["bundles"])


@pytest.mark.data
def test_quick_study_thresholds_come_from_validation_predictions(quick_study) -> None:
    """Recompute the ensemble's referable scores on val from the saved bundles: the study's
    thresholds are exactly those fitted there."""
    import os

    from healthcnn.bundle import load_bundle
    from healthcnn.data import load_medmnist
    from healthcnn.data.transforms import Normalize
    from healthcnn.training import predict

    numbers = quick_study.numbers
    val = load_medmnist("retinamnist", "val", root=os.environ["HEALTHCNN_DATA"])
    chosen = numbers["referable"]["chosen_on_val"]
    probs = []
    for b in numbers["bundles"]:
        if ("grade-seed" in b) == (chosen == "derived"):
            bundle = load_bundle(quick_study.out / b)
            norm = Normalize(list(bundle.preprocessing.mean), [0.5] * 3)
            probs.append(predict(bundle.model, val, bundle.task, transform=norm).scores)
    s = referable_scores(np.mean(probs, axis=0)) if chosen == "derived" else probs[0]
    y = referable_labels(val.labels.numpy())
    ops = numbers["referable"]["operating_points"]
    fitted = OperatingPoint("sensitivity", 0.90).fit(y, s).threshold_
    assert math.isclose(ops["high_sensitivity"]["threshold"], fitted, rel_tol=1e-4)


@pytest.mark.data
def test_study_interrupted_part_way_goes_on_with_resume_to_the_same_numbers(
    tmp_path: Path, monkeypatch
) -> None:
    """The DR study stopped in its second network's training (after its first epoch, as a
    crash or the machine's end would stop it) is refused without --resume before any
    training, and with it ends where an uninterrupted study ends; its checkpoints are gone
    once the results are written."""
    import dataclasses
    import json
    import os

    from healthcnn.studies import _resume
    from healthcnn.studies import recipe as recipe_module
    from healthcnn.studies.dr_screening import QUICK_RECIPE
    from healthcnn.training import TrainingInterrupted
    from interrupting import stop_nth_fit

    train = dataclasses.replace(QUICK_RECIPE.train, epochs=2)
    two_epochs = dataclasses.replace(QUICK_RECIPE, train=train)
    cfg = StudyConfig(
        out=str(tmp_path / "whole"), data_dir=os.environ.get("HEALTHCNN_DATA"),
        recipe=two_epochs, ensemble_size=2, fractions=(0.5, 1.0), curve_seeds=2,
        grader_ks=(1, 3), grader_replicates=5,
    )  # fmt: skip
    run_study(cfg)
    cfg = dataclasses.replace(cfg, out=str(tmp_path / "parts"))
    # a checkpoint every epoch, as on a CPU where an epoch is longer than the interval
    monkeypatch.setattr(_resume, "CHECKPOINT_EVERY_S", 0.0)
    with monkeypatch.context() as patch:
        stop_nth_fit(patch, recipe_module, nth=2)
        with pytest.raises(TrainingInterrupted):
            run_study(cfg)
    checkpoints = tmp_path / "parts" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["grade-seed0", "grade-seed1"]
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run of the study "
                       r"\(grade-seed0, grade-seed1\): pass --resume"):  # fmt: skip
        run_study(cfg)
    run_study(cfg, resume=True)
    assert not checkpoints.exists()

    def numbers(out: str) -> str:
        study = json.loads((Path(out) / "study.json").read_text())
        kept = ("grade", "referable", "ensemble", "learning_curve", "grade_sampling", "bundles")
        return json.dumps({k: study[k] for k in kept}, sort_keys=True)

    assert numbers(cfg.out) == numbers(str(tmp_path / "whole"))
