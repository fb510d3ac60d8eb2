"""``predict_files``: class probabilities for image files and ``.npz`` arrays from a bundle.

Every input is treated as the bundle's :class:`~healthcnn.bundle.Preprocessing` record says:
channels, size (image files are resized to it; a recorded fundus preprocessing crops
full-size photographs first), normalisation, model input size and test-time views.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle import Preprocessing
from ..bundle.trust import TrustRules, read_trust
from ..data.arrays import ArrayDataset
from ..data.validate import image_array, signal_array
from ..io import is_medical_path
from ..tasks import Task
from .engines import Predictor, load_predictor
from .medical import medical_item
from .records import is_record_path, record_items


def _checked(arr: np.ndarray, record: Preprocessing, where: str) -> np.ndarray:
    """Inputs by the data loaders' rules: images (a record that scales by 1/255) become uint8
    by the stated 16-bit/float rules or are refused; signals stay float32, finite."""
    if record.raw_uint8:
        return image_array(arr, where)
    return signal_array(arr, where).astype(np.float32)


def _npz_items(f: Path, record: Preprocessing) -> list[tuple[str, np.ndarray]]:
    channels, size = record.channels, record.size or ()
    with np.load(f, allow_pickle=False) as npz:
        key = next((k for k in ("images", "test_images") if k in npz.files), None)
        if key is None:
            raise ValueError(
                f"{f}: no 'images' or 'test_images' array (found {', '.join(npz.files)})"
            )
        arr = _checked(npz[key], record, f"{f}: {key}")
    expected = (len(size) + 1, len(size) + 2)
    if arr.ndim not in expected:
        raise ValueError(f"{f}: {key} has shape {arr.shape}; expected N x {size}")
    if arr.ndim == len(size) + 1:
        arr = arr[:, None] if channels == 1 else arr
    elif arr.shape[-1] == channels and arr.shape[1] != channels:
        arr = np.moveaxis(arr, -1, 1)
    return [(f"{f.name}[{i}]", a) for i, a in enumerate(arr)]


def _image_item(f: Path, record: Preprocessing) -> tuple[str, np.ndarray]:
    """Decoded as the image-folder loader decodes (16-bit and float rules, bomb guard), then
    the recorded fundus preprocessing, then the bilinear resize to the record's size."""
    from PIL import Image

    from ..data.fundus import apply_fundus_preprocessing
    from ..data.images import read_image

    size = record.size or ()
    if len(size) != 2:
        raise ValueError(f"{f}: image files need a 2D model; this bundle expects {size}")
    decoded = read_image(f, f"image {f}", "RGB" if record.channels == 3 else "L")
    im = apply_fundus_preprocessing(record.fundus, size, Image.fromarray(decoded))
    a = np.asarray(im.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.uint8)
    return f.name, a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)


def load_inputs(files: Sequence[str | Path], record: Preprocessing, classes: list[str]):
    """The files as one :class:`ArrayDataset` of the record's shape (uint8 images or float32
    signals; ids: file names, ``name.npz[i]`` for arrays, ``record@start`` for the windows of a
    WFDB record given by its ``.hea``)."""
    items: list[tuple[str, np.ndarray]] = []
    for f in map(Path, files):
        if is_medical_path(f) and f.exists():  # DICOM file or series folder, NIfTI
            items.append(medical_item(f, record))
            continue
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist")
        if is_record_path(f):  # a WFDB ECG record, by its header
            items += record_items(f, record)
            continue
        items += _npz_items(f, record) if f.suffix == ".npz" else [_image_item(f, record)]
    images = torch.from_numpy(np.stack([a for _, a in items]))
    expected = (record.channels, *(record.size or ()))
    if tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"inputs have shape {tuple(images.shape[1:])}; the bundle expects {expected}"
        )
    return ArrayDataset(
        images=images,
        labels=torch.zeros(len(items), dtype=torch.long),
        classes=list(classes),
        ids=[n for n, _ in items],
    )


def predict_files(
    bundle_dir: str | Path,
    files: Sequence[str | Path],
    *,
    precision: str = "auto",
    engine: str = "torch",
) -> list[dict[str, Any]]:
    """Class probabilities for image files (resized to the bundle's input) or ``.npz`` arrays,
    computed by an inference ``engine`` (``torch``, ``compiled`` or ``onnx``; see
    :mod:`healthcnn.inference`). When the bundle holds fitted trust rules (``healthcnn
    calibrate``), each row also has ``set`` (the prediction set's class names),
    ``abstain`` (True: the confidence is below the rule's threshold; defer to a person) and
    ``decisions`` (``{operating point: positive?}`` for the binary view)."""
    bundle, predictor = load_predictor(bundle_dir, engine, precision=precision)
    record, task = bundle.preprocessing, bundle.task
    ds = load_inputs(files, record, list(task.classes))
    probs = class_probabilities(predictor, record, task, ds)
    rules = read_trust(bundle_dir, bundle.metadata.get("model_sha256"))
    return result_rows(list(ds.ids or []), probs, list(task.classes), rules)


def class_probabilities(
    predictor: Predictor, record: Preprocessing, task: Task, ds: ArrayDataset, batch_size: int = 256
) -> np.ndarray:
    """``(N, K)`` float64 probabilities of the task's classes for the prepared inputs ``ds``,
    averaged over the record's test-time views (what ``predict`` and the service return)."""
    views = record.views_transforms()
    scores_all = sum(
        predictor.predict(ds, task, batch_size=batch_size, transform=tf).scores for tf in views
    ) / len(views)
    return np.asarray(task.class_columns(scores_all), dtype=np.float64)


def result_rows(
    ids: Sequence[str], probs: np.ndarray, names: list[str], rules: TrustRules | None
) -> list[dict[str, Any]]:
    """One result per input: its probabilities by class name and, when the bundle has rules,
    its prediction set, abstain flag and decisions."""
    rows = [
        {"input": name, "probabilities": dict(zip(names, map(float, row), strict=True))}
        for name, row in zip(ids, probs, strict=True)
    ]
    return rows if rules is None else _with_trust(rows, rules, probs, names)


def _with_trust(
    rows: list[dict[str, Any]], rules: TrustRules, probs: np.ndarray, names: list[str]
) -> list[dict[str, Any]]:
    """Each row with its prediction set, abstain flag and decision at each operating point (the
    rules the bundle holds)."""
    if rules.conformal is not None:
        sets = rules.conformal.predict_sets(probs)
        for row, members in zip(rows, sets, strict=True):
            row["set"] = [n for n, m in zip(names, members, strict=True) if m]
    if rules.abstain is not None:
        flags = rules.abstain.abstain(probs.max(axis=1))
        for row, flag in zip(rows, flags, strict=True):
            row["abstain"] = bool(flag)
    if rules.points is not None:
        for row, decided in zip(rows, rules.points.decide(probs, names), strict=True):
            row["decisions"] = decided
    return rows
