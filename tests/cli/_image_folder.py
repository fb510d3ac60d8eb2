"""A user's own image folder for the CLI tests: real photographs cut into small PNGs, a CSV
with patients, labels and a subgroup column.

The two classes are crops of two real images shipped with scikit-image: a fundus photograph
(``skimage.data.retina``) and an immunohistochemistry slide (``skimage.data.
immunohistochemistry``), so a tiny network can tell them apart in one or two epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csv_rows import write_rows

SOURCES = {"fundus": "retina", "histology": "immunohistochemistry"}
#: the split of each pair of patients (one of each class), in turn
_SPLIT_OF_PAIR = ("train", "train", "train", "train", "val", "test")


def _crops(picture: np.ndarray, count: int, size: int, rng: np.random.Generator) -> list:
    """``count`` random square crops of a third of ``picture``'s side, resized to ``size``."""
    from PIL import Image

    side = min(picture.shape[:2]) // 3
    out = []
    for _ in range(count):
        top = int(rng.integers(0, picture.shape[0] - side))
        left = int(rng.integers(0, picture.shape[1] - side))
        crop = Image.fromarray(picture[top : top + side, left : left + side])
        out.append(crop.resize((size, size), Image.Resampling.BILINEAR))
    return out


def write_image_folder(
    folder: Path, *, patients: int = 24, per_patient: int = 2, size: int = 64, seed: int = 0
) -> Path:
    """PNGs under ``folder/images`` and ``folder/labels.csv`` (path, label, patient, site,
    split); half the patients are ``fundus``, half ``histology``; ``site`` cycles A, B, C; the
    split is by patient (every sixth pair of patients val, the next pair test, the rest train)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    pictures = {label: getattr(data, name)() for label, name in SOURCES.items()}
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(patients):
        label = list(SOURCES)[p % 2]
        for k, img in enumerate(_crops(pictures[label], per_patient, size, rng)):
            name = f"images/p{p:02d}_{k}.png"
            img.save(folder / name)
            rows.append(
                {
                    "path": name,
                    "label": label,
                    "patient": f"P{p:02d}",
                    "site": "ABC"[p % 3],
                    "split": _SPLIT_OF_PAIR[(p // 2) % 6],
                }
            )
    csv_path = folder / "labels.csv"
    write_rows(csv_path, rows)
    return csv_path
