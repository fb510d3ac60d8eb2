"""Multi-grader labels: a CSV of (image, grader, grade) reduced to one reference grade per image.

Screening studies grade each photograph several times (Gulshan et al. used a majority of 3 to 8
ophthalmologists; later work adjudicated disagreements in discussion). The reference label is a
*rule* applied to those grades, and the rule is part of the study's method, so it is explicit:

- ``majority``: the most frequent grade. A tie (e.g. 1, 1, 2, 2) is resolved by ``tie``:
  ``"error"`` (default: say which images tie), ``"higher"`` (the more severe grade: the
  conservative choice for screening) or ``"lower"``.
- ``median``: the median grade (grades are ordered). With an even number of grades whose two
  middle values differ, ``tie`` picks as above.
- ``adjudication``: an adjudicator's grade (rows whose grader is ``adjudicator``) wins; an image
  whose graders all agree needs none; any other image is resolved by ``fallback`` (``"majority"``
  or ``"median"``) or, without one, raises an error listing the images that need adjudication.

Input errors are reported with the CSV row number: an empty grade (``missing="error"``, or
``"skip"`` to ignore such rows), a grade that is not an integer in ``0..num_grades - 1``, the same
grader twice on one image, or an image left without any grade.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RULES = ("majority", "median", "adjudication")
TIES = ("error", "higher", "lower")
MISSING = ("error", "skip")


@dataclass(frozen=True)
class GradeTable:
    """Grades per image: ``grades[image] = {grader: grade}`` (in CSV order)."""

    grades: Mapping[str, Mapping[str, int]]
    num_grades: int = 5

    @property
    def images(self) -> list[str]:
        return list(self.grades)

    def counts(self) -> np.ndarray:
        """Number of grades per image, in :attr:`images` order."""
        return np.array([len(g) for g in self.grades.values()], dtype=np.int64)

    @classmethod
    def from_records(
        cls, records: Sequence[tuple[str, str, int]], num_grades: int = 5
    ) -> GradeTable:
        """From ``(image, grader, grade)`` tuples (checked like CSV rows)."""
        table: dict[str, dict[str, int]] = {}
        for i, (image, grader, grade) in enumerate(records):
            _add(table, str(image), str(grader), grade, num_grades, f"record {i}")
        return cls(table, num_grades)


def _add(
    table: dict[str, dict[str, int]],
    image: str,
    grader: str,
    grade: object,
    num_grades: int,
    where: str,
) -> None:
    if not image:
        raise ValueError(f"{where}: empty image name")
    value: int | None = None
    if isinstance(grade, (int, np.integer)) and not isinstance(grade, bool):
        value = int(grade)
    elif isinstance(grade, str) and grade.strip().lstrip("-").isdigit():
        value = int(grade.strip())
    elif isinstance(grade, float) and grade.is_integer():
        value = int(grade)
    if value is None or not 0 <= value < num_grades:
        raise ValueError(
            f"{where}: grade {grade!r} for image {image!r} is not an integer in "
            f"0..{num_grades - 1}; fix the value (DR grades: 0 none .. 4 proliferative)"
        )
    graded = table.setdefault(image, {})
    if grader in graded:
        raise ValueError(
            f"{where}: grader {grader!r} graded image {image!r} twice; keep one grade per "
            f"grader and image (or give repeat readings distinct grader names)"
        )
    graded[grader] = value


def read_grades_csv(
    path: str | Path,
    *,
    image_column: str = "image",
    grader_column: str = "grader",
    grade_column: str = "grade",
    num_grades: int = 5,
    missing: str = "error",
) -> GradeTable:
    """Read a long-format CSV (one row per image and grader) into a :class:`GradeTable`."""
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grades CSV {path} does not exist")
    table: dict[str, dict[str, int]] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        need = [image_column, grader_column, grade_column]
        absent = [c for c in need if c not in header]
        if absent:
            raise ValueError(
                f"{path}: column(s) {absent} missing (found {header}); name them with "
                f"image_column/grader_column/grade_column"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            grade = (row[grade_column] or "").strip()
            if not grade:
                if missing == "skip":
                    continue
                raise ValueError(
                    f"{where}: image {row[image_column]!r} has an empty grade from grader "
                    f"{row[grader_column]!r}; fill it in, delete the row, or pass missing='skip'"
                )
            image = (row[image_column] or "").strip()
            grader = (row[grader_column] or "").strip()
            _add(table, image, grader, grade, num_grades, where)
    if not table:
        raise ValueError(f"{path} holds no grades")
    return GradeTable(table, num_grades)


@dataclass(frozen=True)
class ReferenceLabels:
    """One reference grade per image and how it was reached.

    Attributes:
        images: image names, in the table's order.
        grades: int64 ``(N,)`` reference grades.
        n_grades: grades each reference was made from.
        agreement: fraction of an image's graders who gave exactly the reference grade.
        adjudicated: True where an adjudicator's grade decided.
        rule: the rule used (``"majority"``, ``"median"``, ``"adjudication"``).
    """

    images: list[str]
    grades: np.ndarray
    n_grades: np.ndarray
    agreement: np.ndarray
    adjudicated: np.ndarray
    rule: str

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.images, self.grades.tolist(), strict=True))


def _resolve_tie(candidates: Sequence[int], tie: str, image: str, rule: str) -> int:
    if len(candidates) == 1:
        return int(candidates[0])
    if tie == "higher":
        return int(max(candidates))
    if tie == "lower":
        return int(min(candidates))
    raise ValueError(
        f"image {image!r}: the {rule} of its grades is a tie between {sorted(candidates)}; "
        f"pass tie='higher' (conservative for screening) or tie='lower', or adjudicate"
    )


def majority_grade(grades: Sequence[int], tie: str = "error", image: str = "?") -> int:
    """The most frequent of ``grades``; ties resolved by ``tie``."""
    counts = Counter(int(g) for g in grades)
    if not counts:
        raise ValueError(f"image {image!r} has no grades")
    top = max(counts.values())
    return _resolve_tie(sorted(g for g, c in counts.items() if c == top), tie, image, "majority")


def median_grade(grades: Sequence[int], tie: str = "error", image: str = "?") -> int:
    """The median of ``grades``; with an even count and two different middle values, ``tie``."""
    g = sorted(int(x) for x in grades)
    if not g:
        raise ValueError(f"image {image!r} has no grades")
    mid = len(g) // 2
    if len(g) % 2:
        return g[mid]
    return _resolve_tie(sorted({g[mid - 1], g[mid]}), tie, image, "median")


def reduce_grades(
    table: GradeTable,
    rule: str = "majority",
    *,
    tie: str = "error",
    adjudicator: str = "adjudicator",
    fallback: str | None = None,
) -> ReferenceLabels:
    """Apply ``rule`` to every image of ``table`` (see the module docstring)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if tie not in TIES:
        raise ValueError(f"tie must be one of {TIES}, got {tie!r}")
    if fallback not in (None, "majority", "median"):
        raise ValueError(f"fallback must be None, 'majority' or 'median', got {fallback!r}")
    simple = {"majority": majority_grade, "median": median_grade}
    out, n, agree, adj = [], [], [], []
    unresolved: list[str] = []
    for image, by_grader in table.grades.items():
        if not by_grader:
            raise ValueError(f"image {image!r} has no grades")
        graders = {k: v for k, v in by_grader.items() if k != adjudicator}
        values = list(graders.values())
        decided = False
        if rule == "adjudication":
            if adjudicator in by_grader:
                ref, decided = by_grader[adjudicator], True
            elif values and len(set(values)) == 1:
                ref = values[0]
            elif fallback is not None:
                ref = simple[fallback](values, tie, image)
            else:
                unresolved.append(image)
                continue
        else:
            if not values:
                raise ValueError(
                    f"image {image!r} has only an adjudicator's grade; use rule='adjudication'"
                )
            ref = simple[rule](values, tie, image)
        out.append(int(ref))
        n.append(len(values))
        agree.append(float(np.mean([v == ref for v in values])) if values else 1.0)
        adj.append(decided)
    if unresolved:
        shown = ", ".join(repr(i) for i in unresolved[:5])
        more = f" and {len(unresolved) - 5} more" if len(unresolved) > 5 else ""
        raise ValueError(
            f"{len(unresolved)} image(s) need adjudication (graders disagree, no "
            f"{adjudicator!r} grade): {shown}{more}; add adjudicated grades or pass "
            f"fallback='majority' or 'median'"
        )
    return ReferenceLabels(
        images=[i for i in table.grades if i not in set(unresolved)],
        grades=np.array(out, dtype=np.int64),
        n_grades=np.array(n, dtype=np.int64),
        agreement=np.array(agree),
        adjudicated=np.array(adj, dtype=bool),
        rule=rule,
    )
