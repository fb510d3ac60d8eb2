"""Files no one here wrote: pydicom's own test files and nibabel's test images (both ship with
the installed packages; nothing is downloaded).

Compressed files with an uncompressed twin decode to the same array (lossless transfer
syntaxes, and re-encodings of the same pixels) or within the stated tolerance (lossy): the
tolerance is the largest and the mean absolute difference in stored units, measured once for
each pair and written down here; a decoder that drifts beyond it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
nibabel = pytest.importorskip("nibabel")

from pydicom.data import get_testdata_file  # noqa: E402

from healthcnn import io  # noqa: E402

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"

#: (reference, other): decode to exactly the same array
LOSSLESS = [
    ("MR_small.dcm", "MR_small_RLE.dcm"),
    ("MR_small.dcm", "MR_small_jp2klossless.dcm"),
    ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
    ("MR_small.dcm", "MR_small_bigendian.dcm"),
    ("MR_small.dcm", "MR_small_expb.dcm"),
    ("MR_small.dcm", "MR_small_implicit.dcm"),
    ("SC_rgb_rle.dcm", "SC_rgb_jpeg_gdcm.dcm"),
    ("SC_rgb_rle.dcm", "SC_rgb_gdcm_KY.dcm"),
    ("SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm"),
    ("SC_rgb_jpeg_dcmd.dcm", "SC_rgb_jpeg.dcm"),
    ("rtdose.dcm", "rtdose_rle.dcm"),
    ("rtdose.dcm", "rtdose_expb.dcm"),
    ("rtdose_1frame.dcm", "rtdose_rle_1frame.dcm"),
    ("rtdose_1frame.dcm", "rtdose_expb_1frame.dcm"),
    ("liver_1frame.dcm", "liver_expb_1frame.dcm"),
]

#: (reference, other, largest |difference|, mean |difference|) for lossy twins, in stored units
#: of 8-bit RGB (12-bit grey for the JPEG 2000 / JPEG Extended pair)
LOSSY = [
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cr.dcm", 2, 0.2),  # JPEG baseline, RGB kept
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", 6, 0.6),  # YBR 4:2:2
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm", 6, 0.6),  # YBR 4:4:4
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm", 6, 0.6),
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm", 77, 3.0),  # a low quality setting
    ("SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", 77, 3.0),
    ("SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm", 6, 0.6),
    ("SC_rgb_rle.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm", 75, 3.0),
    ("SC_rgb_rle.dcm", "SC_rgb_jls_lossy_line.dcm", 2, 0.75),  # JPEG-LS near-lossless
    ("SC_rgb_rle.dcm", "SC_rgb_jls_lossy_sample.dcm", 2, 0.75),
    ("SC_rgb_rle.dcm", "SC_ybr_full_422_uncompressed.dcm", 6, 0.6),  # chroma subsampled
    ("SC_rgb_small_odd.dcm", "SC_rgb_small_odd_jpeg.dcm", 4, 1.6),
    ("JPEG2000.dcm", "JPGExtended.dcm", 96, 4.3),
]

#: pydicom test files that hold no image, or that no installed decoder reads: refused clearly
REFUSED = {
    "UN_sequence.dcm": "no pixel data",
    "rtplan.dcm": "no pixel data",
    "test-SR.dcm": "no pixel data",
    "waveform_ecg.dcm": "no pixel data",
    "MR_truncated.dcm": "cannot be decoded",
    "JPEG-lossy.dcm": "gdcm",  # 12-bit JPEG Extended that only GDCM decodes
    "meta_missing_tsyntax.dcm": "cannot be decoded",
}


def _read(name: str) -> np.ndarray:
    return io.read(get_testdata_file(name)).array.astype(np.float64)


def _first_frame(array: np.ndarray, like: np.ndarray) -> np.ndarray:
    return array[:, 0] if array.ndim == like.ndim + 1 else array


@pytest.mark.parametrize(("reference", "other"), LOSSLESS)
def test_lossless_twins_decode_to_the_same_array(reference: str, other: str) -> None:
    a, b = _read(reference), _read(other)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("reference", "other", "largest", "mean"), LOSSY)
def test_lossy_twins_stay_within_the_stated_tolerance(reference, other, largest, mean) -> None:
    a, b = _read(reference), _read(other)
    diff = np.abs(a - b)
    assert diff.max() <= largest and diff.mean() <= mean, (diff.max(), diff.mean())


@pytest.mark.parametrize("name", ["SC_rgb_rle_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm"])
def test_multi_frame_colour_holds_its_single_frame_twin(name: str) -> None:
    single = _read(name.replace("_2frame", ""))
    frames = _read(name)
    assert frames.shape == (3, 2, *single.shape[1:])
    np.testing.assert_array_equal(frames[:, 0], single)


def test_rgb_from_ybr_matches_pydicoms_own_conversion() -> None:
    """An independent path: pydicom's decoder asked for RGB directly."""
    for name in ("SC_ybr_full_422_uncompressed.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name))
        theirs = np.moveaxis(ds.pixel_array.astype(np.int16), -1, 0)
        image = io.read(get_testdata_file(name))
        assert any(s.name == "colour" for s in image.steps)
        assert np.abs(image.array.astype(np.int16) - theirs).max() <= 1


def test_ct_small_is_in_hounsfield_units_with_its_geometry() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    image = io.read(get_testdata_file("CT_small.dcm"))
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(image.array[0], expected)
    assert image.spacing == tuple(float(v) for v in ds.PixelSpacing)
    corner = image.affine @ [1, 2, 0, 1]  # row 1, column 2
    row, col = np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:])
    want = np.array(ds.ImagePositionPatient, float)
    want = want + col * float(ds.PixelSpacing[0]) + 2 * row * float(ds.PixelSpacing[1])
    np.testing.assert_allclose(corner[:3], want, atol=1e-6)


def test_rt_dose_multi_frame_is_a_volume_on_its_grid() -> None:
    ds = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    image = io.read(get_testdata_file("rtdose.dcm"))
    assert image.array.shape == (1, int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    assert image.spacing[0] == pytest.approx(abs(offsets[1] - offsets[0]))
    np.testing.assert_allclose(image.array[0], ds.pixel_array * float(ds.DoseGridScaling))


@pytest.mark.parametrize(("name", "problem"), sorted(REFUSED.items()))
def test_files_without_a_readable_image_are_refused_clearly(name: str, problem: str) -> None:
    with pytest.raises(io.MedicalFormatError, match=problem) as err:
        io.read(get_testdata_file(name))
    assert name in str(err.value) and "\n" not in str(err.value)


def _voxel_worlds(affine: np.ndarray, shape) -> np.ndarray:
    idx = np.indices(shape).reshape(len(shape), -1).astype(float)
    return (affine[:3, : len(shape)] @ idx + affine[:3, 3:]).T


@pytest.mark.parametrize(
    "name",
    ["anatomical.nii", "standard.nii.gz", "reoriented_anat_moved.nii", "resampled_anat_moved.nii"],
)
def test_nibabel_volumes_keep_every_voxel_at_its_world_position(name: str) -> None:
    img = nibabel.load(NIBABEL_DATA / name)
    image = io.read(NIBABEL_DATA / name)
    assert image.orientation == "SPL"
    lps = _voxel_worlds(image.affine, image.array.shape[1:])
    ras = lps * [-1, -1, 1]
    source = (np.linalg.inv(img.affine) @ np.c_[ras, np.ones(len(ras))].T)[:3].T
    index = np.rint(source).astype(int)
    assert np.abs(source - index).max() < 1e-3
    data = np.asarray(img.dataobj, dtype=np.float32).reshape(img.shape[:3])
    np.testing.assert_array_equal(image.array[0].reshape(-1), data[tuple(index.T)])
    np.testing.assert_allclose(sorted(image.spacing), sorted(img.header.get_zooms()[:3]))


@pytest.mark.parametrize("name", ["functional.nii", "example4d.nii.gz", "example_nifti2.nii.gz"])
def test_nibabel_4d_images_are_refused(name: str) -> None:
    with pytest.raises(io.MedicalFormatError, match=r"4D image .* only 3D"):
        io.read(NIBABEL_DATA / name)


def test_nibabel_cifti_and_other_formats_are_refused() -> None:
    with pytest.raises(io.MedicalFormatError, match="not a NIfTI volume"):
        io.read(NIBABEL_DATA / "row_major.dconn.nii")
    with pytest.raises(io.MedicalFormatError, match=r"not a DICOM file .* NIfTI"):
        io.read(NIBABEL_DATA / "test.mgz")


def test_nibabels_dicom_slices_read() -> None:
    for name in ("0.dcm", "1.dcm"):
        ds = pydicom.dcmread(NIBABEL_DATA / name)
        image = io.read(NIBABEL_DATA / name)
        assert image.array.shape == (1, int(ds.Rows), int(ds.Columns))
        np.testing.assert_array_equal(image.array[0], ds.pixel_array)


def test_every_pydicom_image_file_reads_or_is_refused_clearly() -> None:
    folder = Path(get_testdata_file("CT_small.dcm")).parent
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".dcm"):
            continue
        try:
            image = io.read(folder / name)
        except io.MedicalFormatError as exc:
            assert str(exc).startswith(str(folder / name)) and "\n" not in str(exc)
            continue
        assert image.array.ndim in (3, 4) and image.channels in (1, 3)
        assert image.steps[0].name == "decode"
