"""A WFDB ECG record given to ``predict`` (and zipped to the service) is prepared exactly as
the CPSC 2021 loader prepared the training windows: the same arrays, bit for bit, from the
bundle's signal recipe; records that cannot be prepared so are refused with one clear line."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("wfdb")

from healthcnn.bundle import Preprocessing, PreprocessingError, save_bundle
from healthcnn.data import ecg_datasets
from healthcnn.data.ecg_datasets import RECORD_RECIPES, load_cpsc2021, record_recipe
from healthcnn.data.root import DataError, data_root
from healthcnn.inference.files import load_inputs, predict_files
from healthcnn.models import create_model
from healthcnn.tasks import make_task

pytestmark = pytest.mark.data
RECORD = "data_101_6"


def test_recipes_are_the_loaders_defaults() -> None:
    cpsc = inspect.signature(load_cpsc2021).parameters
    fs, stride_s = cpsc["fs"].default, cpsc["stride_s"].default
    assert RECORD_RECIPES["cpsc2021"] == {
        "band": list(cpsc["band"].default),
        "normalise": "per_lead",
        "stride": round(stride_s * fs),
    }
    georgia = inspect.signature(ecg_datasets.load_georgia).parameters
    assert RECORD_RECIPES["cinc2021-georgia"]["band"] == list(georgia["band"].default)


@pytest.fixture(scope="module")
def ecg_bundle(tmp_path_factory) -> Path:
    """A 1D simple_cnn (fixed seed, untrained: reading is what is tested) with the record
    ``healthcnn train --data cpsc2021`` writes."""
    fields = record_recipe("cpsc2021")
    record = Preprocessing(
        channels=2, size=(1000,), spatial_dims=1, scale=1.0, sampling_rate=100.0, **fields
    )
    torch.manual_seed(0)
    kwargs = {"spatial_dims": 1, "in_channels": 2, "num_classes": 1}
    model = create_model("simple_cnn", **kwargs)
    out = tmp_path_factory.mktemp("ecg") / "bundle"
    task = make_task("binary", ["non-AF", "AF"])
    return save_bundle(
        out, model, model_name="simple_cnn", model_kwargs=kwargs, task=task, preprocessing=record
    )


def _header() -> Path:
    return data_root() / "ecg" / "cpsc2021" / "records" / f"{RECORD}.hea"


def test_a_record_reads_to_the_loaders_windows(ecg_bundle: Path) -> None:
    from healthcnn.bundle import load_bundle

    record = load_bundle(ecg_bundle).preprocessing
    assert record.signal == RECORD_RECIPES["cpsc2021"] and len(record.leads) == 2
    ds = load_inputs([_header()], record, ["non-AF", "AF"])
    loader = load_cpsc2021(records=[RECORD])
    np.testing.assert_array_equal(ds.images.numpy(), loader.images.numpy())
    assert ds.ids[:2] == [f"{RECORD}@0s", f"{RECORD}@5s"]
    rows = predict_files(ecg_bundle, [_header()], precision="fp32")
    assert len(rows) == len(loader) and set(rows[0]["probabilities"]) == {"non-AF", "AF"}


def test_records_that_cannot_be_prepared_are_refused(ecg_bundle, tmp_path) -> None:
    import wfdb

    from healthcnn.bundle import load_bundle

    record = load_bundle(ecg_bundle).preprocessing
    short = np.zeros((300, 2), dtype=np.float64)  # 1.5 s at 200 Hz
    wfdb.wrsamp(
        "short",
        fs=200,
        units=["mV", "mV"],
        sig_name=list(record.leads),
        p_signal=short,
        fmt=["16", "16"],
        write_dir=str(tmp_path),
    )
    with pytest.raises(DataError, match=r"lasts 1.50 s; the model takes windows of 10 s"):
        load_inputs([tmp_path / "short.hea"], record, ["non-AF", "AF"])
    wfdb.wrsamp(
        "other",
        fs=200,
        units=["mV", "mV"],
        sig_name=["V1", "V2"],
        p_signal=short,
        fmt=["16", "16"],
        write_dir=str(tmp_path),
    )
    with pytest.raises(DataError, match=r"lacks lead\(s\)"):
        load_inputs([tmp_path / "other.hea"], record, ["non-AF", "AF"])
    plain = Preprocessing(channels=2, size=(1000,), spatial_dims=1, scale=1.0, sampling_rate=100.0)
    with pytest.raises(DataError, match="no signal recipe"):
        load_inputs([_header()], plain, ["non-AF", "AF"])


def test_bad_recipes_are_refused() -> None:
    base = {"channels": 2, "size": (1000,), "spatial_dims": 1, "scale": 1.0, "sampling_rate": 100.0}
    good = {"band": [0.5, 40.0], "normalise": "per_lead", "stride": 500}
    for bad, match in (
        ({**good, "band": [40, 0.5]}, "band"),
        ({**good, "normalise": "z"}, "normalise"),
        ({**good, "stride": 0}, "stride"),
        ({"band": None}, "exactly"),
    ):
        with pytest.raises(PreprocessingError, match=match):
            Preprocessing(**base, signal=bad)
    with pytest.raises(PreprocessingError, match="1D record"):
        Preprocessing(channels=1, size=(8, 8), spatial_dims=2, signal=good)
    assert Preprocessing.from_dict(Preprocessing(**base, signal=good).to_dict()).signal == good
