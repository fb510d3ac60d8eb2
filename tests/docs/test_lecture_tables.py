"""docs/lecture-tables.md is generated: the committed file equals a fresh run of the script,
and the numbers the issue names appear in it."""

from __future__ import annotations

from pathlib import Path


def test_lecture_tables_doc_is_up_to_date(check_generated) -> None:
    check_generated("make_lecture_tables", "lecture-tables.md")


def test_lecture_tables_explain_every_difference() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "lecture-tables.md").read_text()
    assert "| yes |" in text and "**no**" not in text  # AlexNet rows all match the lecture
    assert "exactly the 65,664 parameters" in text  # VGG-16
    assert "| = the lecture's way of counting | 11,511,784 |" in text  # ResNet-18
    assert "The lecture gives 163,696: the same." in text  # inception (3a)
    assert "investigate" not in text
