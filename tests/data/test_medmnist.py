"""MedMNIST loading on the real files (counts from the shared data READMEs) and its errors."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data import root as root_module
from healthcnn.data.catalog import CATALOG, get_dataset, medmnist_file_name
from healthcnn.data.medmnist import load_medmnist, load_medmnist_splits, npz_summary
from healthcnn.data.root import ChecksumError, DataError


def test_catalog_covers_every_flag_and_size() -> None:
    flags_2d = [
        "pathmnist",
        "chestmnist",
        "dermamnist",
        "octmnist",
        "pneumoniamnist",
        "retinamnist",
        "breastmnist",
        "bloodmnist",
        "tissuemnist",
        "organamnist",
        "organcmnist",
        "organsmnist",
    ]
    flags_3d = [
        "organmnist3d",
        "nodulemnist3d",
        "adrenalmnist3d",
        "fracturemnist3d",
        "vesselmnist3d",
        "synapsemnist3d",
    ]
    for flag in flags_2d + flags_3d:
        entry = CATALOG[flag]
        assert entry.sizes == ((28, 64, 128, 224) if flag in flags_2d else (28, 64))
        for size in entry.sizes:
            (remote,) = entry.files_for(size)
            assert remote.name == medmnist_file_name(flag, size)
            assert remote.url.startswith("https://zenodo.org/records/10519652/files/")
            assert remote.md5 is not None and len(remote.md5) == 32
    # the two MD5s the shared data READMEs confirm against the real bytes
    assert CATALOG["retinamnist"].files_for(28)[0].md5 == "bd4c0672f1bba3e3a89f0e4e876791e4"
    assert CATALOG["adrenalmnist3d"].files_for(64)[0].md5 == "17721accfe9fb005146a47d33bc54b2f"
    assert CATALOG["chestmnist"].task == "multi-label"
    assert len(CATALOG["chestmnist"].classes) == 14
    assert CATALOG["retinamnist"].task == "ordinal-regression"
    with pytest.raises(ValueError, match="valid sizes: 28, 64"):
        get_dataset("adrenalmnist3d").files_for(224)
    with pytest.raises(ValueError, match="retinamnist"):
        get_dataset("retinamnist_")


@pytest.mark.data
def test_retinamnist(data_root: Path) -> None:
    splits = load_medmnist_splits("retinamnist", root=data_root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1080, "val": 120, "test": 400}
    train = splits["train"]
    assert train.images.shape == (1080, 3, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.labels.shape == (1080,)
    assert train.classes == ["0", "1", "2", "3", "4"]
    assert train.spatial_dims == 2 and train.in_channels == 3
    assert train.class_counts().tolist() == [486, 128, 206, 194, 66]  # README counts
    assert train.ids[:2] == ["train:0", "train:1"]
    # channels-first is a transpose of the stored (N, H, W, 3) array, not a reshape
    with np.load(data_root / "medmnist" / "retinamnist.npz") as npz:
        raw = npz["train_images"]
    assert np.array_equal(train.images[5].permute(1, 2, 0).numpy(), raw[5])


@pytest.mark.data
def test_adrenalmnist3d_64(data_root: Path) -> None:
    val = load_medmnist("adrenalmnist3d", "val", size=64, root=data_root)
    test = load_medmnist("adrenalmnist3d", "test", size=64, root=data_root)
    assert val.images.shape == (98, 1, 64, 64, 64) and len(test) == 298
    assert val.spatial_dims == 3 and val.classes == ["normal", "hyperplasia"]
    assert val.class_counts().tolist() == [76, 22] and test.class_counts().tolist() == [229, 69]
    # train (300 MB decoded) is checked from the npz headers only
    summary = npz_summary(data_root / "medmnist" / "adrenalmnist3d_64.npz")
    assert summary["train_images"] == ((1188, 64, 64, 64), "uint8")


@pytest.mark.data
def test_breastmnist_rebuild_found_with_warning(data_root: Path) -> None:
    with pytest.warns(UserWarning, match="MD5 verification skipped"):
        splits = load_medmnist_splits("breastmnist", root=data_root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 546, "val": 78, "test": 156}
    train = splits["train"]
    assert train.images.shape == (546, 1, 28, 28)
    assert train.labels.shape == (546,)  # flattened labels in the re-save are handled
    assert train.class_counts().tolist() == [147, 399]
    assert train.classes == ["malignant", "normal, benign"]


@pytest.fixture
def retina_copy(data_root: Path, tmp_path: Path) -> Path:
    """The real RetinaMNIST file copied to its official place under ``tmp_path`` (a data root)."""
    target = tmp_path / "medmnist" / "retinamnist.npz"
    target.parent.mkdir()
    shutil.copyfile(data_root / "medmnist" / "retinamnist.npz", target)
    return target


@pytest.mark.data
def test_md5_mismatch_on_official_name(retina_copy: Path, tmp_path: Path) -> None:
    target = retina_copy
    blob = bytearray(target.read_bytes())
    blob[-100] ^= 0x01  # one flipped bit in the zip's central directory
    target.write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match=str(target)):
        load_medmnist("retinamnist", "train", root=tmp_path)
    with pytest.raises(ChecksumError):
        load_medmnist(target, "train")


@pytest.mark.data
def test_md5_verified_once_per_file(
    retina_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = root_module.file_hash
    monkeypatch.setattr(root_module, "file_hash", lambda p, a="md5": calls.append(p) or real(p, a))
    load_medmnist_splits("retinamnist", root=tmp_path)
    load_medmnist("retinamnist", "train", root=tmp_path)
    assert len(calls) == 1


@pytest.mark.data
def test_mmap_matches_in_memory(
    retina_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = load_medmnist("retinamnist", "val", root=tmp_path)
    monkeypatch.setenv("HEALTHCNN_CACHE", str(tmp_path / "cache"))
    b = load_medmnist("retinamnist", "val", root=tmp_path, mmap=True)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert list((tmp_path / "cache" / "medmnist").glob("retinamnist-*/val_images.npy"))
    assert not (tmp_path / "medmnist" / "cache").exists()


def test_missing_file_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_medmnist("retinamnist", "train", size=224, root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "medmnist" / "retinamnist_224.npz") in message
    assert str(tmp_path / "medmnist-rebuilt" / "retinamnist_224.npz") in message
    assert "healthcnn data fetch retinamnist --size 224" in message


def test_wrong_keys_named(tmp_path: Path) -> None:
    path = tmp_path / "mine.npz"
    np.savez(path, x=np.zeros((2, 4, 4), np.uint8), y=np.zeros(2, np.int64))
    with pytest.raises(DataError, match="keys found: x, y"):
        load_medmnist(path, "train")


def test_label_outside_class_range(tmp_path: Path) -> None:
    path = tmp_path / "retinamnist.npz"  # official name: 5 classes
    imgs = np.zeros((3, 28, 28, 3), np.uint8)
    np.savez(path, train_images=imgs, train_labels=np.array([[0], [7], [1]]))
    with pytest.raises(
        DataError, match=r"train_labels: label 7 at sample 1 is outside the class range 0..4"
    ):
        load_medmnist(path, "train", verify=False)


def test_unknown_npz_layouts(tmp_path: Path) -> None:
    path = tmp_path / "custom.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        test_images=rng.integers(0, 256, (4, 8, 8, 8), dtype=np.uint8),
        test_labels=np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
    )
    ds = load_medmnist(path, "test")
    assert ds.images.shape == (4, 1, 8, 8, 8)  # (N, D, H, W) volume
    assert ds.labels.dtype == torch.float32 and ds.multilabel
    assert ds.class_counts().tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="split must be one of"):
        load_medmnist(path, "validation")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_medmnist(path, "test")  # no MD5 warning for a file without an official name
