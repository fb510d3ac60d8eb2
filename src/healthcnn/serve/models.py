"""The models a service holds: one bundle each, loaded once, with its engine, trust rules and
what the API says about it.

:meth:`ServedModel.prepare` turns an uploaded file into the bundle's inputs with
:func:`healthcnn.inference.files.load_inputs` and :meth:`ServedModel.results` scores a batch of
them with :func:`~healthcnn.inference.files.class_probabilities` and
:func:`~healthcnn.inference.files.result_rows`: the code ``healthcnn predict`` runs, so the
service's probabilities are ``predict``'s.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle import Bundle
from ..bundle.seal import MANIFEST_FILE, read_manifest
from ..bundle.trust import TrustRules, read_trust
from ..data.arrays import ArrayDataset
from ..explain.saliency import upsample
from ..inference.engines import Predictor, load_predictor
from ..inference.files import class_probabilities, load_inputs, result_rows

INPUT_KINDS = {1: "signal", 2: "image", 3: "volume"}


def sealed_card(bundle_dir: Path) -> Path | None:
    """The first HTML file the bundle's manifest lists (its model card), or None."""
    if not (bundle_dir / MANIFEST_FILE).is_file():
        return None
    sealed = sorted(n for n in read_manifest(bundle_dir) if n.endswith(".html"))
    return bundle_dir / sealed[0] if sealed else None


def bundle_hash(bundle_dir: Path) -> str:
    """SHA-256 of the bundle's manifest (which lists every file's SHA-256): one version id."""
    path = bundle_dir / MANIFEST_FILE
    if not path.is_file():  # a version-1 bundle: its weights' digest stands for it
        return hashlib.sha256((bundle_dir / "model.safetensors").read_bytes()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_name(bundle_dir: Path, taken: set[str]) -> str:
    """A URL-safe name from the bundle folder's name, unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", bundle_dir.resolve().name).strip("-.") or "model"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


@dataclass
class ServedModel:
    """A loaded bundle behind the service."""

    name: str
    bundle_dir: Path
    bundle: Bundle
    predictor: Predictor
    rules: TrustRules | None
    version: str
    classes: list[str] = field(default_factory=list)
    #: the bundle's sealed HTML model card (``healthcnn report B -o B/report.html``), if any
    card: Path | None = None

    @classmethod
    def load(
        cls, bundle_dir: str | Path, name: str, *, engine: str = "torch", precision: str = "auto"
    ) -> ServedModel:
        path = Path(bundle_dir)
        bundle, predictor = load_predictor(path, engine, precision=precision)
        rules = read_trust(path, bundle.metadata.get("model_sha256"))
        card = sealed_card(path)
        classes = list(bundle.task.classes)
        return cls(name, path, bundle, predictor, rules, bundle_hash(path), classes, card)

    @property
    def input_kind(self) -> str:
        return INPUT_KINDS.get(self.bundle.preprocessing.spatial_dims, "unknown")

    def info(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this model."""
        record = self.bundle.preprocessing
        points = self.rules.points if self.rules is not None else None
        return {
            "name": self.name,
            "task": self.bundle.task.kind,
            "classes": self.classes,
            "input": {
                "kind": self.input_kind,
                "channels": record.channels,
                "size": list(record.size or ()),
                "window": record.window,
                "spacing": None if record.spacing is None else list(record.spacing),
            },
            "operating_points": None
            if points is None
            else {
                "positive": list(points.positive),
                "name": points.name,
                "points": [dict(p) for p in points.points],
            },
            "prediction_sets": self.rules is not None and self.rules.conformal is not None,
            "abstention": self.rules is not None and self.rules.abstain is not None,
            "card": self.card is not None,
            "engine": self.predictor.describe(),
            "version": self.version,
            "architecture": self.bundle.config.get("model_name"),
        }

    def explain(self, inputs: ArrayDataset, method: str) -> dict[str, Any]:
        """Grad-CAM (or Grad-CAM++) of the first input for its predicted class: the figure
        (PNG, or SVG for signals) as a data URL, the map itself (for the page's overlay), the
        target class and the sanity verdict."""
        from ..explain import explain
        from ..explain.files import class_scores, figure, network_input

        record, task = self.bundle.preprocessing, self.bundle.task
        x = network_input(inputs.images[:1], record)
        e = explain(self.bundle.model, x, None, method, score_fn=class_scores(task))
        heat = upsample(torch.from_numpy(e.maps), inputs.images.shape[2:]).numpy()[0]
        target = self.classes[e.targets[0]]
        verdict = "PASS" if e.verdict.passed else "FAIL"
        caption = f"{method} for '{target}'; sanity {verdict}"
        suffix, data = figure(inputs.images[0].numpy(), heat, caption, list(record.leads or []))
        mime = "image/svg+xml" if suffix == ".svg" else "image/png"
        return {
            "method": method,
            "class": target,
            "figure": f"data:{mime};base64," + base64.b64encode(data).decode("ascii"),
            "map": heat_map(heat),
            "sanity": e.verdict.to_dict(),
        }

    def prepare(self, path: Path) -> ArrayDataset:
        """The uploaded file as the bundle's inputs (``predict``'s reading and resizing)."""
        return load_inputs([path], self.bundle.preprocessing, self.classes)

    def results(self, inputs: list[ArrayDataset], batch_size: int) -> list[list[dict[str, Any]]]:
        """Each request's rows, scored together as one batch."""
        images = torch.cat([ds.images for ds in inputs])
        ids = [i for ds in inputs for i in (ds.ids or [])]
        joined = ArrayDataset(images, torch.zeros(len(images), dtype=torch.long), self.classes)
        task = self.bundle.task
        probs = class_probabilities(
            self.predictor, self.bundle.preprocessing, task, joined, batch_size
        )
        rows = result_rows(ids, probs, self.classes, self.rules)
        out, start = [], 0
        for ds in inputs:
            out.append(rows[start : start + len(ds)])
            start += len(ds)
        return out

    def warm_up(self, batch_size: int) -> None:
        """One batch of zeros at the largest batch size, and one of a single input, so the
        first requests pay no kernel selection or compilation."""
        shape = (self.bundle.preprocessing.channels, *(self.bundle.preprocessing.size or ()))
        dtype = torch.uint8 if self.bundle.preprocessing.raw_uint8 else torch.float32
        for n in sorted({batch_size, 1}, reverse=True):
            ds = ArrayDataset(
                torch.zeros((n, *shape), dtype=dtype),
                torch.zeros(n, dtype=torch.long),
                self.classes,
            )
            class_probabilities(
                self.predictor, self.bundle.preprocessing, self.bundle.task, ds, batch_size
            )


def uint8_payload(a: np.ndarray) -> dict[str, Any]:
    """A uint8 array as JSON for the page: its shape and its C-order bytes in base64."""
    data = base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")
    return {"dtype": "uint8", "shape": list(a.shape), "data": data}


def heat_map(heat: np.ndarray) -> dict[str, Any]:
    """A saliency map in [0, 1] at the input's spatial size as the page overlays it (0..255)."""
    q = np.round(np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    return uint8_payload(q)


def preview(ds: ArrayDataset, leads: tuple[str, ...] | None) -> dict[str, Any]:
    """What the page draws: the first input as the model saw it before normalisation
    (uint8 images and volumes base64-encoded, C-order; signals as float lists)."""
    a = ds.images[0].numpy()
    if a.dtype == np.uint8:
        return uint8_payload(a)
    step = max(1, a.shape[-1] // 2000)
    return {
        "dtype": "float32",
        "shape": list(a[..., ::step].shape),
        "step": step,
        "leads": list(leads or []),
        "values": np.round(a[..., ::step], 4).tolist(),
    }
