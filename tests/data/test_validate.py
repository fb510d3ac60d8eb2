"""Inputs are validated, not cast: the rules of healthcnn.data.validate, through the loaders
that use them (MedMNIST-layout .npz files here; image files, CSVs and ECG in their own tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthcnn.data.medmnist import load_medmnist
from healthcnn.data.root import DataError
from healthcnn.data.validate import (
    check_split_shapes,
    class_labels,
    image_array,
    label_strings,
    validate_arrays,
)


def _npz(path: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> Path:
    arrays = {f"{s}_images": a for s, a in images.items()}
    arrays.update({f"{s}_labels": a for s, a in labels.items()})
    np.savez(path, **arrays)
    return path


def _one_split(tmp_path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    n = images.shape[0]
    labels = np.arange(n).reshape(-1, 1) % 2 if labels is None else labels
    return _npz(tmp_path / "custom.npz", {"train": images}, {"train": labels})


def test_float_images_in_unit_range_are_scaled_by_255(tmp_path: Path) -> None:
    images = np.linspace(0.0, 1.0, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    ds = load_medmnist(_one_split(tmp_path, images), "train")
    expected = np.rint(images.astype(np.float64) * 255).astype(np.uint8)
    assert ds.images.numpy()[:, 0].tolist() == expected.tolist()
    assert ds.images.numpy().max() == 255


def test_float_images_outside_unit_range_are_refused(tmp_path: Path) -> None:
    images = np.full((2, 4, 4), 3.5, np.float64)
    with pytest.raises(DataError, match=r"float pixels span 3.5..3.5.*\[0, 1\]"):
        load_medmnist(_one_split(tmp_path, images), "train")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_images_are_refused_with_the_position(tmp_path: Path, bad: float) -> None:
    images = np.zeros((3, 4, 4), np.float32)
    images[2, 1, 3] = bad
    with pytest.raises(DataError, match=r"1 pixel value\(s\) are NaN or infinite.*sample 2"):
        load_medmnist(_one_split(tmp_path, images), "train")


def test_int16_images_outside_0_255_are_refused_and_in_range_kept(tmp_path: Path) -> None:
    images = np.full((2, 4, 4), -1000, np.int16)
    with pytest.raises(DataError, match=r"int16 pixels span -1000..-1000, outside 0..255"):
        load_medmnist(_one_split(tmp_path, images), "train")
    images = np.arange(2 * 4 * 4, dtype=np.int16).reshape(2, 4, 4) * 8
    ds = load_medmnist(_one_split(tmp_path, images), "train")
    assert ds.images.numpy()[:, 0].tolist() == images.tolist()


def test_uint16_images_map_the_full_16_bit_range(tmp_path: Path) -> None:
    images = np.array([[[0, 65535], [32768, 257]]] * 2, np.uint16)
    ds = load_medmnist(_one_split(tmp_path, images), "train")
    assert ds.images.numpy()[0, 0].tolist() == [[0, 255], [128, 1]]


def test_bool_and_object_images_are_refused() -> None:
    with pytest.raises(DataError, match="dtype bool are not accepted"):
        image_array(np.zeros((1, 2, 2), bool), "x")


def test_fractional_labels_are_refused_not_truncated(tmp_path: Path) -> None:
    labels = np.array([[0.0], [2.5], [1.0]])
    path = _one_split(tmp_path, np.zeros((3, 4, 4), np.uint8), labels)
    with pytest.raises(DataError, match=r"label 2.5 at sample 1 is not an integer"):
        load_medmnist(path, "train")


def test_nan_labels_are_reported_as_nan_with_where(tmp_path: Path) -> None:
    labels = np.array([[0.0], [1.0], [np.nan]])
    path = _one_split(tmp_path, np.zeros((3, 4, 4), np.uint8), labels)
    with pytest.raises(DataError) as err:
        load_medmnist(path, "train")
    message = str(err.value)
    assert "nan at sample 2" in message and "train_labels" in message
    assert "-9223372036854775808" not in message


def test_integral_float_labels_are_accepted(tmp_path: Path) -> None:
    path = _one_split(tmp_path, np.zeros((3, 4, 4), np.uint8), np.array([[0.0], [1.0], [1.0]]))
    assert load_medmnist(path, "train").labels.tolist() == [0, 1, 1]


def test_split_with_other_image_shape_is_refused_naming_splits_and_shapes(
    tmp_path: Path,
) -> None:
    images = {
        "train": np.zeros((4, 28, 28), np.uint8),
        "val": np.zeros((2, 28, 28), np.uint8),
        "test": np.zeros((2, 14, 28), np.uint8),
    }
    labels = {s: np.zeros((len(a), 1), np.int64) for s, a in images.items()}
    path = _npz(tmp_path / "custom.npz", images, labels)
    for split in ("train", "test"):
        with pytest.raises(DataError) as err:
            load_medmnist(path, split)
        message = str(err.value)
        assert "train (28, 28)" in message and "test (14, 28)" in message


def test_zero_byte_npz_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.npz is empty \(0 bytes\)"):
        load_medmnist(path, "train")


def test_unit_rules_directly() -> None:
    assert class_labels(np.array([[1], [0]]), "w", 2).tolist() == [1, 0]
    with pytest.raises(DataError, match=r"outside the class range 0..1"):
        class_labels(np.array([2]), "w", 2)
    with pytest.raises(DataError, match="not numbers"):
        class_labels(np.array(["a"]), "w")
    with pytest.raises(DataError, match=r"labels.csv row 3: the label is empty"):
        label_strings(["a", " "], "labels.csv")
    with pytest.raises(DataError, match=r"train \(1, 28, 28\), test \(1, 14, 28\)"):
        check_split_shapes({"train": (1, 28, 28), "test": (1, 14, 28)}, "w")
    with pytest.raises(DataError, match="3 images but 2 labels"):
        validate_arrays(np.zeros((3, 2, 2), np.uint8), np.zeros(2, np.int64), "w")


def _ecg5000(root: Path, rows: list[str]) -> Path:
    folder = root / "ecg" / "ecg5000"
    folder.mkdir(parents=True)
    (folder / "ECG5000_TRAIN.txt").write_text("\n".join(rows) + "\n")
    return root


def test_ecg5000_nan_and_fractional_labels_and_nan_samples(tmp_path: Path) -> None:
    from healthcnn.data.ecg_datasets import load_ecg5000

    beat = " ".join(["0.5"] * 140)
    root = _ecg5000(tmp_path / "a", [f"1 {beat}", f"NaN {beat}"])
    with pytest.raises(DataError, match=r"nan at sample 1"):
        load_ecg5000(root)
    root = _ecg5000(tmp_path / "b", [f"1 {beat}", f"2.5 {beat}"])
    with pytest.raises(DataError, match=r"label 2.5 at sample 1 is not an integer"):
        load_ecg5000(root)
    root = _ecg5000(tmp_path / "c", [f"1 {beat}", f"2 nan {' '.join(['0.5'] * 139)}"])
    with pytest.raises(DataError, match=r"1 signal value\(s\) are NaN.*sample 1"):
        load_ecg5000(root)


def test_labels_far_beyond_any_class_count_are_refused_without_a_label_map(
    tmp_path: Path,
) -> None:
    path = _one_split(tmp_path, np.zeros((2, 4, 4), np.uint8), np.array([[0], [14323372]]))
    with pytest.raises(DataError, match=r"label 14323372 at sample 1 would mean 14,323,373"):
        load_medmnist(path, "train")
