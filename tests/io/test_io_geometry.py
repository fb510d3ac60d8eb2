"""A CT-like series written here with pydicom (per-slice rescale, shuffled file names and
InstanceNumbers, oblique LPS geometry) reads to the expected array and affine; the same volume
as NIfTI reads to the same; bad series are refused with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

from medical_files import ct_series, hu_volume, rotation, write_nifti

from healthcnn import io

SHAPE = (6, 5, 7)
SLOPES = [1.0, 2.0, 1.0, 0.5, 2.0, 1.0]
SPACING = (2.5, 0.7, 0.8)
ORIGIN = (-100.5, 20.25, 33.0)


@pytest.fixture
def oblique(tmp_path):
    hu = hu_volume(SHAPE, SLOPES)
    affine = ct_series(
        tmp_path / "ct", hu, rot=rotation(12, -9, 17), origin=ORIGIN, spacing=SPACING, slopes=SLOPES
    )
    return tmp_path / "ct", hu, affine


def test_oblique_series_reads_to_expected_array_and_affine(oblique) -> None:
    folder, hu, affine = oblique
    image = io.read(folder)
    assert image.array.shape == (1, *SHAPE)
    np.testing.assert_array_equal(image.array[0], hu.astype(np.float32))
    assert np.max(np.abs(image.affine - affine)) < 1e-4
    np.testing.assert_allclose(image.spacing, SPACING, atol=1e-6)
    assert image.orientation == "SPL"
    names = [s.name for s in image.steps]
    assert names.index("rescale") < names.index("stack")
    rescale = next(s for s in image.steps if s.name == "rescale")
    assert sorted(rescale.detail["slopes"]) == sorted(set(SLOPES))


def test_nifti_twin_reads_to_the_same_array_and_affine(oblique, tmp_path) -> None:
    folder, hu, affine = oblique
    nifti = io.read(write_nifti(tmp_path / "ct.nii.gz", hu.astype(np.float32), affine))
    dicom = io.read(folder)
    np.testing.assert_array_equal(nifti.array, dicom.array)
    assert np.max(np.abs(nifti.affine - dicom.affine)) < 1e-4
    np.testing.assert_allclose(nifti.spacing, dicom.spacing, atol=1e-5)
    assert [s.name for s in nifti.steps][:2] == ["frame", "reorient"]


def _world(affine: np.ndarray, shape) -> np.ndarray:
    idx = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ idx + affine[:3, 3:]).T


def test_sagittal_series_is_reoriented_keeping_every_voxel_in_place(tmp_path) -> None:
    # rows run towards posterior, columns towards inferior, slices towards the patient's right
    rot = np.column_stack([[0, 1, 0], [0, 0, -1], np.cross([0, 1, 0], [0, 0, -1])])
    hu = hu_volume(SHAPE, [1.0] * 6, seed=5)
    affine = ct_series(
        tmp_path / "sag", hu, rot=rot, origin=ORIGIN, spacing=SPACING, slopes=[1] * 6
    )
    image = io.read(tmp_path / "sag")
    assert image.orientation == "SPL"
    assert next(s for s in image.steps if s.name == "reorient").detail["from"] == "RIP"
    # every voxel keeps its value at its world position
    out_world = _world(image.affine, image.array.shape[1:])
    source_index = np.rint(np.linalg.solve(affine[:3, :3], (out_world - affine[:3, 3]).T)).T
    values = hu[tuple(source_index.astype(int).T)]
    np.testing.assert_array_equal(image.array[0].reshape(-1), values)


def test_missing_slice_is_refused(tmp_path) -> None:
    hu = hu_volume(SHAPE, SLOPES)
    ct_series(
        tmp_path / "gap", hu, rot=np.eye(3), origin=ORIGIN, spacing=SPACING, slopes=SLOPES, skip=[3]
    )
    with pytest.raises(io.MedicalFormatError, match=r"1 slice\(s\) missing .* incomplete"):
        io.read(tmp_path / "gap")


def test_uneven_spacing_is_refused(tmp_path) -> None:
    hu = hu_volume(SHAPE, SLOPES)
    ct_series(tmp_path / "u", hu, rot=np.eye(3), origin=ORIGIN, spacing=SPACING, slopes=SLOPES)
    moved = sorted((tmp_path / "u").iterdir())[0]
    import pydicom

    ds = pydicom.dcmread(moved)
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.9
    ds.save_as(moved)
    with pytest.raises(io.MedicalFormatError, match="uneven slice spacing"):
        io.read(tmp_path / "u")


def test_mixed_series_folder_is_refused(tmp_path) -> None:
    hu = hu_volume(SHAPE, SLOPES)
    ct_series(tmp_path / "m", hu, rot=np.eye(3), origin=ORIGIN, spacing=SPACING, slopes=SLOPES)
    other = tmp_path / "other"
    ct_series(other, hu, rot=np.eye(3), origin=ORIGIN, spacing=SPACING, slopes=SLOPES, series="9.9")
    (other / sorted(p.name for p in other.iterdir())[0]).rename(tmp_path / "m" / "extra.dcm")
    with pytest.raises(io.MedicalFormatError, match=r"mixes 2 series .* its own folder") as err:
        io.read(tmp_path / "m")
    assert "9.9" not in str(err.value)  # UIDs are not printed


def test_mixed_orientations_are_refused(tmp_path) -> None:
    hu = hu_volume(SHAPE, SLOPES)
    ct_series(tmp_path / "o", hu, rot=np.eye(3), origin=ORIGIN, spacing=SPACING, slopes=SLOPES)
    import pydicom

    first = sorted((tmp_path / "o").iterdir())[0]
    ds = pydicom.dcmread(first)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(first)
    with pytest.raises(io.MedicalFormatError, match="2 different orientations"):
        io.read(tmp_path / "o")


def test_nifti_with_singular_affine_is_refused(tmp_path) -> None:
    import nibabel

    affine = np.diag([1.0, 1.0, 0.0, 1.0])
    path = tmp_path / "flat.nii.gz"
    img = nibabel.Nifti1Image(np.zeros((3, 4, 5), np.int16), None)
    img.set_sform(affine, code=2)  # a converter's bug: a zero column, and no qform to fall back on
    nibabel.save(img, path)
    with pytest.raises(io.MedicalFormatError, match=r"flat\.nii\.gz: the affine .* singular"):
        io.read(path)


def test_a_study_folder_of_series_folders_asks_for_one_series(tmp_path) -> None:
    (tmp_path / "study" / "series1").mkdir(parents=True)
    with pytest.raises(io.MedicalFormatError, match=r"holds folders .*series1.* one series folder"):
        io.read(tmp_path / "study")
