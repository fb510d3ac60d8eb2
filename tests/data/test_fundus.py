"""Fundus preprocessing on a real full-resolution photograph (``skimage.data.retina()``)."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.data.fundus import (
    FundusConfig,
    apply_fundus_preprocessing,
    crop_to_fov,
    find_field_of_view,
    preprocess_fundus,
)

skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the photo")


@pytest.fixture(scope="module")
def retina() -> np.ndarray:
    return skdata.retina()


def _visible_disc(image: np.ndarray) -> tuple[float, float, float]:
    """An independent estimate: centre and radius of the non-black pixels from their area and
    centroid (the disc is not cut off in this photograph)."""
    mask = image.max(axis=2) > 20
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean()), float(np.sqrt(mask.sum() / np.pi))


def test_fov_matches_the_visible_disc(retina: np.ndarray) -> None:
    fov = find_field_of_view(retina)
    cx, cy, r = _visible_disc(retina)
    assert fov.radius == pytest.approx(r, rel=0.03)
    assert abs(fov.cx - cx) < 0.02 * r and abs(fov.cy - cy) < 0.02 * r
    assert 0.9 < fov.fill < 1.1


def test_crop_is_centred_and_rescaled(retina: np.ndarray) -> None:
    out, _ = preprocess_fundus(retina, FundusConfig(size=128))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    # after the crop the disc is centred and fills the square: radius ~ 64 px
    cx, cy, r = _visible_disc(out)
    assert cx == pytest.approx(63.5, abs=2) and cy == pytest.approx(63.5, abs=2)
    assert r == pytest.approx(64, rel=0.05)
    # the corners (outside the disc) are black
    assert out[:6, :6].max() == 0 and out[-6:, -6:].max() == 0


def test_shifted_photo_is_recentred(retina: np.ndarray) -> None:
    """Pad the photo asymmetrically (disc off-centre) and cut the top: still found and centred."""
    shifted = np.pad(retina, ((300, 0), (0, 500), (0, 0)))[200:]
    fov = find_field_of_view(shifted)
    ref = find_field_of_view(retina)
    assert fov.radius == pytest.approx(ref.radius, rel=0.02)
    assert fov.cx == pytest.approx(ref.cx, abs=10) and fov.cy == pytest.approx(ref.cy + 100, abs=10)
    out = crop_to_fov(shifted, fov, 64)
    cx, cy, _ = _visible_disc(out)
    assert cx == pytest.approx(31.5, abs=2) and cy == pytest.approx(31.5, abs=2)


def test_local_contrast_flattens_illumination(retina: np.ndarray) -> None:
    plain, _ = preprocess_fundus(retina, FundusConfig(size=128))
    lcn, _ = preprocess_fundus(retina, FundusConfig(size=128, local_contrast=True))
    inside = np.hypot(*np.mgrid[-63.5:64.5, -63.5:64.5]) < 50
    # background re-centred on mid-grey
    assert abs(float(np.median(lcn[inside])) - 128) < 10

    def gradient(img: np.ndarray) -> float:
        """Left-minus-right mean brightness of the central square: the photo's illumination
        falls off from the optic-disc side to the other."""
        centre = img[32:96, 32:96].astype(float).mean(axis=2)
        return float(centre[:, :16].mean() - centre[:, -16:].mean())

    assert gradient(plain) > 15
    assert abs(gradient(lcn)) < 0.3 * gradient(plain)


def test_non_fundus_and_empty_inputs_fail_clearly() -> None:
    with pytest.raises(ValueError, match="not a circular field of view"):
        find_field_of_view(skdata.astronaut())
    with pytest.raises(ValueError, match="not a circular field of view"):
        find_field_of_view(skdata.coffee())
    with pytest.raises(ValueError, match="empty or uniform"):
        find_field_of_view(np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(ValueError, match="empty or uniform"):
        find_field_of_view(np.full((200, 200, 3), 180, np.uint8))
    with pytest.raises(ValueError, match="is empty"):
        find_field_of_view(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="expected an H x W"):
        find_field_of_view(np.zeros((20, 20, 5), np.uint8))
    with pytest.raises(ValueError, match="size must be"):
        FundusConfig(size=4)


def test_recorded_preprocessing_hook(retina: np.ndarray) -> None:
    from PIL import Image

    settings, size = {"size": 28}, (28, 28)
    out = apply_fundus_preprocessing(settings, size, Image.fromarray(retina))
    assert out.size == (28, 28)
    small = Image.fromarray(retina).resize((40, 40))
    assert apply_fundus_preprocessing(settings, size, small) is small  # already small: untouched
    assert apply_fundus_preprocessing(None, size, small) is small
    with pytest.raises(ValueError, match="not a circular field of view"):
        apply_fundus_preprocessing(settings, size, Image.fromarray(skdata.astronaut()))
