"""Image files through load_image_csv on synthetic files: 16-bit and float pixels by the stated
rules, empty labels, Pillow's decompression-bomb guard, and caches kept out of the data root."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from healthcnn.data.images import load_image_csv
from healthcnn.data.root import DataError


def _csv(folder: Path, rows: list[tuple[str, str]]) -> Path:
    path = folder / "labels.csv"
    path.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` grey pixels (no pixel data needed to open)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HEALTHCNN_CACHE", str(cache))
    return cache


def test_16_bit_png_scales_the_full_range_instead_of_saturating(tmp_path: Path) -> None:
    pixels = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    csv_path = _csv(tmp_path, [("a.png", "x")])
    expected = np.rint(pixels * 255.0 / 65535).astype(np.uint8)
    grey = load_image_csv(csv_path, channels=1, cache=False)
    assert grey.images.numpy()[0, 0].tolist() == expected.tolist()
    rgb = load_image_csv(csv_path, channels=3, cache=False)
    assert all(rgb.images.numpy()[0, c].tolist() == expected.tolist() for c in range(3))


def test_float_tiff_in_unit_range_is_scaled_and_outside_refused(tmp_path: Path) -> None:
    Image.fromarray(np.float32([[0.0, 0.5], [1.0, 0.25]])).save(tmp_path / "f.tiff")
    ds = load_image_csv(_csv(tmp_path, [("f.tiff", "x")]), channels=1, cache=False)
    assert ds.images.numpy()[0, 0].tolist() == [[0, 128], [255, 64]]
    Image.fromarray(np.float32([[0.0, 2.0], [1.0, 0.25]])).save(tmp_path / "g.tiff")
    with pytest.raises(DataError, match=r"g\.tiff.*float pixels span 0..2"):
        load_image_csv(_csv(tmp_path, [("g.tiff", "x")]), channels=1, cache=False)


def test_empty_label_is_refused_with_the_row(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        Image.new("L", (4, 4), 7).save(tmp_path / name)
    csv_path = _csv(tmp_path, [("a.png", "x"), ("b.png", " ")])
    with pytest.raises(DataError, match=r"labels\.csv row 3: the label is empty"):
        load_image_csv(csv_path, cache=False)


def test_superscript_digit_labels_are_names_not_numbers(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        Image.new("L", (4, 4), 7).save(tmp_path / name)
    ds = load_image_csv(_csv(tmp_path, [("a.png", "2"), ("b.png", "²")]), cache=False)
    assert ds.classes == ["2", "²"] and ds.labels.tolist() == [0, 1]


def test_decompression_bomb_names_the_file_and_the_limit(tmp_path: Path) -> None:
    _png_header_only(tmp_path / "huge.png", 20000, 20000)
    with pytest.raises(DataError) as err:
        load_image_csv(_csv(tmp_path, [("huge.png", "x")]), cache=False)
    message = str(err.value)
    assert "huge.png" in message and "20000 x 20000" in message
    assert f"{Image.MAX_IMAGE_PIXELS:,}" in message


def _folder(root: Path) -> Path:
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(
            root / "img" / f"{i}.png"
        )
    return _csv(root, [(f"img/{i}.png", str(i % 2)) for i in range(3)])


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_read_only_data_root_is_never_written(tmp_path: Path, _own_cache: Path) -> None:
    data = tmp_path / "data"
    csv_path = _folder(data)
    before = _listing(data)
    for p in [data, *data.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        first = load_image_csv(csv_path, root=data)
        again = load_image_csv(csv_path, root=data)
    finally:
        for p in [data, *data.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert _listing(data) == before  # root bypasses chmod: check nothing appeared
    assert list((_own_cache / "images").glob("*.npy"))
    assert bool((first.images == again.images).all())


def test_corrupt_cache_file_is_named_and_rebuilt(tmp_path: Path, _own_cache: Path) -> None:
    csv_path = _folder(tmp_path / "data")
    first = load_image_csv(csv_path)
    (cache_file,) = (_own_cache / "images").glob("*.npy")
    cache_file.write_bytes(b"not an array")
    with pytest.warns(UserWarning, match=rf"corrupt cache file {cache_file}"):
        again = load_image_csv(csv_path)
    assert bool((first.images == again.images).all())
    assert np.load(cache_file).shape == tuple(first.images.shape)


def test_read_only_cache_folder_warns_and_works_without_a_cache(
    tmp_path: Path, _own_cache: Path
) -> None:
    csv_path = _folder(tmp_path / "data")
    _own_cache.mkdir()
    _own_cache.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match=rf"cache folder {_own_cache}.* is unusable"):
            ds = load_image_csv(csv_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = load_image_csv(csv_path)
    finally:
        _own_cache.chmod(0o755)
    assert not list(_own_cache.rglob("*"))
    assert bool((ds.images == again.images).all())


def test_multilabel_cells_list_class_names_and_an_empty_cell_is_none(tmp_path: Path) -> None:
    for i in range(4):
        Image.fromarray(np.full((6, 6), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    path = tmp_path / "multi.csv"
    path.write_text("path,labels\n0.png,nodule;effusion\n1.png,\n2.png, effusion \n3.png,nodule\n")
    ds = load_image_csv(path, label_column="labels", multilabel=True)
    assert ds.multilabel and ds.classes == ["effusion", "nodule"]
    assert ds.labels.tolist() == [[1, 1], [0, 0], [1, 0], [0, 1]]
    path.write_text("path,labels\n0.png,nodule;mass\n")
    with pytest.raises(DataError, match=r"row 2: label 'mass' is not one of the classes"):
        load_image_csv(path, label_column="labels", multilabel=True, classes=["nodule"])


def test_images_of_mixed_sizes_are_refused_naming_both_and_size(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((6, 6), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 5), dtype=np.uint8)).save(tmp_path / "b.png")
    path = _csv(tmp_path, [("a.png", "x"), ("b.png", "y")])
    with pytest.raises(DataError, match=r"a.png is 6 x 6 px.*b.png \(row 3\) is 8 x 5 px.*--size"):
        load_image_csv(path)
    assert load_image_csv(path, size=4).images.shape == (2, 3, 4, 4)
