"""Full-resolution, multi-grader fundus collections (EyePACS style) -> the study's training CSV.

Users with their own photographs give two CSVs:

- an **images CSV**: ``path`` (relative to the CSV's folder or absolute), optional ``split``
  (train/val/test; without it the study makes a seeded 70/15/15 split), optional ``group``
  (patient id, so both eyes of a patient stay in one split), and ``label`` unless grades come
  from the second file;
- optionally a **grades CSV** in long format, ``image,grader,grade`` (one row per grading; see
  :mod:`healthcnn.data.graders`), reduced to one reference grade per image by ``rule``.

:func:`prepare_fundus_csv` preprocesses every photograph once (field of view, crop, fixed
retinal radius at the network's input size, optional local contrast; :mod:`healthcnn.data.fundus`)
into ``<out>/preprocessed/`` and writes ``<out>/data.csv`` with the reference labels, which the
ordinary image-CSV loader then reads. The same preprocessing is recorded in every bundle, so
``healthcnn predict`` treats a new full-size photograph identically.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from .._json import dumps
from ..data.fundus import FundusConfig, preprocess_fundus
from ..data.graders import read_grades_csv, reduce_grades

PREPARED_CSV = "data.csv"


def _read_images_csv(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"images CSV {path} does not exist")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = [dict(r) for r in reader]
    if "path" not in header:
        raise ValueError(f"{path}: needs a 'path' column (found {header})")
    if not rows:
        raise ValueError(f"{path} lists no images")
    return rows, header


def prepare_fundus_csv(
    images_csv: str | Path,
    out_dir: str | Path,
    *,
    grades_csv: str | Path | None = None,
    rule: str = "majority",
    tie: str = "higher",
    fundus: FundusConfig | None = None,
) -> Path:
    """Reference labels + preprocessed images -> ``<out_dir>/data.csv`` (returned).

    Labels come from ``grades_csv`` (matched to ``path`` by the full value or the file name)
    when given, else from the images CSV's ``label`` column. A photograph whose field of view
    cannot be found raises ``ValueError`` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    images_csv = Path(images_csv)
    out_dir = Path(out_dir)
    fundus = fundus or FundusConfig(size=28)
    rows, header = _read_images_csv(images_csv)
    reference: dict[str, int] | None = None
    provenance: dict[str, Any] = {"labels": "images CSV 'label' column"}
    if grades_csv is not None:
        ref = reduce_grades(read_grades_csv(grades_csv), rule, tie=tie, fallback="majority")
        reference = ref.as_dict()
        provenance = {
            "labels": f"reference grades from {Path(grades_csv).name}",
            "rule": rule,
            "tie": tie,
            "images": len(ref.images),
            "mean_grades_per_image": float(ref.n_grades.mean()),
            "mean_agreement_with_reference": float(ref.agreement.mean()),
        }
    elif "label" not in header:
        raise ValueError(f"{images_csv}: no 'label' column; give grades_csv with the gradings")
    pre = out_dir / "preprocessed"
    pre.mkdir(parents=True, exist_ok=True)
    out_rows = []
    missing = []
    for i, row in enumerate(rows):
        name = row["path"].strip()
        src = Path(name) if Path(name).is_absolute() else images_csv.parent / name
        if reference is not None:
            label = reference.get(name, reference.get(Path(name).name))
            if label is None:
                missing.append(name)
                continue
        else:
            label = row["label"].strip()
        try:
            with Image.open(src) as im:
                pixels = np.asarray(im.convert("RGB"))
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{images_csv}: row {i + 2}: cannot read {src} ({exc})") from None
        try:
            out, _ = preprocess_fundus(pixels, fundus)
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None
        target = pre / f"{i:06d}_{Path(name).stem}.png"
        Image.fromarray(out).save(target)
        item = {"path": str(target.relative_to(out_dir)), "label": str(label)}
        for col in ("split", "group"):
            if col in header:
                item[col] = row[col]
        out_rows.append(item)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise ValueError(
            f"{len(missing)} image(s) of {images_csv.name} have no grades in "
            f"{Path(grades_csv).name if grades_csv else ''}: {shown}"
        )
    path = out_dir / PREPARED_CSV
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    provenance["fundus"] = fundus.to_dict()
    (out_dir / "data-provenance.json").write_text(dumps(provenance, indent=1))
    return path
