"""The formats without patient geometry: PNG, JPEG, TIFF (16-bit included) and ``.npz``.

They are read into the same :class:`MedicalImage` as DICOM and NIfTI, with no spacing and no
affine (a photograph has no patient frame), values kept as stored (a 16-bit TIFF stays uint16;
the data pipeline's stated rules turn it into model input later) and the steps recorded:

* image files through Pillow, with its decompression-bomb guard as one clear error; grey images
  become ``(1, H, W)``, colour ``(3, H, W)``; a palette image is looked up to RGB and an alpha
  channel dropped, each recorded as a step;
* an ``.npz`` holding exactly one array: ``(H, W)`` becomes ``(1, H, W)``; an array of 3 or 4
  dimensions is taken as already channels first ``(C, H, W)`` / ``(C, D, H, W)`` (the layout
  ``inspect --save-npy`` writes); MedMNIST-layout files of many images are read by
  :func:`healthcnn.data.load_medmnist`, not here.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

from .image import MedicalFormatError, MedicalImage, Step, one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
NPZ_SUFFIX = ".npz"


def is_plain_path(path: Path) -> bool:
    """Whether ``path`` names a PNG, JPEG, TIFF or ``.npz`` file (by its suffix)."""
    return path.suffix.lower() in (*IMAGE_SUFFIXES, NPZ_SUFFIX)


def _open(path: Path):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MedicalFormatError(
                path, f"more pixels than Pillow's decompression-bomb limit ({one_line(exc)})"
            ) from None


def _pixels(img, steps: list[Step]) -> np.ndarray:
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        steps.append(Step("palette", {"to": img.mode}))
    if img.mode in ("RGBA", "LA"):
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
        steps.append(Step("drop_alpha", {"to": img.mode}))
    if img.mode not in ("L", "RGB", "I;16", "I;16B", "I", "F", "1"):
        steps.append(Step("colour", {"from": img.mode, "to": "RGB"}))
        img = img.convert("RGB")
    arr = np.asarray(img)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def read_image_file(path: Path) -> MedicalImage:
    """A PNG, JPEG or TIFF as a channels-first array, values as stored."""
    from PIL import UnidentifiedImageError

    try:
        with _open(path) as img:
            steps = [Step("decode", {"format": img.format, "mode": img.mode, "decoder": "Pillow"})]
            array = np.ascontiguousarray(_pixels(img, steps))
            fmt = str(img.format)
    except MedicalFormatError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
        raise MedicalFormatError(path, f"not a readable image ({one_line(exc)})") from None
    return MedicalImage(array, None, None, tuple(steps), str(path), fmt)


def read_npz(path: Path) -> MedicalImage:
    """An ``.npz`` holding one array (see the module docstring)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if len(names) != 1:
                raise MedicalFormatError(
                    path, f"holds {len(names)} arrays ({', '.join(names) or 'none'}); one image "
                    "or volume per file (MedMNIST-layout files go through healthcnn train/predict)"
                )  # fmt: skip
            array = npz[names[0]]
    except MedicalFormatError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MedicalFormatError(path, f"not a readable .npz ({one_line(exc)})") from None
    if array.ndim == 2:
        array = array[None]
    elif array.ndim not in (3, 4):
        raise MedicalFormatError(
            path, f"array {names[0]!r} has shape {array.shape}; expected (H, W), (C, H, W) or "
            "(C, D, H, W)"
        )  # fmt: skip
    step = Step("load", {"array": names[0], "dtype": str(array.dtype)})
    return MedicalImage(np.ascontiguousarray(array), None, None, (step,), str(path), "npz")
