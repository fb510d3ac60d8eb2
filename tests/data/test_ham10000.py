"""HAM10000 from its zip and metadata: parsing errors by line, decoding and the cache, and
lesion-level splits on the real metadata."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from healthcnn.data import ham10000 as hm
from healthcnn.data.ham10000 import (
    DIAGNOSES,
    age_band,
    ham10000_splits,
    load_ham10000,
    read_metadata,
)
from healthcnn.data.root import DataError

HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
ROWS = [
    "HAM_1,ISIC_1,nv,follow_up,45.0,male,back",
    "HAM_1,ISIC_2,nv,follow_up,45.0,male,back",
    "HAM_2,ISIC_3,mel,histo,,female,face",
]


def _colour(i: int) -> tuple[int, int, int]:
    return (40 * i, 255 - 40 * i, 100)


def _write(root: Path, rows: list[str], header: str = HEADER, images=("1", "2", "3")) -> Path:
    folder = root / "ham10000"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hm.METADATA_FILE).write_text(header + "\n".join(rows) + "\n")
    with zipfile.ZipFile(folder / hm.ZIP_FILE, "w") as zf:
        for i in images:
            buf = io.BytesIO()
            Image.new("RGB", (200, 150), _colour(int(i))).save(buf, format="PNG")
            zf.writestr(f"images/ISIC_{i}.jpg", buf.getvalue())
    return folder


def test_load_decodes_resizes_and_keeps_metadata(tmp_path: Path) -> None:
    _write(tmp_path, ROWS)
    ham = load_ham10000(tmp_path, size=16)
    ds = ham.dataset
    assert tuple(ds.images.shape) == (3, 3, 16, 16)
    assert ds.ids == ["ISIC_1", "ISIC_2", "ISIC_3"]
    assert ds.groups == ["HAM_1", "HAM_1", "HAM_2"]
    assert [DIAGNOSES[i] for i in ds.labels.tolist()] == ["nv", "nv", "mel"]
    # a flat colour survives decoding and resizing
    assert ds.images[2, :, 8, 8].tolist() == list(_colour(3))
    assert np.isnan(ham.meta["age"][2]) and ham.meta["age"][0] == 45.0
    assert ham.meta["localization"].tolist() == ["back", "back", "face"]


def _pattern(i: int) -> np.ndarray:
    """An RGB image 150 px tall, 200 px wide, every pixel unlike its neighbours (PNG: lossless)."""
    yy, xx = np.mgrid[0:150, 0:200]
    return np.stack([(xx + 7 * i) % 256, (yy * 3) % 256, (xx * yy + i) % 256], -1).astype(np.uint8)


def test_stored_size_is_read_without_resampling(tmp_path: Path, _own_cache: Path) -> None:
    folder = _write(tmp_path, ROWS)
    with zipfile.ZipFile(folder / hm.ZIP_FILE, "w") as zf:
        for i in (1, 2, 3):
            buf = io.BytesIO()
            Image.fromarray(_pattern(i)).save(buf, format="PNG")
            zf.writestr(f"images/ISIC_{i}.jpg", buf.getvalue())
    ham = load_ham10000(tmp_path, size="stored")
    assert ham.size == hm.STORED_SIZE == (150, 200)
    assert tuple(ham.dataset.images.shape) == (3, 3, 150, 200)  # (N, C, height, width)
    for k, i in enumerate((1, 2, 3)):  # every pixel exactly as stored: nothing resampled
        assert np.array_equal(ham.dataset.images[k].numpy().transpose(1, 2, 0), _pattern(i))
    assert ham.dataset.name == "ham10000-200x150px"
    assert [p.name.split("-")[-1] for p in (_own_cache / "ham10000").glob("*.npy")] == [
        "200x150px.npy"
    ]
    # (150, 200) is the same size and the same cache entry; a non-square resize keeps its shape
    again = load_ham10000(tmp_path, size=(150, 200))
    assert torch.equal(again.dataset.images, ham.dataset.images)
    half = load_ham10000(tmp_path, size=(75, 100))
    assert tuple(half.dataset.images.shape) == (3, 3, 75, 100) and half.size == (75, 100)
    assert len(list((_own_cache / "ham10000").glob("*.npy"))) == 2


def test_image_sizes_and_their_command_line_form() -> None:
    assert hm.image_size(64) == 64 and hm.image_size((32, 32)) == 32
    assert hm.image_size([150, 200]) == (150, 200) == hm.image_size("stored")
    assert hm.parse_image_size("128") == 128
    assert hm.parse_image_size("200x150") == (150, 200)  # WIDTHxHEIGHT, as the zip's name
    assert hm.parse_image_size(" Stored ") == (150, 200)
    assert hm.size_label(64) == "64px" and hm.size_label((150, 200)) == "200x150px"
    for bad in (7, 601, True, 64.0, (64, 64, 64), (0, 64), "full", "64x"):
        with pytest.raises(ValueError, match="size"):
            hm.image_size(bad)
    for bad in ("full", "64x", "x64", "200x150x3", "7", "200x601", "-64"):
        with pytest.raises(ValueError, match=r"WIDTHxHEIGHT \(200x150, the stored images\)"):
            hm.parse_image_size(bad)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "the-cache"
    monkeypatch.setenv("HEALTHCNN_CACHE", str(cache))
    return cache


def test_second_load_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _own_cache: Path
) -> None:
    _write(tmp_path, ROWS)
    first = load_ham10000(tmp_path, size=12)
    assert list((_own_cache / "ham10000").glob("*-12px.npy"))
    assert not (tmp_path / "cache").exists()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(hm, "_decode", no_decoding)
    again = load_ham10000(tmp_path, size=12)
    assert bool((again.dataset.images == first.dataset.images).all())
    with pytest.raises(AssertionError, match="decoded again"):
        load_ham10000(tmp_path, size=10)  # another size is another cache entry


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (ROWS, "lesion_id,image_id,dx,age,sex,localization\n", r"line 1: missing column.*dx_type"),
        ([*ROWS[:2], "HAM_2,ISIC_3,melanoma,histo,50,male,face"], HEADER, r"line 4: unknown dx"),
        ([*ROWS, "HAM_3,ISIC_9,nv,histo,50,male,face"], HEADER, r"line 5: image_id ISIC_9 has no"),
        (
            [*ROWS, "HAM_3,ISIC_1,nv,histo,50,male,face"],
            HEADER,
            r"line 5: .*already appeared on line 2",
        ),
        ([*ROWS[:2], "HAM_2,ISIC_3,mel,histo,old,male,face"], HEADER, r"line 4: age 'old'"),
        ([*ROWS[:2], ",ISIC_3,mel,histo,50,male,face"], HEADER, r"line 4: empty lesion_id"),
    ],
)
def test_malformed_metadata_names_the_line(
    tmp_path: Path, rows: list[str], header: str, message: str
) -> None:
    _write(tmp_path, rows, header=header)
    with pytest.raises(DataError, match=message):
        load_ham10000(tmp_path, size=8)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_read_only_data_root_stays_untouched(tmp_path: Path, _own_cache: Path) -> None:
    data = tmp_path / "data"
    _write(data, ROWS)
    before = _listing(data)
    for p in [data, *data.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        first = load_ham10000(data, size=8)
        again = load_ham10000(data, size=8)
    finally:
        for p in [data, *data.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert _listing(data) == before  # tests may run as root: chmod alone proves nothing
    assert list((_own_cache / "ham10000").glob("*-8px.npy"))
    assert bool((first.dataset.images == again.dataset.images).all())


def test_corrupt_cache_is_named_and_rebuilt(tmp_path: Path, _own_cache: Path) -> None:
    _write(tmp_path, ROWS)
    first = load_ham10000(tmp_path, size=8)
    (arr_path,) = (_own_cache / "ham10000").glob("*-8px.npy")
    arr_path.write_bytes(arr_path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=rf"corrupt cache file {arr_path}"):
        again = load_ham10000(tmp_path, size=8)
    assert bool((first.dataset.images == again.dataset.images).all())
    assert np.load(arr_path).shape == (3, 3, 8, 8)


def test_decompression_bomb_in_the_zip_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, ROWS)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 200x150 entries exceed it
    with pytest.raises(DataError, match=r"entry images/ISIC_1\.jpg: 200 x 150 = 30,000 pixels"):
        load_ham10000(tmp_path, size=8)


def test_missing_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"HAM10000_metadata\.csv not found"):
        load_ham10000(tmp_path, size=8)
    with pytest.raises(ValueError, match="size must be"):
        load_ham10000(tmp_path, size=4)


def test_age_bands() -> None:
    bands = age_band(np.array([5.0, 30.0, 49.9, 50.0, 69.0, 70.0, np.nan]))
    assert bands.tolist() == ["<30", "30-49", "30-49", "50-69", "50-69", "70+", "unknown"]


@pytest.mark.data
def test_real_metadata_and_lesion_level_split(data_root: Path) -> None:
    folder = data_root / "ham10000"
    with zipfile.ZipFile(folder / hm.ZIP_FILE) as zf:
        meta = read_metadata(folder / hm.METADATA_FILE, set(zf.namelist()))
    # totals from the dataset's README (Tschandl et al. 2018)
    assert len(meta["image_id"]) == 10015
    assert len(set(meta["lesion_id"].tolist())) == 7470
    counts = {d: int((meta["dx"] == d).sum()) for d in DIAGNOSES}
    assert counts == {
        "nv": 6705,
        "mel": 1113,
        "bkl": 1099,
        "bcc": 514,
        "akiec": 327,
        "vasc": 142,
        "df": 115,
    }
    splits = ham10000_splits(meta, seed=3)
    lesions = {k: set(meta["lesion_id"][v].tolist()) for k, v in splits.items()}
    assert not lesions["train"] & lesions["val"]
    assert not lesions["train"] & lesions["test"]
    assert not lesions["val"] & lesions["test"]
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(10015))
    for name, share in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        assert abs(len(splits[name]) / 10015 - share) < 0.01
        for d in DIAGNOSES:  # stratified: every diagnosis in every split, near its share
            in_split = int((meta["dx"][splits[name]] == d).sum())
            assert abs(in_split - share * counts[d]) <= max(6, 0.1 * share * counts[d])
    again = ham10000_splits(meta, seed=3)
    assert all(np.array_equal(again[k], splits[k]) for k in splits)
    other = ham10000_splits(meta, seed=4)
    assert not np.array_equal(other["test"], splits["test"])
