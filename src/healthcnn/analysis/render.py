"""Turn a :class:`ModelReport` into text, markdown, CSV, JSON or an HTML fragment.

Every human-readable format carries the counting convention and the units next to the numbers;
CSV holds the rows only (one header line, then one line per row) so that any CSV reader takes it,
and JSON is the documented contract of :meth:`ModelReport.as_dict`.
"""

from __future__ import annotations

import csv
import html
import io
import textwrap
from collections.abc import Callable

from .._json import dumps
from .records import LayerRecord, ModelReport

_COLUMNS = ("Layer", "Type", "Input", "Output", "Kernel/stride/pad", "Params", "MACs", "Pool calcs")
_NUMERIC = {"Params", "MACs", "Pool calcs"}


# ---- cell formatting -------------------------------------------------------------------------


def _shape(shape) -> str:
    return "x".join(str(v) for v in shape)


def _shapes(shapes) -> str:
    return ", ".join(_shape(s) for s in shapes) if shapes else "-"


def _axes(values) -> str:
    """``(3, 3)`` -> ``3``; ``(1, 3)`` -> ``1x3``; a string (``"same"``) as it is."""
    if isinstance(values, str):
        return values
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else _shape(values)


def _kernel(layer: LayerRecord) -> str:
    if layer.kernel_size is None:
        return "-"
    text = _shape(layer.kernel_size)
    if layer.stride is not None:
        text += f"/{_axes(layer.stride)}"
    if layer.padding is not None:
        text += f"/{_axes(layer.padding)}"
    if layer.dilation is not None and any(d != 1 for d in layer.dilation):
        text += f" d{_axes(layer.dilation)}"
    if layer.groups not in (None, 1):
        text += f" g{layer.groups}"
    return text


def _params(layer: LayerRecord) -> str:
    text = f"{layer.params:,}"
    if layer.shared_params and layer.shared_params == layer.params:
        text += " (shared)"
    elif layer.shared_params:
        text += f" ({layer.shared_params:,} shared)"
    return text


def _macs(layer: LayerRecord) -> str:
    return "?" if layer.macs is None else f"{layer.macs:,}"


def _pool(layer: LayerRecord) -> str:
    if layer.pool_calculations or layer.rule in ("pool", "adaptive_pool"):
        return f"{layer.pool_calculations:,}"
    return "-"


def _label(layer: LayerRecord) -> str:
    name = layer.name or "(model)"
    return name if layer.call_index == 0 else f"{name} (call {layer.call_index + 1})"


def _cells(layer: LayerRecord) -> list[str]:
    return [
        _label(layer),
        layer.type,
        _shapes(layer.input_shapes),
        _shapes(layer.output_shapes),
        _kernel(layer),
        _params(layer),
        _macs(layer),
        _pool(layer),
    ]


def _total_lines(report: ModelReport) -> list[tuple[str, str]]:
    t = report.totals
    macs = f"{t.macs:,}"
    if report.unsupported:
        macs += " (unsupported layers not included)"
    lines = [
        ("Total parameters", f"{t.params:,} (trainable {t.trainable_params:,})"),
        ("Total MACs", macs),
        ("Total FLOPs (2 x MACs)", f"{t.flops:,}"),
        ("Pooling calculations", f"{t.pool_calculations:,}"),
        ("Output activation elements", f"{t.activation_elements:,}"),
    ]
    if t.params_outside_layers:
        lines.insert(1, ("Parameters in no row", f"{t.params_outside_layers:,} (in the total)"))
    return lines


def _units(report: ModelReport) -> str:
    return (
        f"Units: counts, not rates; shapes are batch x channels x spatial (batch "
        f"{report.batch_size}, {report.dtype} on {report.device}); MACs, pooling calculations "
        f"and activations are for the whole batch."
    )


# ---- formats ---------------------------------------------------------------------------------


def to_text(report: ModelReport) -> str:
    """The lecture's table layout, names indented by depth, totals and the convention below."""
    rows = []
    for layer in report.layers:
        cells = _cells(layer)
        cells[0] = "  " * max(layer.depth - 1, 0) + cells[0]
        rows.append(cells)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        parts = [
            c.rjust(w) if col in _NUMERIC else c.ljust(w)
            for c, w, col in zip(cells, widths, _COLUMNS, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    title = f"{report.model}: input {_shapes(report.input_shapes)}"
    out = [title, rule, line(_COLUMNS), rule, *(line(r) for r in rows), rule]
    labels = _total_lines(report)
    pad = max(len(k) for k, _ in labels)
    out += [f"{k + ':':<{pad + 1}} {v}" for k, v in labels]
    for warning in report.warnings:
        out += textwrap.wrap(f"Warning: {warning}", 100, subsequent_indent="  ")
    out.append(rule)
    out += textwrap.wrap(f"Convention: {report.convention}", 100)
    out += textwrap.wrap(_units(report), 100)
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: ModelReport) -> str:
    """A GitHub-flavoured markdown table with a depth column, then totals and the convention."""
    head = ["Layer", "Depth", *_COLUMNS[1:]]
    align = ["---", "---:", *("---:" if c in _NUMERIC else "---" for c in _COLUMNS[1:])]
    out = [
        f"**{_md_cell(report.model)}**, input {_shapes(report.input_shapes)}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(align) + "|",
    ]
    for layer in report.layers:
        cells = _cells(layer)
        cells.insert(1, str(layer.depth))
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    out.append("")
    out += [f"- **{k}**: {v}" for k, v in _total_lines(report)]
    out += [f"- **Warning**: {_md_cell(w)}" for w in report.warnings]
    out += ["", f"*Convention*: {report.convention}", "", _units(report)]
    return "\n".join(out) + "\n"


CSV_FIELDS = (
    "name",
    "type",
    "depth",
    "call_index",
    "input_shape",
    "output_shape",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "params",
    "trainable_params",
    "shared_params",
    "macs",
    "pool_calculations",
    "activation_elements",
    "rule",
)


def to_csv(report: ModelReport) -> str:
    """One header line and one line per row; shapes as ``1x3x224x224`` (several joined by
    ``;``); an unsupported layer's ``macs`` is empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for layer in report.layers:
        d = layer.as_dict()

        def opt(value) -> str:
            if value is None:
                return ""
            return _axes(value) if isinstance(value, list | str) else str(value)

        writer.writerow(
            [
                layer.name,
                layer.type,
                layer.depth,
                layer.call_index,
                ";".join(_shape(s) for s in layer.input_shapes),
                ";".join(_shape(s) for s in layer.output_shapes),
                "" if layer.kernel_size is None else _shape(layer.kernel_size),
                opt(d["stride"]),
                opt(d["padding"]),
                opt(d["dilation"]),
                opt(layer.groups),
                layer.params,
                layer.trainable_params,
                layer.shared_params,
                "" if layer.macs is None else layer.macs,
                layer.pool_calculations,
                layer.activation_elements,
                layer.rule,
            ]
        )
    return buffer.getvalue()


def to_json(report: ModelReport, *, indent: int | None = 2) -> str:
    """The JSON contract (``schema_version``, ``convention``, ``input_shapes``, ``totals``,
    ``unsupported``, ``layers``, ...; see ``docs/counting.md``)."""
    return dumps(report.as_dict(), indent=indent) + "\n"


def to_html(report: ModelReport) -> str:
    """An HTML fragment: one ``<table>`` with the convention as caption, every value escaped."""
    e = html.escape
    out = [
        '<table class="healthcnn-summary">',
        f"<caption>{e(report.model)}, input {e(_shapes(report.input_shapes))}. "
        f"{e(report.convention)} {e(_units(report))}</caption>",
        "<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in _COLUMNS) + "</tr></thead>",
        "<tbody>",
    ]
    for layer in report.layers:
        cells = _cells(layer)
        indent = max(layer.depth - 1, 0)
        tds = [f'<td style="padding-left:{indent}em">{e(cells[0])}</td>']
        tds += [
            f'<td style="text-align:right">{e(c)}</td>' if col in _NUMERIC else f"<td>{e(c)}</td>"
            for c, col in zip(cells[1:], _COLUMNS[1:], strict=True)
        ]
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody>")
    out.append("<tfoot>")
    span = len(_COLUMNS) - 1
    for k, v in _total_lines(report):
        out.append(f'<tr><th>{e(k)}</th><td colspan="{span}">{e(v)}</td></tr>')
    for w in report.warnings:
        out.append(f'<tr><th>Warning</th><td colspan="{span}">{e(w)}</td></tr>')
    out.append("</tfoot>")
    out.append("</table>")
    return "\n".join(out) + "\n"


#: Format name -> renderer, as the CLI's ``--format`` names them.
RENDERERS: dict[str, Callable[[ModelReport], str]] = {
    "text": to_text,
    "md": to_markdown,
    "csv": to_csv,
    "json": to_json,
    "html": to_html,
}


def render(report: ModelReport, fmt: str = "text") -> str:
    """Render ``report`` in ``fmt`` (text, md, csv, json, html)."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(RENDERERS)}")
    return RENDERERS[fmt](report)
