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
into ``<out>/preprocessed-<token>/`` and writes ``<out>/data.csv`` with the reference labels, which
the ordinary image-CSV loader then reads. The same preprocessing is recorded in every bundle, so
``healthcnn predict`` treats a new full-size photograph identically.

**Nothing half-prepared.** The images go to a hidden staging folder, which is renamed to a new
``preprocessed-<token>`` once every photograph is done; ``data.csv`` is then replaced atomically
and is the commit point: until it is, the previous preparation (its CSV and its images) is
untouched, and a failure or a kill part-way leaves it as it was (a killed run's staging folder
is removed by the next preparation of the same folder). Only after the commit are the earlier
``preprocessed-<token>`` folders removed, so a ``data.csv`` never names images of another run.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_text, crash_point, fsync_dir, pid_alive, writer_pid
from .._json import dumps
from ..data.fundus import FundusConfig, preprocess_fundus
from ..data.graders import read_grades_csv, reduce_grades

PREPARED_CSV = "data.csv"
#: the folder of one preparation's images: ``preprocessed-<8 hex digits>``
PREPROCESSED = re.compile(r"preprocessed-[0-9a-f]{8}")
#: marks a preparation's staging folder: ``.preprocessed.staging-<pid>-<token>``
STAGING = ".staging-"


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
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(out_dir)
    token = secrets.token_hex(4)
    final = out_dir / f"preprocessed-{token}"
    staging = out_dir / f".preprocessed{STAGING}{os.getpid()}-{token}"
    staging.mkdir()
    try:
        out_rows = _preprocess_all(
            rows, header, images_csv, staging, final.name, reference, fundus, grades_csv
        )
        crash_point("rename preprocessed")
        os.rename(staging, final)
        fsync_dir(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(out_rows[0]))
    writer.writeheader()
    writer.writerows(out_rows)
    path = atomic_write_text(out_dir / PREPARED_CSV, text.getvalue())  # the commit point
    provenance["fundus"] = fundus.to_dict()
    atomic_write_text(out_dir / "data-provenance.json", dumps(provenance, indent=1))
    for earlier in out_dir.iterdir():  # what no data.csv names any more
        if earlier != final and earlier.is_dir() and PREPROCESSED.fullmatch(earlier.name):
            shutil.rmtree(earlier)
    return path


def _remove_dead_staging(out_dir: Path) -> None:
    """Remove the staging folders of earlier preparations whose process is gone (a live
    one's is left alone)."""
    for d in out_dir.glob(f".preprocessed{STAGING}*"):
        pid = writer_pid(d.name, STAGING) if d.is_dir() else None
        if pid is not None and not pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _preprocess_all(
    rows: list[dict[str, str]],
    header: list[str],
    images_csv: Path,
    staging: Path,
    folder: str,
    reference: dict[str, int] | None,
    fundus: FundusConfig,
    grades_csv: str | Path | None,
) -> list[dict[str, str]]:
    """Preprocess every photograph into ``staging``; the rows of data.csv, whose paths name
    the images in ``folder`` (what ``staging`` is renamed to)."""
    from PIL import Image, UnidentifiedImageError

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
        file = f"{i:06d}_{Path(name).stem}.png"
        Image.fromarray(out).save(staging / file)
        with open(staging / file, "rb") as written:  # on disk before data.csv names it
            os.fsync(written.fileno())
        item = {"path": f"{folder}/{file}", "label": str(label)}
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
    return out_rows
