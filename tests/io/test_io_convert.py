"""The one conversion of a read image to a model input: resampling to a voxel spacing (the
affine follows the interpolation), centring in a size, the uint8 scaling."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.io import MedicalFormatError, MedicalImage, Step
from healthcnn.io.convert import crop_or_pad, resample, to_uint8


def _ramp(n: int = 5, dz: float = 2.0) -> MedicalImage:
    values = np.broadcast_to((10.0 * np.arange(n))[:, None, None], (n, 3, 4)).astype(np.float32)
    affine = np.diag([dz, 0.5, 0.7, 1.0])
    affine[:3, 3] = (4.0, -3.0, 12.0)
    return MedicalImage(values[None].copy(), (dz, 0.5, 0.7), affine, (), "ramp", "test")


def test_resampling_follows_the_affine() -> None:
    image = _ramp()
    out = resample(image, (1.0, 0.5, 0.7))
    assert out.array.shape == (1, 10, 3, 4) and out.spacing == pytest.approx((1.0, 0.5, 0.7))
    # each new voxel's value is the linear interpolation of the old ones at its world position
    z_world = out.affine[0, 0] * np.arange(10) + out.affine[0, 3]
    old_index = (z_world - image.affine[0, 3]) / image.affine[0, 0]
    expected = np.interp(old_index, np.arange(5), 10.0 * np.arange(5))
    np.testing.assert_allclose(out.array[0, :, 1, 2], expected, atol=1e-5)
    assert out.steps[-1].name == "resample"
    assert out.steps[-1].detail == {"from_mm": [2.0, 0.5, 0.7], "to_mm": [1.0, 0.5, 0.7]}


def test_resampling_to_the_same_spacing_changes_nothing() -> None:
    image = _ramp()
    assert resample(image, image.spacing) is image


def test_an_image_without_spacing_cannot_be_resampled() -> None:
    image = MedicalImage(np.zeros((1, 4, 4), np.float32), None, None, (), "photo.dcm", "dicom")
    with pytest.raises(MedicalFormatError, match=r"photo\.dcm: .*no voxel spacing"):
        resample(image, (1.0, 1.0))


def test_crop_or_pad_centres_the_image() -> None:
    a = np.arange(2 * 5 * 2, dtype=np.float32).reshape(1, 2, 5, 2)
    out = crop_or_pad(a, (4, 3, 2))
    assert out.shape == (1, 4, 3, 2)
    np.testing.assert_array_equal(out[0, 1:3], a[0, :, 1:4])
    assert not out[0, 0].any() and not out[0, 3].any()


def test_to_uint8_scales_windowed_values_and_refuses_hounsfield() -> None:
    window = (Step("window", {"centre": 0.0, "width": 1.0}),)
    image = MedicalImage(
        np.array([[[0.0, 0.5], [1.0, 0.2]]], np.float32), (1.0, 1.0), None, window, "w", "test"
    )
    np.testing.assert_array_equal(to_uint8(image, (2, 2))[0], [[0, 128], [255, 51]])
    hu = MedicalImage(np.array([[[-1000.0, 40.0]]], np.float32), (1, 1), None, (), "ct", "t")
    with pytest.raises(MedicalFormatError, match="not 8-bit; give a window"):
        to_uint8(hu, (1, 2))
    with pytest.raises(MedicalFormatError, match="2D image, but the model takes 3D"):
        to_uint8(image, (2, 2, 2))
