"""Bundles: round trip, verification, atomic writes."""

from __future__ import annotations

import json

import pytest
import torch

from healthcnn import __version__
from healthcnn.bundle import BundleError, Preprocessing, load_bundle, save_bundle, verify_bundle
from healthcnn.bundle import io as bundle_io
from healthcnn.models import create_model
from healthcnn.tasks import make_task, referable_dr
from healthcnn.training import PrecisionPolicy

KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 1, "channels": [4, 8]}
TASK = make_task("binary", referable_dr().classes, label_map=referable_dr(), name="referable DR")


def make_model() -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("simple_cnn", **KWARGS)
    # one training-mode pass so batch-norm running statistics are not the defaults
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def save(path, model=None, **kw):
    meta = {"metrics": {"val_auc": 0.9}, "seeds": [0]}
    kw.setdefault("preprocessing", Preprocessing(channels=1, size=(8, 8), spatial_dims=2))
    return save_bundle(path, model or make_model(), model_name="simple_cnn", model_kwargs=KWARGS,
                       task=TASK, metadata=kw.pop("metadata", meta), **kw)  # fmt: skip


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_round_trip_gives_the_same_logits_and_metadata(tmp_path, monkeypatch):
    model = make_model()
    PrecisionPolicy.resolve("bf16").prepare_model(model)  # channels-last weights save fine
    path = save(tmp_path / "dr", model)
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "manifest.json",
        "metadata.json",
        "model.safetensors",
    ]
    assert leftovers(tmp_path) == []

    def no_pickles(*a, **k):
        raise AssertionError("load_bundle must not unpickle")

    monkeypatch.setattr(torch, "load", no_pickles)
    bundle = load_bundle(path)
    assert not bundle.model.training
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(bundle.model(x), model(x), rtol=0, atol=0)
    assert bundle.task == TASK
    assert bundle.task.encode_labels(torch.tensor([1, 3])).tolist() == [0, 1]
    assert bundle.config["model_kwargs"] == KWARGS
    meta = bundle.metadata
    assert meta["metrics"] == {"val_auc": 0.9} and meta["preprocessing"]["size"] == [8, 8]
    assert meta["format_version"] == 2 and bundle.preprocessing.size == (8, 8)
    assert meta["library_versions"]["healthcnn"] == __version__
    assert meta["library_versions"]["torch"] == torch.__version__
    assert {"numpy", "python", "safetensors"} <= set(meta["library_versions"])
    assert meta["model_sha256"] == bundle_io.sha256_file(path / "model.safetensors")
    assert meta["created"].endswith("+00:00")


def test_verify_detects_a_tampered_weights_file(tmp_path):
    path = save(tmp_path / "b")
    assert verify_bundle(path)["task"]["kind"] == "binary"
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="changed after the bundle was written"):
        verify_bundle(path)
    with pytest.raises(BundleError, match="changed after"):
        load_bundle(path)


def test_verify_names_missing_files_bad_json_and_wrong_shapes(tmp_path):
    path = save(tmp_path / "b")
    config = json.loads((path / "config.json").read_text())
    config["model_kwargs"]["channels"] = [4, 16]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"config\.json was changed after the bundle was written"):
        verify_bundle(path)
    (path / "manifest.json").unlink()  # without the manifest, the shapes are checked
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        verify_bundle(path)
    meta = json.loads((path / "metadata.json").read_text())
    (path / "metadata.json").write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(BundleError, match=r"has shape \(8, 4, 3, 3\), the model needs \(16"):
        verify_bundle(path)
    (path / "metadata.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"metadata\.json is not valid JSON"):
        verify_bundle(path)
    (path / "config.json").unlink()
    with pytest.raises(BundleError, match=r"config\.json is missing"):
        verify_bundle(path)
    with pytest.raises(BundleError, match="is not a directory"):
        verify_bundle(tmp_path / "nowhere")


def test_preprocessing_defaults_to_the_model_kwargs(tmp_path):
    bundle = load_bundle(save(tmp_path / "b", metadata={}, preprocessing=None))
    assert (bundle.preprocessing.channels, bundle.preprocessing.spatial_dims) == (1, 2)
    assert bundle.preprocessing.size is None and bundle.preprocessing.transform() is None


def test_preprocessing_must_fit_the_model_and_is_written_only_as_the_record(tmp_path):
    wrong = Preprocessing(channels=3, size=(8, 8), spatial_dims=2)
    with pytest.raises(ValueError, match="says 3 channels in 2D, the model takes 1 in 2D"):
        save(tmp_path / "b", preprocessing=wrong)
    with pytest.raises(ValueError, match=r"metadata keys \['normalisation'\]"):
        save(tmp_path / "b", metadata={"normalisation": {"mean": [0.5]}})


def test_save_rejects_inconsistent_arguments(tmp_path):
    with pytest.raises(ValueError, match="metadata keys \\['task'\\]"):
        save(tmp_path / "b", metadata={"task": "mine"})
    with pytest.raises(ValueError, match="needs 1 outputs"):
        save_bundle(tmp_path / "b", make_model(), model_name="simple_cnn",
                    model_kwargs={**KWARGS, "num_classes": 2}, task=TASK)  # fmt: skip
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save(tmp_path / "b", metadata={"seeds": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def _fail_on_second_json(monkeypatch):
    real = bundle_io._write_json
    calls = []

    def flaky(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real(path, data)

    monkeypatch.setattr(bundle_io, "_write_json", flaky)
    return calls


def test_a_failed_write_leaves_no_bundle_and_no_temp_dir(tmp_path, monkeypatch):
    calls = _fail_on_second_json(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        save(tmp_path / "b")
    assert calls == ["config.json", "metadata.json"]  # it really failed half-way
    assert list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_keeps_the_old_bundle(tmp_path, monkeypatch):
    path = save(tmp_path / "b")
    old_meta = (path / "metadata.json").read_text()
    _fail_on_second_json(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        save(tmp_path / "b", metadata={"metrics": {"val_auc": 0.5}})
    assert (path / "metadata.json").read_text() == old_meta
    verify_bundle(path)
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    save(tmp_path / "b", metadata={"metrics": {"val_auc": 0.5}})
    assert load_bundle(path).metadata["metrics"] == {"val_auc": 0.5}
    assert leftovers(tmp_path) == []


def test_refuses_to_replace_a_directory_that_is_not_a_bundle(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match=r"is not a complete healthcnn bundle .* refusing"):
        save(target)
    assert (target / "notes.txt").read_text() == "keep me"
    assert leftovers(tmp_path) == []
