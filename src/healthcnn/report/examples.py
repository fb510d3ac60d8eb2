"""The report's "Example input" section: one sample of the evaluated split and its prediction.

A reader of a model card should see what the model looks at: an ECG strip for 1D bundles, the
three orthogonal central slices of a volume for 3D bundles, a thumbnail for 2D bundles. The
sample is picked deterministically (the first sample of the evaluated split in the positive
class, else the first sample), run through the bundle's model in eval mode, fp32, with the
bundle's normalisation, and captioned with its true label and the predicted probabilities.

ECG strips are inline SVG (one trace per lead); slices and thumbnails are PNGs encoded as
``data:image/png;base64`` URIs inside ``<img>``, so the report stays a single file with no
external resource. When the data cannot be loaded, the section says why instead of failing.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .svg import FONT, PALETTE, _num, esc, nice_ticks, tick_label

#: the longest trace drawn, in points (longer signals are decimated for the figure only)
MAX_POINTS = 1500


@dataclass
class Example:
    """One sample with its prediction.

    ``values``: the stored sample ``(C, *spatial)`` (uint8 pixels/voxels or float32 signal
    values, before normalisation); ``label``: the true class name (multi-label: the names of the
    positive labels); ``probabilities``: class name -> predicted probability (softmax classes sum
    to 1; multi-label probabilities are independent); ``index``/``sample_id`` locate it in the
    split.
    """

    values: np.ndarray
    label: str | list[str]
    probabilities: dict[str, float]
    index: int
    sample_id: str | None
    split: str
    task_kind: str
    #: the probabilities are independent per label (multi-label), not a distribution summing to 1
    independent: bool = False

    @property
    def spatial_dims(self) -> int:
        return self.values.ndim - 1


def _positive_indices(task: Any, evaluation: Mapping[str, Any] | None) -> list[int]:
    """Class indices that count as positive: the evaluation's positive classes, else class 1
    of a binary task, else none."""
    pos = (evaluation or {}).get("positive") or {}
    names = [str(c) for c in pos.get("classes") or []]
    idx = [i for i, c in enumerate(task.classes) if str(c) in names]
    return idx or task.own_positive()


def pick_example(
    bundle: Any,
    dataset: Any,
    *,
    evaluation: Mapping[str, Any] | None = None,
    split: str = "test",
) -> Example:
    """The first sample of ``dataset`` (an ArrayDataset of the evaluated split) in a positive
    class (else the first sample), predicted by ``bundle`` (a loaded Bundle)."""

    from ..inference.precision import PrecisionPolicy
    from ..inference.predict import predict_views

    if len(dataset) == 0:
        raise ValueError(f"the {split} split is empty: no example to show")
    task = bundle.task
    y = task.encode_labels(dataset.labels).cpu().numpy()
    hits = np.flatnonzero(task.positive_rows(y, _positive_indices(task, evaluation)))
    i = int(hits[0]) if len(hits) else 0
    one = dataset.subset([i])
    views = bundle.preprocessing.views_transforms()
    fp32 = PrecisionPolicy.resolve("fp32")
    p = predict_views(bundle.model, one, task, views, 1, fp32).astype(np.float64)
    classes = [str(c) for c in task.classes]
    columns = task.class_columns(p)[0]
    probs = {c: float(v) for c, v in zip(classes, columns, strict=True)}
    return Example(
        values=dataset.images[i].numpy().copy(),
        label=task.target_names(y[i]),
        probabilities=probs,
        index=i,
        sample_id=None if dataset.ids is None else str(dataset.ids[i]),
        split=split,
        task_kind=task.kind,
        independent=not task.single_label,
    )


def load_example(
    bundle_dir: str | Path,
    evaluation: Mapping[str, Any] | None = None,
    *,
    dataset: Any = None,
    data_dir: str | Path | None = None,
) -> Example:
    """:func:`pick_example` on the evaluated split, loaded as ``evaluate_bundle`` loads it
    (``healthcnn.data.sources.load_splits`` on the evaluation's data or the bundle's
    ``data.source``), unless ``dataset`` (that split as an ArrayDataset) is given."""
    from ..bundle import load_bundle

    return _example_of(load_bundle(bundle_dir), evaluation, dataset, data_dir)


def _example_of(bundle: Any, evaluation, dataset, data_dir) -> Example:
    from ..data.sources import load_splits

    meta = bundle.metadata
    split = str((evaluation or {}).get("split") or "test")
    if dataset is None:
        source = (evaluation or {}).get("data") or (meta.get("data") or {}).get("source")
        if not source:
            raise ValueError("the bundle does not say which data it was trained on")
        splits, _ = load_splits(
            str(source),
            size=(meta.get("data") or {}).get("size", 28),
            data_dir=None if data_dir is None else str(data_dir),
            seed=(meta.get("seeds") or {}).get("train", 0),
        )
        if split not in splits:
            raise ValueError(f"the data has no {split!r} split")
        dataset = splits[split]
    return pick_example(bundle, dataset, evaluation=evaluation, split=split)


# ---- figures ------------------------------------------------------------------------------------


def ecg_strip(
    signal: np.ndarray,
    *,
    rate: float | None = None,
    leads: Sequence[str] | None = None,
    title: str = "Example ECG strip",
    width: int = 760,
) -> str:
    """An ``<svg>`` of a ``(leads, samples)`` signal: one panel and one trace per lead, each
    with its own amplitude axis (min and max), and a shared time axis (seconds when ``rate`` is
    known, else samples)."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"an ECG strip needs a (leads, samples) array, got shape {x.shape}")
    n_leads, n = x.shape
    names = list(leads) if leads is not None else [f"lead {k + 1}" for k in range(n_leads)]
    if len(names) != n_leads:
        raise ValueError(f"{len(names)} lead names for {n_leads} leads")
    left, right, top, bottom = 92, 16, 34, 50
    panel = max(36, min(90, 540 // n_leads))
    height = top + panel * n_leads + bottom
    w = width - left - right
    step = max(1, math.ceil(n / MAX_POINTS))
    t = np.arange(0, n, step)
    span = (n - 1) / rate if rate else float(n - 1)
    unit = "time (s)" if rate else "time (samples)"
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'class="chart ecg-strip" font-family="{esc(FONT)}">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="{top - 12}" font-size="13.5" font-weight="600">{esc(title)}</text>',
    ]
    for k in range(n_leads):
        y0 = top + k * panel
        lo, hi = float(np.nanmin(x[k])), float(np.nanmax(x[k]))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.08 * (hi - lo)

        def py(v: float, lo=lo - pad, hi=hi + pad, y0=y0) -> float:
            return y0 + panel - (v - lo) / (hi - lo) * panel

        pts = " ".join(
            f"{_num(left + j / (n - 1) * w)},{_num(py(float(x[k, j])))}"
            for j in t
            if math.isfinite(float(x[k, j]))
        )
        out.append(
            f'<rect x="{left}" y="{y0}" width="{w}" height="{panel}" fill="#fff" '
            f'stroke="#bbb" stroke-width="0.8"/>'
            f'<polyline class="series trace" points="{pts}" fill="none" '
            f'stroke="{PALETTE[k % 2 * 6]}" stroke-width="1.1" stroke-linejoin="round"/>'
            f'<text x="{left - 44}" y="{_num(y0 + panel / 2)}" dy="0.32em" text-anchor="end" '
            f'font-size="11.5" font-weight="600">{esc(names[k])}</text>'
            f'<text x="{left - 5}" y="{_num(py(hi))}" dy="0.32em" text-anchor="end" '
            f'font-size="10" fill="#555">{esc(f"{hi:.3g}")}</text>'
            f'<text x="{left - 5}" y="{_num(py(lo))}" dy="0.32em" text-anchor="end" '
            f'font-size="10" fill="#555">{esc(f"{lo:.3g}")}</text>'
        )
    base = top + panel * n_leads
    ticks = nice_ticks(0.0, span, 8)
    tstep = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for v in ticks:
        px = _num(left + v / span * w) if span > 0 else _num(left)
        out.append(
            f'<line x1="{px}" x2="{px}" y1="{base}" y2="{base + 4}" stroke="#444"/>'
            f'<text x="{px}" y="{base + 16}" text-anchor="middle" font-size="11" fill="#333">'
            f"{esc(tick_label(v, tstep))}</text>"
        )
    out.append(
        f'<text x="{_num(left + w / 2)}" y="{base + 36}" text-anchor="middle" '
        f'font-size="12.5">{esc(unit)}; amplitude in the stored units (min and max per lead)'
        "</text></svg>"
    )
    return "\n".join(out)


def png_data_uri(image: np.ndarray, *, target: int = 180, factor: int | None = None) -> str:
    """A greyscale (H, W) or RGB (H, W, 3) array as a ``data:image/png;base64`` URI, scaled to
    0-255 by its own min and max and enlarged ``factor`` times (nearest neighbour; default: to
    about ``target`` px)."""
    from PIL import Image

    a = np.asarray(image, dtype=np.float64)
    a = np.where(np.isfinite(a), a, np.nan)
    lo, hi = np.nanmin(a), np.nanmax(a)
    scaled = np.zeros_like(a) if not hi > lo else (np.nan_to_num(a, nan=lo) - lo) / (hi - lo)
    img = Image.fromarray(np.round(scaled * 255).astype(np.uint8))
    if factor is None:
        factor = max(1, round(target / max(a.shape[0], a.shape[1])))
    img = img.resize((a.shape[1] * factor, a.shape[0] * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def central_slices(volume: np.ndarray) -> dict[str, np.ndarray]:
    """The axial, coronal and sagittal central slices of a ``(C, D, H, W)`` volume (channel 0;
    D is taken as the slice axis, as MedMNIST3D stores it)."""
    v = np.asarray(volume)
    if v.ndim != 4:
        raise ValueError(f"a volume must be (C, D, H, W), got shape {v.shape}")
    v = v[0]
    d, h, w = v.shape
    return {
        "axial": v[d // 2],  # (H, W)
        "coronal": v[::-1, h // 2, :],  # (D, W), first slice at the bottom
        "sagittal": v[::-1, :, w // 2],  # (D, H)
    }


def _img(uri: str, alt: str) -> str:
    return f'<img class="example-slice" src="{uri}" alt="{esc(alt)}">'


# ---- the section --------------------------------------------------------------------------------


def caption(example: Example) -> str:
    """The true label and the predicted probabilities, as HTML text."""
    label = example.label
    shown = (", ".join(label) or "none") if isinstance(label, list) else label
    probs = "; ".join(f"{esc(c)} {p:.3f}" for c, p in example.probabilities.items())
    kind = "independent per label" if example.independent else "sum to 1"
    where = f"sample {example.index}" + (f" ({example.sample_id})" if example.sample_id else "")
    return (
        f"{esc(where)} of the {esc(example.split)} split. True label: "
        f'<b class="true-label">{esc(shown)}</b>. Predicted probabilities ({kind}): '
        f'<span class="probs">{probs}</span>.'
    )


def example_figure(example: Example, record: Any) -> str:
    """The figure of ``example`` (strip, three slices or thumbnail) with its caption; signals
    are drawn at the sampling rate and with the lead names of the preprocessing ``record``."""
    cap = f"<figcaption>{caption(example)}</figcaption>"
    dims = example.spatial_dims
    if dims == 1:
        leads = list(record.leads) if record.leads else None
        if leads is not None and len(leads) != example.values.shape[0]:
            leads = None
        svg = ecg_strip(example.values, rate=record.sampling_rate, leads=leads)
        return f'<figure class="example">{svg}{cap}</figure>'
    if dims == 3:
        imgs = []
        factor = max(1, round(180 / max(example.values.shape[1:])))  # one scale for all three
        for name, sl in central_slices(example.values).items():
            uri = png_data_uri(sl, factor=factor)
            imgs.append(
                f'<figure class="slice">{_img(uri, f"{name} central slice")}'
                f"<figcaption>{esc(name)} ({sl.shape[0]} x {sl.shape[1]})</figcaption></figure>"
            )
        return f'<figure class="example"><div class="figrow">{"".join(imgs)}</div>{cap}</figure>'
    if dims == 2:
        v = example.values
        arr = v[0] if v.shape[0] != 3 else np.moveaxis(v, 0, -1)
        return f'<figure class="example">{_img(png_data_uri(arr), "example image")}{cap}</figure>'
    return f"<p class=note>No figure for {dims}-dimensional inputs.</p>"


def explanation_figure(bundle: Any, example: Example) -> str:
    """Grad-CAM of the example for its predicted class, drawn over it, with the verdict of the
    cascading randomisation test (:mod:`healthcnn.explain`); says why when it cannot be made."""
    import warnings

    import torch

    from ..explain import ConstantMapWarning, explain
    from ..explain.files import class_scores, figure, network_input

    try:
        record, task = bundle.preprocessing, bundle.task
        x = network_input(torch.from_numpy(np.ascontiguousarray(example.values))[None], record)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConstantMapWarning)  # said in the caption instead
            e = explain(bundle.model, x, None, "gradcam", score_fn=class_scores(task))
        heat = e.maps[0]
        if heat.shape != example.values.shape[1:]:
            from ..explain.saliency import upsample

            heat = upsample(torch.from_numpy(e.maps), example.values.shape[1:]).numpy()[0]
        cls = task.classes[e.targets[0]]
        suffix, data = figure(example.values, heat, f"Grad-CAM for '{cls}'", record.leads)
    except Exception as exc:  # the report must not fail because a map cannot be made
        return f"<p class=note>No saliency map: {esc(type(exc).__name__)}: {esc(exc)}.</p>"
    if suffix == ".svg":
        art = data.decode().replace(' xmlns="http://www.w3.org/2000/svg"', "")  # inline SVG
    else:
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        art = f'<img class="example-map" src="{uri}" alt="Grad-CAM map over the example">'
    verdict = "PASS" if e.verdict.passed else "FAIL"
    empty = " The map is zero everywhere: no evidence for this class." if heat.max() == 0 else ""
    return (
        f'<figure class="example explanation">{art}<figcaption>Grad-CAM (layer '
        f"{esc(e.layer)}) for the predicted class <b>{esc(cls)}</b>. Sanity check "
        f'(cascading model-parameter randomisation): <b class="verdict">{verdict}</b>, '
        f"Spearman {e.verdict.spearman:.2f} and SSIM {e.verdict.ssim:.2f} between the maps of "
        f"the trained and the fully randomised model (pass: both below "
        f"{e.verdict.threshold}).{empty}</figcaption></figure>"
    )


def example_section(
    bundle_dir: str | Path,
    evaluation: Mapping[str, Any],
    *,
    dataset: Any = None,
    data_dir: str | Path | None = None,
) -> str:
    """The "Example input" ``<section>``; says why when the example cannot be shown."""
    head = '<section id="example"><h2>Example input</h2>'
    try:
        from ..bundle import load_bundle

        bundle = load_bundle(bundle_dir)
        example = _example_of(bundle, evaluation, dataset, data_dir)
        figure = example_figure(example, bundle.preprocessing)
        figure += explanation_figure(bundle, example)
    except Exception as exc:  # a report must not fail because its data moved
        return (
            f"{head}<p class=note>No example shown: the evaluated data could not be loaded "
            f"or run ({esc(type(exc).__name__)}: {esc(exc)}).</p></section>"
        )
    intro = (
        "<p class=note>The first sample of the evaluated split in the positive class (else the "
        "first sample), predicted by this bundle in eval mode, fp32, with its normalisation.</p>"
    )
    return f"{head}{intro}{figure}</section>"
