"""Image folder + CSV on real HAM10000 images extracted to a temporary folder."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csv_rows import write_rows
from healthcnn.data import images as images_module
from healthcnn.data.images import load_image_csv
from healthcnn.data.root import DataError

pytestmark = pytest.mark.data


@pytest.fixture
def ham_folder(data_root: Path, tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """The first two metadata rows of each diagnosis (14 images; the first two bkl rows are
    one lesion) extracted to tmp_path."""
    folder = data_root / "ham10000"
    meta, per_class = [], {}
    with open(folder / "HAM10000_metadata.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if per_class.setdefault(r["dx"], 0) < 2:
                per_class[r["dx"]] += 1
                meta.append(r)
    (tmp_path / "img").mkdir()
    rows = []
    with zipfile.ZipFile(folder / "images_200x150.zip") as zf:
        for r in meta:
            name = f"{r['image_id']}.jpg"
            (tmp_path / "img" / name).write_bytes(zf.read(f"images/{name}"))
            rows.append(
                {
                    "path": f"img/{name}",
                    "label": r["dx"],
                    "lesion_id": r["lesion_id"],
                    "image_id": r["image_id"],
                }
            )
    return write_rows(tmp_path / "ham.csv", rows), rows


def test_load_resized_with_groups(
    ham_folder: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    csv_path, rows = ham_folder
    ds = load_image_csv(
        csv_path, size=32, id_column="image_id", group_column="lesion_id", root=tmp_path / "root"
    )
    assert ds.images.shape == (14, 3, 32, 32) and ds.images.dtype.is_floating_point is False
    assert ds.ids == [r["image_id"] for r in rows]
    assert ds.groups == [r["lesion_id"] for r in rows]
    assert len(set(ds.groups)) < len(ds.groups)  # some lesions have several images
    assert ds.classes == sorted({r["label"] for r in rows})
    assert [ds.classes[i] for i in ds.labels.tolist()] == [r["label"] for r in rows]
    with Image.open(tmp_path / rows[0]["path"]) as img:
        expected = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), expected)


def test_native_size_grey_and_fixed_classes(
    ham_folder: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    csv_path, rows = ham_folder
    classes = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    ds = load_image_csv(csv_path, channels=1, classes=classes, cache=False)
    assert ds.images.shape == (14, 1, 150, 200)  # HAM10000 copy: 200x150 (W x H)
    assert ds.classes == classes and ds.ids == [r["path"] for r in rows]
    assert ds.class_counts().tolist() == [2] * 7


def test_cache_skips_decoding(
    ham_folder: tuple[Path, list[dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv_path, _ = ham_folder
    root = tmp_path / "root"
    monkeypatch.setenv("HEALTHCNN_CACHE", str(tmp_path / "cache"))
    first = load_image_csv(csv_path, size=16, root=root)
    assert len(list((tmp_path / "cache" / "images").glob("*.npy"))) == 1
    assert not root.exists()  # caches are not data

    def no_decode(*args: object) -> None:
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(images_module, "_decode", no_decode)
    second = load_image_csv(csv_path, size=16, root=root)
    assert np.array_equal(first.images.numpy(), second.images.numpy())
    with pytest.raises(AssertionError, match="decoded again"):
        load_image_csv(csv_path, size=20, root=root)  # other parameters: another cache entry


def test_bad_image_names_path_and_row(
    ham_folder: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    csv_path, rows = ham_folder
    bad = tmp_path / rows[3]["path"]
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=rf"{bad}.*row 5.*could not be decoded"):
        load_image_csv(csv_path, size=16, cache=False)


def test_label_outside_classes(ham_folder: tuple[Path, list[dict[str, str]]]) -> None:
    csv_path, rows = ham_folder
    wanted = rows[0]["label"]
    other = next(r for r in rows if r["label"] != wanted)
    row_number = rows.index(other) + 2
    with pytest.raises(DataError, match=rf"row {row_number}: label '{other['label']}'"):
        load_image_csv(csv_path, classes=[wanted], cache=False)


def test_missing_column_and_file(
    ham_folder: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    csv_path, _ = ham_folder
    with pytest.raises(DataError, match=r"no column\(s\) 'dx'.*columns found: path, label"):
        load_image_csv(csv_path, label_column="dx")
    with pytest.raises(DataError, match="does not exist"):
        load_image_csv(csv_path, image_root=tmp_path / "elsewhere")
