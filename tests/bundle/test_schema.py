"""The preprocessing record: validation, JSON round trip, and bundles of format version 1
(written before the record existed) loading and predicting exactly as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from healthcnn.bundle import (
    BundleError,
    Preprocessing,
    PreprocessingError,
    load_bundle,
    verify_bundle,
)
from healthcnn.inference.files import predict_files

GOLDEN = Path(__file__).parents[1] / "golden" / "bundle_v1"


def test_round_trip_is_exact() -> None:
    record = Preprocessing(
        channels=12,
        size=(1000,),
        spatial_dims=1,
        scale=1.0,
        sampling_rate=100.0,
        leads=("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"),
    )
    text = json.dumps(record.to_dict())
    assert Preprocessing.from_dict(json.loads(text)) == record
    assert record.network_input_shape == (12, 1000) and not record.tta
    assert record.transform() is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": 0}, "channels must be a positive integer"),
        ({"mean": (0.5,)}, "needs both mean and std"),
        ({"mean": (0.5, 0.5), "std": (0.5,)}, r"mean must be 1 finite numbers"),
        ({"mean": (0.5,), "std": (0.0,)}, "std must be positive"),
        ({"mean": (float("nan"),), "std": (1.0,)}, "finite numbers"),
        ({"views": "flips"}, "views must be one of"),
        ({"scale": -1.0}, "scale must be positive"),
        ({"size": (28,)}, "size must be a pixel count or 2 of them"),
        ({"spatial_dims": 4}, "spatial_dims must be 1, 2 or 3"),
    ],
)
def test_invalid_records_are_refused(kwargs: dict, match: str) -> None:
    base = {"channels": 1, "size": (28, 28), "spatial_dims": 2}
    with pytest.raises(PreprocessingError, match=match):
        Preprocessing(**{**base, **kwargs})


def test_from_dict_names_unknown_and_missing_fields() -> None:
    with pytest.raises(PreprocessingError, match=r"unknown preprocessing field\(s\) \['crop'\]"):
        Preprocessing.from_dict({"channels": 1, "spatial_dims": 2, "crop": 3})
    with pytest.raises(PreprocessingError, match="lacks"):
        Preprocessing.from_dict({"channels": 1})


def test_legacy_metadata_is_read_into_the_record() -> None:
    meta = {
        "format_version": 1,
        "input": {"channels": 3, "size": [28, 28]},
        "normalisation": {"mean": [0.5] * 3, "std": [0.5] * 3, "scale": 1 / 255},
        "preprocessing": {"model_input_size": 64, "tta": True, "fundus": {"size": 28}},
        "data": {"sampling_rate": "250"},
    }
    record = Preprocessing.from_metadata(meta)
    assert record.model_input_size == (64, 64) and record.views == "dihedral8"
    assert record.mean == (0.5,) * 3 and record.fundus == {"size": 28}
    assert record.sampling_rate == 250.0 and record.size == (28, 28)
    # no recorded normalisation: none applied; no size: unknown
    bare = Preprocessing.from_metadata({"input": {"channels": 1, "spatial_dims": 3}})
    assert bare.size is None and bare.spatial_dims == 3 and bare.transform() is None


def test_bundle_of_format_version_1_loads_and_predicts_as_before(tmp_path: Path) -> None:
    bundle_dir = tmp_path / "v1"
    shutil.copytree(GOLDEN, bundle_dir)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["format_version"] == 1 and "normalisation" in meta
    assert verify_bundle(bundle_dir)["format_version"] == 1
    bundle = load_bundle(bundle_dir)
    assert bundle.preprocessing.model_input_size == (32, 32)
    assert bundle.preprocessing.views == "dihedral8"
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28, 3), dtype=np.uint8)
    np.savez(tmp_path / "inputs.npz", images=images)
    rows = predict_files(bundle_dir, [tmp_path / "inputs.npz"], precision="fp32")
    expected = json.loads((GOLDEN / "expected_predictions.json").read_text())["rows"]
    # The same values up to float32 rounding: the golden file was written on a CPU with
    # AVX-512, and fp32 convolutions on another instruction set (AVX2) round differently in the
    # last bits (measured: 7e-8 relative). A change of the preprocessing moves them far more:
    # input one grey level brighter, 2e-4 relative.
    for got, want in zip(rows, expected, strict=True):
        assert got["probabilities"].keys() == want.keys()
        assert got["probabilities"] == pytest.approx(want, rel=1e-6, abs=0)


def test_edited_record_in_a_v1_bundle_is_refused(tmp_path: Path) -> None:
    bundle_dir = tmp_path / "v1"
    shutil.copytree(GOLDEN, bundle_dir)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta["preprocessing"]["model_input_size"] = "big"
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"metadata\.json: .*model_input_size must be a pixel"):
        load_bundle(bundle_dir)
