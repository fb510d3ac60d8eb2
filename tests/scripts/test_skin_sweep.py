"""scripts/skin_sweep.py's DermaMNIST job on the real rebuild (one epoch of a small CNN): what
it stores must be what the report recomputes from the stored probabilities."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import skin_sweep
import skin_sweep_report


@pytest.mark.data
def test_derma_job_stores_the_probabilities_its_scores_come_from(data_root: Path) -> None:
    args = argparse.Namespace(
        data_dir=str(data_root),
        derma_epochs=1,
        derma_model="simple_cnn",
        derma_upsample=None,
        device="cpu",
        lr=1e-3,
        precision="fp32",
    )
    with pytest.warns(UserWarning, match="third-party re-save"):  # the rebuild says what it is
        record = skin_sweep.run_derma("basic", 0, args)
    for split, n in (("val", 1003), ("test", 2005)):
        assert len(record["labels"][split]) == n
        for tag in ("plain", "tta"):
            p = np.asarray(record["probabilities"][f"{split}_{tag}"])
            assert p.shape == (n, 7)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)
            # an "ensemble" of one network is that network: the same accuracy and AUC
            one = skin_sweep_report._derma_ensemble([record], split, tag)
            assert one["acc"] == pytest.approx(record[f"{split}_{tag}"]["acc"])
            assert one["auc"] == pytest.approx(record[f"{split}_{tag}"]["auc"], abs=1e-4)
    # flip averaging changes the probabilities (a real second view, not a copy)
    assert record["probabilities"]["test_plain"] != record["probabilities"]["test_tta"]


def test_curve_table_of_a_folder_without_curve_runs_is_one_clear_error(tmp_path, monkeypatch):
    argv = ["skin_sweep.py", "--curve-table", str(tmp_path), "--out", str(tmp_path / "none")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match=r"no curve-\*/result\.json files under .*none$"):
        skin_sweep.main()


def test_sweep_defaults_are_the_study_recipe(monkeypatch) -> None:
    """Without options a HAM10000 job trains what ``healthcnn study skin-taxonomy`` trains."""
    from healthcnn.studies.skin_taxonomy import DEFAULT_EPOCHS, DEFAULT_SIZE

    seen = []
    monkeypatch.setattr(skin_sweep, "run_one", lambda job, args: seen.append(args))
    monkeypatch.setattr(sys, "argv", ["skin_sweep.py", "--one", "ham:0"])
    assert skin_sweep.main() == 0
    assert (seen[0].size, seen[0].ham_epochs) == (DEFAULT_SIZE, DEFAULT_EPOCHS)
    assert seen[0].curve_fractions == [0.1, 0.25, 0.5]


def test_a_training_job_checkpoints_under_the_study_s_own_settings() -> None:
    """A sweep's training job records the settings a study would for that network (one list
    of them, ``network_settings``): what only changes the scoring (the approaches compared,
    the views scored, the data's folder, the device, the precision's name) may differ when it
    goes on in a later session; what changes the network (size, epochs, seed) may not."""
    from healthcnn.studies._resume import _compared
    from healthcnn.studies.skin_taxonomy import network_settings

    def settings(*more: str) -> dict:
        args = skin_sweep.parse_args(["--size", "64", "--ham-epochs", "64", *more])
        cfg = skin_sweep._ham_config(args, 1, "", "ce")
        return _compared(network_settings(cfg, "hamapp-binary-1-ce"))

    first = settings("--precision", "auto", "--data-dir", "/a", "--device", "cpu")
    later = ["--precision", "fp32", "--data-dir", "/b", "--device", "cuda", "--ham-views", "plain"]
    assert settings(*later, "--ham-approaches", "binary") == first
    for changed in (["--size", "128"], ["--ham-epochs", "32"], ["--lr", "0.01"]):
        assert settings(*changed) != first, changed
    assert (
        _compared(
            network_settings(
                skin_sweep._ham_config(
                    skin_sweep.parse_args(["--size", "64", "--ham-epochs", "64"]), 2, "", "ce"
                ),
                "hamapp-binary-1-ce",
            )
        )
        != first
    )  # another seed


def test_size_reaches_each_job_in_its_command_line_form(monkeypatch) -> None:
    """The sweep hands ``--size`` on to its job processes: 'stored' and 64 survive the trip."""
    seen = []
    monkeypatch.setattr(skin_sweep, "run_one", lambda job, args: seen.append(args))
    for given, size, passed in (("stored", (150, 200), "200x150"), ("64", 64, "64")):
        monkeypatch.setattr(sys, "argv", ["skin_sweep.py", "--one", "hamrec:ce:0", "--size", given])
        assert skin_sweep.main() == 0
        assert seen[-1].size == size
        forwarded = skin_sweep._passthrough(seen[-1])
        assert forwarded[forwarded.index("--size") + 1] == passed
        monkeypatch.setattr(sys, "argv", ["skin_sweep.py", "--one", "hamrec:ce:0", *forwarded])
        assert skin_sweep.main() == 0 and seen[-1].size == size


@pytest.mark.data
def test_hamrec_job_scores_the_tuned_rule_from_the_probabilities_it_stores(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """A quick 7-way recipe job on the real HAM10000 images: its prior-tuned numbers are what
    scoring its stored probabilities again gives, so a copy can be rescored from the repository."""
    import copy
    import json

    argv = ["skin_sweep.py", "--one", "hamrec:ce:0", "--quick", "--threads", "1"]
    argv += ["--out", str(tmp_path), "--data-dir", str(data_root)]
    monkeypatch.setattr(sys, "argv", argv)
    assert skin_sweep.main() == 0
    record = json.loads((tmp_path / "hamrec-ce-0" / "result.json").read_text())
    # the record says what --precision auto ran as on this machine, beside the setting itself
    from healthcnn.inference.precision import cpu_has_native_bf16

    assert record["precision_resolved"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert "native bf16: " in record["device_name"]
    for key, scores in record["scores"].items():
        assert set(scores["balanced_accuracy"]) == {"argmax", "prior-corrected", "prior-tuned"}
        assert 0 <= scores["balanced_accuracy"]["prior-tuned"] <= 1, key
    again = skin_sweep_report.add_prior_tuned(copy.deepcopy(record))
    assert again["scores"] == record["scores"] and again["prior_power"] == record["prior_power"]
    from healthcnn.studies import _skin_eval

    assert {v["power"] for v in record["prior_power"].values()} <= set(_skin_eval.PRIOR_POWERS)
    # cross-check: the power rule at 0 and 1 on the stored probabilities gives the balanced
    # accuracies the study's code stored for argmax and prior-corrected
    for split in ("val", "test"):
        for view in ("plain", "tta"):
            p = record["probabilities"][f"{split}_{view}"]
            stored = record["scores"][f"{split}_{view}"]["balanced_accuracy"]
            for power, rule in ((0, "argmax"), (1, "prior-corrected")):
                pred = _skin_eval.decide_power(p, record["train_prior"], power)
                balanced = _skin_eval._balanced(record["labels"][split], pred)
                assert balanced == pytest.approx(stored[rule], abs=1e-12)
    # round 11: the metadata scores, and the same scores when added after the fact from the
    # stored probabilities and the metadata file (what --add-metadata does to older runs)
    scores = record["metadata"]["scores"]
    kinds = ("metadata", "plain", "tta")
    assert set(scores) == {f"{s}_{v}" for s in ("val", "test") for v in kinds}
    for key, value in scores.items():
        got = value if key.endswith("metadata") else value["fused"]
        assert set(got["balanced_accuracy"]) == {"argmax", "prior-corrected"}, key
        assert 0 < got["macro_auc"] <= 1, key
    path = tmp_path / "hamrec-ce-0" / "result.json"
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "metadata"}))
    monkeypatch.setattr(sys, "argv", [*argv[:1], "--add-metadata", *argv[6:], "--quick"])
    assert skin_sweep.main() == 0
    rescored = json.loads(path.read_text())
    assert rescored["metadata"]["model"] == record["metadata"]["model"]
    assert rescored["metadata"]["scores"] == record["metadata"]["scores"]  # same fit, same data
    assert rescored["metadata"]["probabilities"] == record["metadata"]["probabilities"]
    # a run scored before the metadata probabilities were kept gets them, its scores unchanged
    older = copy.deepcopy(record)
    del older["metadata"]["probabilities"]
    path.write_text(json.dumps(older))
    assert skin_sweep.main() == 0
    assert json.loads(path.read_text())["metadata"] == record["metadata"]
    # ... unless its stored scores are not what rescoring gives: refused, left as it was
    older["metadata"]["scores"]["test_tta"]["fused"]["macro_auc"] += 0.01
    path.write_text(json.dumps(older))
    with pytest.raises(SystemExit, match="stored metadata scores are not what rescoring gives"):
        skin_sweep.main()
    assert json.loads(path.read_text()) == older
    # a run whose images are not the split made again is refused, its file left as it was
    wrong = dict(record, image_ids={**record["image_ids"], "val": record["image_ids"]["val"][1:]})
    del wrong["metadata"]
    path.write_text(json.dumps(wrong))
    with pytest.raises(SystemExit, match="its val images are not those of the split made here"):
        skin_sweep.main()
    assert json.loads(path.read_text()) == wrong
    path.write_text(json.dumps({k: v for k, v in wrong.items() if k != "image_ids"}))
    with pytest.raises(SystemExit, match="does not record its images' ids"):
        skin_sweep.main()


@pytest.mark.data
def test_ham_job_scores_an_approach_trained_apart_and_refuses_other_settings(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """``hamapp:binary:0`` trains the binary approach in a process of its own; ``ham:0`` then
    scores it instead of training it again, and refuses a stored run of other settings."""
    import json

    common = ["--quick", "--threads", "1", "--out", str(tmp_path), "--data-dir", str(data_root)]
    for job in ("hamapp:binary:0", "ham:0"):
        monkeypatch.setattr(sys, "argv", ["skin_sweep.py", "--one", job, *common])
        assert skin_sweep.main() == 0
    apart = json.loads((tmp_path / "hamapp-binary-0-ce" / "result.json").read_text())
    study = json.loads((tmp_path / "ham-0" / "result.json").read_text())
    assert study["trained_apart"] == ["binary"]
    assert 0 < study["summary"]["binary"]["two_way_auc"]["value"] < 1
    assert apart["run"]["classes"] == ["benign", "malignant"]
    written = json.loads((tmp_path / "ham-0" / "study.json").read_text())
    sizes = written["data"]
    assert len(apart["run"]["test"]) == sizes["test"]["images"]
    # the sweep's studies score the metadata fusion beside the image alone (7-way approaches)
    for approach, ev in written["approaches"].items():
        fused = ev.get("seven_way_metadata")
        assert (fused is None) == (approach == "binary"), approach
        if fused:
            assert 0 < fused["macro_auc"]["value"] <= 1
        # the summary keeps them beside the image alone's, for the approaches report
        kept = study["summary"][approach]["seven_way_metadata"]
        assert kept == (fused and {k: fused[k] for k in skin_sweep_report.SEVEN_WAY_KEYS})
    # the docs copy keeps the study whole and the approach without its probabilities
    copies = tmp_path.parent / f"{tmp_path.name}-copies"
    copied = skin_sweep_report.docs_copy(tmp_path, copies)
    assert {p.relative_to(copies).as_posix() for p in copied} == {
        "hamapp-binary-0-ce/result.json",
        "ham-0/result.json",
        "ham-0/study.json",
    }
    result = "ham-0/result.json"
    assert (copies / result).read_text() == (tmp_path / result).read_text()
    # the study whole, but for the machine's folders (a reader's are others)
    kept = json.loads((copies / "ham-0" / "study.json").read_text())
    assert kept["config"]["out"] == "ham-0" and kept["config"]["data_dir"] is None
    assert str(tmp_path) not in json.dumps(kept) and str(data_root) not in json.dumps(kept)
    for whole in (kept, written):
        del whole["config"]["out"], whole["config"]["data_dir"]
    assert kept == written
    copy = json.loads((copies / "hamapp-binary-0-ce" / "result.json").read_text())
    assert copy["study_config"]["data_dir"] is None and copy["study_config"]["out"] == ""
    assert copy["run"]["test_rows"] == len(apart["run"]["test"]) and "test" not in copy["run"]
    assert copy["run"]["val_rows"] == len(apart["run"]["val"]) and "val" not in copy["run"]
    assert copy["note"] == skin_sweep_report.HAMAPP_NOTE
    for record in (copy, apart):
        record["study_config"] = {
            k: v for k, v in record["study_config"].items() if k not in ("out", "data_dir")
        }
    assert {k: v for k, v in copy.items() if k not in ("run", "note")} == {
        k: v for k, v in apart.items() if k != "run"
    }
    # a study in a later session, with the data in another folder, scores the stored run
    moved = tmp_path / "moved-data"
    moved.symlink_to(data_root, target_is_directory=True)
    later = [*common[:-1], str(moved)]
    monkeypatch.setattr(sys, "argv", ["skin_sweep.py", "--one", "ham:0", *later])
    assert skin_sweep.main() == 0
    again = json.loads((tmp_path / "ham-0" / "result.json").read_text())
    assert again["trained_apart"] == ["binary"]
    binary = again["summary"]["binary"]["two_way_auc"]
    assert binary == study["summary"]["binary"]["two_way_auc"]  # the stored run, scored again
    # other settings: a run stored for 2 epochs is refused by a 1-epoch study
    apart["study_config"]["train"]["epochs"] = 2
    folder = tmp_path / "hamapp-binary-0-ce"
    (folder / "result.json").write_text(json.dumps(apart))
    argv = ["skin_sweep.py", "--one", "ham:0", *common]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match=r"other settings \(train\) than this study's"):
        skin_sweep.main()


@pytest.mark.data
def test_ham_job_of_two_approaches_scored_from_runs_apart_is_the_study_trained_at_once(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """``--ham-approaches`` names the approaches a study compares: scored from runs trained
    apart (stored by jobs that named all three), it is the study of those two trained in one
    process, and the missing approach is neither trained nor reported."""
    import json

    common = ["--quick", "--threads", "1", "--data-dir", str(data_root)]
    two = ["--ham-approaches", "diagnosis", "binary"]  # any order: the study's order is kept

    def run(job: str, out: Path, *extra: str) -> None:
        argv = ["skin_sweep.py", "--one", job, "--out", str(out), *common, *extra]
        monkeypatch.setattr(sys, "argv", argv)
        assert skin_sweep.main() == 0

    apart, once = tmp_path / "apart", tmp_path / "once"
    run("hamapp:binary:0", apart)
    run("hamapp:diagnosis:0", apart)
    run("ham:0", apart, *two)
    run("ham:0", once, *two)
    a = json.loads((apart / "ham-0" / "result.json").read_text())
    b = json.loads((once / "ham-0" / "result.json").read_text())
    assert a["trained_apart"] == ["binary", "diagnosis"] and b["trained_apart"] == []
    assert sorted(a["summary"]) == ["binary", "diagnosis"]
    for approach in ("binary", "diagnosis"):
        del a["summary"][approach]["seconds"], b["summary"][approach]["seconds"]
    assert a["summary"] == b["summary"]
    assert a["comparisons"] == b["comparisons"]
    assert [(c["a"], c["b"]) for c in a["comparisons"]] == [("binary", "diagnosis")] * len(
        a["comparisons"]
    )
    study = json.loads((apart / "ham-0" / "study.json").read_text())
    assert study["config"]["approaches"] == ["binary", "diagnosis"]
    assert not (apart / "hamapp-partition-0-ce").exists()


def test_apart_sweep_trains_each_approach_first_and_counts_its_failures(tmp_path, monkeypatch):
    """``--apart`` runs the three approaches of every seed as jobs of their own before the
    studies that score them; a failed approach run counts in the sweep's exit code and record."""
    import json

    import healthcnn.data.ham10000 as ham10000

    monkeypatch.setattr(ham10000, "load_ham10000", lambda *a, **k: None)  # no decoding here
    calls = []

    def fake_run_jobs(jobs, args, deadline):
        calls.append(list(jobs))
        return (1, 0) if jobs[0].startswith("hamapp:") else (0, 0)

    monkeypatch.setattr(skin_sweep, "_run_jobs", fake_run_jobs)
    argv = ["skin_sweep.py", "--apart", "--seeds", "0", "1", "--out", str(tmp_path)]
    argv += ["--derma-recipes", "strong", "--no-curve"]
    monkeypatch.setattr(sys, "argv", argv)
    assert skin_sweep.main() == 1
    assert calls[0] == [f"hamapp:{a}:{s}:ce" for s in (0, 1) for a in skin_sweep.APPROACHES]
    assert calls[1] == ["ham:0", "ham:1", "derma:strong:0", "derma:strong:1"]
    assert json.loads((tmp_path / "sweep.json").read_text())["failed_runs"] == 1
    # with --ham-approaches, only those are trained, and the studies' processes are told so
    calls.clear()
    passed = []

    def record_run_jobs(jobs, args, deadline):
        calls.append(list(jobs))
        passed.append(skin_sweep._passthrough(args))
        return 0, 0

    monkeypatch.setattr(skin_sweep, "_run_jobs", record_run_jobs)
    monkeypatch.setattr(sys, "argv", [*argv, "--ham-approaches", "binary", "diagnosis"])
    assert skin_sweep.main() == 0
    assert calls[0] == [f"hamapp:{a}:{s}:ce" for s in (0, 1) for a in ("binary", "diagnosis")]
    flag = passed[1].index("--ham-approaches")
    assert passed[1][flag + 1 : flag + 3] == ["binary", "diagnosis"]


def _stopped_after_one_epoch(monkeypatch, argv: list[str]) -> None:
    """Run the sweep's job of ``argv`` and stop its training after the first epoch (as a time
    limit, a crash or the machine's end would stop it); sys.argv stays ``argv``."""
    from healthcnn.studies import _resume, skin_taxonomy
    from healthcnn.training import TrainingInterrupted
    from interrupting import stop_nth_fit

    # a checkpoint every epoch, as on a CPU where an epoch is longer than the interval
    monkeypatch.setattr(_resume, "CHECKPOINT_EVERY_S", 0.0)
    with monkeypatch.context() as patch:
        stop_nth_fit(patch, skin_taxonomy, nth=1)
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(TrainingInterrupted):
            skin_sweep.main()


@pytest.mark.data
def test_hamrec_job_stopped_part_way_goes_on_with_resume_to_the_same_network(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """A hamrec job stopped after its first epoch (as a time limit, a crash or the machine's
    end stops it) keeps its checkpoint; a rerun without --resume is refused rather than
    overwriting it, and --resume ends with what an uninterrupted run gives, bit for bit; a
    sweep with --resume keeps the runs it finished and refuses one of other settings."""
    import json

    def argv(out: Path, *more: str) -> list[str]:
        base = ["skin_sweep.py", "--ham-recipes", "ce", "--seeds", "0", "--threads", "1"]
        base += ["--ham-model", "simple_cnn", "--size", "32", "--subsample", "900"]
        return [*base, "--ham-epochs", "2", "--out", str(out), "--data-dir", str(data_root), *more]

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    monkeypatch.setattr(sys, "argv", argv(whole, "--one", "hamrec:ce:0"))
    assert skin_sweep.main() == 0
    reference = json.loads((whole / "hamrec-ce-0" / "result.json").read_text())
    assert "resumed_after_epoch" not in reference

    _stopped_after_one_epoch(monkeypatch, argv(parts, "--one", "hamrec:ce:0"))
    job = parts / "hamrec-ce-0"
    assert not (job / "result.json").exists()
    assert json.loads((job / "train" / "checkpoint.json").read_text())["epoch"] == 1
    kept = (job / "train" / "checkpoint.json").read_bytes()
    with pytest.raises(SystemExit, match="holds the checkpoint of an earlier run: pass --resume"):
        skin_sweep.main()
    assert (job / "train" / "checkpoint.json").read_bytes() == kept  # nothing overwritten
    # other images than the checkpoint's: refused, whatever --resume says
    monkeypatch.setattr(
        sys, "argv", [*argv(parts, "--one", "hamrec:ce:0", "--resume"), "--size", "28"]
    )
    with pytest.raises(SystemExit, match=r"cannot resume .*other settings \(size\)"):
        skin_sweep.main()
    monkeypatch.setattr(sys, "argv", argv(parts, "--one", "hamrec:ce:0", "--resume"))
    assert skin_sweep.main() == 0
    resumed = json.loads((job / "result.json").read_text())
    assert resumed["resumed_after_epoch"] == 1
    assert resumed["probabilities"] == reference["probabilities"]
    assert resumed["scores"] == reference["scores"]
    assert resumed["best_epoch"] == reference["best_epoch"]
    assert resumed["seconds"] > 0
    assert sorted(p.name for p in job.iterdir()) == ["result.json"]  # the checkpoint is gone
    # the sweep with --resume keeps the finished run (no job is started)...
    monkeypatch.setattr(sys, "argv", argv(parts, "--resume"))
    assert skin_sweep.main() == 0
    assert json.loads((job / "result.json").read_text()) == resumed
    assert json.loads((parts / "sweep.json").read_text())["unfinished_runs"] == 0
    # ...and refuses one finished with other settings instead of keeping or replacing it
    monkeypatch.setattr(sys, "argv", [*argv(parts, "--resume"), "--lr", "0.01"])
    with pytest.raises(SystemExit, match=r"holds a finished run whose settings \(train_config\)"):
        skin_sweep.main()
    assert json.loads((job / "result.json").read_text()) == resumed


@pytest.mark.data
@pytest.mark.parametrize("job", ["hamapp:binary:0", "curve:diagnosis:0.5:0"])
def test_approach_and_curve_jobs_stopped_part_way_go_on_to_the_same_result(
    job: str, data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """The study's other training jobs resume too: an approach trained apart and a
    learning-curve point stopped after their first epoch end, with --resume, where an
    uninterrupted run ends; a sweep with --resume keeps them, or refuses them when its
    training settings differ."""
    import json

    def argv(out: Path, *more: str) -> list[str]:
        base = ["skin_sweep.py", "--threads", "1", "--ham-model", "simple_cnn", "--size", "32"]
        base += ["--subsample", "900", "--ham-epochs", "2", "--seeds", "0"]
        return [*base, "--out", str(out), "--data-dir", str(data_root), *more]

    folder = job.replace(":", "-") + ("-ce" if job.startswith("hamapp") else "")

    def result(out: Path) -> dict:
        record = json.loads((out / folder / "result.json").read_text())
        timing = ("seconds", "wall_seconds", "resumed_after_epoch", "job")
        if "run" in record:
            record["run"] = {k: v for k, v in record["run"].items() if k not in timing}
        return {k: v for k, v in record.items() if k not in timing}

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    monkeypatch.setattr(sys, "argv", argv(whole, "--one", job))
    assert skin_sweep.main() == 0

    _stopped_after_one_epoch(monkeypatch, argv(parts, "--one", job))
    with pytest.raises(SystemExit, match="holds the checkpoint of an earlier run"):
        skin_sweep.main()
    monkeypatch.setattr(sys, "argv", argv(parts, "--one", job, "--resume"))
    assert skin_sweep.main() == 0
    stored = json.loads((parts / folder / "result.json").read_text())
    assert stored.get("run", stored)["resumed_after_epoch"] == 1
    assert result(parts) == result(whole)
    # what a sweep with --resume does with the finished run
    assert skin_sweep._finished(job, skin_sweep.parse_args(argv(parts, "--resume")[1:]))
    other = skin_sweep.parse_args(argv(parts, "--resume", "--lr", "0.01")[1:])
    differ = "train" if job.startswith("hamapp") else "train_config"  # as each record keeps it
    with pytest.raises(SystemExit, match=rf"holds a finished run whose settings \({differ}\)"):
        skin_sweep._finished(job, other)


@pytest.mark.data
def test_curve_job_keeps_what_scoring_its_network_again_needs(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """A learning-curve run keeps its network's 7-way probabilities of the validation and test
    images, their labels and ids, and its subset's training prior and images: from those alone
    its stored scores come out again, the metadata fusion included (the metadata model refitted
    on the subset's training images), so a later way of scoring needs no training; the copies
    for docs/ drop the probabilities and ids."""
    import json

    import numpy as np

    from healthcnn.data.ham10000 import FOLDER, METADATA_FILE, read_metadata
    from healthcnn.metrics import balanced_accuracy, roc_auc
    from healthcnn.studies._skin_eval import decide
    from healthcnn.studies.skin_metadata import _by_id, fit_metadata_model, fuse, metadata_features

    argv = ["skin_sweep.py", "--quick", "--threads", "1", "--out", str(tmp_path / "runs")]
    argv += ["--data-dir", str(data_root), "--one", "curve:diagnosis:0.5:0"]
    monkeypatch.setattr(sys, "argv", argv)
    assert skin_sweep.main() == 0
    record = json.loads((tmp_path / "runs" / "curve-diagnosis-0.5-0" / "result.json").read_text())
    assert record["views"] == "flips" and set(record["probabilities"]) == {"val_tta", "test_tta"}
    assert record["train_images"] == len(record["train_image_ids"])
    y = np.array(record["labels"]["test"])
    p = np.array(record["probabilities"]["test_tta"])
    assert len(y) == len(p) == len(record["image_ids"]["test"])
    prior = record["train_prior"]
    assert roc_auc(y, p, ci=None).value == pytest.approx(record["macro_auc"]["value"], abs=1e-12)
    ba = balanced_accuracy(y, decide(p, prior, "prior-corrected"), ci=None).value
    assert ba == pytest.approx(record["balanced_accuracy"]["prior-corrected"]["value"])
    meta = read_metadata(data_root / FOLDER / METADATA_FILE)
    train_meta = _by_id(meta, record["train_image_ids"])
    train_meta["dx"] = [meta["dx"][list(meta["image_id"]).index(i)] for i in train_meta["image_id"]]
    model = fit_metadata_model(train_meta, record["classes"])
    q = fuse(
        p, model.predict_proba(metadata_features(_by_id(meta, record["image_ids"]["test"]))), prior
    )
    fused = record["metadata"]
    assert roc_auc(y, q, ci=None).value == pytest.approx(fused["macro_auc"]["value"], abs=1e-9)
    ba = balanced_accuracy(y, decide(q, prior, "prior-corrected"), ci=None).value
    assert ba == pytest.approx(fused["balanced_accuracy"]["prior-corrected"]["value"])
    copies = skin_sweep_report.docs_copy(tmp_path / "runs", tmp_path / "copies")
    copy = json.loads(copies[0].read_text())
    assert not {"probabilities", "image_ids", "train_image_ids"} & set(copy)
    assert copy["metadata"] == record["metadata"] and copy["macro_auc"] == record["macro_auc"]
