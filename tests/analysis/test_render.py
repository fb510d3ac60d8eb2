"""The renderers: text carries the convention and units, JSON keeps its contract, CSV parses,
HTML escapes, markdown keeps its table intact."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from torch import nn

from healthcnn.analysis import (
    CONVENTION,
    SCHEMA_VERSION,
    render,
    summarize,
    to_csv,
    to_html,
    to_json,
    to_markdown,
    to_text,
)


class Odd(nn.Module):
    """A leaf type without a counting rule."""

    def forward(self, x):
        return x * 2


def _model() -> nn.Module:
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1), nn.ReLU()),
        nn.MaxPool2d(2),
        Odd(),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 1000),
    )
    model.add_module("<script>alert(1)</script>", nn.Identity())
    return model


@pytest.fixture(scope="module")
def report():
    return summarize(_model(), (3, 16, 16))


def test_text_has_table_totals_convention_and_units(report):
    text = to_text(report)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    for column in ("Type", "Input", "Output", "Kernel/stride/pad", "Params", "MACs", "Pool calcs"):
        assert column in header
    assert " ".join(text.split()).count(" ".join(CONVENTION.split())) == 1
    assert "Units:" in text
    # thousands separators: the linear layer has 128*1000 + 1000 parameters
    assert "129,000" in text and "128,000" in text
    # names indented by depth: the conv inside the inner Sequential sits deeper than the pool
    conv_line = next(line for line in lines if "Conv2d" in line)
    pool_line = next(line for line in lines if "MaxPool2d" in line)
    assert conv_line.startswith("  0.0") and pool_line.startswith("1 ")
    assert "3x3/2/1" in conv_line
    odd_line = next(line for line in lines if line.split()[:2] == ["2", "Odd"])
    assert odd_line.split()[-2] == "?"
    assert "unsupported" in text and "Odd" in text


def test_json_contract(report):
    data = json.loads(to_json(report))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["convention"] == CONVENTION
    assert data["input_shapes"] == [[1, 3, 16, 16]]
    assert set(data["totals"]) >= {
        "params",
        "trainable_params",
        "macs",
        "flops",
        "pool_calculations",
        "activation_elements",
    }
    assert data["totals"]["flops"] == 2 * data["totals"]["macs"]
    assert data["unsupported"] == ["Odd"]
    required = {
        "name",
        "type",
        "input_shape",
        "output_shape",
        "params",
        "macs",
        "pool_calculations",
        "depth",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "trainable_params",
        "activation_elements",
    }
    assert len(data["layers"]) == len(report.layers)
    for layer in data["layers"]:
        assert required <= set(layer)
    conv = data["layers"][0]
    assert conv["kernel_size"] == [3, 3] and conv["stride"] == [2, 2] and conv["padding"] == [1, 1]
    assert conv["output_shape"] == [1, 8, 8, 8] and conv["macs"] == 64 * 8 * 27
    odd = next(layer for layer in data["layers"] if layer["type"] == "Odd")
    assert odd["macs"] is None


def test_csv_parses_with_the_csv_module(report):
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == len(report.layers)
    assert rows[0]["type"] == "Conv2d" and rows[0]["input_shape"] == "1x3x16x16"
    assert int(rows[0]["macs"]) == report.layers[0].macs
    assert sum(int(r["params"]) - int(r["shared_params"]) for r in rows) == report.totals.params
    odd = next(r for r in rows if r["type"] == "Odd")
    assert odd["macs"] == ""
    assert any(r["name"] == "<script>alert(1)</script>" for r in rows)


def test_html_escapes_and_carries_the_convention(report):
    fragment = to_html(report)
    assert fragment.startswith("<table") and fragment.rstrip().endswith("</table>")
    assert "<script>" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    caption = fragment[fragment.index("<caption>") : fragment.index("</caption>")]
    assert "bias excluded" in caption and "FLOPs = 2 x MACs" in caption
    body = fragment.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == len(report.layers)


def test_markdown_table_is_well_formed(report):
    md = to_markdown(report)
    table = [line for line in md.splitlines() if line.startswith("|")]
    widths = {line.count(" | ") for line in table[2:]}
    assert len(table) == 2 + len(report.layers)
    assert len(widths) == 1
    assert "bias excluded" in md


def test_render_dispatch_and_unknown_format(report):
    assert render(report, "json") == to_json(report)
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "xml")


def test_shared_and_outside_parameters_are_marked():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.extra = nn.Parameter(torch.zeros(3))

        def forward(self, x):
            return self.fc(self.fc(x)) + self.extra[:2]

    text = to_text(summarize(Tied(), (2,)))
    assert "fc (call 2)" in text and "(shared)" in text
    assert "Parameters in no row" in text and "extra (3)" in text
