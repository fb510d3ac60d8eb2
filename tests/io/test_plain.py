"""PNG, JPEG, 16-bit TIFF and single-array .npz through ``healthcnn.io.read``: values as stored,
channels first, no geometry, the steps recorded, and bad files one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from healthcnn.io import MedicalFormatError, read


def test_a_16_bit_tiff_keeps_its_values(tmp_path: Path) -> None:
    values = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1300).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "x.tif")
    image = read(tmp_path / "x.tif")
    assert image.array.dtype == np.uint16 and image.array.shape == (1, 6, 8)
    np.testing.assert_array_equal(image.array[0], values)
    assert image.spacing is None and image.affine is None and image.orientation is None
    assert image.steps[0].detail["format"] == "TIFF" and image.format == "TIFF"


def test_colour_palette_and_alpha(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read(tmp_path / "rgb.png").array, np.moveaxis(rgb, -1, 0))
    rgba = np.dstack([rgb, np.full((5, 7), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    image = read(tmp_path / "rgba.png")
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0))
    assert [s.name for s in image.steps] == ["decode", "drop_alpha"]
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    palette = read(tmp_path / "pal.png")
    assert palette.array.shape == (3, 5, 7) and palette.steps[1].name == "palette"
    Image.fromarray(rgb).save(tmp_path / "x.jpg", quality=95)
    with Image.open(tmp_path / "x.jpg") as decoded:  # lossy: compare with Pillow's own decode
        want = np.moveaxis(np.asarray(decoded), -1, 0)
    np.testing.assert_array_equal(read(tmp_path / "x.jpg").array, want)


def test_npz_with_one_array(tmp_path: Path) -> None:
    volume = np.random.default_rng(1).random((1, 4, 5, 6)).astype(np.float32)
    np.savez(tmp_path / "v.npz", volume=volume)
    image = read(tmp_path / "v.npz")
    np.testing.assert_array_equal(image.array, volume)
    assert image.spatial_dims == 3 and image.format == "npz"
    np.savez(tmp_path / "g.npz", image=np.zeros((3, 4), np.uint8))
    assert read(tmp_path / "g.npz").array.shape == (1, 3, 4)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("two.npz", None, "holds 2 arrays"),
        ("flat.npz", np.zeros(5), r"expected \(H, W\)"),
        ("junk.png", b"not an image", "not a readable image"),
        ("cut.npz", b"PK\x03\x04junk", r"not a readable \.npz"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, name, content, match) -> None:
    path = tmp_path / name
    if content is None:
        np.savez(path, a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.savez(path, a=content)
    with pytest.raises(MedicalFormatError, match=match):
        read(path)


def test_a_window_is_refused_for_a_photograph(tmp_path: Path) -> None:
    Image.new("L", (4, 4)).save(tmp_path / "x.png")
    with pytest.raises(MedicalFormatError, match="window applies to DICOM"):
        read(tmp_path / "x.png", window="lung")


def test_a_decompression_bomb_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(MedicalFormatError, match="decompression-bomb"):
        read(tmp_path / "big.png")
