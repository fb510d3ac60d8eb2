"""docs/results-skin.md is generated from result files: the verdicts must follow the numbers,
and choices must come from validation numbers only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import skin_sweep_report


def _est(v: float) -> dict:
    return {"value": v, "ci_low": v - 0.02, "ci_high": v + 0.02, "method": "delong", "n": 100}


def _ham(seed: int, val: dict[str, float], macro: dict[str, float], bacc: float) -> dict:
    summary = {
        a: {
            "val_malignant_auc": val[a],
            "two_way_auc": _est(0.85),
            "seven_way": None
            if a == "binary"
            else {
                "macro_auc": _est(macro[a]),
                "balanced_accuracy": _est(bacc),
                "balanced_accuracy_prior_corrected": _est(bacc + 0.1),
                "accuracy": _est(0.8),
                "mel_vs_nv_auc": _est(0.8),
            },
            "training_classes": {"binary": 2, "diagnosis": 7, "partition": 18}[a],
            "seconds": 10.0,
        }
        for a in ("binary", "diagnosis", "partition")
    }
    return {
        "seed": seed,
        "summary": summary,
        "comparisons": [
            {
                "level": "2-way",
                "a": "partition",
                "b": "binary",
                "difference": 0.01,
                "ci_low": -0.01,
                "ci_high": 0.03,
                "p_value": 0.3,
            }
        ],
        "partition": {"max_class_size": 1000, "classes": [{"node": "nv@back", "images": 900}]},
        "wall_seconds": 100.0,
        "device_name": "test CPU",
        "torch": "2.x",
    }


def _derma(recipe: str, seed: int, val_acc: float, test_acc: float) -> dict:
    m = {"auc": 0.93, "acc": test_acc}
    return {
        "recipe": recipe,
        "seed": seed,
        "val_plain": {"auc": 0.9, "acc": val_acc},
        "val_tta": {"auc": 0.9, "acc": val_acc - 0.01},
        "test_plain": m,
        "test_tta": {"auc": 0.5, "acc": 0.5},
        "seconds": 60.0,
        "device_name": "test CPU",
        "torch": "2.x",
    }


def _write(folder: Path, name: str, record: dict) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "result.json").write_text(json.dumps(record))


def test_report_verdicts_follow_the_numbers(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # partition has the best *validation* 2-way AUC; diagnosis the best 7-way test macro AUC
    val = {"binary": 0.80, "diagnosis": 0.81, "partition": 0.84}
    for seed in (0, 1, 2):
        ham = _ham(seed, val, {"diagnosis": 0.96, "partition": 0.94}, 0.70)
        if seed == 2:  # its approaches trained in processes of their own, the study scored them
            ham.update(trained_apart=["binary", "partition"], wall_seconds=3.0)
            ham["summary"]["partition"]["seconds"] = 4321.0
        _write(runs, f"ham-{seed}", ham)
        _write(runs, f"derma-strong-{seed}", _derma("strong", seed, 0.80, 0.77))
        _write(runs, f"derma-basic-{seed}", _derma("basic", seed, 0.70, 0.99))
    (runs / "sweep.json").write_text(
        json.dumps({"wall_seconds": 1234, "failed_runs": 0, "argv": ["--device", "cpu"]})
    )
    out = tmp_path / "results.md"
    notes = tmp_path / "notes.md"
    notes.write_text("Tried: nothing else.\n")
    skin_sweep_report.write_report(runs, out, notes)
    text = out.read_text()
    assert "## Notes (written by hand, not generated)\n\nTried: nothing else.\n" in text
    assert "the whole sweep took 1234 s" in text
    chosen = "Approach chosen on validation (mean validation 2-way AUC): **partition** (0.840)"
    assert chosen in text
    # the published 7-way row stands in the HAM10000 table, under our approaches
    table = text.split("## HAM10000")[1].split("\n\n")[1].splitlines()
    assert table[-1].startswith("| ISIC 2018 task 3 winner, published | 7 |")
    assert "| 0.885 (own rule) |" in table[-1] and "not our test split" in text
    assert "7-way macro AUC >= 0.95, mean over seeds: reached by diagnosis" in text
    assert "balanced accuracy >= 0.75 (argmax rule), mean over seeds: **not reached**" in text
    assert "balanced accuracy >= 0.75 (prior-corrected rule), mean over seeds: reached by" in text
    # the DermaMNIST recipe is chosen on validation accuracy, not on the better test accuracy
    assert "Chosen on validation accuracy: **strong**, test-time flips off" in text
    assert "test AUC 0.930, ACC 0.770 (mean of 3 seeds)" in text
    assert "ACC > 0.768: reached" in text and "Target AUC > 0.920: reached" in text
    assert "| Google AutoML Vision, published |" in text
    assert "scripts/skin_sweep.py --device cpu" in text
    # a study's time is its wall time, or the approaches' training times where trained apart
    assert "partition 0.850 (0.830-0.870) (100 s)" in text
    assert "(3 s in the study's process; trained apart: binary 10 s, partition 4321 s)" in text


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no result\.json files"):
        skin_sweep_report.write_report(tmp_path, tmp_path / "x.md")


def _hamrec(
    recipe: str,
    seed: int,
    val: dict,
    test: dict,
    probs: list[list[float]],
    size: int = 64,
    epochs: int = 8,
) -> dict:
    """A 7-way recipe run: balanced accuracies per (split, view) and rule; 2 test images."""

    def scores(ba: dict) -> dict:
        return {
            f"{split}_{view}": {
                "macro_auc": 0.9,
                "balanced_accuracy": dict(ba[split]),
                "accuracy": 0.8,
            }
            for split in ("val", "test")
            for view in ("plain", "tta")
        }

    return {
        "recipe": recipe,
        "seed": seed,
        "scores": scores({"val": val, "test": test}),
        "classes": ["a", "b"],
        "train_prior": [0.9, 0.1],
        "labels": {"val": [0, 1], "test": [0, 1]},
        "probabilities": {k: probs for k in ("val_plain", "val_tta", "test_plain", "test_tta")},
        "seconds": 60.0,
        "train_config": {"epochs": epochs},
        "size": size,
        "device_name": "test CPU",
        "torch": "2.x",
    }


def test_recipe_report_chooses_on_validation_and_keeps_the_preregistration(tmp_path):
    # logit-adjusted wins on validation (0.60) although ce's test numbers are higher
    good_val = {"argmax": 0.60, "prior-corrected": 0.50}
    runs = {
        "hamrec-ce-0": _hamrec("ce", 0, {"argmax": 0.40, "prior-corrected": 0.55},
                               {"argmax": 0.9, "prior-corrected": 0.9}, [[0.8, 0.2], [0.7, 0.3]]),
        "hamrec-logit-adjusted-0": _hamrec("logit-adjusted", 0, good_val,
                                           {"argmax": 0.5, "prior-corrected": 0.4},
                                           [[0.6, 0.4], [0.4, 0.6]]),
        "hamrec-logit-adjusted-1": _hamrec("logit-adjusted", 1, good_val,
                                           {"argmax": 0.7, "prior-corrected": 0.4},
                                           [[0.6, 0.4], [0.45, 0.55]]),
    }  # fmt: skip
    for name, record in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(json.dumps(record))
    # plain and tta tie at 0.600: the registered order takes plain
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "logit-adjusted",
        64,
        8,
        "plain",
        "argmax",
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Pre-registration\n\nfixed text\n\n" + skin_sweep_report.RESULTS_MARK + "\nold\n"
    )
    skin_sweep_report.write_recipe_report(tmp_path, doc)
    skin_sweep_report.write_recipe_report(tmp_path, doc)  # a rerun replaces, never appends
    text = doc.read_text()
    assert text.startswith("# Pre-registration\n\nfixed text\n") and "old" not in text
    assert text.count(skin_sweep_report.RESULTS_MARK) == 1
    assert "**logit-adjusted, 64 px, 8 epochs, plain, argmax** (0.600)" in text
    assert "balanced accuracy 0.600, macro AUC 0.900" in text  # mean of 0.5 and 0.7
    # the 2-seed ensemble averages the probabilities: both test images right
    assert "test balanced accuracy 1.000, macro AUC 1.000" in text
    assert "**not reached** (0.600, 0.150 short)" in text
    # the copies kept in docs/results-data hold no probabilities: the ensemble comes from the
    # summary the report wrote beside the runs, and without it the page says there is none
    summary = json.loads((tmp_path / skin_sweep_report.ENSEMBLES).read_text())
    assert list(summary["ensembles"]) == ["hamrec:logit-adjusted:64:8:plain:argmax"]
    for name, record in runs.items():
        record.pop("probabilities")
        (tmp_path / name / "result.json").write_text(json.dumps(record))
    skin_sweep_report.write_recipe_report(tmp_path, doc)
    assert doc.read_text() == text
    assert json.loads((tmp_path / skin_sweep_report.ENSEMBLES).read_text()) == summary
    (tmp_path / skin_sweep_report.ENSEMBLES).unlink()
    skin_sweep_report.write_recipe_report(tmp_path, doc)
    text = doc.read_text()
    assert "no seed ensemble is scored" in text and "ensemble of this" not in text
    assert "balanced accuracy 0.600, macro AUC 0.900" in text
    assert not (tmp_path / skin_sweep_report.ENSEMBLES).exists()  # copies never write one
    (tmp_path / skin_sweep_report.ENSEMBLES).write_text("[1, 2]")
    with pytest.raises(SystemExit, match=r"ensembles\.json is not an ensemble summary"):
        skin_sweep_report.write_recipe_report(tmp_path, doc)
    (tmp_path / skin_sweep_report.ENSEMBLES).unlink()
    with pytest.raises(SystemExit, match="no hamrec"):
        skin_sweep_report.write_recipe_report(tmp_path / "ce-none", doc)
    with pytest.raises(SystemExit, match=r"missing\.md does not exist: the results go below"):
        skin_sweep_report.write_recipe_report(tmp_path, tmp_path / "missing.md")


def _write_setting(
    folder: Path, val_pc: float, test_pc: float, size, epochs: int, seeds=(0, 1)
) -> None:
    """ce seeds at (size, epochs) with the given prior-corrected balanced accuracies."""
    probs = [[0.8, 0.2], [0.3, 0.7]]
    for s in seeds:
        record = _hamrec(
            "ce",
            s,
            {"argmax": 0.50, "prior-corrected": val_pc},
            {"argmax": 0.5, "prior-corrected": test_pc},
            probs,
            size,
            epochs,
        )
        (folder / f"hamrec-ce-{s}").mkdir(parents=True)
        (folder / f"hamrec-ce-{s}" / "result.json").write_text(json.dumps(record))


def _recipe_page(folder: Path) -> str:
    """The generated part of a recipe page for the runs in ``folder``."""
    doc = folder / "doc.md"
    doc.write_text("# Pre\n\n" + skin_sweep_report.RESULTS_MARK + "\n")
    skin_sweep_report.write_recipe_report(folder, doc)
    return doc.read_text()


def test_recipe_report_compares_settings_of_later_rounds_in_subfolders(tmp_path):
    """Round 2's settings (size, epochs) live in subfolders; the choice spans both rounds, ties
    go to the cheaper setting, and each row names its setting."""
    _write_setting(tmp_path, 0.60, 0.6, 64, 8)
    # 128 px ties with 64 px on validation (0.6004 rounds to 0.600) and is better on test:
    # the tie goes to the cheaper 64 px setting all the same
    _write_setting(tmp_path / "128px-8ep", 0.6004, 0.9, 128, 8)
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "ce", 64, 8, "plain", "prior-corrected"
    )  # fmt: skip
    # a longer schedule that wins on validation is chosen although its test numbers are worse
    _write_setting(tmp_path / "64px-16ep", 0.70, 0.2, 64, 16)
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "ce", 64, 16, "plain", "prior-corrected"
    )  # fmt: skip
    # the stored 200x150 px images (a (height, width) list in result.json) tie with it on
    # validation and cost more pixels x epochs: the tie goes to 64 px, 16 epochs
    _write_setting(tmp_path / "200x150px-8ep", 0.7003, 0.95, [150, 200], 8)
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "ce", 64, 16, "plain", "prior-corrected"
    )  # fmt: skip
    text = _recipe_page(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith(("| ce ", "| **ce** "))]
    # 4 settings x 2 views x 2 rules, cheapest setting first, the stored size last
    assert len(rows) == 16
    # the published row stands below ours, with what makes it a reference only
    published = [line for line in text.splitlines() if line.startswith("| ISIC 2018")]
    assert len(published) == 1 and "| 0.885 |" in published[0]
    assert "not our test split" in text
    assert [r.split(" | ")[1:3] for r in rows[::4]] == [
        ["64", "8"],
        ["64", "16"],
        ["128", "8"],
        ["200x150", "8"],
    ]
    assert "**ce, 64 px, 16 epochs, plain, prior-corrected** (0.700)" in text
    assert "balanced accuracy 0.200, macro AUC 0.900" in text
    assert "image size 64 px, 16 epochs." in text


def test_recipe_report_does_not_choose_a_setting_with_too_few_seeds(tmp_path):
    """A setting cut short at 2 seeds beside settings with 3 is shown, marked, and not chosen,
    however well it does on validation."""

    _write_setting(tmp_path, 0.60, 0.5, 64, 32, seeds=(0, 1, 2))
    _write_setting(tmp_path / "64px-64ep", 0.90, 0.5, 64, 64)
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "ce", 64, 32, "plain", "prior-corrected"
    )  # fmt: skip
    text = _recipe_page(tmp_path)
    short = [line for line in text.splitlines() if line.startswith("| ce | 64 | 64 |")]
    assert len(short) == 4 and all("| 2 (too few) | 0." in line for line in short)
    assert "fewer than 3 seeds (runs cut short) and cannot be chosen" in text
    assert "**ce, 64 px, 32 epochs, plain, prior-corrected** (0.600)" in text
    # once the third seed finishes, the longer schedule wins on validation
    _write_setting(tmp_path / "64px-64ep", 0.90, 0.5, 64, 64, seeds=(2,))
    assert skin_sweep_report.chosen_configuration(tmp_path)[2] == 64
    assert "too few" not in _recipe_page(tmp_path)


def test_derma_seed_ensemble_is_a_candidate_chosen_on_validation(tmp_path: Path) -> None:
    """Each seed gets a different one of three images wrong; the mean of the three networks'
    probabilities gets all right, so the ensemble wins on validation accuracy and is reported."""
    wrong_one = {
        0: [[0.4, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        1: [[1.0, 0.0, 0.0], [0.0, 0.4, 0.6], [0.0, 0.0, 1.0]],
        2: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.0, 0.4]],
    }
    records = []
    for seed, probs in wrong_one.items():
        r = _derma("strong", seed, 2 / 3, 2 / 3)
        r["test_tta"] = {"auc": 0.9, "acc": 2 / 3}
        r["labels"] = {"val": [0, 1, 2], "test": [0, 1, 2]}
        r["probabilities"] = {f"{s}_{v}": probs for s in ("val", "test") for v in ("plain", "tta")}
        records.append(r)
    text = "\n".join(skin_sweep_report.derma_section(records))
    assert "| strong, ensemble of 3 | no | 3 | 1.000 | 1.000 | 1.000 | 3 x 60 s |" in text
    assert "Chosen on validation accuracy: **strong, ensemble of 3**, test-time flips off" in text
    assert "test AUC 1.000, ACC 1.000. Target" in text and "ACC > 0.768: reached" in text
    # the ensemble scores are kept beside the runs; the copies kept in docs/ (no
    # probabilities) give the same rows from that summary, and none without it
    store = skin_sweep_report.Ensembles(tmp_path)
    full = "\n".join(skin_sweep_report.derma_section(records, store))
    store.save()
    for r in records:
        r.pop("probabilities")
    copies = "\n".join(
        skin_sweep_report.derma_section(records, skin_sweep_report.Ensembles(tmp_path))
    )
    assert copies == full == text
    text = "\n".join(skin_sweep_report.derma_section(records))
    assert "ensemble" not in text and "ACC 0.667 (mean of 3 seeds)" in text
    # a summary of other runs (here: seed 2 retrained) is not used
    records[2]["seconds"] += 1
    other = "\n".join(
        skin_sweep_report.derma_section(records, skin_sweep_report.Ensembles(tmp_path))
    )
    assert "ensemble" not in other


def test_recipe_page_is_what_the_committed_copies_give(tmp_path: Path) -> None:
    """docs/results-skin-recipes.md's generated part, rewritten from the hamrec copies in
    docs/results-data/skin-recipes, is the committed page: every candidate's numbers, the choice
    and the seed ensemble (from the summary kept beside the copies, which hold no probabilities)
    come from files in the repository."""
    root = Path(__file__).resolve().parents[2]
    page = root / "docs" / "results-skin-recipes.md"
    doc = tmp_path / "page.md"
    doc.write_text(page.read_text())
    skin_sweep_report.write_recipe_report(root / "docs" / "results-data" / "skin-recipes", doc)
    text = doc.read_text()
    assert "The 3-seed ensemble of this configuration: validation" in text
    assert text == page.read_text()


@pytest.mark.parametrize("setting", ["64px-16ep", "64px-32ep", "64px-64ep"])
def test_recipe_page_curve_tables_are_what_the_committed_copies_give(setting: str) -> None:
    """Each learning-curve table of docs/results-skin-recipes.md (16, 32 and 64 epochs) is, line
    for line, what `--curve-table` makes of the curve and hamrec copies of its setting."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "docs" / "results-data" / "skin-recipes" / setting
    curve = skin_sweep_report._load(folder, "curve")
    full = skin_sweep_report._load(folder, "hamrec")
    assert len(curve) == 9 and len(full) == 3  # 10, 25 and 50% at 3 seeds; 100% at 3 seeds
    lines = skin_sweep_report.recipe_curve_lines(curve, full)
    page = (root / "docs" / "results-skin-recipes.md").read_text()
    assert "\n" + "\n".join(lines) + "\n" in page


def test_skin_page_is_what_the_committed_copies_give(tmp_path: Path) -> None:
    """docs/results-skin.md, rewritten from the copies in docs/results-data/skin-cpu (and their
    notes and ensemble summary), is the committed page, ensemble rows and choice included."""
    root = Path(__file__).resolve().parents[2]
    copies = root / "docs" / "results-data" / "skin-cpu"
    out = tmp_path / "page.md"
    skin_sweep_report.write_report(copies, out, copies / "notes.md")
    text = out.read_text()
    assert "| strong-e30, ensemble of 3 | yes | 3 |" in text
    assert text == (root / "docs" / "results-skin.md").read_text()


def test_prior_tuned_rule_is_scored_chosen_and_ensembled_like_the_fixed_ones(tmp_path):
    """Round 6: the rare class is under-scored, so only a power >= 1.5 finds it; the rule tuned
    on validation does, its cross-fitted validation score wins, and the ensemble uses it."""
    rows = [[0.995, 0.005]] * 4 + [[0.95, 0.05]] * 4  # 4 frequent, then 4 rare images
    labels = [0] * 4 + [1] * 4
    for seed in (0, 1, 2):
        record = _hamrec("ce", seed, {}, {}, rows)
        record["labels"] = {"val": labels, "test": labels}
        record["train_prior"] = [0.9, 0.1]
        for key in record["scores"]:  # the fixed rules, as a run scores them
            pred = [int(p[1] / 0.1 > p[0] / 0.9) for p in rows]
            pc = sum(int(a == b) for a, b in zip(pred, labels, strict=True)) / 8
            record["scores"][key]["balanced_accuracy"] = {"argmax": 0.5, "prior-corrected": pc}
        skin_sweep_report.add_prior_tuned(record)
        assert record["prior_power"]["plain"] == {"power": 1.5, "half_powers": [1.5, 1.5]}
        assert record["scores"]["val_tta"]["balanced_accuracy"]["prior-tuned"] == 1.0
        _write(tmp_path, f"hamrec-ce-{seed}", record)
    assert skin_sweep_report.chosen_configuration(tmp_path) == (
        "ce", 64, 8, "plain", "prior-tuned"
    )  # fmt: skip
    text = _recipe_page(tmp_path)
    assert "| **ce** | 64 | 8 | plain | prior-tuned | 3 | 1.000 |" in text
    assert "| ce | 64 | 8 | plain | prior-corrected | 3 | 0.500 |" in text
    assert "validation balanced accuracy 1.000, test balanced accuracy 1.000" in text


def _curve(fraction: float, seed: int, auc: float, pc: float) -> dict:
    est = lambda v: {"value": v, "ci_low": v - 0.01, "ci_high": v + 0.01}  # noqa: E731
    return {
        "approach": "diagnosis",
        "fraction": fraction,
        "seed": seed,
        "train_images": 700 if fraction < 0.2 else 1750,
        "train_lesions": 515 if fraction < 0.2 else 1294,
        "malignant_auc": est(auc),
        "macro_auc": est(auc + 0.02),
        "balanced_accuracy": {"argmax": est(pc - 0.1), "prior-corrected": est(pc)},
        "seconds": 60.0 + seed,
    }


def test_recipe_curve_table_rows_follow_the_runs() -> None:
    curve = [_curve(0.25, s, 0.83 + s / 100, 0.42) for s in (2, 0, 1)]
    curve += [_curve(0.1, s, 0.78, 0.28) for s in (0, 1)]
    full = [
        _hamrec("ce", s, {"argmax": 0.5, "prior-corrected": 0.6},
                {"argmax": 0.50, "prior-corrected": 0.60 + s / 10}, [[0.5, 0.5]], 64, 16)
        for s in (0, 1)
    ]  # fmt: skip
    lines = skin_sweep_report.recipe_curve_lines(curve, full)
    assert lines[2] == "| 10% (515) | 700 | 2 | 0.780 (sd 0.000) | 0.800 (sd 0.000) | " \
        "0.280 (sd 0.000) | 0.180 (sd 0.000) | 60 |"  # fmt: skip
    assert lines[3].startswith("| 25% (1,294) | 1,750 | 3 | 0.840 (sd 0.010) | 0.860 (sd 0.010) |")
    assert lines[3].endswith("| 61 |")
    assert lines[4] == "| 100% | | 2 | n/a | 0.900 (sd 0.000) | 0.650 (sd 0.071) | " \
        "0.500 (sd 0.000) | 60 |"  # fmt: skip
    assert len(lines) == 5
    # curve runs read through flips take the full runs' flip-averaged scores for the 100% row
    for r in curve:
        r["views"] = "flips"
    for r in full:
        r["scores"]["test_tta"]["macro_auc"] = 0.95
        r["scores"]["test_tta"]["balanced_accuracy"] = {"argmax": 0.55, "prior-corrected": 0.7}
    lines = skin_sweep_report.recipe_curve_lines(curve, full)
    assert lines[4] == "| 100% | | 2 | n/a | 0.950 (sd 0.000) | 0.700 (sd 0.000) | " \
        "0.550 (sd 0.000) | 60 |"  # fmt: skip
    # curve runs that scored the metadata fused in: two more columns, the 100% row's from the
    # full runs' fused scores (n/a until every full run has them)
    for r in curve:
        r["metadata"] = {
            "macro_auc": {"value": r["macro_auc"]["value"] + 0.01},
            "balanced_accuracy": {
                "argmax": {"value": 0.3},
                "prior-corrected": {
                    "value": r["balanced_accuracy"]["prior-corrected"]["value"] + 0.05
                },
            },
        }
    lines = skin_sweep_report.recipe_curve_lines(curve, full)
    assert lines[0].count("with age, sex and site") == 2 and lines[1].count("---") == 10
    assert lines[2] == "| 10% (515) | 700 | 2 | 0.780 (sd 0.000) | 0.800 (sd 0.000) | " \
        "0.280 (sd 0.000) | 0.180 (sd 0.000) | 0.810 (sd 0.000) | 0.330 (sd 0.000) " \
        "| 60 |"  # fmt: skip
    assert lines[4].endswith("| 0.550 (sd 0.000) | n/a | n/a | 60 |")
    for s, r in enumerate(full):
        fused = {"macro_auc": 0.96 + s / 100, "balanced_accuracy": {"prior-corrected": 0.72}}
        r["metadata"] = {"scores": {"test_tta": {"fused": fused}}}
    lines = skin_sweep_report.recipe_curve_lines(curve, full)
    assert lines[4].endswith("| 0.550 (sd 0.000) | 0.965 (sd 0.007) | 0.720 (sd 0.000) | 60 |")
    curve[0]["views"] = "plain"  # one setting per table: mixed views are refused
    with pytest.raises(SystemExit, match="different views"):
        skin_sweep_report.recipe_curve_lines(curve, full)


def test_study_defaults_are_the_recipe_chosen_in_the_committed_runs() -> None:
    """`healthcnn study skin-taxonomy` trains what the last recipe round chose on validation
    (docs/results-data/skin-recipes): loss, size, epochs and test-time views."""
    from healthcnn.studies import skin_taxonomy as st
    from healthcnn.studies._skin_eval import DECISION_RULES

    root = Path(__file__).resolve().parents[2] / "docs" / "results-data" / "skin-recipes"
    loss, size, epochs, views, rule = skin_sweep_report.chosen_configuration(root)
    assert (loss, size, epochs) == (st.DEFAULT_RECIPE, st.DEFAULT_SIZE, st.DEFAULT_EPOCHS)
    assert {"tta": "flips", "plain": "plain"}[views] == st.DEFAULT_VIEWS
    # the study reports both fixed rules; a tuned rule would have to be added to it first
    assert rule in DECISION_RULES


def test_device_line_names_the_resolved_precision_where_runs_recorded_it() -> None:
    old = {"device_name": "CPU A (x86_64), 1 thread(s)", "torch": "2.x"}
    new = {
        "device_name": "CPU A (x86_64, native bf16: none), 1 thread(s)",
        "precision_resolved": "fp32",
        "torch": "2.x",
    }
    assert skin_sweep_report._devices([old]) == "CPU A (x86_64), 1 thread(s) (torch 2.x)"
    assert skin_sweep_report._devices([new, new]) == (
        "CPU A (x86_64, native bf16: none), 1 thread(s) (fp32, torch 2.x)"
    )
    # runs of two machines or precisions are both named, never merged into one
    assert skin_sweep_report._devices([old, new]).count("CPU A") == 2


def _with_metadata(seed: int, image: dict, fused: dict, alone: float) -> dict:
    """A hamrec run with round 11's scores: balanced accuracy per (split, view, rule) of the
    image alone (``image``) and fused (``fused``), and of the metadata alone."""
    record = _hamrec("ce", seed, {}, {}, [[0.5, 0.5]] * 2, epochs=16)
    meta: dict = {}
    for split in ("val", "test"):
        for view in ("plain", "tta"):
            key = f"{split}_{view}"
            record["scores"][key]["balanced_accuracy"] = dict(image[key])
            meta[key] = {"fused": {"balanced_accuracy": dict(fused[key]), "macro_auc": 0.91}}
        meta[f"{split}_metadata"] = {
            "balanced_accuracy": {"argmax": alone - 0.1, "prior-corrected": alone},
            "macro_auc": 0.8,
        }
    record["metadata"] = {
        "model": {"C": 1.0},
        "scores": meta,
        "probabilities": {"val": [[0.7, 0.3], [0.2, 0.8]], "test": [[0.7, 0.3], [0.2, 0.8]]},
    }
    return record


def _grid(value) -> dict:
    """{split_view: {rule: value(split, view, rule)}}."""
    return {
        f"{s}_{v}": {u: value(s, v, u) for u in ("argmax", "prior-corrected")}
        for s in ("val", "test")
        for v in ("plain", "tta")
    }


def _metadata_page(tmp_path: Path, records: list[dict], name: str = "runs") -> str:
    folder = tmp_path / name
    for r in records:
        _write(folder, f"hamrec-ce-{r['seed']}", r)
    doc = tmp_path / "page.md"
    doc.write_text(_METADATA_PAGE)
    skin_sweep_report.write_metadata_report(folder, doc)
    text = doc.read_text()
    assert text.startswith("# plan\n\nregistered text\n\n") and text.endswith("\n## after\n")
    assert "old" not in text and "11b plan" in text
    return text


_METADATA_PAGE = (
    f"# plan\n\nregistered text\n\n{skin_sweep_report.METADATA_MARK}\n\nold\n\n"
    f"{skin_sweep_report.METADATA_END}\n\n## 11b plan\n\n{skin_sweep_report.ENSEMBLE_MARK}\n"
    f"{skin_sweep_report.ENSEMBLE_END}\n\n## after\n"
)


def test_metadata_report_chooses_on_validation_and_pairs_the_seeds(tmp_path: Path) -> None:
    image = _grid(lambda s, v, u: 0.60 if u == "prior-corrected" else 0.50)

    def fused(seed):  # better on validation (prior-corrected, flips), worse on test
        return _grid(
            lambda s, v, u: (
                (0.60 + (0.02 + 0.01 * seed if s == "val" else -0.03))
                if (u, v) == ("prior-corrected", "tta")
                else 0.40
            )
        )

    text = _metadata_page(tmp_path, [_with_metadata(k, image, fused(k), 0.3) for k in range(3)])
    assert "Chosen on mean validation balanced accuracy: **image + metadata, flips, " in text
    assert "prior-corrected** (0.630)" in text  # 0.6 + mean(0.02, 0.03, 0.04)
    assert "balanced accuracy 0.570, macro AUC 0.910" in text  # the choice's test numbers
    # paired: val +0.02/+0.03/+0.04, test -0.03 each, macro AUC 0.91 - 0.9
    assert "| flips | prior-corrected | +0.030 (+0.020, +0.030, +0.040) | -0.030 (-0.030, " in text
    assert "| metadata alone (not a candidate) | - | prior-corrected | 3 | 0.300 | 0.800 |" in text
    assert "Only" not in text

    # a tie on validation (to 3 decimals) goes to the image alone
    same = _grid(lambda s, v, u: 0.6004 if u == "prior-corrected" else 0.40)
    text = _metadata_page(tmp_path, [_with_metadata(k, image, same, 0.3) for k in range(3)], "tie")
    assert "accuracy: **image, plain, prior-corrected** (0.600)" in text


def test_metadata_report_says_when_seeds_are_missing_and_refuses_bad_pages(tmp_path) -> None:
    image = _grid(lambda s, v, u: 0.6)
    text = _metadata_page(tmp_path, [_with_metadata(0, image, image, 0.3)])
    assert "Only 1 seeds finished: with fewer than 3 the round chooses nothing" in text
    doc = tmp_path / "other.md"
    doc.write_text("no marks here\n")
    with pytest.raises(SystemExit, match="must hold the two round-11 marks once each"):
        skin_sweep_report.write_metadata_report(tmp_path / "runs", doc)
    assert doc.read_text() == "no marks here\n"
    without_11b = _METADATA_PAGE.split("\n\n## 11b plan")[0] + "\n"
    doc.write_text(without_11b)
    with pytest.raises(SystemExit, match="must hold the two round-11b marks once each"):
        skin_sweep_report.write_metadata_report(tmp_path / "runs", doc)
    assert doc.read_text() == without_11b
    empty = tmp_path / "empty"
    empty.mkdir()
    page = tmp_path / "page.md"
    with pytest.raises(SystemExit, match="no hamrec run with metadata scores"):
        skin_sweep_report.write_metadata_report(empty, page)


def test_each_metadata_round_writes_between_its_own_marks(tmp_path: Path) -> None:
    """Round 12's results go between round 12's marks and leave round 11's block alone; a round
    that scores no metadata is refused."""
    image = _grid(lambda s, v, u: 0.60 if u == "prior-corrected" else 0.50)
    folder = tmp_path / "runs"
    for k in range(3):
        record = _with_metadata(k, image, image, 0.3)
        record["train_config"]["epochs"] = 32  # round 12's schedule
        _write(folder, f"hamrec-ce-{k}", record)
    marks = skin_sweep_report.metadata_marks(12)
    assert marks[0] == (
        "<!-- round 12 results: generated by scripts/skin_sweep.py --metadata-report -->"
    )
    assert marks[3] == "<!-- end of round 12b results -->"
    page = _METADATA_PAGE + "\n".join(marks) + "\n"
    doc = tmp_path / "page.md"
    doc.write_text(page)
    skin_sweep_report.write_metadata_report(folder, doc, 12)
    text = doc.read_text()
    assert text.startswith(_METADATA_PAGE)  # round 11's blocks as they were
    twelve = text[len(_METADATA_PAGE) :]
    assert (
        "Chosen on mean validation balanced accuracy: **image, plain, prior-corrected**" in twelve
    )
    assert (
        twelve.index(marks[1])
        < twelve.index("Seed ensemble of 3 networks")
        < twelve.index(marks[3])
    )
    with pytest.raises(SystemExit, match=r"round 10 does not score the metadata"):
        skin_sweep_report.write_metadata_report(folder, doc, 10)
    # runs of another round's schedule are refused, the page left as it was
    written = doc.read_text()
    with pytest.raises(SystemExit, match="trained 32 epochs; round 11's trained 16"):
        skin_sweep_report.write_metadata_report(folder, doc, 11)
    assert doc.read_text() == written


def _by_hand_auc(y: list[int], score: list[float]) -> float:
    pos = [v for v, t in zip(score, y, strict=True) if t == 1]
    neg = [v for v, t in zip(score, y, strict=True) if t == 0]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def test_metadata_ensemble_is_the_fused_mean_and_survives_the_docs_copy(tmp_path: Path) -> None:
    """Round 11b: the seeds' flip-averaged probabilities are averaged, then fused once with
    the metadata model's (checked by hand); the copies without probabilities give the same
    page from ensembles.json."""
    import numpy as np

    image = _grid(lambda s, v, u: 0.60 if u == "prior-corrected" else 0.50)
    fused = _grid(lambda s, v, u: 0.70 if (u, v) == ("prior-corrected", "tta") else 0.40)
    labels = [0, 1, 0, 1]
    p_meta = [[0.6, 0.4], [0.5, 0.5], [0.9, 0.1], [0.3, 0.7]]
    seeds = {
        0: [[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.2, 0.8]],
        1: [[0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7]],
        2: [[0.7, 0.3], [0.5, 0.5], [0.6, 0.4], [0.1, 0.9]],
    }
    records = []
    for seed, probs in seeds.items():
        r = _with_metadata(seed, image, fused, 0.3)
        r["labels"] = {"val": labels, "test": labels}
        r["train_prior"] = [0.7, 0.3]
        plain = [[0.5, 0.5]] * 4  # another view: must not be read
        r["probabilities"] = {"val_tta": probs, "test_tta": probs}
        r["probabilities"].update(val_plain=plain, test_plain=plain)
        r["metadata"]["probabilities"] = {"val": p_meta, "test": p_meta}
        records.append(r)
    text = _metadata_page(tmp_path, records)

    mean = np.mean([seeds[k] for k in seeds], axis=0)
    prior = np.array([0.7, 0.3])
    joint = mean * np.array(p_meta) / prior
    want_fused = joint / joint.sum(axis=1, keepdims=True)

    def balanced(p):  # prior-corrected rule, then the mean of the two recalls
        pred = np.argmax(p / prior, axis=1)
        return np.mean([np.mean(pred[np.array(labels) == c] == c) for c in (0, 1)])

    for inputs, p in (("image", mean), ("image + metadata", want_fused)):
        ba, auc = balanced(p), _by_hand_auc(labels, list(p[:, 1]))
        row = f"| {inputs} | {ba:.3f} | {auc:.3f} | {ba:.3f} | {auc:.3f} |"
        assert row in text, (row, text)
    assert "Seed ensemble of 3 networks (seeds 0, 1, 2), flips, prior-corrected:" in text
    diff = balanced(want_fused) - balanced(mean)
    assert f"test balanced accuracy {diff:+.3f}, test macro AUC" in text

    # the copies for docs/results-data hold no probabilities or ids and give the same page
    written = skin_sweep_report.docs_copy(tmp_path / "runs", tmp_path / "copies")
    assert [p.relative_to(tmp_path / "copies").as_posix() for p in written] == [
        *(f"hamrec-ce-{k}/result.json" for k in seeds),
        "ensembles.json",
    ]
    for path in written[:-1]:
        copy = json.loads(path.read_text())
        assert "probabilities" not in copy and "image_ids" not in copy
        assert "probabilities" not in copy["metadata"] and copy["metadata"]["scores"]
    before = (tmp_path / "runs" / "hamrec-ce-0" / "result.json").read_text()
    for inside in (tmp_path / "runs", tmp_path / "runs" / "copies"):
        with pytest.raises(SystemExit, match="would replace or join the full result files"):
            skin_sweep_report.docs_copy(tmp_path / "runs", inside)
    assert (tmp_path / "runs" / "hamrec-ce-0" / "result.json").read_text() == before
    assert not (tmp_path / "runs" / "copies").exists()
    doc = tmp_path / "from-copies.md"
    doc.write_text(_METADATA_PAGE)
    skin_sweep_report.write_metadata_report(tmp_path / "copies", doc)
    assert doc.read_text() == text
    # a stored entry serves only the runs it was computed from
    shorter = tmp_path / "two"
    for r in json.loads(json.dumps(records))[:2]:
        for k in ("probabilities",):
            r.pop(k)
        r["metadata"].pop("probabilities")
        _write(shorter, f"hamrec-ce-{r['seed']}", r)
    (shorter / "ensembles.json").write_text((tmp_path / "copies" / "ensembles.json").read_text())
    doc.write_text(_METADATA_PAGE)
    skin_sweep_report.write_metadata_report(shorter, doc)
    assert "The seed ensemble needs the runs' probabilities" in doc.read_text()


def test_metadata_ensemble_refuses_what_cannot_be_averaged(tmp_path: Path) -> None:
    image = _grid(lambda s, v, u: 0.6)
    records = [_with_metadata(k, image, image, 0.3) for k in range(2)]
    del records[1]["metadata"]["probabilities"]
    with pytest.raises(SystemExit, match=r"seeds \[1\] hold no metadata probabilities"):
        _metadata_page(tmp_path, records)
    records = [_with_metadata(k, image, image, 0.3) for k in range(2)]
    records[1]["labels"] = {"val": [1, 0], "test": [0, 1]}
    with pytest.raises(SystemExit, match="seeds 0 and 1 scored different val images"):
        _metadata_page(tmp_path, records, "labels")
    records = [_with_metadata(k, image, image, 0.3) for k in range(2)]
    records[1]["metadata"]["probabilities"]["test"] = [[0.5, 0.5], [0.2, 0.8]]
    with pytest.raises(SystemExit, match="hold different metadata probabilities on test"):
        _metadata_page(tmp_path, records, "meta")
    records = [_with_metadata(k, image, image, 0.3) for k in range(2)]
    records[1]["train_config"]["epochs"] = 32
    with pytest.raises(SystemExit, match=r"2 settings \(64 px 16 epochs, 64 px 32 epochs\)"):
        _metadata_page(tmp_path, records, "settings")


def test_scores_differ_names_the_first_difference() -> None:
    a = {"val": {"macro_auc": 0.9, "balanced_accuracy": {"argmax": 0.5}}, "n": 3}
    assert skin_sweep_report.scores_differ(a, json.loads(json.dumps(a))) == ""
    b = json.loads(json.dumps(a))
    b["val"]["balanced_accuracy"]["argmax"] = 0.5 + 1e-12  # within the tolerance
    assert skin_sweep_report.scores_differ(a, b) == ""
    b["val"]["macro_auc"] = 0.91
    assert skin_sweep_report.scores_differ(a, b) == "val/macro_auc: 0.9 stored, 0.91 now"
    assert "keys ['n'] in one only" in skin_sweep_report.scores_differ(a, {"val": a["val"]})
    nan = {"x": float("nan")}
    assert skin_sweep_report.scores_differ(nan, {"x": float("nan")}) == ""
    assert skin_sweep_report.scores_differ({"x": "a"}, {"x": "b"}) == "x: 'a' stored, 'b' now"


@pytest.mark.parametrize(
    "round_, setting", [(11, "64px-16ep"), (12, "64px-32ep"), (13, "64px-64ep")]
)
def test_metadata_results_are_what_the_committed_copies_give(tmp_path, round_, setting) -> None:
    """A metadata round's generated blocks of docs/results-skin-recipes.md (the candidates and
    the seed ensemble), rewritten from its copies in docs/results-data/skin-metadata (which hold
    the scores, not the probabilities, and the ensemble's scores), are the committed page."""
    root = Path(__file__).resolve().parents[2]
    page = root / "docs" / "results-skin-recipes.md"
    doc = tmp_path / "page.md"
    doc.write_text(page.read_text())
    copies = root / "docs" / "results-data" / "skin-metadata" / setting
    skin_sweep_report.write_metadata_report(copies, doc, round_)
    text = doc.read_text()
    block = text[text.index(skin_sweep_report.metadata_marks(round_)[0]) :]
    assert "Chosen on mean validation balanced accuracy: **" in block
    assert "Seed ensemble of 3 networks" in block
    assert text == page.read_text()


def _fusion_run(seed: int, n: int = 600) -> tuple[dict, dict]:
    """A hamrec run of 3 classes whose image network is overconfident (its log-probabilities
    times 6) beside a calibrated metadata model, with image ids and their lesions (two images
    per lesion): where a fusion learned on validation should beat the product rule."""
    import numpy as np

    prior = np.array([0.6, 0.25, 0.15])
    rng = np.random.default_rng(100)  # the same images and metadata for every seed
    record = _hamrec("ce", seed, {}, {}, [], epochs=64)
    record["classes"], record["train_prior"] = ["a", "b", "c"], prior.tolist()
    lesions, meta_probs = {}, {}
    for split in ("val", "test"):
        y = np.repeat(rng.choice(3, size=n // 2, p=prior), 2)  # one label per lesion
        ids = [f"{split}{i}" for i in range(n)]
        lesions.update({i: f"{split}-lesion{k // 2}" for k, i in enumerate(ids)})
        posts = []
        for noise in (np.random.default_rng(seed + 7), rng):  # image (per seed), metadata
            seen = np.where(noise.random(n) < 0.55, y, noise.integers(0, 3, n))
            post = np.where(np.arange(3)[None, :] == seen[:, None], 0.55 + 0.45 / 3, 0.45 / 3)
            post = post * prior
            posts.append(post / post.sum(axis=1, keepdims=True))
        sharp = posts[0] ** 6 / (posts[0] ** 6).sum(axis=1, keepdims=True)
        record["labels"][split] = y.tolist()
        record["image_ids"] = {**record.get("image_ids", {}), split: ids}
        for view in ("plain", "tta"):
            record["probabilities"][f"{split}_{view}"] = np.round(sharp, 6).tolist()
        meta_probs[split] = np.round(posts[1], 6).tolist()
    record["metadata"] = {"model": {"C": 1.0}, "scores": {}, "probabilities": meta_probs}
    return record, lesions


_FUSION_PAGE = (
    "# plan\n\nround 15 registered\n\n{}\n\nSTALE\n\n{}\n\n## 15b\n\n{}\n{}\n\n## after\n"
).format(*skin_sweep_report.FUSION_MARKS)


def test_fusion_report_scores_the_learned_fusion_cross_fitted_and_keeps_it_for_the_copies(
    tmp_path: Path,
) -> None:
    import json

    import numpy as np

    from healthcnn.metrics import balanced_accuracy
    from healthcnn.studies._skin_eval import decide
    from healthcnn.studies.skin_metadata import cross_fitted_fusion, fusion_folds

    folder, doc = tmp_path / "runs", tmp_path / "page.md"
    runs = [_fusion_run(seed) for seed in range(3)]
    lesions = runs[0][1]
    for record, _ in runs:
        _write(folder, f"hamrec-ce-{record['seed']}", record)
    (folder / skin_sweep_report.ENSEMBLES).write_text(
        json.dumps({"ensembles": {"metadata:tta:argmax": {"runs": [], "scores": {}}}})
    )
    doc.write_text(_FUSION_PAGE)
    skin_sweep_report.write_fusion_report(folder, doc, lambda: lesions)
    text = doc.read_text()
    assert text.startswith("# plan\n\nround 15 registered\n\n") and text.endswith("\n## after\n")
    assert "STALE" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "| 3 |" in line]
    assert [r.split(" | ")[1] for r in rows] == ["prior-corrected", "argmax"] * 2
    # the learned fusion's validation score, by hand: cross-fitted over 5 folds of lesions
    record = runs[0][0]
    y = np.array(record["labels"]["val"])
    p = np.array(record["probabilities"]["val_tta"])
    m = np.array(record["metadata"]["probabilities"]["val"])
    folds = fusion_folds([lesions[i] for i in record["image_ids"]["val"]], y, 5, 0)
    q = cross_fitted_fusion(p, m, y, folds, 1.0)
    want = balanced_accuracy(y, decide(q, record["train_prior"], "prior-corrected"), ci=None)
    stored = json.loads((folder / skin_sweep_report.ENSEMBLES).read_text())["ensembles"]
    key = skin_sweep_report._fusion_key("seed0")
    got = stored[key]["scores"]["learned:prior-corrected"]["val"]["balanced_accuracy"]
    assert got == pytest.approx(want.value)
    assert "metadata:tta:argmax" in stored  # another report's entry is kept
    # the overconfident image is discounted: the learned fusion ranks better in every seed
    scores = [stored[skin_sweep_report._fusion_key(f"seed{s}")]["scores"] for s in range(3)]
    for sc in scores:
        assert sc["learned:argmax"]["test"]["macro_auc"] > sc["product:argmax"]["test"]["macro_auc"]
    # the choice: the best mean validation balanced accuracy, ties to the registered order
    names = [f"{f}:{u}" for f, u in skin_sweep_report.FUSION_CANDIDATES]
    mean = {n: np.mean([sc[n]["val"]["balanced_accuracy"] for sc in scores]) for n in names}
    fusion, rule = max(names, key=lambda n: (mean[n], -names.index(n))).split(":")
    assert f"Chosen on mean validation balanced accuracy: **{fusion} fusion, {rule}**" in text
    assert "Seed ensemble of 3 networks (seeds 0, 1, 2)" in text
    assert "Only" not in text

    # the copies (no probabilities) give the same page from the stored entries, without
    # reading the lesions; with no entry for these runs they are refused
    copies = tmp_path / "copies"
    skin_sweep_report.docs_copy(folder, copies)
    doc.write_text(_FUSION_PAGE)

    def unread():
        raise AssertionError("the lesions are read only to compute")

    skin_sweep_report.write_fusion_report(copies, doc, unread)
    assert doc.read_text() == text
    (copies / skin_sweep_report.ENSEMBLES).unlink()
    with pytest.raises(SystemExit, match="seed 0: round 15 needs the run's probabilities"):
        skin_sweep_report.write_fusion_report(copies, doc, unread)
    assert doc.read_text() == text  # nothing half-written
    doc.write_text("no marks\n")
    with pytest.raises(SystemExit, match="must hold the two round-15 marks once each"):
        skin_sweep_report.write_fusion_report(folder, doc, lambda: lesions)
    assert doc.read_text() == "no marks\n"


def test_fusion_results_are_what_the_committed_copies_give(tmp_path: Path) -> None:
    """Round 15's generated blocks of docs/results-skin-recipes.md, rewritten from round 13's
    copies in docs/results-data/skin-metadata/64px-64ep (the scores of every candidate per seed
    and of the ensemble are kept in its ensembles.json: the copies hold no probabilities), are
    the committed page; the lesions are not read."""
    root = Path(__file__).resolve().parents[2]
    page = root / "docs" / "results-skin-recipes.md"
    doc = tmp_path / "page.md"
    doc.write_text(page.read_text())
    copies = root / "docs" / "results-data" / "skin-metadata" / "64px-64ep"

    def unread():
        raise AssertionError("the copies' scores are stored: nothing is computed")

    skin_sweep_report.write_fusion_report(copies, doc, unread)
    text = doc.read_text()
    block = text[text.index(skin_sweep_report.FUSION_MARKS[0]) :]
    assert "Chosen on mean validation balanced accuracy: **" in block
    assert "Seed ensemble of 3 networks" in block
    assert text == page.read_text()


def _ham_study(folder: Path, seed: int, fused: dict[str, float] | None, epochs: int = 64) -> None:
    """ham-<seed>: a summary without the fused scores and its study.json with them (as the
    studies summarised before the summary kept them), of a 64 px study of ``epochs``."""
    record = _ham(
        seed,
        {"binary": 0.8, "diagnosis": 0.82, "partition": 0.81},
        {"diagnosis": 0.93, "partition": 0.92},
        0.55 + seed / 100,
    )
    record["study"] = "study.json"
    _write(folder, f"ham-{seed}", record)
    approaches = {
        a: {
            "seven_way_metadata": None
            if fused is None or a == "binary"
            else {
                "macro_auc": _est(fused[a]),
                "balanced_accuracy": _est(0.6),
                "balanced_accuracy_prior_corrected": _est(0.66),
                "accuracy": _est(0.8),
                "mel_vs_nv_auc": _est(0.9),
                "per_class": "not in the table",
            }
        }
        for a in ("binary", "diagnosis", "partition")
    }
    config = {
        "size": 64,
        "out": f"/somewhere/{seed}",
        "device": "cpu",
        "seed": seed,
        "train": {"epochs": epochs, "seed": seed, "precision": ["auto", "fp32"][seed % 2]},
    }
    study = {"config": config, "approaches": approaches}
    (folder / f"ham-{seed}" / "study.json").write_text(json.dumps(study))


def test_approaches_report_writes_every_seed_and_the_fused_answers_between_its_marks(tmp_path):
    """The three-approach study's block of the page: every seed in the table and the paired
    tests, and the 7-way answers with the metadata fused over the seeds whose study scored them
    (read from study.json where the summary lacks them); the rest of the page is kept."""
    runs = tmp_path / "runs"
    _ham_study(runs, 0, None)  # scored before the metadata was
    _ham_study(runs, 1, {"diagnosis": 0.95, "partition": 0.94})
    doc = tmp_path / "page.md"
    mark, end = skin_sweep_report.APPROACHES_MARKS
    doc.write_text(f"# Page\n\nkept above\n\n{mark}\nold\n{end}\n\nkept below\n")
    skin_sweep_report.write_approaches_report(runs, doc)
    text = doc.read_text()
    assert text.startswith("# Page\n\nkept above\n\n" + mark) and "old" not in text
    assert text.endswith(end + "\n\nkept below\n") and "## HAM10000" not in text
    block = text.split(mark)[1].split(end)[0]
    assert "| diagnosis | 7 | 2 | 0.850 (sd 0.000) | 0.930 (sd 0.000) | 0.555 (sd 0.007) |" in block
    assert "(the chosen recipe; the seeds whose study scored them: 1):" in block
    fused = block.split("seeds whose study scored them: 1):")[1]
    assert "| diagnosis | 1 | 0.950 | 0.600 | 0.660 | 0.800 | 0.900 |" in fused
    assert "| partition | 1 | 0.940 |" in fused and "| binary |" not in fused
    assert "- seed 0, 2-way: partition - binary" in block and "- seed 1, 2-way:" in block
    # a study of another schedule is never averaged with these
    _ham_study(runs, 2, None, epochs=32)
    with pytest.raises(SystemExit, match=r"seed 2 .* other settings \(train\)"):
        skin_sweep_report.write_approaches_report(runs, doc)
    assert doc.read_text() == text
    # a page without the marks is refused, not written
    bare = tmp_path / "bare.md"
    bare.write_text("# no marks\n")
    (runs / "ham-2" / "study.json").unlink()
    with pytest.raises(SystemExit, match=r"ham-2/study\.json is missing"):
        skin_sweep_report.write_approaches_report(runs, bare)
    (runs / "ham-2" / "result.json").unlink()
    (runs / "ham-2").rmdir()
    with pytest.raises(SystemExit, match="three-approach marks"):
        skin_sweep_report.write_approaches_report(runs, bare)
    assert bare.read_text() == "# no marks\n"


def test_approaches_block_is_what_the_committed_copies_give(tmp_path: Path) -> None:
    """docs/results-skin-recipes.md's three-approach block at 64 epochs, rewritten from the
    ham copies in docs/results-data/skin-recipes/64px-64ep, is the committed page."""
    root = Path(__file__).resolve().parents[2]
    page = root / "docs" / "results-skin-recipes.md"
    doc = tmp_path / "page.md"
    doc.write_text(page.read_text())
    folder = root / "docs" / "results-data" / "skin-recipes" / "64px-64ep"
    skin_sweep_report.write_approaches_report(folder, doc)
    assert "- seed 0: binary 0.902 (0.885-0.919)" in doc.read_text()
    assert doc.read_text() == page.read_text()
