"""The skin-taxonomy study: label plumbing on synthetic data, the learning-curve summary, and one
end-to-end ``--quick`` run on the real HAM10000."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data.arrays import ArrayDataset
from healthcnn.data.ham10000 import DIAGNOSES, Ham10000
from healthcnn.studies import _skin_eval
from healthcnn.studies.skin_taxonomy import _task, prepare, quick_config, run_study
from healthcnn.tasks.taxonomy import load_taxonomy


def _fake_ham(dx: list[str], sites: list[str], prefix: str = "L") -> Ham10000:
    n = len(dx)
    meta = {
        "lesion_id": np.array([f"{prefix}{i}" for i in range(n)], dtype=object),
        "image_id": np.array([f"I{prefix}{i}" for i in range(n)], dtype=object),
        "dx": np.array(dx, dtype=object),
        "dx_type": np.array(["histo"] * n, dtype=object),
        "age": np.full(n, 50.0),
        "sex": np.array(["male"] * n, dtype=object),
        "localization": np.array(sites, dtype=object),
    }
    ds = ArrayDataset(
        images=torch.zeros((n, 3, 4, 4), dtype=torch.uint8),
        labels=torch.tensor([DIAGNOSES.index(d) for d in dx]),
        classes=list(DIAGNOSES),
        ids=meta["image_id"].tolist(),
        groups=meta["lesion_id"].tolist(),
    )
    return Ham10000(ds, meta, 4)


def _parts() -> dict[str, Ham10000]:
    train_dx = ["nv"] * 100 + ["mel"] * 12 + ["bkl"] * 10 + ["bcc"] * 6 + ["akiec"] * 4
    train_dx += ["df"] * 3 + ["vasc"] * 3
    sites = (["back"] * 50 + ["face"] * 45 + ["ear"] * 5) + ["back"] * (len(train_dx) - 100)
    test_dx = list(DIAGNOSES) * 2
    return {
        "train": _fake_ham(train_dx, sites, "T"),
        "val": _fake_ham(test_dx, ["hand"] * len(test_dx), "V"),
        "test": _fake_ham(test_dx, ["back"] * len(test_dx), "S"),
    }


def test_prepare_partitions_three_ways() -> None:
    prep = prepare(load_taxonomy("ham10000"), _parts(), refine=True, max_class_size=40)
    # nv (100 images) splits by body site: back 50, face 45, ear (5 < min_count 40) -> other
    assert prep.tree.children["nv"] == ["nv@back", "nv@face", "nv@other"]
    assert prep.partitions["binary"].classes == ("benign", "malignant")
    assert prep.partitions["binary"].sizes == (116, 22)
    assert prep.partitions["diagnosis"].classes == tuple(load_taxonomy("ham10000").leaves)
    part = prep.partitions["partition"]
    # nv is too large, its site children are classes; the 7 diagnoses stay apart
    assert part.classes == (
        "nv@back",
        "nv@face",
        "nv@other",
        "bkl",
        "df",
        "vasc",
        "mel",
        "bcc",
        "akiec",
    )
    assert part.sizes == (50, 45, 5, 10, 3, 3, 12, 6, 4)
    # a training label for every sample; a site never seen in training ("hand") -> nv@other
    task = _task(prep.tree, part)
    val_targets = task.encode_labels(prep.splits["val"].dataset.labels)
    nv_val = prep.splits["val"].ham.meta["dx"] == "nv"
    assert {part.classes[i] for i in val_targets[torch.from_numpy(nv_val)].tolist()} == {"nv@other"}


def test_inference_levels_from_partition_probabilities() -> None:
    prep = prepare(load_taxonomy("ham10000"), _parts(), refine=True, max_class_size=40)
    classes = prep.partitions["partition"].classes
    probs = np.random.default_rng(1).dirichlet(np.ones(len(classes)), size=14)
    run = {"classes": list(classes), "test": probs}
    two = _skin_eval.level_probs(prep, run, "test", ("benign", "malignant"))
    seven = _skin_eval.level_probs(prep, run, "test", prep.base.leaves)
    np.testing.assert_allclose(two.sum(1), 1.0)
    np.testing.assert_allclose(seven.sum(1), 1.0)
    nv_cols = [i for i, c in enumerate(classes) if c.startswith("nv")]
    np.testing.assert_allclose(seven[:, prep.base.leaves.index("nv")], probs[:, nv_cols].sum(1))
    binary = {"classes": ["benign", "malignant"], "test": two}
    assert _skin_eval.level_probs(prep, binary, "test", prep.base.leaves) is None


def test_curve_summary_t_interval() -> None:
    points = [
        {
            "fraction": 0.5,
            "seed": s,
            "train_images": 100,
            "malignant_auc": {"value": v, "ci_low": v - 0.05, "ci_high": v + 0.05},
        }
        for s, v in enumerate((0.80, 0.82, 0.84))
    ]
    (row,) = _skin_eval.curve_summary(points)
    # mean 0.82, sd 0.02, t(0.975, 2 df) = 4.303: half-width 4.303 * 0.02 / sqrt(3)
    half = 4.303 * 0.02 / np.sqrt(3)
    assert row["malignant_auc_mean"] == pytest.approx(0.82)
    assert row["seed_ci_low"] == pytest.approx(0.82 - half)
    assert row["delong_ci_high_mean"] == pytest.approx(0.87)
    assert "macro_auc_mean" not in row  # a binary curve: no 7-way scores


def test_curve_summary_means_the_seven_way_scores_with_and_without_the_metadata() -> None:
    def point(seed: int, auc: float, ba: float, fused: bool) -> dict:
        out = {
            "fraction": 0.25,
            "seed": seed,
            "train_images": 50,
            "malignant_auc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
            "macro_auc": {"value": auc},
            "balanced_accuracy": {"argmax": {"value": 0.1}, "prior-corrected": {"value": ba}},
        }
        if fused:
            out["metadata"] = {
                "macro_auc": {"value": auc + 0.02},
                "balanced_accuracy": {
                    "argmax": {"value": 0.2},
                    "prior-corrected": {"value": ba + 0.04},
                },
            }
        return out

    (row,) = _skin_eval.curve_summary([point(0, 0.90, 0.50, True), point(1, 0.92, 0.60, True)])
    assert row["macro_auc_mean"] == pytest.approx(0.91)
    assert row["balanced_accuracy_mean"] == pytest.approx(0.55)  # the prior-corrected rule
    assert row["metadata_macro_auc_mean"] == pytest.approx(0.93)
    assert row["metadata_balanced_accuracy_mean"] == pytest.approx(0.59)
    # a point without the fusion: no fused mean of fewer seeds than the row counts
    (row,) = _skin_eval.curve_summary([point(0, 0.90, 0.50, True), point(1, 0.92, 0.60, False)])
    assert row["macro_auc_mean"] == pytest.approx(0.91)
    assert "metadata_macro_auc_mean" not in row and "metadata_balanced_accuracy_mean" not in row


@pytest.mark.data
def test_quick_study_end_to_end(data_root: Path, tmp_path: Path, strict_json) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("reader,sensitivity,specificity\nderm A,0.7,0.6\nderm B,0.5,0.9\n")
    result = run_study(
        quick_config(
            str(tmp_path / "out"), str(data_root), readers_csv=str(readers), metadata=False
        )
    )
    saved = strict_json((tmp_path / "out" / "study.json").read_text())
    assert saved["approaches"].keys() == {"binary", "diagnosis", "partition"}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Paired comparisons" in html and "Learning curve" in html
    assert 'id="metadata"' not in html  # not scored with metadata=False
    assert all("seven_way_metadata" not in ev for ev in saved["approaches"].values())
    first_table = html.split("<table>")[1].split("</table>")[0]
    header_cells = first_table.split("</thead>")[0].count("<th class")
    first_row = first_table.split("<tbody>")[1].split("</tr>")[0]
    assert header_cells == first_row.count("<td class") == 11
    data = result["data"]
    assert data["train"]["images"] + data["val"]["images"] + data["test"]["images"] > 800
    binary = result["approaches"]["binary"]
    assert binary["seven_way"] is None and binary["training_classes"] == 2
    for name in ("diagnosis", "partition"):
        seven = result["approaches"][name]["seven_way"]
        assert seven["classes"] == list(load_taxonomy("ham10000").leaves)
        per_class = [seven["per_class_auc"][d]["value"] for d in DIAGNOSES]
        assert seven["macro_auc"]["value"] == pytest.approx(np.mean(per_class), abs=1e-12)
        assert {e["n"] for e in seven["per_class_auc"].values()} == {seven["n"]}
        assert set(seven["sensitivity"]) == set(DIAGNOSES)
    two = result["approaches"]["partition"]["two_way"]
    assert two["auc"]["method"] == "delong" and two["auc"]["ci_low"] <= two["auc"]["value"]
    assert {"sex", "age band", "body site"} == set(two["subgroups"])
    assert [r["reader"] for r in result["approaches"]["binary"]["two_way"]["readers"]] == [
        "derm A",
        "derm B",
    ]
    # 3 pairs x (2-way, melanoma vs nevus)
    assert len(result["comparisons"]) == 6
    assert {p["fraction"] for p in result["learning_curve"]["points"]} == {0.5, 1.0}
    part = result["taxonomy"]["partitions"]["partition"]
    assert all(
        c["images"] < part["max_class_size"] or "@" in c["node"] or c["node"] in DIAGNOSES
        for c in part["classes"]
    )


@pytest.mark.data
def test_quick_study_scores_the_metadata_beside_the_image(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """With ``metadata`` on, each 7-way answer is also scored with the patient's age, sex and
    site fused in: the numbers are those of the fusion done by hand on the run's own test
    probabilities, the report and the CLI summary show them, the binary model has none."""
    from healthcnn.metrics import balanced_accuracy, roc_auc
    from healthcnn.studies import skin_metadata
    from healthcnn.studies.skin_metadata import fit_metadata_model, fuse, metadata_features
    from healthcnn.studies.skin_taxonomy import (
        approach_run_to_json,
        prepare_study,
        summarize,
        train_approach,
    )

    cfg = quick_config(
        str(tmp_path / "out"),
        str(data_root),
        curve_fractions=(0.5, 1.0),
        approaches=("binary", "diagnosis"),
        metadata=True,
    )
    prep = prepare_study(cfg)
    run = train_approach(prep, "diagnosis", cfg, cfg.seed)
    fitted_on = []  # the training images each metadata model is fitted on
    real_fit = skin_metadata.fit_metadata_model

    def recording_fit(train_meta, classes, **kw):
        fitted_on.append(sorted(train_meta["image_id"]))
        return real_fit(train_meta, classes, **kw)

    monkeypatch.setattr(skin_metadata, "fit_metadata_model", recording_fit)
    result = run_study(cfg, runs={"diagnosis": approach_run_to_json(run)})
    assert result["approaches"]["binary"]["seven_way_metadata"] is None
    fused = result["approaches"]["diagnosis"]["seven_way_metadata"]
    image = result["approaches"]["diagnosis"]["seven_way"]

    leaves = list(prep.base.leaves)
    test = prep.splits["test"].ham
    y = np.array([leaves.index(d) for d in test.meta["dx"]])
    prior = _skin_eval.train_prior(prep)
    model = fit_metadata_model(prep.splits["train"].ham.meta, leaves)
    p = fuse(
        _skin_eval.level_probs(prep, run, "test", leaves),
        model.predict_proba(metadata_features(test.meta)),
        prior,
    )
    want = balanced_accuracy(y, _skin_eval.decide(p, prior, "prior-corrected"), ci=None).value
    assert fused["balanced_accuracy_prior_corrected"]["value"] == pytest.approx(want)
    assert fused["macro_auc"]["value"] == pytest.approx(roc_auc(y, p, ci=None).value)
    assert fused["macro_auc"]["value"] != image["macro_auc"]["value"]

    # the learning curve scores the study's recipe too: the whole training set's point has the
    # study's fused numbers; the half's metadata model is fitted on the half's images alone
    points = {p["fraction"]: p for p in result["learning_curve"]["points"]}
    full = points[1.0]["metadata"]
    assert full["macro_auc"]["value"] == pytest.approx(fused["macro_auc"]["value"])
    assert full["balanced_accuracy"]["prior-corrected"]["value"] == pytest.approx(want)
    whole = sorted(prep.splits["train"].ham.meta["image_id"])
    assert fitted_on[0] == whole and len(fitted_on) == 2
    assert set(fitted_on[1]) < set(whole) and len(fitted_on[1]) < 0.7 * len(whole)
    half = points[0.5]["metadata"]
    assert 0 < half["macro_auc"]["value"] <= 1
    summary = {s["fraction"]: s for s in result["learning_curve"]["summary"]}
    assert summary[1.0]["metadata_macro_auc_mean"] == pytest.approx(fused["macro_auc"]["value"])
    assert summary[0.5]["metadata_balanced_accuracy_mean"] == pytest.approx(
        half["balanced_accuracy"]["prior-corrected"]["value"]
    )

    html = (tmp_path / "out" / "report.html").read_text()
    section = html.split('<section id="metadata">')[1].split("</section>")[0]
    assert section.count("<tr>") - 1 == 2  # the diagnosis approach: image, image + metadata
    curve = html.split('<section id="curve">')[1].split("</section>")[0]
    assert "with age, sex and site: balanced acc" in curve
    assert "mean balanced acc (prior-corrected)" in curve
    lines = summarize(result)
    chosen = "with age, sex and site (the recipe chosen on validation): 7-way macro AUC"
    assert any(line.strip().startswith(chosen) for line in lines)


@pytest.mark.data
def test_quick_study_at_a_non_square_size(data_root: Path, tmp_path: Path, strict_json) -> None:
    """The stored images are 200 x 150: a study at a non-square size (here 32 x 24, the stored
    aspect) trains with strong augmentation (rotations by 180 degrees only, rigid affines) and
    records the size as (height, width)."""
    from healthcnn.studies.skin_taxonomy import recipe_train_config

    cfg = quick_config(
        str(tmp_path / "out"),
        str(data_root),
        size=[24, 32],
        train=recipe_train_config("ce", epochs=1, batch_size=64, augment="strong"),
        curve_fractions=(),
    )
    assert cfg.size == (24, 32)
    result = run_study(cfg)
    saved = strict_json((tmp_path / "out" / "study.json").read_text())
    assert saved["config"]["size"] == [24, 32]
    assert result["approaches"]["diagnosis"]["seven_way"]["macro_auc"]["value"] > 0
    with pytest.raises(ValueError, match="between 8 and 600"):
        quick_config("x", size=(4, 32))


def test_flip_views_are_the_image_and_its_three_flips_averaged(tmp_path: Path) -> None:
    """``views="flips"`` (the chosen recipe's) scores the mean of the probabilities of each
    image and its flips left-right, up-down and both; ``plain`` the image alone."""
    import dataclasses

    from healthcnn.studies.skin_taxonomy import flip_views, train_approach

    rng = torch.Generator().manual_seed(0)
    parts = {}
    for name, part in _parts().items():
        n = len(part)
        images = torch.randint(0, 256, (n, 3, 8, 12), generator=rng, dtype=torch.uint8)
        ds = dataclasses.replace(part.dataset, images=images)
        parts[name] = Ham10000(ds, part.meta, (8, 12))
    prep = prepare(load_taxonomy("ham10000"), parts, refine=True, max_class_size=40)
    cfg = quick_config(str(tmp_path), views="flips")
    flips = train_approach(prep, "diagnosis", cfg, 0, keep_fitted=True)
    plain = train_approach(prep, "diagnosis", dataclasses.replace(cfg, views="plain"), 0)
    fitted = flips.pop("fitted")
    views = flip_views(fitted)
    x = torch.rand(4, 3, 8, 12, generator=rng)  # a batch as the loader hands it on (floats)
    ev = views[0](x)
    for view, dims in zip(views[1:], ((-1,), (-2,), (-2, -1)), strict=True):
        assert torch.equal(view(x), ev.flip(dims))
    test = prep.splits["test"].dataset
    per_view = [fitted.task.class_columns(fitted.infer(test, views=[v])[1]) for v in views]
    np.testing.assert_allclose(flips["test"], np.mean(per_view, axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(plain["test"], per_view[0], rtol=1e-6, atol=1e-9)
    assert not np.allclose(flips["test"], plain["test"])
    with pytest.raises(ValueError, match="views must be one of"):
        quick_config("x", views="dihedral")


def test_evaluate_scores_a_perfect_model_as_perfect() -> None:
    prep = prepare(load_taxonomy("ham10000"), _parts(), refine=True, max_class_size=40)
    dx = prep.base.leaves
    test = prep.splits["test"].ham
    y = np.array([dx.index(d) for d in test.meta["dx"]])
    probs = np.full((len(y), 7), 0.01)
    probs[np.arange(len(y)), y] = 0.94
    ev = _skin_eval.evaluate(prep, {"classes": list(dx), "test": probs}, test)
    assert ev["two_way"]["auc"]["value"] == 1.0
    assert ev["two_way"]["n_positive"] == 6  # mel, bcc, akiec twice each
    assert ev["two_way"]["sensitivity@0.5"]["value"] == 1.0
    seven = ev["seven_way"]
    assert seven["macro_auc"]["value"] == 1.0 and seven["accuracy"] == 1.0
    assert seven["balanced_accuracy"]["value"] == 1.0
    # the same scores as a learning-curve point and on another split name
    point = _skin_eval.curve_point(prep, {"classes": list(dx), "test": probs}, test, 1.0, 0)
    assert point["balanced_accuracy"]["argmax"]["value"] == 1.0
    assert point["balanced_accuracy"]["prior-corrected"]["value"] == 1.0
    on_val = _skin_eval.seven_way(prep, {"classes": list(dx), "val": probs}, test, split="val")
    assert on_val["balanced_accuracy"]["value"] == 1.0
    # a model that always says nv: one class of seven found, balanced accuracy 1/7
    constant = np.tile(np.where(np.arange(7) == dx.index("nv"), 0.9, 0.1 / 6), (len(y), 1))
    flat = _skin_eval.curve_point(prep, {"classes": list(dx), "test": constant}, test, 1.0, 0)
    assert flat["balanced_accuracy"]["argmax"]["value"] == pytest.approx(1 / 7)
    assert seven["mel_vs_nv_auc"]["value"] == 1.0
    # a model that swaps mel and nv: the 2-way question stays right for nv but not for mel
    swapped = probs.copy()
    mel, nv = dx.index("mel"), dx.index("nv")
    swapped[:, [mel, nv]] = swapped[:, [nv, mel]]
    ev = _skin_eval.evaluate(prep, {"classes": list(dx), "test": swapped}, test)
    assert ev["seven_way"]["mel_vs_nv_auc"]["value"] == 0.0
    assert ev["seven_way"]["sensitivity"]["mel"]["value"] == 0.0
    assert ev["seven_way"]["sensitivity"]["bcc"]["value"] == 1.0


def test_recipe_train_config_is_the_sweep_settings_plus_the_loss() -> None:
    from healthcnn.studies.skin_taxonomy import recipe_train_config

    base = recipe_train_config("ce", 8)
    assert (base.optimizer, base.schedule, base.warmup_epochs, base.augment) == (
        "adamw",
        "cosine",
        2,
        "strong",
    )
    assert (base.weight_decay, base.batch_size, base.logit_adjust) == (0.05, 128, 0.0)
    la = recipe_train_config("logit-adjusted", 1, seed=3)
    assert la.differences(base) == {
        "epochs": (1, 8),
        "warmup_epochs": (0, 2),
        "logit_adjust": (1.0, 0.0),
        "seed": (3, 0),
    }
    cut = recipe_train_config("cutmix", 8)
    assert cut.differences(base) == {"mix": ("cutmix", "none")}  # mix_alpha 1.0 is the default
    mix = recipe_train_config("mixup", 8)
    assert mix.differences(base) == {"mix": ("mixup", "none"), "mix_alpha": (0.2, 1.0)}
    both = recipe_train_config("class-weighted", 8, logit_adjust=0.5)
    assert (both.class_weights, both.logit_adjust) == ("balanced", 0.5)
    with pytest.raises(ValueError, match="recipe must be one of"):
        recipe_train_config("focal")


def test_prior_tuned_rule_chooses_its_power_on_validation_and_cross_fits() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    prior = [0.5, 0.3, 0.15, 0.05]
    # power 0 is argmax, power 1 the prior-corrected rule
    for power, rule in ((0, "argmax"), (1, "prior-corrected")):
        assert np.array_equal(
            _skin_eval.decide_power(probs, prior, power), _skin_eval.decide(probs, prior, rule)
        )
    # calibrated-looking scores: every power from 0.25 to 2 gets both images right; the tie
    # goes to the power closest to 1
    two = np.array([[0.95, 0.05], [0.7, 0.3]])
    assert _skin_eval.tune_prior_power(two, [0, 1], [0.9, 0.1]) == 1.0
    # the rare class is under-scored: only powers >= 1.5 find it, and 1.5 is closest to 1
    under = np.array([[0.995, 0.005], [0.95, 0.05]])
    assert _skin_eval.tune_prior_power(under, [0, 1], [0.9, 0.1]) == 1.5
    with pytest.raises(ValueError, match="2 rows of probabilities but 3 labels"):
        _skin_eval.tune_prior_power(under, [0, 1, 1], [0.9, 0.1])

    # stratified halves: disjoint, everything once, each class split evenly, seeded
    y = np.array([0] * 7 + [1] * 4 + [2] * 1)
    a, b = _skin_eval.validation_halves(y)
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(12))
    assert [int((y[a] == c).sum()) for c in range(3)] == [4, 2, 1]
    assert [int((y[b] == c).sum()) for c in range(3)] == [3, 2, 0]
    assert np.array_equal(a, _skin_eval.validation_halves(y)[0])
    assert not np.array_equal(a, _skin_eval.validation_halves(y, seed=1)[0])

    # cross-fitting: half A's rare images need a power >= 1.5 and half B's frequent ones one
    # <= 0.5, so each half, decided with the other half's power, gets those images wrong
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    val = np.array([[0.96, 0.04]] * 4 + [[0.999, 0.001]] * 4)
    halves = _skin_eval.validation_halves(labels)
    val[halves[1][halves[1] < 4]] = [0.2, 0.8]  # B's rare images: argmax finds them
    val[halves[1][halves[1] >= 4]] = [0.8, 0.2]  # B's frequent ones: power >= 0.75 calls them rare
    tuned = _skin_eval.prior_tuned(val, labels, [0.9, 0.1], eval_probs=val[:2])
    assert tuned["half_powers"] == [1.5, 0.5]
    assert tuned["val_pred"][halves[1]].tolist() == [1, 1, 1, 1]  # B's frequent ones wrong
    assert tuned["val_pred"][halves[0]].tolist() == [0, 0, 0, 0]  # A's rare ones wrong
    assert _skin_eval._balanced(labels, tuned["val_pred"]) == 0.5
    whole = _skin_eval.tune_prior_power(val, labels, [0.9, 0.1])
    assert tuned["power"] == whole
    assert (
        tuned["eval_pred"].tolist() == _skin_eval.decide_power(val[:2], [0.9, 0.1], whole).tolist()
    )
    with pytest.raises(ValueError, match="cannot be split in two halves"):
        _skin_eval.prior_tuned(two, [0, 1], [0.9, 0.1])


def test_decision_rules_and_training_prior() -> None:
    probs = np.array([[0.6, 0.4], [0.95, 0.05]])
    assert _skin_eval.decide(probs, [0.9, 0.1], "argmax").tolist() == [0, 0]
    # divided by the prior: 0.67 vs 4.0, and 1.06 vs 0.5
    assert _skin_eval.decide(probs, [0.9, 0.1], "prior-corrected").tolist() == [1, 0]
    with pytest.raises(ValueError, match="rule must be one of"):
        _skin_eval.decide(probs, [0.9, 0.1], "threshold")
    prep = prepare(load_taxonomy("ham10000"), _parts(), refine=True, max_class_size=40)
    prior = _skin_eval.train_prior(prep)
    train_dx = prep.splits["train"].ham.meta["dx"].tolist()
    counts = [train_dx.count(d) for d in prep.base.leaves]
    assert prior.sum() == pytest.approx(1.0)
    assert prior.tolist() == pytest.approx(
        [max(c, 1) / sum(max(k, 1) for k in counts) for c in counts]
    )


@pytest.mark.data
def test_approaches_trained_apart_give_the_study_trained_in_one_process(
    data_root: Path, tmp_path: Path
) -> None:
    """Approaches trained in processes of their own (stored as JSON) and scored by
    ``run_study(runs=...)`` give the same study as training them inside it; a stored run that
    does not fit the study's split or classes is one clear error."""
    import dataclasses
    import json

    from healthcnn.studies.skin_taxonomy import (
        approach_run_to_json,
        prepare_study,
        train_approach,
    )

    cfg = quick_config(str(tmp_path / "one"), str(data_root), curve_fractions=())
    whole = run_study(cfg)
    prep = prepare_study(cfg)
    stored = {
        a: json.loads(json.dumps(approach_run_to_json(train_approach(prep, a, cfg, cfg.seed))))
        for a in ("binary", "partition")
    }
    apart = run_study(dataclasses.replace(cfg, out=str(tmp_path / "apart")), runs=stored)
    assert apart["trained_apart"] == ["binary", "partition"] and "trained_apart" not in whole
    for a in cfg.approaches:
        mine, theirs = dict(apart["approaches"][a]), dict(whole["approaches"][a])
        assert mine.pop("seconds") >= 0 and theirs.pop("seconds") >= 0
        # as JSON text, where a NaN (a subgroup without positives) equals itself
        assert json.dumps(mine, sort_keys=True) == json.dumps(theirs, sort_keys=True), a
    assert apart["comparisons"] == whole["comparisons"] and len(apart["comparisons"]) == 6

    # the stored probabilities are what is scored: swapping the binary columns turns the 2-way
    # AUC into 1 - AUC
    swapped = {s: [row[::-1] for row in stored["binary"][s]] for s in ("val", "test")}
    flipped = run_study(
        dataclasses.replace(cfg, out=str(tmp_path / "swapped")),
        runs={"binary": dict(stored["binary"], **swapped)},
    )
    auc = whole["approaches"]["binary"]["two_way"]["auc"]["value"]
    assert flipped["approaches"]["binary"]["two_way"]["auc"]["value"] == pytest.approx(1 - auc)
    assert auc != pytest.approx(0.5, abs=0.02)

    later = dataclasses.replace(cfg, out=str(tmp_path / "bad"))
    wrong = {"binary": dict(stored["binary"], classes=["benign", "other"])}
    with pytest.raises(ValueError, match=r"trained on classes .* train it again"):
        run_study(later, runs=wrong)
    short = {"partition": dict(stored["partition"], test=stored["partition"]["test"][:-1])}
    with pytest.raises(ValueError, match=r"test probabilities have shape \(\d+, \d+\)"):
        run_study(later, runs=short)
    damaged = [list(row) for row in stored["binary"]["val"]]
    damaged[3][1] = float("nan")
    with pytest.raises(ValueError, match=r"val probability row 3 is \[.*nan\], not probab"):
        run_study(later, runs={"binary": dict(stored["binary"], val=damaged)})
    with pytest.raises(ValueError, match=r"approaches \['melanoma'\] that this study"):
        run_study(later, runs={"melanoma": stored["binary"]})
    assert not (tmp_path / "bad").exists()


@pytest.mark.data
def test_study_interrupted_part_way_goes_on_with_resume_to_the_same_results(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """A study stopped in its second network's training (as a crash or the machine's end would
    stop it) is refused without --resume, refused with --resume at other settings, and with it
    ends where an uninterrupted study ends: the same scores, comparisons and learning curve;
    its checkpoints are gone once the results are written."""
    import dataclasses
    import json

    from healthcnn.studies import _resume, skin_taxonomy
    from healthcnn.studies.skin_taxonomy import recipe_train_config
    from healthcnn.training import TrainingInterrupted
    from interrupting import stop_nth_fit

    # a checkpoint every epoch, as on a CPU where an epoch is longer than the interval
    monkeypatch.setattr(_resume, "CHECKPOINT_EVERY_S", 0.0)

    train = recipe_train_config("ce", epochs=2, batch_size=64, precision="fp32", augment="none")
    cfg = quick_config(str(tmp_path / "whole"), str(data_root), train=train)
    whole = run_study(cfg)
    cfg = dataclasses.replace(cfg, out=str(tmp_path / "parts"))

    with monkeypatch.context() as patch:
        stop_nth_fit(patch, skin_taxonomy, nth=2)
        with pytest.raises(TrainingInterrupted):
            run_study(cfg)
    checkpoints = tmp_path / "parts" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["binary", "diagnosis"]
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run of the study "
                       r"\(binary, diagnosis\): pass --resume"):  # fmt: skip
        run_study(cfg)
    with pytest.raises(ValueError, match=r"cannot resume .*binary: .*other settings \(size\)"):
        run_study(dataclasses.replace(cfg, size=28), resume=True)
    resumed = run_study(cfg, resume=True)
    assert not checkpoints.exists()

    def scores(result: dict) -> str:
        timing = ("seconds", "resumed_after_epoch")
        approaches = {
            a: {k: v for k, v in r.items() if k not in timing}
            for a, r in result["approaches"].items()
        }
        points = [
            {k: v for k, v in p.items() if k not in timing}
            for p in result["learning_curve"]["points"]
        ]
        kept = {"approaches": approaches, "comparisons": result["comparisons"], "curve": points}
        return json.dumps(kept, sort_keys=True)  # as text, where NaN equals itself

    assert scores(resumed) == scores(whole)
    assert len(resumed["learning_curve"]["points"]) == 2
