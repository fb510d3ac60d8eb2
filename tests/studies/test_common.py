"""The helpers every study shares: estimates as dicts, quiet metrics, spreads over seeds,
the device's name, and the result writer."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.metrics import roc_auc
from healthcnn.studies._common import device_name, est, mean_sd, quiet, spread, write_result


def test_est_of_an_estimate_and_of_a_number() -> None:
    e = roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), ci="delong")
    d = est(e)
    assert d["value"] == pytest.approx(0.75) and d["method"] == "delong"
    assert d["ci_low"] <= 0.75 <= d["ci_high"]
    assert est(np.float32(0.5)) == {"value": 0.5}


def test_quiet_silences_only_the_degenerate_case_warning() -> None:
    one_class = (np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = quiet(roc_auc, *one_class, ci=None)
    assert math.isnan(float(value))


def test_spread_drops_nan_and_keeps_the_values() -> None:
    out = spread([0.8, float("nan"), 0.6])
    assert out["mean"] == pytest.approx(0.7) and out["n"] == 2
    assert out["sd"] == pytest.approx(math.sqrt(0.02))  # sample SD of 0.8, 0.6
    assert len(out["values"]) == 3 and math.isnan(out["values"][1])
    assert spread([float("nan")])["n"] == 0
    assert math.isnan(spread([0.5])["sd"])


def test_mean_sd() -> None:
    assert mean_sd([1.0, 3.0]) == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2)), "n": 2}
    assert math.isnan(mean_sd([1.0])["sd"])


def test_device_name_on_cpu_names_threads_and_the_native_bf16_flags() -> None:
    from healthcnn.inference.precision import BF16_CPU_FLAGS, cpu_flags, cpu_name

    name = device_name("cpu")
    assert name.startswith(f"CPU {cpu_name()} (") and name.endswith(
        f"), {torch.get_num_threads()} thread(s)"
    )
    # CPUs of one model name differ in bf16 units, which decide what --precision auto runs
    have = [f for f in BF16_CPU_FLAGS if f in cpu_flags()]
    assert f"native bf16: {' '.join(have) or 'none'})" in name


def test_device_name_reads_the_flags_of_this_cpu(monkeypatch) -> None:
    import healthcnn.inference.precision as precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert "native bf16: avx512_bf16)" in device_name("cpu")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert "native bf16: none)" in device_name("cpu")


def test_write_result_is_strict_json(tmp_path: Path) -> None:
    path = write_result(tmp_path / "sub" / "results.json", {"auc": float("nan"), "n": 3})
    text = path.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"auc": None, "n": 3}
    assert not list(path.parent.glob(".*.tmp"))


def test_write_result_records_the_run_beside_it(tmp_path: Path) -> None:
    config = {"seeds": [0, 1], "epochs": 2}
    path = write_result(tmp_path / "results.json", {"config": config, "auc": 0.7})
    run = json.loads((path.parent / "run.json").read_text())
    assert run["config"] == config
    assert set(run["versions"]) == {"python", "torch", "numpy", "healthcnn"}
    assert run["git"] is None or len(run["git"]["commit"]) == 40
    assert run["data_files"] == {}
    data = tmp_path / "data.npz"
    data.write_bytes(b"not really an npz")
    write_result(tmp_path / "results.json", {"auc": 0.7}, [data])
    files = json.loads((tmp_path / "run.json").read_text())["data_files"]
    assert files == {str(data): hashlib.sha256(b"not really an npz").hexdigest()}
