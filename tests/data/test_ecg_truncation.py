"""A truncated WFDB annotation file is refused (it used to load with beats or AF episodes
missing and no warning). Copies of real .atr files are cut in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("wfdb")

from healthcnn.data.ecg import annotation_stream_problem, read_annotations
from healthcnn.data.root import DataError

pytestmark = pytest.mark.data


def _copy(src_folder: Path, name: str, dst: Path) -> Path:
    for f in src_folder.glob(f"{name}.*"):
        shutil.copyfile(f, dst / f.name)
    return dst / name


@pytest.mark.parametrize(("folder", "record"), [("mitdb", "100"), ("cpsc2021/records", "data_8_4")])
def test_intact_annotations_pass_the_stream_check(
    data_root: Path, folder: str, record: str
) -> None:
    data = (data_root / "ecg" / folder / f"{record}.atr").read_bytes()
    assert annotation_stream_problem(data) is None
    assert len(read_annotations(data_root / "ecg" / folder / record)) > 0


@pytest.mark.parametrize("keep", [0.5, 0.9, "odd", "minus-marker"])
def test_truncated_atr_is_refused_naming_the_file(
    data_root: Path, tmp_path: Path, keep: float | str
) -> None:
    base = _copy(data_root / "ecg" / "mitdb", "100", tmp_path)
    atr = base.with_suffix(".atr")
    data = atr.read_bytes()
    full = len(read_annotations(base))
    if keep == "odd":
        cut = data[: len(data) // 2 | 1]  # an odd length: cut inside a 16-bit word
    elif keep == "minus-marker":
        cut = data[:-2]
    else:
        cut = data[: int(len(data) * keep) // 2 * 2]
    atr.write_bytes(cut)
    with pytest.raises(DataError) as err:
        read_annotations(base)
    message = str(err.value)
    assert str(atr) in message and "truncated" in message
    assert full > 2000  # the intact file holds the whole record's beats


def test_truncated_cpsc_atr_loses_no_af_episode_silently(data_root: Path, tmp_path: Path) -> None:
    base = _copy(data_root / "ecg" / "cpsc2021" / "records", "data_8_4", tmp_path)
    atr = base.with_suffix(".atr")
    data = atr.read_bytes()
    atr.write_bytes(data[: len(data) // 3 * 2 // 2 * 2])
    with pytest.raises(DataError, match=r"data_8_4\.atr.*truncated"):
        read_annotations(base)
