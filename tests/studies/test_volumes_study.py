"""The AdrenalMNIST3D study: its three networks (registered models), slice datasets, inflation,
metrics, summaries, config checks, and one short end-to-end run on the real 64^3 file.
The 2.5D model itself is tested in tests/models/test_slices.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data import ArrayDataset
from healthcnn.models import create_model
from healthcnn.studies.volumes import (
    VolumeStudyConfig,
    axial_slice_dataset,
    build_model,
    model_spec,
    run_adrenal3d,
    score_test,
    summarise,
    training_precisions,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_inflated3d_is_resnet18_with_inflated_2d_weights() -> None:
    torch.manual_seed(0)
    model_2d = create_model("resnet18", spatial_dims=2, in_channels=1, num_classes=1)
    with torch.no_grad():
        model_2d.bn1.running_mean.fill_(0.25)  # a buffer, to see buffers load too
    cfg = VolumeStudyConfig(stem="imagenet")
    model_3d = build_model("inflated3d", cfg, model_2d.state_dict())
    w2, w3 = model_2d.conv1.weight, model_3d.conv1.weight
    assert w3.shape == (64, 1, 7, 7, 7)
    # I3D: the 2D kernel repeated over depth and divided by its length, so summing over depth
    # gives the 2D kernel back
    torch.testing.assert_close(w3.sum(dim=2), w2)
    torch.testing.assert_close(model_3d.fc.weight, model_2d.fc.weight)
    assert torch.all(model_3d.bn1.running_mean == 0.25)
    assert model_3d(torch.randn(2, 1, 16, 16, 16)).shape == (2, 1)
    with pytest.raises(ValueError, match="state_2d"):
        build_model("inflated3d", cfg)


def test_each_approach_is_a_registered_model() -> None:
    cfg = VolumeStudyConfig(view="axial", num_slices=2, stem="small")
    assert model_spec("scratch3d", cfg) == ("resnet18", {"stem": "small"})
    name, options = model_spec("slices25d", cfg)
    assert name == "slices25d"
    model = build_model("slices25d", cfg)
    assert (model.view, model.num_slices, model.spatial_dims) == ("axial", 2, 3)
    assert type(model) is type(create_model(name, spatial_dims=3, **options))
    with pytest.raises(ValueError, match="approach"):
        model_spec("vit", cfg)


def _tiny_volumes(n: int = 6, size: int = 8) -> ArrayDataset:
    return ArrayDataset(
        images=torch.randint(0, 256, (n, 1, size, size, size), dtype=torch.uint8),
        labels=torch.tensor([0, 1] * (n // 2)),
        classes=["normal", "hyperplasia"],
        ids=[f"test:{i}" for i in range(n)],
    )


def test_axial_slice_dataset_labels_every_slice_with_its_volume() -> None:
    ds = _tiny_volumes()
    slices = axial_slice_dataset(ds, 2)
    assert slices.images.shape == (12, 1, 8, 8)
    assert slices.labels.tolist() == [0, 0, 1, 1] * 3
    assert slices.groups[:4] == ["test:0", "test:0", "test:1", "test:1"]
    assert torch.equal(slices.images[1, 0], ds.images[0, 0, 6])  # second slice of volume 0


def test_score_test_hand_case() -> None:
    labels = np.array([0, 1, 1, 0])
    scores = np.array([0.2, 0.7, 0.4, 0.6])
    out = score_test(labels, scores)
    # positives 0.7 and 0.4 beat negative 0.2 both, 0.6 once: 3 of 4 pairs
    assert out["auc"]["value"] == pytest.approx(0.75) and out["auc"]["method"] == "delong"
    assert out["accuracy"]["value"] == pytest.approx(0.5) and out["accuracy"]["method"] == "wilson"
    assert out["accuracy"]["ci_low"] < 0.5 < out["accuracy"]["ci_high"]
    # predicted positive: 0.7 and 0.6 -> one of two positives, one of two negatives right
    assert out["sensitivity"]["value"] == pytest.approx(0.5) and out["sensitivity"]["n"] == 2
    assert out["specificity"]["value"] == pytest.approx(0.5) and out["specificity"]["n"] == 2
    assert out["threshold"] == 0.5
    # at 0.4 the positive 0.4 is called too (>= threshold): both positives, one negative right
    low = score_test(labels, scores, 0.4)
    assert low["threshold"] == 0.4 and low["accuracy"]["value"] == pytest.approx(0.75)
    assert low["sensitivity"]["value"] == 1.0 and low["auc"] == out["auc"]


def test_summarise_means_sds_and_paired_tests() -> None:
    labels = np.array([0, 1, 1, 0])

    def run(approach: str, seed: int, auc: float, acc: float, scores: list[float]) -> dict:
        return {
            "approach": approach,
            "seed": seed,
            "val_auc": auc,
            "seconds": 10.0,
            "test": {"auc": {"value": auc}, "accuracy": {"value": acc}},
            "test_at_val_threshold": {"accuracy": {"value": acc + 0.1}, "threshold": 0.4},
            "test_scores": scores,
        }

    runs = [
        run("scratch3d", 0, 0.8, 0.75, [0.1, 0.9, 0.8, 0.2]),
        run("scratch3d", 1, 0.6, 0.25, [0.2, 0.7, 0.4, 0.6]),
        run("slices25d", 0, 0.7, 0.5, [0.3, 0.6, 0.5, 0.4]),
    ]
    out = summarise(runs, labels)
    s = out["approaches"]["scratch3d"]
    assert s["test_auc"]["mean"] == pytest.approx(0.7)
    assert s["test_auc"]["sd"] == pytest.approx(math.sqrt(0.02))  # sample SD of 0.8, 0.6
    assert s["test_accuracy"]["mean"] == pytest.approx(0.5) and s["seeds"] == [0, 1]
    assert s["test_accuracy_val_threshold"]["mean"] == pytest.approx(0.6)
    assert s["val_threshold"]["mean"] == pytest.approx(0.4)
    assert math.isnan(out["approaches"]["slices25d"]["test_auc"]["sd"])
    (test,) = out["paired_delong"]  # only seed 0 has both approaches
    assert (test["a"], test["b"], test["seed"]) == ("scratch3d", "slices25d", 0)
    assert test["difference"] == pytest.approx(test["auc_a"]["value"] - test["auc_b"]["value"])


def test_config_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="approaches"):
        VolumeStudyConfig(approaches=("vit",))
    with pytest.raises(ValueError, match="size"):
        VolumeStudyConfig(size=4)
    with pytest.raises(ValueError, match="seeds"):
        VolumeStudyConfig(seeds=())
    with pytest.raises(ValueError, match="epochs"):
        VolumeStudyConfig(epochs=0)
    with pytest.raises(ValueError, match="view"):
        VolumeStudyConfig(view="oblique")


@pytest.mark.data
def test_inflated_pipeline_end_to_end_on_real_volumes(
    data_root: Path,
    tmp_path: Path,
    strict_json,
    fake_flags,
) -> None:
    # as on a CPU with native bf16 (whatever this one has): `auto` is then bf16 for the 2D
    # slice pretraining and fp32 for the 3D network (the Trainer's 3D rule), and the record
    # must say so per network rather than one resolve of the config
    fake_flags("avx512_bf16")
    cfg = VolumeStudyConfig(
        size=16,
        seeds=(0,),
        approaches=("inflated3d",),
        epochs=1,
        batch_size=4,
        pretrain_epochs=1,
        pretrain_slices=2,
        pretrain_batch_size=8,
        limit=4,
    )
    lines: list[str] = []
    result = run_adrenal3d(cfg, data_dir=str(data_root), out=tmp_path, progress=lines.append)
    saved = strict_json((tmp_path / "results.json").read_text())
    assert saved["data"]["splits"] == {"train": 8, "val": 8, "test": 8}
    assert saved["data"]["positives"] == {"train": 4, "val": 4, "test": 4}
    assert saved["data"]["file_size"] == 64 and saved["data"]["resampled_to"] == 16
    (run,) = saved["runs"]
    assert run["pretrain_2d"]["train_slices"] == 16  # 8 volumes x 2 axial slices
    assert len(run["test_scores"]) == 8 and all(0 <= s <= 1 for s in run["test_scores"])
    assert run["test"]["auc"]["method"] == "delong" and run["test"]["auc"]["n"] == 8
    # the reported metrics, recomputed independently from the saved scores and labels
    skm = pytest.importorskip("sklearn.metrics")
    labels, scores = np.array(saved["test_labels"]), np.array(run["test_scores"])
    assert run["test"]["auc"]["value"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-6)
    accuracy = float(np.mean((scores >= 0.5) == (labels == 1)))
    assert run["test"]["accuracy"]["value"] == pytest.approx(accuracy, abs=1e-6)
    # the tuned threshold is a validation score that maximises validation accuracy
    t = run["test_at_val_threshold"]["threshold"]
    assert run["val_at_val_threshold"]["threshold"] == t
    tuned = float(np.mean((scores >= t) == (labels == 1)))
    assert run["test_at_val_threshold"]["accuracy"]["value"] == pytest.approx(tuned, abs=1e-6)
    assert run["val_at_val_threshold"]["accuracy"]["value"] >= run["val"]["accuracy"]["value"]
    assert saved["analysis"]["resnet18_3d"]["params"] == sum(
        p.numel() for p in build_model("scratch3d", cfg).parameters()
    )
    assert saved["test_labels"] == result["test_labels"] and sum(saved["test_labels"]) == 4
    assert any("2D slice pretraining" in line for line in lines)
    assert cfg.precision == "auto"
    assert run["pretrain_2d"]["precision"] == "bf16" and run["precision"] == "fp32"
    assert run["scoring_precision"] == "bf16"
    assert saved["environment"]["precision"] == {
        "inflated3d": "fp32",
        "inflated3d:pretrain_2d": "bf16",
    }
    assert saved["environment"]["scoring_precision"] == "bf16"


def test_training_precisions_per_approach_from_the_runs() -> None:
    runs = [
        {"approach": "scratch3d", "seed": 0, "precision": "fp32"},
        {"approach": "scratch3d", "seed": 1, "precision": "bf16"},
        {"approach": "slices25d", "seed": 0, "precision": "bf16"},
        {
            "approach": "inflated3d",
            "seed": 0,
            "precision": "fp32",
            "pretrain_2d": {"precision": "bf16"},
        },
    ]
    assert training_precisions(runs) == {
        "scratch3d": "bf16 and fp32",
        "slices25d": "bf16",
        "inflated3d": "fp32",
        "inflated3d:pretrain_2d": "bf16",
    }


@pytest.mark.data
def test_study_interrupted_part_way_goes_on_with_resume_to_the_same_numbers(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """The 3D study stopped in its second network's training (the inflated 3D network, after
    the 2D slice pretraining it inflates) is refused without --resume before any training, and
    with it ends where an uninterrupted study ends; its checkpoints are gone afterwards."""
    import json

    from healthcnn.studies import _resume, volumes
    from healthcnn.training import TrainingInterrupted
    from interrupting import stop_nth_fit

    cfg = VolumeStudyConfig(
        size=16, seeds=(0,), approaches=("inflated3d",), epochs=2, batch_size=4,
        pretrain_epochs=2, pretrain_slices=2, pretrain_batch_size=8, limit=4, precision="fp32",
    )  # fmt: skip
    whole = run_adrenal3d(cfg, data_dir=str(data_root), out=tmp_path / "whole")
    # a checkpoint every epoch, as on a CPU where an epoch is longer than the interval
    monkeypatch.setattr(volumes, "CHECKPOINT_EVERY_S", 0.0)
    parts = tmp_path / "parts"
    with monkeypatch.context() as patch:
        stop_nth_fit(patch, volumes, nth=2)
        with pytest.raises(TrainingInterrupted):
            run_adrenal3d(cfg, data_dir=str(data_root), out=parts)
    names = ["inflated3d-seed0", "inflated3d-seed0-2d"]
    assert sorted(p.name for p in (parts / _resume.CHECKPOINTS).iterdir()) == names
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run of the study "
                       r"\(inflated3d-seed0, inflated3d-seed0-2d\): pass --resume"):  # fmt: skip
        run_adrenal3d(cfg, data_dir=str(data_root), out=parts)
    with pytest.raises(ValueError, match="--resume needs the output folder"):
        run_adrenal3d(cfg, data_dir=str(data_root), resume=True)
    resumed = run_adrenal3d(cfg, data_dir=str(data_root), out=parts, resume=True)
    assert not (parts / _resume.CHECKPOINTS).exists()

    def scores(result: dict) -> str:
        def timing(key: str) -> bool:  # wall times (seconds, seconds_per_epoch) differ
            return "seconds" in key

        runs = [
            {k: (v if k != "pretrain_2d" else {a: b for a, b in v.items() if not timing(a)})
             for k, v in run.items() if not timing(k)}
            for run in result["runs"]
        ]  # fmt: skip
        return json.dumps(runs, sort_keys=True)

    assert scores(resumed) == scores(whole)
