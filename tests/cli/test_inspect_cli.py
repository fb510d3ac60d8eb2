"""``healthcnn inspect``: shape, spacing, orientation and steps of a DICOM file, series or
NIfTI; the array saved as .npy; patient-identifying tags only with --show-tags."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from medical_files import PATIENT, STUDY_UID, ct_series, hu_volume

from healthcnn import io
from healthcnn.cli import main

SLOPES = [1.0, 2.0, 1.0, 1.0]


@pytest.fixture
def series(tmp_path: Path) -> Path:
    hu = hu_volume((4, 5, 6), SLOPES)
    ct_series(
        tmp_path / "ct", hu, rot=np.eye(3), origin=(1, 2, 3), spacing=(3, 0.5, 0.6), slopes=SLOPES
    )
    return tmp_path / "ct"


def _identifying_values(folder: Path) -> list[str]:
    import pydicom

    ds = pydicom.dcmread(sorted(folder.iterdir())[0])
    values = [*PATIENT.values(), STUDY_UID, "Doe^Jane", "PID-4711"]
    return [*values, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]


def test_json_output_describes_the_volume_without_identifying_tags(series, capsys) -> None:
    assert main(["inspect", str(series), "--format", "json", "--window", "lung"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["shape"] == [1, 4, 5, 6]
    assert result["spacing_mm"] == [3.0, 0.5, 0.6]
    assert result["orientation"] == "SPL" and result["frame"] == "LPS"
    assert [s["step"] for s in result["steps"]] == ["decode", "rescale", "stack", "window"]
    for value in _identifying_values(series):
        assert value not in out, value


def test_text_output_has_no_identifying_tags_and_show_tags_adds_them(series, capsys) -> None:
    assert main(["inspect", str(series)]) == 0
    out = capsys.readouterr().out
    assert "spacing: 3 x 0.5 x 0.6 mm" in out and "orientation: SPL" in out
    for value in _identifying_values(series):
        assert value not in out, value
    assert main(["inspect", str(series), "--show-tags"]) == 0
    shown = capsys.readouterr().out
    assert PATIENT["PatientID"] in shown and "PatientName = Doe^Jane" in shown


def test_save_npy_writes_the_array_read(series, tmp_path, capsys) -> None:
    out = tmp_path / "vol.npy"
    assert main(["inspect", str(series), "--save-npy", str(out), "--format", "json"]) == 0
    np.testing.assert_array_equal(np.load(out), io.read(series).array)
    assert json.loads(capsys.readouterr().out)["saved_npy"] == str(out)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.joinpath("x.dcm").write_text("not dicom"), "not a DICOM file"),
        (lambda d: None, "no such file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, message) -> None:
    make(tmp_path)
    assert main(["inspect", str(tmp_path / "x.dcm")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("healthcnn inspect: error:") and message in err
    assert err.count("\n") == 1


def test_an_unknown_window_preset_is_one_line_and_exit_2(series, capsys) -> None:
    assert main(["inspect", str(series), "--window", "lungs"]) == 2
    err = capsys.readouterr().err
    assert "unknown window preset" in err and "'lung'" in err and err.count("\n") == 1
