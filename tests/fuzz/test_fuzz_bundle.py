"""Fuzzing the bundle reader: metadata.json, config.json and manifest.json replaced by arbitrary
JSON or cut bytes, in sealed bundles (format 2, where the manifest must notice) and in
version-1 bundles without a manifest (where the parsers behind it must cope). Loading gives a
bundle that verifies or one BundleError naming the problem; never another exception."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from _fuzz import FUZZ, outcome
from hypothesis import given
from hypothesis import strategies as st

from healthcnn.bundle import Preprocessing, load_bundle, save_bundle
from healthcnn.models import create_model
from healthcnn.tasks import make_task

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 3, "channels": [4]}
TEMPLATE = Path(tempfile.mkdtemp(prefix="healthcnn-fuzz-bundle-")) / "b"
torch.manual_seed(0)
save_bundle(
    TEMPLATE,
    create_model("simple_cnn", **KWARGS).eval(),
    model_name="simple_cnn",
    model_kwargs=KWARGS,
    task=make_task("multiclass", ["a", "b", "c"]),
    preprocessing=Preprocessing(channels=1, size=(8, 8), spatial_dims=2, mean=(0.5,), std=(0.5,)),
)
FILES = ("metadata.json", "config.json", "manifest.json")
KEYS = ("task", "preprocessing", "model_kwargs", "model_name", "files", "input", "normalisation",
        "format_version", "data")  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _legacy(folder: Path) -> None:
    """Make the copy a version-1 bundle: no manifest, format_version 1."""
    (folder / "manifest.json").unlink()
    for name in ("metadata.json", "config.json"):
        doc = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({**doc, "format_version": 1}))


def _copy(legacy: bool) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="healthcnn-fuzz-")) / "b"
    shutil.copytree(TEMPLATE, folder)
    if legacy:
        _legacy(folder)
    return folder


@FUZZ
@given(
    legacy=st.booleans(),
    name=st.sampled_from(FILES),
    key=st.sampled_from(KEYS),
    value=json_values,
)
def test_a_bundle_with_one_field_replaced(legacy: bool, name: str, key: str, value) -> None:
    folder = _copy(legacy)
    path = folder / name
    if path.exists():
        doc = json.loads(path.read_text())
        doc[key] = value
        path.write_text(json.dumps(doc))
    outcome(lambda: load_bundle(folder))
    shutil.rmtree(folder.parent)


@FUZZ
@given(legacy=st.booleans(), name=st.sampled_from(FILES), data=st.binary(max_size=64) | json_values)
def test_a_bundle_file_replaced_whole(legacy: bool, name: str, data) -> None:
    folder = _copy(legacy)
    text = data if isinstance(data, bytes) else json.dumps(data).encode()
    (folder / name).write_bytes(text)
    outcome(lambda: load_bundle(folder))
    shutil.rmtree(folder.parent)


@FUZZ
@given(cut=st.integers(0, 5000), legacy=st.booleans())
def test_truncated_weights(cut: int, legacy: bool) -> None:
    folder = _copy(legacy)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:cut])
    outcome(lambda: load_bundle(folder))
    shutil.rmtree(folder.parent)
