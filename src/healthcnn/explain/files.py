"""``explain_files``: maps for the inputs in a file, from a bundle, with figures and verdicts.

The file is decoded and prepared exactly as ``predict`` does (the bundle's preprocessing record:
channels, size, normalisation, model input size; the maps are of the single base view, not of
test-time views). The target is a named class or, by default, each input's predicted class.
Written to ``out``: one figure per input (``.png`` for 2D and 3D, ``.svg`` for 1D) and
``explanation.json`` with the probabilities, targets and the method's sanity verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import atomic_write_bytes, atomic_write_text
from .._json import dumps
from .._validate import unknown_name
from ..bundle import load_bundle
from ..inference.files import load_inputs
from . import render
from .explanation import explain
from .saliency import METHODS, evaluating, upsample

#: the most inputs one call explains (each runs the randomisation test)
MAX_INPUTS = 64


def class_scores(task: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """One score per class from the model's outputs: the outputs themselves where each class has
    its own logit; for one logit and two classes, ``(-z, z)``; otherwise (cumulative ordinal
    outputs) the log of the task's class probabilities."""
    k, outputs = len(task.classes), task.num_outputs
    if outputs == k:
        return lambda z: z
    if outputs == 1 and k == 2:
        return lambda z: torch.cat([-z, z], dim=1)

    def log_probabilities(z: torch.Tensor) -> torch.Tensor:
        p = task.probabilities(z)
        if p.dim() != 2 or p.shape[1] != k:
            raise ValueError(
                f"explanations need one score per class; this {task.kind} task gives "
                f"probabilities of shape {tuple(p.shape)} for {k} classes"
            )
        return p.clamp_min(1e-12).log()

    return log_probabilities


def _target(task: Any, name: str | None) -> int | None:
    if name is None:
        return None
    if name not in task.classes:
        raise unknown_name("class", name, task.classes)
    return list(task.classes).index(name)


def network_input(images: torch.Tensor, record: Any) -> torch.Tensor:
    """Stored samples ``(N, C, *spatial)`` as the network sees them, as inference prepares them:
    uint8 scaled to [0, 1] (signals as stored), then the record's transform."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    tf = record.transform()
    return x if tf is None else tf(x)


def figure(values: np.ndarray, heat: np.ndarray, caption: str, leads) -> tuple[str, bytes]:
    """The figure of one input ``(C, *spatial)`` and its map: its file suffix and bytes."""
    dims = values.ndim - 1
    if dims == 1:
        return ".svg", render.figure_1d(values, heat, caption, leads).encode()
    if dims == 2:
        return ".png", render.figure_2d(values, heat, caption)
    return ".png", render.figure_3d(values, heat, caption)


def _file_name(index: int, sample_id: str, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(sample_id).stem)[:60] or "input"
    return f"{index:03d}_{stem}_map{suffix}"


def explain_files(
    bundle_dir: str | Path,
    file: str | Path,
    *,
    method: str = "gradcam",
    class_name: str | None = None,
    layer: str | None = None,
    out: str | Path,
) -> dict[str, Any]:
    """Explain every input in ``file`` (an image or an ``.npz``) with ``method`` (Grad-CAM
    methods at ``layer``, a dotted module name, default: the model's feature map); figures and
    ``explanation.json`` go to ``out``; returns what the JSON holds."""
    if method not in METHODS:
        raise unknown_name("explanation method", method, METHODS)
    bundle = load_bundle(bundle_dir)
    record, task = bundle.preprocessing, bundle.task
    score_fn, target = class_scores(task), _target(task, class_name)
    ds = load_inputs([file], record, list(task.classes))
    if len(ds) > MAX_INPUTS:
        raise ValueError(f"{file} holds {len(ds)} inputs; explain at most {MAX_INPUTS} at a time")
    x = network_input(ds.images, record)
    with evaluating(bundle.model), torch.no_grad():
        probs = task.class_columns(task.probabilities(bundle.model(x)).numpy())
    e = explain(bundle.model, x, target, method, layer=layer, score_fn=score_fn)
    maps = upsample(torch.from_numpy(e.maps), ds.images.shape[2:]).numpy()
    return _write(Path(out), ds, maps, probs, e, task, record)


def _write(out: Path, ds, maps, probs, e, task, record) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    classes = list(task.classes)
    verdict = "PASS" if e.verdict.passed else "FAIL"
    rows = []
    for i, sample_id in enumerate(ds.ids or [str(i) for i in range(len(ds))]):
        cls = classes[e.targets[i]]
        caption = f"{e.method} for '{cls}' (p={probs[i][e.targets[i]]:.2f}); sanity {verdict}"
        values = ds.images[i].numpy()
        suffix, data = figure(values, maps[i], caption, list(record.leads or []))
        name = _file_name(i, sample_id, suffix)
        atomic_write_bytes(out / name, data)
        probabilities = dict(zip(classes, map(float, probs[i]), strict=True))
        rows.append({"input": sample_id, "class": cls, "probabilities": probabilities,
                     "figure": name, "constant_map": bool(maps[i].max() == 0)})  # fmt: skip
    result = {**e.to_dict(), "inputs": rows}
    # last, each file atomic: a complete explanation.json lists only figures written whole
    atomic_write_text(out / "explanation.json", dumps(result, indent=2) + "\n")
    return result
