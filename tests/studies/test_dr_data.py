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


def test_a_failed_or_killed_preparation_leaves_the_last_one_whole(
    collection: Path, tmp_path: Path, monkeypatch
) -> None:
    """A preparation that fails part-way changes nothing of the one before (its data.csv and
    every image it names); a staging folder left by a killed preparation goes at the next
    one (a live writer's stays); a preparation that succeeds replaces the earlier images."""
    import os
    import subprocess
    import sys

    from PIL import Image

    from healthcnn.studies import dr_data

    images, grades = collection / "images.csv", collection / "grades.csv"
    path = prepare_fundus_csv(images, tmp_path, grades_csv=grades)
    before = path.read_bytes()
    rows = list(csv.DictReader(before.decode().splitlines()))
    folder = rows[0]["path"].split("/")[0]
    assert dr_data.PREPROCESSED.fullmatch(folder)
    pixels = {r["path"]: (tmp_path / r["path"]).read_bytes() for r in rows}

    real, calls = dr_data.preprocess_fundus, []

    def fails_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("not a circular field of view (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(dr_data, "preprocess_fundus", fails_on_the_third)
    with pytest.raises(ValueError, match="simulated"):
        prepare_fundus_csv(images, tmp_path, grades_csv=grades, fundus=FundusConfig(size=32))
    monkeypatch.setattr(dr_data, "preprocess_fundus", real)
    assert path.read_bytes() == before
    assert {r: (tmp_path / r).read_bytes() for r in pixels} == pixels
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [folder]

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f".preprocessed.staging-{int(done.stdout)}-deadbeef"
    live = tmp_path / f".preprocessed.staging-{os.getpid()}-feedbeef"
    for d in (dead, live):
        d.mkdir()
        (d / "000000_p00.png").write_bytes(b"half")
    path = prepare_fundus_csv(images, tmp_path, grades_csv=grades, fundus=FundusConfig(size=32))
    rows = list(csv.DictReader(path.read_text().splitlines()))
    new = rows[0]["path"].split("/")[0]
    assert new != folder and dr_data.PREPROCESSED.fullmatch(new)
    assert not (tmp_path / folder).exists() and not dead.exists() and live.exists()
    assert np.asarray(Image.open(tmp_path / rows[0]["path"])).shape == (32, 32, 3)
    assert json.loads((tmp_path / "data-provenance.json").read_text())["fundus"]["size"] == 32


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
