"""The benchmarks' shared pieces (``benchmarks/_common.py``): the ``--device`` option, the
device-aware matmul peak and the two training loops. The speed numbers themselves belong to
``make bench``; these tests check only that the pieces run and refuse bad input clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _common


def _parse(*argv: str):
    return _common.parse_counts(_common.base_parser("t"), list(argv), repeats=(1, 3))


def test_device_option_parses_and_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse().device == torch.device("cpu")
    assert _parse("--device", "cpu").device == torch.device("cpu")
    for bad, message in (("tpu", "'tpu' is not a device"), ("meta", "'meta' is not supported")):
        with pytest.raises(SystemExit):
            _parse("--device", bad)
        assert message in capsys.readouterr().err
    if torch.cuda.is_available():
        assert _parse("--device", "cuda").device.type == "cuda"
    else:
        with pytest.raises(SystemExit):
            _parse("--device", "cuda")
        assert "CUDA is not available on this machine" in capsys.readouterr().err


def test_header_peak_and_loops_run_on_cpu() -> None:
    assert "GPU" not in _common.machine_header("t", "cpu")
    assert _common.matmul_peak(torch.float32, n=64, repeats=2, device="cpu") > 0
    case = _common.TrainCase(
        "tiny", lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), (3, 8, 8), 4, 2
    )
    result = _common.compare_training(case, steps=2, repeats=1, device=torch.device("cpu"))
    assert result["ours"] > 0 and result["baseline"] > 0
    assert result["ratio"] == pytest.approx(result["ours"] / result["baseline"])
