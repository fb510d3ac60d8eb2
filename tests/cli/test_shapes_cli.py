"""``healthcnn shapes``: the lecture's numbers from the command line, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from healthcnn.cli import main

QUIZ = ["shapes", "conv", "--input", "227x227x3", "--filters", "96", "--kernel", "11"]


def run_json(capsys, line: str) -> dict:
    """Run ``healthcnn <line> --format json`` in-process; return the parsed stdout."""
    assert main([*line.split(), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_conv_quiz_prints_size_parameters_and_calculations(capsys):
    assert main([*QUIZ, "--stride", "4", "--padding", "0"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "55x55x96" in out
    assert "34,944" in out
    assert "105,415,200" in out
    # The formulas that produced the numbers, and the counting convention.
    assert "11x11x3x96 + 96 = 34,944" in out
    assert "55x55x96 x 11x11x3 = 105,415,200" in out
    assert "MACs" in out and "bias excluded" in out


def test_stride_5_exits_2_with_one_line_and_no_traceback(capsys):
    assert main([*QUIZ, "--stride", "5", "--padding", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "44.2" in lines[0] and "(227 - 11 + 2*0)/5 + 1" in lines[0]
    assert "Traceback" not in err


def test_rounding_floor_accepts_stride_5(capsys):
    data = run_json(capsys, " ".join([*QUIZ, "--stride", "5", "--rounding", "floor"]))
    assert data["output_shape"] == [44, 44, 96]


def test_conv_options_per_axis_groups_bias_and_dimensions(capsys):
    line = "shapes conv --input 9x9x4 --filters 8 --kernel 3x1 --dilation 2x1 --groups 2"
    data = run_json(capsys, f"{line} --no-bias")
    assert data["output_shape"] == [5, 9, 8]
    assert data["params"] == 3 * 1 * 2 * 8
    # 1D signal and 3D volume, channels last.
    line = "shapes conv --input 5000x12 --filters 32 --kernel 7 --stride 3 --padding 1"
    assert run_json(capsys, line)["output_shape"] == [1666, 32]
    data = run_json(capsys, "shapes conv --input 64x64x64x1 --filters 8 --kernel 3 --padding 1")
    assert data["output_shape"] == [64, 64, 64, 8]
    assert data["params"] == 3 * 3 * 3 * 8 + 8


def test_pool_quiz(capsys):
    assert main(["shapes", "pool", "--input", "55x55x96", "--kernel", "3", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    assert "27x27x96" in out
    data = run_json(capsys, "shapes pool --input 13x13x256 --kernel 3x3 --stride 2")
    assert data["output_shape"] == [6, 6, 256]
    assert data["params"] == 0
    assert data["calculations"] == 6 * 6 * 256 * 9


def test_pool_stride_defaults_to_the_window_and_ceil_rounding(capsys):
    assert run_json(capsys, "shapes pool --input 8x8x3 --kernel 2")["output_shape"] == [4, 4, 3]
    data = run_json(capsys, "shapes pool --input 5x2 --kernel 2 --rounding ceil")
    assert data["output_shape"] == [3, 2]


def test_fc_quiz(capsys):
    assert main(["shapes", "fc", "--input", "6x6x256", "--units", "4096"]) == 0
    out = capsys.readouterr().out
    assert "37,748,736" in out  # 6x6x256x4096 weights = the calculations
    assert f"{37_748_736 + 4096:,}" in out  # plus biases = the parameters
    data = run_json(capsys, "shapes fc --input 9216 --units 4096 --no-bias")
    assert data["params"] == 37_748_736


def test_lc(capsys):
    data = run_json(capsys, "shapes lc --input 5x5x2 --filters 4 --kernel 3")
    assert data["kind"] == "lc"
    assert data["output_shape"] == [3, 3, 4]
    assert data["params"] == 9 * (3 * 3 * 2 * 4 + 4)


def test_json_is_machine_readable_only(capsys):
    assert main([*QUIZ, "--stride", "4", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert err == ""
    assert data["kind"] == "conv"
    assert data["input_shape"] == [227, 227, 3]
    assert data["output_shape"] == [55, 55, 96]
    assert data["params"] == 34_944
    assert data["calculations"] == 105_415_200
    assert any("34,944" in f for f in data["formulas"])


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("conv --input 227x --filters 8 --kernel 3", "'227x' is not a size"),
        ("conv --input abc --filters 8 --kernel 3", "'abc' is not a size"),
        ("conv --input 0x3 --filters 8 --kernel 3", "must be >= 1"),
        ("conv --input 227 --filters 8 --kernel 3", "followed by the channels"),
        ("pool --input 1x2x3x4x5 --kernel 2", "1 to 3 spatial sizes"),
        ("fc --input 6x --units 10", "'6x' is not a size"),
        ("conv --input 9x9x3 --filters 8 --kernel 3x3x3", "has 3 values"),
        ("conv --input 9x9x3 --filters 8 --kernel 3 --stride 0", ">= 1"),
        ("conv --input 9x9x3 --filters 8 --kernel 3 --groups 2", "groups=2 must divide"),
        ("conv --input 2x2x3 --filters 8 --kernel 3", "< 1"),
        ("lc --input 9x9x3 --filters 8 --kernel 3 --padding x", "'x' is not a size"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, line, needle):
    assert main(["shapes", *line.split()]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert needle in err
    assert err.startswith("healthcnn shapes: error:")


def test_console_script_exit_code_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "healthcnn", *QUIZ, "--stride", "5", "--padding", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "44.2" in result.stderr
