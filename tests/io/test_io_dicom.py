"""DICOM values written here with pydicom: Modality LUT before the window, per-frame rescale,
MONOCHROME1, YBR, window presets and the file's own window; bad input refused clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from medical_files import base_dataset, save, write_slice  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from healthcnn import io  # noqa: E402

STORED = np.arange(0, 4000, 100, dtype=np.uint16).reshape(5, 8)


def _window(values, centre, width):
    return np.clip((values - (centre - width / 2)) / width, 0, 1)


def test_rescale_comes_before_the_files_window(tmp_path) -> None:
    path = write_slice(
        tmp_path / "a.dcm",
        STORED,
        RescaleSlope=2,
        RescaleIntercept=-1024,
        WindowCenter=[40, 500],
        WindowWidth=[400, 2000],
    )
    image = io.read(path, window="file")
    expected = _window(STORED * 2.0 - 1024, 40, 400)
    np.testing.assert_allclose(image.array[0], expected, atol=1e-6)
    assert [s.name for s in image.steps] == ["decode", "rescale", "window"]
    assert image.steps[2].detail == {"centre": 40.0, "width": 400.0, "source": "file"}


@pytest.mark.parametrize(("preset", "centre", "width"), [("lung", -600, 1500), ("bone", 400, 1800)])
def test_presets_and_explicit_windows_are_in_hounsfield_units(tmp_path, preset, centre, width):
    path = write_slice(tmp_path / "a.dcm", STORED, RescaleSlope=1, RescaleIntercept=-1024)
    hu = STORED - 1024.0
    by_name = io.read(path, window=preset).array[0]
    np.testing.assert_allclose(by_name, _window(hu, centre, width), atol=1e-6)
    explicit = io.read(path, window=(centre, width)).array[0]
    np.testing.assert_allclose(explicit, by_name)
    np.testing.assert_allclose(io.read(path, window=f"{centre},{width}").array[0], explicit)


def test_monochrome1_is_inverted_after_rescale_and_window(tmp_path) -> None:
    path = write_slice(
        tmp_path / "m1.dcm",
        STORED,
        PhotometricInterpretation="MONOCHROME1",
        BitsStored=12,
        HighBit=11,
        Modality="CR",
    )
    raw = io.read(path)
    np.testing.assert_array_equal(raw.array[0], 4095.0 - STORED)
    assert raw.steps[-1].name == "invert"
    windowed = io.read(path, window=(2000, 4000))
    expected = 1 - _window(STORED.astype(float), 2000, 4000)
    np.testing.assert_allclose(windowed.array[0], expected, atol=1e-6)
    assert [s.name for s in windowed.steps][-2:] == ["window", "invert"]


def _ybr_full(rgb: np.ndarray) -> np.ndarray:
    """RGB -> YBR_FULL by the formulas in DICOM PS3.3 C.7.6.3.1.2, written out here."""
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def test_ybr_full_is_converted_to_rgb(tmp_path) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
    ds = base_dataset(6, 9, modality="XC")
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = _ybr_full(rgb).tobytes()
    image = io.read(save(ds, tmp_path / "ybr.dcm"))
    assert image.array.shape == (3, 6, 9) and image.array.dtype == np.uint8
    assert np.abs(image.array.astype(int) - np.moveaxis(rgb, -1, 0)).max() <= 2
    assert image.steps[-1].detail == {"from": "YBR_FULL", "to": "RGB"}


def _item(**sequences) -> Dataset:
    item = Dataset()
    for name, fields in sequences.items():
        inner = Dataset()
        for key, value in fields.items():
            setattr(inner, key, value)
        setattr(item, name, Sequence([inner]))
    return item


def test_enhanced_multi_frame_uses_per_frame_rescale_and_positions(tmp_path) -> None:
    frames = np.stack([STORED + k for k in range(3)]).astype(np.int16)
    slopes, intercepts, z = [1.0, 2.0, 0.5], [-1024.0, -1000.0, 0.0], [10.0, 0.0, 5.0]
    ds = base_dataset(5, 8)
    ds.NumberOfFrames = 3
    ds.SharedFunctionalGroupsSequence = Sequence(
        [
            _item(
                PlaneOrientationSequence={"ImageOrientationPatient": [1, 0, 0, 0, 1, 0]},
                PixelMeasuresSequence={"PixelSpacing": [0.5, 0.6], "SliceThickness": 5},
            )
        ]
    )
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [
            _item(
                PixelValueTransformationSequence={
                    "RescaleSlope": slopes[k],
                    "RescaleIntercept": intercepts[k],
                },
                PlanePositionSequence={"ImagePositionPatient": [0, 0, z[k]]},
            )
            for k in range(3)
        ]
    )
    ds.PixelData = frames.tobytes()
    image = io.read(save(ds, tmp_path / "enh.dcm"))
    hu = [frames[k] * slopes[k] + intercepts[k] for k in range(3)]
    np.testing.assert_allclose(image.array[0], np.stack([hu[1], hu[2], hu[0]]))
    assert image.spacing == pytest.approx((5.0, 0.5, 0.6))
    assert image.steps[1].detail["source"] == "per-frame functional groups"


def _voi_lut(first: int, data: list[int], bits: int = 8) -> Sequence:
    item = Dataset()
    item.LUTDescriptor = [len(data), first, bits]
    item.add_new(0x00283006, "US", data)  # LUTData, whose VR (US or OW) pydicom cannot guess
    return Sequence([item])


def test_the_files_voi_lut_table_is_applied_after_rescale(tmp_path) -> None:
    """A window stored as a table: values below the table take its first entry, above it its
    last; the lookup agrees with pydicom's ``apply_voi`` and is scaled from 8 bits to [0, 1]."""
    from pydicom.pixels import apply_voi

    table = [round(255 * (k / 63) ** 0.5) for k in range(64)]  # a curve, not a ramp
    path = write_slice(tmp_path / "lut.dcm", STORED, RescaleSlope=0.05, RescaleIntercept=-40,
                       VOILUTSequence=_voi_lut(5, table))  # fmt: skip
    image = io.read(path, window="file")
    ds = pydicom.dcmread(path)
    modality = STORED * 0.05 - 40
    expected = apply_voi(np.floor(modality).astype(np.int64), ds) / 255.0
    np.testing.assert_allclose(image.array[0], expected, atol=1e-6)
    by_hand = np.array(table)[np.clip(np.floor(modality).astype(int) - 5, 0, 63)] / 255.0
    np.testing.assert_allclose(image.array[0], by_hand, atol=1e-6)
    assert image.array.min() == 0.0 and image.array.max() == 1.0  # both ends of the table
    assert image.steps[-1].detail == {"source": "VOILUTSequence", "entries": 64, "first": 5,
                                      "bits": 8}  # fmt: skip
    bad = write_slice(tmp_path / "bad.dcm", STORED, VOILUTSequence=_voi_lut(0, table, bits=40))
    with pytest.raises(io.MedicalFormatError, match="VOI LUT table"):
        io.read(bad, window="file")


def test_an_unknown_window_preset_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown window preset .* 'lungs'.* Did you mean 'lung'"):
        io.read(get_testdata_file("CT_small.dcm"), window="lungs")


def test_a_hounsfield_preset_on_mr_is_refused() -> None:
    with pytest.raises(io.MedicalFormatError, match=r"Hounsfield units.* modality is MR"):
        io.read(get_testdata_file("MR_small.dcm"), window="brain")


def test_asking_for_a_window_the_file_lacks_is_refused(tmp_path) -> None:
    path = write_slice(tmp_path / "a.dcm", STORED)
    with pytest.raises(io.MedicalFormatError, match="no window of its own"):
        io.read(path, window="file")


def test_a_truncated_file_is_refused(tmp_path) -> None:
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    for keep in (0.3, 0.9):
        path = tmp_path / f"cut{keep}.dcm"
        path.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(io.MedicalFormatError, match=r"truncated|cannot be decoded") as err:
            io.read(path)
        assert str(path) in str(err.value)


def test_a_text_file_named_dcm_is_refused(tmp_path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("patient notes, not an image\n" * 20)
    with pytest.raises(io.MedicalFormatError, match=r"notes.dcm: not a DICOM file"):
        io.read(path)


def test_a_dicom_without_pixel_data_is_refused(tmp_path) -> None:
    path = shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "plan.dcm")
    with pytest.raises(io.MedicalFormatError, match=r"plan.dcm: the DICOM file has no pixel data"):
        io.read(path)


def test_a_missing_decoder_names_the_package_to_install(monkeypatch) -> None:
    import pydicom.pixels

    real = pydicom.pixels.get_decoder

    class Unavailable:
        is_available = False

    def fake(uid):
        return Unavailable() if uid.is_compressed else real(uid)

    monkeypatch.setattr(pydicom.pixels, "get_decoder", fake)
    with pytest.raises(io.MedicalFormatError, match="pip install pylibjpeg pylibjpeg-openjpeg"):
        io.read(get_testdata_file("MR_small_jp2klossless.dcm"))
    with pytest.raises(io.MedicalFormatError, match="pip install pylibjpeg pylibjpeg-libjpeg"):
        io.read(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))


def test_a_missing_path_is_a_file_not_found_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        io.read(tmp_path / "nowhere.dcm")
