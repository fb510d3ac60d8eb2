"""The AdrenalMNIST3D study: slices and the 2.5D model, inflation, metrics, summaries, config
checks, and one short end-to-end run on the real 64^3 file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data import ArrayDataset
from healthcnn.models import create_model
from healthcnn.studies._volume_models import (
    SliceModel25D,
    inflated_resnet3d,
    slice_indices,
    volume_slices,
)
from healthcnn.studies.volumes import (
    VolumeStudyConfig,
    axial_slice_dataset,
    build_model,
    run_adrenal3d,
    score_test,
    summarise,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _coordinate_volume(n: int = 2, size: int = 6) -> torch.Tensor:
    """Voxel value 100*d + 10*h + w (w < 10), so each slice says where it came from."""
    d, h, w = torch.meshgrid(*(torch.arange(size),) * 3, indexing="ij")
    vol = (100 * d + 10 * h + w).float()
    return vol.expand(n, 1, size, size, size).clone()


def test_slice_indices_are_evenly_spaced_and_checked() -> None:
    assert slice_indices(32, 4) == [4, 12, 20, 28]
    assert slice_indices(5, 5) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="exceeds"):
        slice_indices(4, 5)
    with pytest.raises(ValueError, match="num_slices"):
        slice_indices(4, 0)


def test_orthogonal_slices_are_the_central_planes() -> None:
    x = _coordinate_volume()
    s = volume_slices(x, "orthogonal")
    assert s.shape == (2, 3, 1, 6, 6)
    c = 3
    assert torch.equal(s[0, 0, 0], x[0, 0, c])  # axial: fixed depth
    assert torch.equal(s[0, 1, 0], x[0, 0, :, c])  # coronal: fixed height
    assert torch.equal(s[0, 2, 0], x[0, 0, :, :, c])  # sagittal: fixed width
    assert s[0, 0, 0, 0, 0] == 100 * c and s[0, 1, 0, 0, 0] == 10 * c and s[0, 2, 0, 0, 0] == c


def test_axial_slices_and_errors() -> None:
    x = _coordinate_volume(size=8)
    s = volume_slices(x, "axial", 2)
    assert s.shape == (2, 2, 1, 8, 8)
    assert s[1, 0, 0, 0, 0] == 200 and s[1, 1, 0, 0, 0] == 600  # depths 2 and 6
    with pytest.raises(ValueError, match="cubic"):
        volume_slices(torch.zeros(1, 1, 4, 6, 6), "orthogonal")
    with pytest.raises(ValueError, match="view"):
        volume_slices(x, "diagonal")


@pytest.mark.parametrize("view,num_slices", [("orthogonal", 3), ("axial", 4)])
def test_25d_model_shapes_and_channels_last(view: str, num_slices: int) -> None:
    torch.manual_seed(0)
    model = SliceModel25D(1, 1, view=view, num_slices=num_slices, encoder_kwargs={"stem": "small"})
    x = torch.randn(2, 1, 8, 8, 8)
    assert model(x).shape == (2, 1)
    assert model.forward_features(x).shape == (2, model.num_features) == (2, 512)
    model.eval()
    ref = model(x)
    # what the bf16 policy does to a spatial_dims=3 model and its input must work
    model.to(memory_format=torch.channels_last_3d)
    out = model(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_25d_features_average_the_shared_encoder_over_slices() -> None:
    torch.manual_seed(0)
    model = SliceModel25D(1, 1, view="orthogonal", encoder_kwargs={"stem": "small"}).eval()
    x = torch.randn(1, 1, 6, 6, 6)
    per_slice = [
        model.encoder.forward_features(p[None, None]).mean(dim=(2, 3))
        for p in (x[0, 0, 3], x[0, 0, :, 3], x[0, 0, :, :, 3])
    ]
    torch.testing.assert_close(model.forward_features(x), torch.stack(per_slice).mean(dim=0))


def test_inflation_builds_and_loads_every_weight() -> None:
    torch.manual_seed(0)
    model_2d = create_model("resnet18", spatial_dims=2, in_channels=1, num_classes=1)
    with torch.no_grad():
        model_2d.bn1.running_mean.fill_(0.25)  # a buffer, to see buffers load too
    model_3d = inflated_resnet3d(model_2d.state_dict(), in_channels=1, num_classes=1)
    w2, w3 = model_2d.conv1.weight, model_3d.conv1.weight
    assert w3.shape == (64, 1, 7, 7, 7)
    # I3D: the 2D kernel repeated over depth and divided by its length, so summing over depth
    # gives the 2D kernel back
    torch.testing.assert_close(w3.sum(dim=2), w2)
    torch.testing.assert_close(model_3d.fc.weight, model_2d.fc.weight)
    assert torch.all(model_3d.bn1.running_mean == 0.25)
    assert model_3d(torch.randn(2, 1, 16, 16, 16)).shape == (2, 1)
    with pytest.raises(ValueError, match="state_2d"):
        build_model("inflated3d", VolumeStudyConfig())


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


def test_summarise_means_sds_and_paired_tests() -> None:
    labels = np.array([0, 1, 1, 0])

    def run(approach: str, seed: int, auc: float, acc: float, scores: list[float]) -> dict:
        return {
            "approach": approach,
            "seed": seed,
            "val_auc": auc,
            "seconds": 10.0,
            "test": {"auc": {"value": auc}, "accuracy": {"value": acc}},
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
    data_root: Path, tmp_path: Path, strict_json
) -> None:
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
    assert saved["analysis"]["resnet18_3d"]["params"] == sum(
        p.numel() for p in build_model("scratch3d", cfg).parameters()
    )
    assert saved["test_labels"] == result["test_labels"] and sum(saved["test_labels"]) == 4
    assert any("2D slice pretraining" in line for line in lines)
