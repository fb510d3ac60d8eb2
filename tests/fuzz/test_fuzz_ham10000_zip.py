"""Fuzzing the HAM10000 image archive: a small valid zip (three photographs and their metadata)
cut short or with bytes flipped, anywhere (local headers, image data, the central directory).
Loading gives a dataset that passes validation or one clear DataError; never another exception.
(The metadata CSV itself is fuzzed in ``test_fuzz_data_files.py``.)"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from _fuzz import FUZZ, damaged, outcome
from hypothesis import given
from PIL import Image

from healthcnn.data import ham10000 as hm
from healthcnn.data.ham10000 import load_ham10000

ROWS = "HAM_1,ISIC_1,nv,follow_up,45.0,male,back\nHAM_2,ISIC_2,mel,histo,60.0,female,face\n"
HEADER = ",".join(hm.COLUMNS) + "\n"


def _archive() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in (1, 2):
            photo = io.BytesIO()
            pixels = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(photo, format="JPEG", quality=80)
            zf.writestr(f"images/ISIC_{i}.jpg", photo.getvalue())
    return buf.getvalue()


ARCHIVE = _archive()


@FUZZ
@given(data=damaged(ARCHIVE))
def test_a_damaged_archive_loads_or_is_one_clear_error(data: bytes) -> None:
    root = Path(tempfile.mkdtemp(prefix="healthcnn-fuzz-ham-"))
    folder = root / hm.FOLDER
    folder.mkdir()
    (folder / hm.METADATA_FILE).write_text(HEADER + ROWS)
    (folder / hm.ZIP_FILE).write_bytes(data)
    cache, os.environ["HEALTHCNN_CACHE"] = os.environ.get("HEALTHCNN_CACHE"), str(root / "cache")
    try:  # the decoded-image cache goes to this example's own folder
        ham = outcome(lambda: load_ham10000(root, size=16))
    finally:
        if cache is None:
            del os.environ["HEALTHCNN_CACHE"]
        else:
            os.environ["HEALTHCNN_CACHE"] = cache
    if ham is not None:
        assert tuple(ham.dataset.images.shape) == (2, 3, 16, 16)
        assert ham.dataset.images.dtype.is_floating_point is False
    shutil.rmtree(root)
