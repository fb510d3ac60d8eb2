"""Multi-grader CSVs reduced to reference grades: majority, median, adjudication, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthcnn.data.graders import (
    GradeTable,
    majority_grade,
    median_grade,
    read_grades_csv,
    reduce_grades,
)


def _csv(tmp_path: Path, text: str, name: str = "grades.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GRADES = """image,grader,grade
a.jpg,g1,0
a.jpg,g2,0
a.jpg,g3,1
b.jpg,g1,2
b.jpg,g2,3
b.jpg,g3,3
c.jpg,g1,1
c.jpg,g2,2
c.jpg,g3,4
"""


def test_majority_and_median_on_a_hand_made_csv(tmp_path: Path) -> None:
    table = read_grades_csv(_csv(tmp_path, GRADES))
    assert table.images == ["a.jpg", "b.jpg", "c.jpg"]
    assert table.counts().tolist() == [3, 3, 3]
    med = reduce_grades(table, "median")
    # a: 0,0,1 -> 0; b: 2,3,3 -> 3; c: 1,2,4 -> 2
    assert med.grades.tolist() == [0, 3, 2]
    assert med.agreement.tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    # c has three different grades: majority is a three-way tie
    with pytest.raises(ValueError, match=r"c\.jpg.*tie between \[1, 2, 4\]"):
        reduce_grades(table, "majority")
    maj = reduce_grades(table, "majority", tie="higher")
    assert maj.grades.tolist() == [0, 3, 4]
    assert reduce_grades(table, "majority", tie="lower").grades.tolist() == [0, 3, 1]


def test_ties_in_even_counts() -> None:
    assert majority_grade([1, 1, 2, 2], tie="higher") == 2
    assert majority_grade([1, 1, 2, 2], tie="lower") == 1
    with pytest.raises(ValueError, match="tie"):
        majority_grade([1, 1, 2, 2])
    # median of an even count: equal middle values are no tie
    assert median_grade([0, 2, 2, 4]) == 2
    with pytest.raises(ValueError, match=r"median .* tie between \[1, 3\]"):
        median_grade([0, 1, 3, 4])
    assert median_grade([0, 1, 3, 4], tie="higher") == 3


def test_adjudication_rule(tmp_path: Path) -> None:
    text = GRADES + "b.jpg,adjudicator,2\n"
    table = read_grades_csv(_csv(tmp_path, text))
    # a and c disagree without an adjudicator: the error lists them
    with pytest.raises(ValueError, match=r"2 image\(s\) need adjudication.*'a\.jpg', 'c\.jpg'"):
        reduce_grades(table, "adjudication")
    ref = reduce_grades(table, "adjudication", fallback="median")
    assert ref.grades.tolist() == [0, 2, 2]  # b: the adjudicator's 2 wins over the median 3
    assert ref.adjudicated.tolist() == [False, True, False]
    # an image where every grader agrees needs no adjudication
    unanimous = GradeTable.from_records([("x", "g1", 3), ("x", "g2", 3)])
    assert reduce_grades(unanimous, "adjudication").grades.tolist() == [3]


def test_missing_grades(tmp_path: Path) -> None:
    text = "image,grader,grade\na.jpg,g1,1\na.jpg,g2,\nb.jpg,g1,0\n"
    path = _csv(tmp_path, text)
    with pytest.raises(ValueError, match=r"grades\.csv:3: image 'a\.jpg' has an empty grade"):
        read_grades_csv(path)
    table = read_grades_csv(path, missing="skip")
    assert table.counts().tolist() == [1, 1]
    assert reduce_grades(table, "median").grades.tolist() == [1, 0]


@pytest.mark.parametrize("bad", ["5", "-1", "two", "1.5"])
def test_bad_grades_name_the_row(tmp_path: Path, bad: str) -> None:
    path = _csv(tmp_path, f"image,grader,grade\na.jpg,g1,1\na.jpg,g2,{bad}\n")
    with pytest.raises(ValueError, match=r"grades\.csv:3: grade .* is not an integer in 0\.\.4"):
        read_grades_csv(path)


def test_structural_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"column\(s\) \['grader'\] missing"):
        read_grades_csv(_csv(tmp_path, "image,reader,grade\na,r,1\n"))
    with pytest.raises(ValueError, match="graded image 'a' twice"):
        read_grades_csv(_csv(tmp_path, "image,grader,grade\na,g,1\na,g,2\n"))
    with pytest.raises(ValueError, match="holds no grades"):
        read_grades_csv(_csv(tmp_path, "image,grader,grade\n"))
    with pytest.raises(FileNotFoundError):
        read_grades_csv(tmp_path / "absent.csv")
    table = GradeTable.from_records([("a", "g", 1)])
    with pytest.raises(ValueError, match="rule must be one of"):
        reduce_grades(table, "mean")
    with pytest.raises(ValueError, match="tie must be one of"):
        reduce_grades(table, "majority", tie="random")


def test_custom_columns_and_grade_range(tmp_path: Path) -> None:
    path = _csv(tmp_path, "photo,ophthalmologist,icdr\np1,o1,1\np1,o2,1\np1,o3,0\n")
    table = read_grades_csv(
        path, image_column="photo", grader_column="ophthalmologist", grade_column="icdr"
    )
    ref = reduce_grades(table, "majority")
    assert ref.as_dict() == {"p1": 1}
    assert isinstance(ref.grades, np.ndarray) and ref.n_grades.tolist() == [3]
    with pytest.raises(ValueError, match=r"0\.\.1"):
        GradeTable.from_records([("a", "g", 2)], num_grades=2)
