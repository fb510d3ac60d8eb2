"""``healthcnn summary``: registry names and module:callable targets, every format, and one-line
errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import textwrap

import pytest
from torch import nn

from healthcnn.cli import main
from healthcnn.models import register_model
from healthcnn.models._registry import _REGISTRY

MODULE = "healthcnn_summary_cli_targets"

TARGETS = textwrap.dedent(
    """
    from torch import nn

    def tiny(num_classes=10, width=4):
        return nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(width * 4 * 4, num_classes),
        )

    def not_a_model():
        return 42

    module_object = nn.Linear(5, 2)
    """
)


@pytest.fixture
def targets(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return MODULE


@pytest.fixture
def registered():
    """A tiny registered model that records the arguments it was built with."""
    name = "summary_cli_test_net"
    seen: dict = {}

    @register_model(family="test", paper="none", default_input_size=16, min_input_size=4, name=name)
    def build(spatial_dims=2, in_channels=3, num_classes=1000, hidden=6):
        seen.update(spatial_dims=spatial_dims, in_channels=in_channels, num_classes=num_classes)
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
        pool = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
        return nn.Sequential(
            conv(in_channels, hidden, 3),
            pool[spatial_dims](1),
            nn.Flatten(),
            nn.Linear(hidden, num_classes),
        )

    try:
        yield name, seen
    finally:
        _REGISTRY.pop(name, None)


def _run(capsys, *argv):
    code = main(["summary", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_callable_target_json(capsys, targets):
    code, out, err = _run(
        capsys,
        f"{targets}:tiny",
        "--input",
        "8x8x3",
        "--format",
        "json",
        "--num-classes",
        "5",
        "--set",
        "width=2",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shapes"] == [[1, 3, 8, 8]]
    assert data["totals"]["params"] == (27 * 2 + 2) + (2 * 16 * 5 + 5)
    assert data["totals"]["macs"] == 64 * 2 * 27 + 32 * 5
    assert data["totals"]["pool_calculations"] == 2 * 16 * 4


@pytest.mark.parametrize("fmt", ["text", "md", "csv", "json", "html"])
def test_every_format(capsys, targets, fmt):
    code, out, err = _run(capsys, f"{targets}:tiny", "--input", "8x8x3", "--format", fmt)
    assert code == 0, err
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == 5
    elif fmt == "json":
        assert len(json.loads(out)["layers"]) == 5
    else:
        assert "bias excluded" in out


def test_registry_target_dims_and_channels_from_input(capsys, registered):
    name, seen = registered
    code, out, err = _run(
        capsys,
        name,
        "--input",
        "32x2",
        "--num-classes",
        "3",
        "--format",
        "json",
        "--set",
        "hidden=5",
        "--batch-size",
        "2",
    )
    assert code == 0, err
    assert seen == {"spatial_dims": 1, "in_channels": 2, "num_classes": 3}
    data = json.loads(out)
    assert data["input_shapes"] == [[2, 2, 32]]
    assert data["totals"]["macs"] == 2 * (30 * 5 * 3 * 2 + 5 * 3)


def test_registry_target_3d_and_depth(capsys, registered):
    name, seen = registered
    code, out, err = _run(capsys, name, "--input", "6x6x6x1", "--depth", "0")
    assert code == 0, err
    assert seen["spatial_dims"] == 3
    table = [line for line in out.splitlines() if line.startswith("(model)")]
    assert len(table) == 1


def test_registry_default_input(capsys, registered):
    name, _ = registered
    code, out, err = _run(capsys, name, "--format", "json", "--in-channels", "1")
    assert code == 0, err
    assert json.loads(out)["input_shapes"] == [[1, 1, 16, 16]]


def test_module_object_target(capsys, targets):
    code, out, err = _run(capsys, f"{targets}:module_object", "--input", "5", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["totals"]["macs"] == 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no_such_model_xyz", "--input", "8x8x3"], "unknown model"),
        (["{t}:tiny", "--input", "8xax3"], "--input"),
        (["{t}:tiny", "--input", "8x0x3"], "--input"),
        (["no_such_package_xyz.mod:build", "--input", "8x8x3"], "cannot import"),
        (["{t}:missing", "--input", "8x8x3"], "no attribute"),
        (["{t}:not_a_model", "--input", "8x8x3"], "not an nn.Module"),
        (["{t}:tiny", "--input", "5x5x3"], "forward pass failed"),
        (["{t}:tiny"], "--input is required"),
        (["{t}:tiny", "--input", "8x8x3", "--set", "width"], "KEY=VALUE"),
        (["{t}:tiny", "--input", "8x8x3", "--set", "colour=1"], "colour"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, targets, argv, message):
    code, out, err = _run(capsys, *(a.format(t=targets) for a in argv))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert message in err


def test_registry_input_mismatch(capsys, registered):
    name, _ = registered
    code, _, err = _run(capsys, name, "--input", "8x8x3", "--spatial-dims", "3")
    assert code == 2 and "--spatial-dims" in err
    code, _, err = _run(capsys, name, "--input", "8x8x3", "--in-channels", "1")
    assert code == 2 and "--in-channels" in err


@pytest.mark.parametrize("command", ["summary", "shapes"])
def test_one_notation_channels_last_in_shapes_and_summary(capsys, targets, command):
    """Both commands read 8x8x3 as an 8 x 8 image of 3 channels; the channels-first 3x8x8 is
    refused with the channels-last spelling, unless --in-channels confirms 8 channels."""
    if command == "summary":
        head = ["summary", f"{targets}:tiny", "--format", "json"]
    else:
        head = ["shapes", "conv", "--filters", "2", "--kernel", "3", "--format", "json"]

    def run(*extra):
        code = main([*head, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("--input", "8x8x3")
    assert code == 0, err
    data = json.loads(out)
    if command == "summary":
        assert data["input_shapes"] == [[1, 3, 8, 8]]  # the table: PyTorch's order
    else:
        assert data["input_shape"] == [8, 8, 3]
    code, out, err = run("--input", "3x8x8")
    assert code == 2 and out == ""
    assert "channels last" in err and "write 8x8x3" in err and "--in-channels 8" in err
    if command == "shapes":
        code, out, err = run("--input", "3x8x8", "--in-channels", "8")
        assert code == 0, err
        assert json.loads(out)["input_shape"] == [3, 8, 8]
        code, out, err = run("--input", "1x1x2048", "--padding", "1")  # a late map: channels last
        assert code == 0, err
