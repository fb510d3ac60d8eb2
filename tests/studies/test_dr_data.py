"""Full-size, multi-grader photographs -> the study: grades reduced, photos preprocessed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from healthcnn.data.fundus import FundusConfig
from healthcnn.studies.dr_data import prepare_fundus_csv
from healthcnn.studies.dr_screening import StudyConfig, run_study

skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the photo")

SPLITS = ["train", "train", "val", "test"]  # per grade: 2 train, 1 val, 1 test


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 photographs (the real retina, shifted, flipped, darkened) with 3 graders each;
    the majority grade is the intended label."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    base = np.asarray(Image.fromarray(skdata.retina()).resize((300, 300)))
    images, grades = [], []
    for grade in range(5):
        for j, split in enumerate(SPLITS):
            img = np.pad(base, ((j * 10, 0), (0, j * 15), (0, 0)))
            img = img[:, ::-1] if j % 2 else img
            img = (img * (0.6 + 0.1 * grade)).astype(np.uint8)
            name = f"p{grade}{j}.jpg"
            Image.fromarray(img).save(root / name)
            images.append({"path": name, "split": split, "group": f"patient{grade}{j}"})
            other = grade + 1 if grade < 4 else 3  # a third grader one grade off
            grades += [(name, "g1", grade), (name, "g2", grade), (name, "g3", other)]
    with (root / "images.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "split", "group"])
        w.writeheader()
        w.writerows(images)
    with (root / "grades.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "grader", "grade"])
        w.writerows(grades)
    return root


def test_prepare_reduces_grades_and_crops_photos(collection: Path, tmp_path: Path) -> None:
    from PIL import Image

    path = prepare_fundus_csv(
        collection / "images.csv", tmp_path, grades_csv=collection / "grades.csv"
    )
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["label"]) for r in rows] == [g for g in range(5) for _ in SPLITS]
    assert [r["split"] for r in rows] == SPLITS * 5
    first = np.asarray(Image.open(tmp_path / rows[0]["path"]))
    assert first.shape == (28, 28, 3) and first[0, 0].max() == 0  # corner outside the disc
    prov = json.loads((tmp_path / "data-provenance.json").read_text())
    assert prov["rule"] == "majority" and prov["mean_agreement_with_reference"] == pytest.approx(
        2 / 3
    )


def test_prepare_errors(collection: Path, tmp_path: Path) -> None:
    (tmp_path / "few.csv").write_text("image,grader,grade\np00.jpg,g1,0\n")
    with pytest.raises(ValueError, match=r"19 image\(s\) of images\.csv have no grades"):
        prepare_fundus_csv(collection / "images.csv", tmp_path, grades_csv=tmp_path / "few.csv")
    with pytest.raises(ValueError, match="no 'label' column"):
        prepare_fundus_csv(collection / "images.csv", tmp_path)
    from PIL import Image

    Image.fromarray(skdata.astronaut()).save(tmp_path / "astro.jpg")
    (tmp_path / "bad.csv").write_text("path,label\nastro.jpg,1\n")
    with pytest.raises(ValueError, match=r"astro\.jpg: .*not a circular field of view"):
        prepare_fundus_csv(tmp_path / "bad.csv", tmp_path / "o", fundus=FundusConfig(size=28))


def test_quick_study_on_photographs_with_graders(collection: Path, tmp_path: Path) -> None:
    cfg = StudyConfig(
        out=str(tmp_path / "study"),
        data=str(collection / "images.csv"),
        grades_csv=str(collection / "grades.csv"),
        quick=True,
    )
    result = run_study(cfg)
    numbers = result.numbers
    assert numbers["data"]["train"]["n"] == 10 and numbers["data"]["val"]["n"] == 5
    meta = json.loads((result.bundles[0] / "metadata.json").read_text())
    assert meta["preprocessing"]["fundus"]["size"] == 28
    assert meta["data"]["source"].endswith("data.csv")
    html = (result.out / "report.html").read_text()
    assert "could not be built" not in html and "Grade sampling (SIMULATION)" in html
