"""The MFU benchmark's verdict (``benchmarks/bench_mfu.py``): ours is set against the peak of
the precision the Trainer's ``auto`` trains at, and a missing peak is an error, never a share.
The timings are replaced by fixed numbers here; the speed itself belongs to ``make bench``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_mfu


def test_peaks_to_measure_skip_emulated_bf16() -> None:
    assert set(bench_mfu.peaks_to_measure("fp32")) == {"fp32"}
    assert set(bench_mfu.peaks_to_measure("bf16")) == {"bf16", "fp32"}
    with pytest.raises(ValueError, match="precision must be one of"):
        bench_mfu.peaks_to_measure("fp16")


def test_share_of_peak_needs_a_measured_peak() -> None:
    assert bench_mfu.share_of_peak(50.0, {"fp32": 200.0}, "fp32") == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no measured bf16 matmul peak"):
        bench_mfu.share_of_peak(50.0, {"fp32": 200.0}, "bf16")
    with pytest.raises(ValueError, match="no measured fp32 matmul peak"):
        bench_mfu.share_of_peak(50.0, {"fp32": 0.0}, "fp32")


def test_verdict_line_names_the_peak_and_the_outcome() -> None:
    line = bench_mfu.verdict_line(0.553, "fp32", 0.35)
    assert "fp32 peak (no native bf16 here" in line and "55.3%" in line and "meets" in line
    line = bench_mfu.verdict_line(0.2, "bf16", 0.35)
    assert "bf16 peak:" in line and "20.0%" in line and "BELOW" in line


@pytest.mark.parametrize(("flags", "precision"), [((), "fp32"), (("avx512_bf16",), "bf16")])
def test_main_sets_ours_against_the_peak_it_trains_at(
    flags, precision, monkeypatch, fake_flags, capsys
) -> None:
    fake_flags(*flags)
    measured: list[torch.dtype] = []

    def fake_peak(dtype, n=None, repeats=5, device="cpu"):
        measured.append(dtype)
        return {torch.float32: 200.0, torch.bfloat16: 400.0}[dtype]

    monkeypatch.setattr(bench_mfu, "matmul_peak", fake_peak)
    monkeypatch.setattr(
        bench_mfu,
        "compare_training",
        lambda case, steps, repeats, device: {"ours": 10.0, "baseline": 8.0, "ratio": 1.25},
    )
    assert bench_mfu.main(["--quick"]) == 0
    out = capsys.readouterr().out
    gflops = (
        10.0
        * bench_mfu.summarize(
            bench_mfu.create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=5),
            bench_mfu.SHAPE,
            cross_check=False,
        ).totals.macs
        * 6
        / 1e9
    )
    peak = 400.0 if precision == "bf16" else 200.0
    assert f"ours vs the {precision} peak" in out
    assert f"{gflops / peak:.1%}" in out.splitlines()[-1]
    if precision == "fp32":
        assert measured == [torch.float32, torch.float32]  # before and after; no emulated bf16
        assert "bf16 not measured (no native bf16)" in out
    else:
        assert sorted(measured, key=str) == sorted([torch.bfloat16, torch.float32] * 2, key=str)
