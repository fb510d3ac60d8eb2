"""Fuzzing the parsers: WFDB header, signal and annotation files, taxonomy JSON, run
configurations (YAML and JSON) and training checkpoints. Each result must be well formed, or the
parser must raise a clear ValueError subclass (see _fuzz.py)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import FLIPS, FUZZ, damage, outcome
from hypothesis import example, given
from hypothesis import strategies as st

from healthcnn.cli.config import load_config_file
from healthcnn.tasks.taxonomy import parse_taxonomy
from healthcnn.training.checkpoint import CHECKPOINT_JSON, load_checkpoint

wfdb = pytest.importorskip("wfdb")

from healthcnn.data.ecg import read_annotations, read_record  # noqa: E402


def _make_record(folder: Path) -> Path:
    """A two-lead 2-s record at 100 Hz (format 212) with four beat annotations."""
    t = np.arange(200) / 100.0
    signal = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)], axis=1)
    wfdb.wrsamp(
        "rec",
        fs=100,
        units=["mV", "mV"],
        sig_name=["I", "II"],
        p_signal=signal,
        fmt=["212", "212"],
        write_dir=str(folder),
    )
    wfdb.wrann(
        "rec",
        "atr",
        np.array([20, 70, 120, 170]),
        np.array(["N", "N", "V", "N"]),
        aux_note=["", "(AFIB", "", "(N"],
        write_dir=str(folder),
    )
    return folder / "rec"


TEMPLATE = Path(tempfile.mkdtemp(prefix="healthcnn-fuzz-wfdb-"))
BASE = _make_record(TEMPLATE)
FILES = {ext: (TEMPLATE / f"rec.{ext}").read_bytes() for ext in ("hea", "dat", "atr")}


HEADER_TOKENS = st.sampled_from(
    ["rec", "2", "100", "200", "rec.dat", "212", "16", "8", "-1", "0", "1e9", "x", "/", "#", " "]
)


def _record_copy(tmp: Path, ext: str, data: bytes) -> Path:
    for name, content in FILES.items():
        (tmp / f"rec.{name}").write_bytes(data if name == ext else content)
    return tmp / "rec"


@FUZZ
@given(
    line=st.integers(0, 2),
    tokens=st.lists(HEADER_TOKENS, max_size=10),
    ext=st.sampled_from(["hea", "dat"]),
    cut=st.integers(0, 2000),
    flips=FLIPS,
)
def test_wfdb_header_and_signal(
    line: int, tokens: list[str], ext: str, cut: int, flips: list[tuple[int, int]]
) -> None:
    if ext == "hea":
        lines = FILES["hea"].decode().splitlines()
        lines[line % len(lines)] = " ".join(tokens)
        data = "\n".join(lines).encode() + b"\n"
    else:
        data = damage(FILES["dat"], cut, flips)
    with tempfile.TemporaryDirectory() as tmp:
        rec = outcome(lambda: read_record(_record_copy(Path(tmp), ext, data)))
    if rec is not None:
        assert rec.signal.dtype == np.float32 and rec.signal.ndim == 2
        assert np.isfinite(rec.signal).all() and rec.fs > 0


@FUZZ
@given(
    data=st.one_of(
        st.builds(damage, st.just(FILES["atr"]), st.integers(0, 200), FLIPS),
        st.binary(max_size=40),
    )
)
def test_wfdb_annotations(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ann = outcome(lambda: read_annotations(_record_copy(Path(tmp), "atr", data)))
    if ann is not None:
        assert len(ann.samples) == len(ann.symbols) == len(ann.aux_notes)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
NODE = st.fixed_dictionaries(
    {"id": st.sampled_from(["root", "a", "b", "", 3])},
    optional={
        "parent": st.sampled_from([None, "root", "a", "zz", 1]),
        "labels": st.one_of(st.lists(st.sampled_from(["nv", "mel", ""]), max_size=2), JSON_VALUES),
        "name": JSON_VALUES,
    },
)


@FUZZ
@given(
    doc=st.one_of(
        st.fixed_dictionaries(
            {"nodes": st.lists(NODE, max_size=4)},
            optional={
                "name": JSON_VALUES,
                "refine": st.one_of(
                    JSON_VALUES,
                    st.fixed_dictionaries(
                        {"field": st.text(max_size=3)}, optional={"min_count": JSON_VALUES}
                    ),
                ),
            },
        ),
        JSON_VALUES,
    ),
    garbage=st.text(max_size=3),
)
@example(doc={"nodes": [{"id": "root"}], "refine": {"field": "", "min_count": None}}, garbage="")
@example(doc={"nodes": [{"id": "root", "labels": ["nv"]}]}, garbage="")  # a valid one, always
def test_taxonomy_json(doc: object, garbage: str) -> None:
    text = json.dumps(doc) + garbage
    tax = outcome(lambda: parse_taxonomy(text, "fuzz.json"))
    if tax is not None:
        assert tax.leaves and tax.labels
        assert all(tax.leaf_of(label) in tax.leaves for label in tax.labels)


CONFIG_KEYS = st.sampled_from(["data", "out", "lr", "epochs", "size", "train", "download", "x"])
CONFIG_VALUES = st.one_of(
    JSON_VALUES, st.sampled_from(["1e-3", "3", "2.5", "true", "nan", "!!python/name:os.system"])
)


@FUZZ
@given(
    settings=st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=5),
    suffix=st.sampled_from([".yaml", ".json"]),
    raw=st.text(alphabet=st.sampled_from(list("ab:-[]{}!&*'\"\n #%@|>1.e")), max_size=30),
    use_raw=st.booleans(),
)
def test_config_files(settings: dict, suffix: str, raw: str, use_raw: bool) -> None:
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    text = raw if use_raw else json.dumps(settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"run{suffix}"
        path.write_text(text)
        loaded = outcome(lambda: load_config_file(path))
    if loaded is not None:
        assert isinstance(loaded, dict)
        for key, kind in (("lr", float), ("epochs", int), ("size", int)):
            if loaded.get(key) is not None:
                assert type(loaded[key]) is kind


@FUZZ
@given(data=st.data(), flips=FLIPS, rehash=st.booleans())
def test_checkpoints(
    saved_checkpoint: Path, data: st.DataObject, flips: list[tuple[int, int]], rehash: bool
) -> None:
    template = json.loads((saved_checkpoint / CHECKPOINT_JSON).read_text())
    original = (saved_checkpoint / template["tensors"]).read_bytes()
    keys = st.sampled_from(sorted(template))
    drop = data.draw(st.lists(keys, max_size=2), label="drop")
    replace = data.draw(st.dictionaries(keys, JSON_VALUES, max_size=2), label="replace")
    cut = data.draw(st.integers(0, len(original)), label="cut")
    tensors = damage(original, cut, flips) if flips or cut < len(original) else None
    doc = {k: v for k, v in template.items() if k not in drop}
    doc.update(replace)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.joinpath(template["tensors"]).write_bytes(original if tensors is None else tensors)
        if tensors is not None and rehash and "tensors_sha256" in doc:
            doc["tensors_sha256"] = hashlib.sha256(tensors).hexdigest()
        (folder / CHECKPOINT_JSON).write_text(json.dumps(doc))
        ckpt = outcome(lambda: load_checkpoint(folder), (ValueError, FileNotFoundError))
    if ckpt is not None:
        assert isinstance(ckpt.epoch, int) and ckpt.model_state
