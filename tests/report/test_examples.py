"""The report's "Example input" section: an ECG strip for 1D bundles, three orthogonal slices
for 3D bundles, captioned with the true label and the predicted probabilities.

The 3D bundle is trained for one epoch by ``train_run`` on a small uint8 volume ``.npz``, so
the report loads the evaluated split itself, as ``evaluate_bundle`` does. ``load_medmnist``
only reads uint8 arrays, so the 1D bundle (float signals) is saved directly and its split
handed to ``build_report`` as ``example_data``.
"""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from test_html import CHROMIUM, HOSTILE, _Balance, needs_browser, render

from healthcnn.bundle import Preprocessing, load_bundle, save_bundle
from healthcnn.data import ArrayDataset
from healthcnn.models import create_model
from healthcnn.report import build_report, write_report
from healthcnn.report.examples import central_slices, ecg_strip, load_example, png_data_uri
from healthcnn.studies.run import train_run
from healthcnn.tasks import make_task
from healthcnn.training.config import RunConfig, TrainConfig

LEADS = 3
ECG_CLASSES = ["normal", HOSTILE]


def _section(doc: str) -> str:
    return doc[doc.index('<section id="example">') : doc.index('<section id="task">')]


def _probs(section: str) -> list[float]:
    text = re.search(r'<span class="probs">(.*?)</span>', section, flags=re.S).group(1)
    return [float(v) for v in re.findall(r"(\d\.\d{3})(?:;|$)", text)]


def _self_contained(doc: str) -> None:
    """No URL but in-page anchors and inline PNG data URIs."""
    assert not re.search(r"https?://", doc)
    assert "<script" not in doc.lower() and "<link" not in doc.lower()
    srcs = re.findall(r"<[a-zA-Z][^<>]*?\bsrc\s*=\s*([^\s>]*)", doc)  # attributes, not text
    assert all(s.startswith('"data:image/png;base64,') for s in srcs), srcs


def _evaluation(evaluation_factory, classes, **kw) -> dict:
    ev = evaluation_factory(classes=list(classes), task="binary", **kw)
    ev["positive"] = {"classes": [classes[1]], "name": "positive"}
    return ev


# -- 1D -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecg(tmp_path_factory) -> tuple[Path, ArrayDataset]:
    torch.set_num_threads(1)
    kwargs = {"spatial_dims": 1, "in_channels": LEADS, "num_classes": 1, "channels": [4]}
    torch.manual_seed(0)
    model = create_model("simple_cnn", **kwargs)
    meta = {
        "data": {"source": "ecg-synthetic", "size": 64, "classes": []},
        "seeds": {"train": 0},
    }
    meta["data"]["classes"] = ECG_CLASSES
    path = save_bundle(
        tmp_path_factory.mktemp("ecg") / "ecg",
        model,
        model_name="simple_cnn",
        model_kwargs=kwargs,
        task=make_task("binary", ECG_CLASSES),
        preprocessing=Preprocessing(
            channels=LEADS, size=(64,), spatial_dims=1, scale=1.0, sampling_rate=50.0
        ),
        metadata=meta,
    )
    t = np.linspace(0, 2 * np.pi, 64, dtype=np.float32)
    signals = np.stack(
        [np.stack([np.sin((k + 1) * t + i) for k in range(LEADS)]) for i in range(6)]
    )
    ds = ArrayDataset(
        images=torch.from_numpy(signals.astype(np.float32)),
        labels=torch.tensor([0, 0, 1, 1, 0, 1]),
        classes=ECG_CLASSES,
        ids=[f"rec{i}@0" for i in range(6)],
    )
    return path, ds


def test_ecg_strip_has_one_trace_per_lead_and_the_prediction(ecg, evaluation_factory):
    bundle, ds = ecg
    ev = _evaluation(evaluation_factory, ECG_CLASSES, data="ecg-synthetic")
    doc = build_report(bundle, ev, example_data=ds)
    part = _section(doc)
    svg = ET.fromstring(re.search(r"<svg\b.*?</svg>", part, flags=re.S).group(0))
    traces = [e for e in svg.iter("polyline") if "trace" in (e.get("class") or "")]
    assert len(traces) == LEADS
    assert all(len(t.get("points").split()) == 64 for t in traces)
    texts = " ".join(e.text or "" for e in svg.iter("text"))
    assert "time (s)" in texts and "lead 3" in texts  # 50 Hz recorded: the axis is in seconds
    # the first positive sample (index 2), its true label escaped, probabilities from the model
    assert "sample 2 (rec2@0)" in part
    assert '<b class="true-label">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;</b>' in part
    assert HOSTILE not in doc
    model = load_bundle(bundle).model.eval()
    with torch.no_grad():
        p1 = torch.sigmoid(model(ds.images[2:3]))[0, 0].item()
    probs = _probs(part)
    assert probs == pytest.approx([1 - p1, p1], abs=6e-4)
    assert sum(probs) == pytest.approx(1.0, abs=2e-3)
    checker = _Balance()
    checker.feed(doc)
    assert checker.errors == [] and checker.stack == []
    _self_contained(doc)


def test_ecg_strip_time_axis_in_samples_without_a_rate():
    svg = ecg_strip(np.zeros((2, 3000)), leads=["I", "II"])
    root = ET.fromstring(svg)
    texts = " ".join(e.text or "" for e in root.iter("text"))
    assert "time (samples)" in texts and "II" in texts and "2500" in texts
    traces = [e for e in root.iter("polyline") if "trace" in e.get("class")]
    assert len(traces) == 2 and len(traces[0].get("points").split()) == 1500  # decimated by 2
    with pytest.raises(ValueError, match="leads, samples"):
        ecg_strip(np.zeros(10))
    with pytest.raises(ValueError, match="lead names"):
        ecg_strip(np.zeros((2, 10)), leads=["I"])


# -- 3D -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("vol")
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 16), ("val", 8), ("test", 8)):
        y = np.arange(n) % 2
        v = rng.integers(0, 120, size=(n, 8, 10, 12)) + 100 * y[:, None, None, None]
        arrays[f"{split}_images"] = v.astype(np.uint8)
        arrays[f"{split}_labels"] = y[:, None].astype(np.int64)
    npz = tmp / "tinyvolumes.npz"
    np.savez(npz, **arrays)
    cfg = RunConfig(
        data=str(npz),
        out=str(tmp / "bundle"),
        model="simple_cnn",
        model_kwargs={"channels": [4]},
        task="binary",
        train=TrainConfig(epochs=1, batch_size=8, precision="fp32"),
    )
    train_run(cfg, progress=False)
    return tmp / "bundle", npz


def _decode(uri: str) -> np.ndarray:
    from PIL import Image

    raw = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)))


def test_volume_shows_three_central_slices_and_the_prediction(volume, evaluation_factory):
    bundle, npz = volume
    ev = _evaluation(evaluation_factory, ["0", "1"], data=str(npz))
    doc = build_report(bundle, ev)  # loads the test split itself
    part = _section(doc)
    uris = re.findall(r'<img class="example-slice" src="([^"]+)"', part)
    assert len(uris) == 3
    for name in ("axial", "coronal", "sagittal"):
        assert f'alt="{name} central slice"' in part
    # the first positive test volume is index 1; its axial central slice, min-max scaled
    with np.load(npz) as f:
        vol = f["test_images"][1].astype(np.float64)  # (D, H, W) = (8, 10, 12)
    axial = vol[4]
    expected = np.round((axial - axial.min()) / (axial.max() - axial.min()) * 255)
    img = _decode(uris[0])
    factor = img.shape[0] // 10
    assert img.shape == (10 * factor, 12 * factor)
    assert np.array_equal(img[::factor, ::factor], expected.astype(np.uint8))
    assert _decode(uris[1]).shape[0] == 8 * factor and _decode(uris[2]).shape[1] == 10 * factor
    assert "sample 1 (test:1)" in part and '<b class="true-label">1</b>' in part
    assert sum(_probs(part)) == pytest.approx(1.0, abs=2e-3)
    # same prediction as running the model by hand (eval, fp32, the bundle's normalisation)
    b = load_bundle(bundle)
    norm = {"mean": b.preprocessing.mean, "std": b.preprocessing.std}
    x = torch.from_numpy(vol[None, None].astype(np.float32)) / 255.0
    x = (x - norm["mean"][0]) / norm["std"][0]
    with torch.no_grad():
        p1 = torch.sigmoid(b.model.eval()(x))[0, 0].item()
    assert _probs(part)[1] == pytest.approx(p1, abs=6e-4)
    _self_contained(doc)
    checker = _Balance()
    checker.feed(doc)
    assert checker.errors == [] and checker.stack == []


def test_central_slices_and_png_checks():
    v = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    s = central_slices(v)
    assert np.array_equal(s["axial"], v[0, 1])
    assert s["coronal"].shape == (3, 5) and s["sagittal"].shape == (3, 4)
    assert np.array_equal(s["coronal"][-1], v[0, 0, 2, :])  # first slice drawn at the bottom
    with pytest.raises(ValueError, match="C, D, H, W"):
        central_slices(np.zeros((3, 4, 5)))
    assert (_decode(png_data_uri(np.full((4, 4), 7.0))) == 0).all()  # flat image: no NaN


def test_unloadable_data_is_said_not_fatal(tiny_bundle, evaluation_factory, tmp_path):
    ev = evaluation_factory(data=str(tmp_path / "missing.npz"))
    doc = build_report(tiny_bundle, ev)
    part = _section(doc)
    assert "No example shown" in part and "missing.npz" in part
    assert '<section id="discrimination">' in doc
    with pytest.raises(Exception, match=r"missing\.npz"):
        load_example(tiny_bundle, ev)


@needs_browser
def test_reports_with_examples_render_without_console_errors(volume, ecg, evaluation_factory):
    assert CHROMIUM is not None
    bundle, npz = volume
    doc = build_report(bundle, _evaluation(evaluation_factory, ["0", "1"], data=str(npz)))
    dom, console = render(write_report(bundle.parent / "report3d.html", doc))
    assert console == [] and dom.count('class="example-slice"') == 3
    ecg_bundle, ds = ecg
    ev = _evaluation(evaluation_factory, ECG_CLASSES, data="ecg-synthetic")
    doc = build_report(ecg_bundle, ev, example_data=ds)
    dom, console = render(write_report(ecg_bundle.parent / "report1d.html", doc))
    assert console == [] and 'class="chart ecg-strip"' in dom and 'id="example"' in dom
