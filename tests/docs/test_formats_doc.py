"""docs/formats.md is generated: the committed file equals a fresh run of the script over the
test files pydicom and nibabel ship (with the ``medical`` extra installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")


def test_formats_doc_is_up_to_date(check_generated) -> None:
    check_generated("make_formats_table", "formats.md")


def test_formats_doc_states_the_frame_and_reads_the_key_files() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    assert "**LPS**" in text and "LPS = diag(-1, -1, 1) @ RAS" in text
    for name in ("CT_small.dcm", "MR_small_jp2klossless.dcm", "anatomical.nii"):
        row = next(line for line in text.splitlines() if f"`{name}`" in line)
        assert "refused" not in row
