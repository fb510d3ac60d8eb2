"""Fuzzing the data loaders: MedMNIST-layout .npz files, image files, image CSVs and the HAM10000
metadata CSV. Each result must pass healthcnn.data.validate, or the loader must raise a clear
ValueError subclass (see _fuzz.py)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import FUZZ, damaged, outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from healthcnn.data.arrays import ArrayDataset
from healthcnn.data.ham10000 import DIAGNOSES, read_metadata
from healthcnn.data.images import load_image_csv, read_image
from healthcnn.data.medmnist import load_medmnist

DTYPES = [np.uint8, np.uint16, np.int16, np.int64, np.float32, np.float64, np.bool_]


def _check_dataset(ds: ArrayDataset) -> None:
    assert ds.images.dtype.is_floating_point is False and str(ds.images.dtype) == "torch.uint8"
    if ds.labels.ndim == 1:
        labels = ds.labels.numpy()
        assert labels.size == 0 or (labels.min() >= 0 and labels.max() < ds.num_classes)
    else:
        assert set(np.unique(ds.labels.numpy())) <= {0.0, 1.0}


@st.composite
def npz_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(0, 4))
    out = {}
    for split in draw(st.sets(st.sampled_from(["train", "val", "test"]), min_size=1)):
        side = draw(st.sampled_from([(2, 2), (3, 2), (2, 2, 3), (2, 2, 2, 2), ()]))
        out[f"{split}_images"] = draw(
            hnp.arrays(st.sampled_from(DTYPES), (n, *side), elements=None)
        )
        shape = draw(st.sampled_from([(n,), (n, 1), (n, 3), (n + 1,)]))
        out[f"{split}_labels"] = draw(
            hnp.arrays(st.sampled_from([np.int64, np.float64, np.uint8]), shape)
        )
    return out


@FUZZ
@given(arrays=npz_arrays(), split=st.sampled_from(["train", "val", "test"]))
def test_npz_arrays(arrays: dict[str, np.ndarray], split: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.npz"
        np.savez(path, **arrays)
        ds = outcome(lambda: load_medmnist(path, split))
        if ds is not None:
            _check_dataset(ds)


def _valid_npz_bytes() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez_compressed(
        buf,
        train_images=rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        train_labels=np.array([[0], [1], [1]]),
    )
    return buf.getvalue()


VALID_NPZ = _valid_npz_bytes()


@FUZZ
@given(data=damaged(VALID_NPZ))
def test_npz_bytes_truncated_or_flipped(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.npz"
        path.write_bytes(data)
        ds = outcome(lambda: load_medmnist(path, "train"))
        if ds is not None:
            _check_dataset(ds)


MODES = {
    "L": np.uint8,
    "RGB": np.uint8,
    "RGBA": np.uint8,
    "I;16": np.uint16,
    "I": np.int32,
    "F": np.float32,
}


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    mode = draw(st.sampled_from(sorted(MODES)))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    shape = (h, w, len(mode)) if mode in ("RGB", "RGBA") else (h, w)
    finite = mode != "F" or draw(st.booleans())
    arr = draw(
        hnp.arrays(
            MODES[mode],
            shape,
            elements=st.floats(-2, 2, width=32) if mode == "F" and finite else None,
        )
    )
    img = Image.fromarray(arr)
    fmt = draw(st.sampled_from(["PNG", "TIFF"] if mode in ("I", "F", "I;16") else ["PNG", "BMP"]))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except OSError:  # a mode this format cannot store: fall back to TIFF
        buf = io.BytesIO()
        img.save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    cut = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        data = data[:cut]
    return bytes(data)


@FUZZ
@given(data=st.one_of(image_bytes(), st.binary(max_size=64)), mode=st.sampled_from(["L", "RGB"]))
def test_image_files(data: bytes, mode: str) -> None:
    arr = outcome(lambda: read_image(io.BytesIO(data), "fuzz image", mode, (3, 3)))
    if arr is not None:
        assert arr.dtype == np.uint8 and arr.shape == ((3, 3) if mode == "L" else (3, 3, 3))


CSV_ALPHABET = st.sampled_from([*'abc,"\n\r -0123.\t\x00é', "a.png", "b.png", "path", "label"])


@FUZZ
@given(body=st.lists(CSV_ALPHABET, max_size=30).map("".join), header=st.booleans())
def test_image_csv(body: str, header: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        Image.new("RGB", (4, 4), (9, 9, 9)).save(folder / "a.png")
        Image.new("L", (4, 4), 200).save(folder / "b.png")
        csv_path = folder / "fuzz.csv"
        csv_path.write_text(("path,label\n" if header else "") + body, encoding="utf-8")
        ds = outcome(lambda: load_image_csv(csv_path, cache=False, size=4))
        if ds is not None:
            _check_dataset(ds)
            assert all(c.strip() for c in ds.classes)


HAM_CELLS = st.sampled_from(["HAM_1", "ISIC_1", "ISIC_2", "nv", "mel", "xx", "45", "", "old"])


@FUZZ
@given(
    rows=st.lists(st.lists(HAM_CELLS, min_size=0, max_size=8).map(",".join), max_size=5),
    raw=st.binary(max_size=20),
)
def test_ham10000_metadata(rows: list[str], raw: bytes) -> None:
    header = "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "HAM10000_metadata.csv"
        path.write_bytes((header + "\n".join(rows)).encode() + raw)
        meta = outcome(lambda: read_metadata(path, {"images/ISIC_1.jpg", "images/ISIC_2.jpg"}))
        if meta is not None:
            assert set(meta["dx"]) <= set(DIAGNOSES)
            assert len(set(meta["image_id"])) == len(meta["image_id"])


def test_the_fuzzers_reach_both_outcomes() -> None:
    """The strategies above produce accepted and refused inputs alike (not only errors)."""
    good = Path(tempfile.mkdtemp()) / "ok.npz"
    good.write_bytes(VALID_NPZ)
    assert outcome(lambda: load_medmnist(good, "train")) is not None
    good.write_bytes(VALID_NPZ[:10])
    assert outcome(lambda: load_medmnist(good, "train")) is None


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
