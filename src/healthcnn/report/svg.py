"""Dependency-free SVG charts: a small plotting surface with axes, ticks, labels and a legend.

The report embeds every figure as inline SVG, so it needs no plotting library, no JavaScript and
no network to view, and prints sharply at any size. :class:`Plot` maps data coordinates to a
fixed pixel frame and collects layers (lines, shaded polygons, markers, bars, text); ``render``
draws the grid, the axes with "nice" tick values, the axis labels, the legend and the layers, and
returns one well-formed ``<svg>`` element. Every string that reaches the SVG goes through
:func:`esc`, so labels taken from data (class names, reader names) cannot inject markup.

Domain charts (ROC, PR, reliability, confusion matrix, training curves) live in ``charts.py``.
"""

from __future__ import annotations

import hashlib
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Okabe-Ito palette: distinguishable with the common colour-vision deficiencies and in greyscale
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"


def esc(text: object) -> str:
    """Escape ``text`` for XML/HTML text and attribute values (``& < > " '``)."""
    return html.escape(str(text), quote=True)


def _num(v: float) -> str:
    """A coordinate with two decimals, trailing zeros dropped (small files, stable output)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def finite_pairs(xs: Sequence, ys: Sequence) -> tuple[list[float], list[float]]:
    """The (x, y) pairs where both are finite numbers (None and NaN are dropped)."""
    px: list[float] = []
    py: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        if x is None or y is None:
            continue
        x, y = float(x), float(y)
        if math.isfinite(x) and math.isfinite(y):
            px.append(x)
            py.append(y)
    return px, py


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got ({lo}, {hi})")
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def tick_label(v: float, step: float) -> str:
    """A tick value printed with as many decimals as the step needs."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-9:
        decimals += 1
    return f"{v:.{decimals}f}"


#: Plot fields that decide where data land in pixels
_GEOMETRY = (
    "x_range",
    "y_range",
    "width",
    "height",
    "legend",
    "square",
    "margin",
    "legend_rows",
)


@dataclass
class _Layer:
    svg: str
    legend: tuple[str, str, str] | None = None  # (label, kind, style)


@dataclass
class Plot:
    """One chart: data ranges, axis labels and the layers drawn on it.

    ``x_range``/``y_range`` are the data limits of the frame; ``x_ticks``/``y_ticks`` override
    the automatic tick values (``x_tick_labels`` then names them, e.g. epoch numbers or class
    names). ``legend`` places the key: ``"lower right"``, ``"upper right"``, ``"upper left"``,
    ``"lower left"`` or ``"below"`` (``legend_columns`` entries per row, ``legend_rows`` rows
    reserved under the axis). Set ranges and sizes before drawing: layers hold pixel
    coordinates, so changing the geometry afterwards raises ``ValueError``.
    """

    title: str
    x_label: str
    y_label: str
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    width: int = 440
    height: int = 340
    x_ticks: Sequence[float] | None = None
    y_ticks: Sequence[float] | None = None
    x_tick_labels: Sequence[str] | None = None
    legend: str = "lower right"
    square: bool = False
    margin: tuple[int, int, int, int] = (34, 16, 48, 56)  # top, right, bottom, left
    legend_rows: int = 2
    legend_columns: int = 2
    layers: list[_Layer] = field(default_factory=list)

    def __setattr__(self, name: str, value: object) -> None:
        # layers store pixel coordinates: changing the frame afterwards would misplace them
        if name in _GEOMETRY and getattr(self, "layers", None):
            raise ValueError(f"set {name} before drawing on the plot (layers hold pixels)")
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        for name in ("x_range", "y_range"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
                raise ValueError(f"{name} must be finite with low < high, got ({lo}, {hi})")
        if self.legend not in ("lower right", "upper right", "upper left", "lower left", "below"):
            raise ValueError(f"legend={self.legend!r} is not a legend position")

    # -- coordinates ---------------------------------------------------------------------------
    @property
    def frame(self) -> tuple[float, float, float, float]:
        """Pixel box of the data area: left, top, width, height."""
        top, right, bottom, left = self.margin
        if self.legend == "below":
            bottom += 18 * self.legend_rows
        w = self.width - left - right
        h = self.height - top - bottom
        if self.square:
            side = min(w, h)
            return left, top, side, side
        return left, top, w, h

    def sx(self, x: float) -> float:
        left, _, w, _ = self.frame
        lo, hi = self.x_range
        return left + (x - lo) / (hi - lo) * w

    def sy(self, y: float) -> float:
        _, top, _, h = self.frame
        lo, hi = self.y_range
        return top + h - (y - lo) / (hi - lo) * h

    def _path(self, xs: Sequence[float], ys: Sequence[float]) -> str:
        pts = [f"{_num(self.sx(x))},{_num(self.sy(y))}" for x, y in zip(xs, ys, strict=True)]
        return " ".join(pts)

    # -- layers --------------------------------------------------------------------------------
    def _add(self, svg: str, label: str | None, kind: str, style: str) -> None:
        """Draw ``svg``; with a ``label`` it also gets a legend entry of ``kind`` and ``style``."""
        self.layers.append(_Layer(svg, (label, kind, style) if label else None))

    def line(
        self,
        xs: Sequence,
        ys: Sequence,
        *,
        color: str = PALETTE[0],
        width: float = 2.0,
        dash: str | None = None,
        label: str | None = None,
        step: bool = False,
    ) -> Plot:
        """A polyline through the finite points (``step=True``: post-step, as ROC curves are)."""
        px, py = finite_pairs(xs, ys)
        if len(px) >= 1:
            if step and len(px) > 1:
                sx, sy = [px[0]], [py[0]]
                for x, y in zip(px[1:], py[1:], strict=True):
                    sx += [x, x]
                    sy += [sy[-1], y]
                px, py = sx, sy
            d = f' stroke-dasharray="{dash}"' if dash else ""
            svg = (
                f'<polyline class="series" points="{self._path(px, py)}" fill="none" '
                f'stroke="{color}" stroke-width="{width}" stroke-linejoin="round"{d}/>'
            )
            self._add(svg, label, "line", f"{color}|{width}|{dash or ''}")
        return self

    def band(
        self,
        xs: Sequence,
        low: Sequence,
        high: Sequence,
        *,
        color: str = PALETTE[0],
        opacity: float = 0.2,
        label: str | None = None,
    ) -> Plot:
        """A shaded polygon between ``low`` and ``high`` (a confidence band)."""
        triples = [
            (float(x), float(lo), float(hi))
            for x, lo, hi in zip(xs, low, high, strict=False)
            if None not in (x, lo, hi) and all(math.isfinite(float(v)) for v in (x, lo, hi))
        ]
        if len(triples) >= 2:
            bx = [t[0] for t in triples]
            pts = self._path(bx + bx[::-1], [t[2] for t in triples] + [t[1] for t in triples][::-1])
            svg = (
                f'<polygon class="ci-band" points="{pts}" fill="{color}" '
                f'fill-opacity="{opacity}" stroke="none"/>'
            )
            self._add(svg, label, "band", f"{color}|{opacity}")
        return self

    def markers(
        self,
        xs: Sequence,
        ys: Sequence,
        *,
        color: str = PALETTE[1],
        shape: str = "circle",
        size: float = 5.0,
        label: str | None = None,
        annotations: Sequence[str] | None = None,
    ) -> Plot:
        """Point markers: ``circle``, ``square``, ``diamond`` or ``triangle``; optional labels."""
        notes = list(annotations) if annotations is not None else []
        parts = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=False)):
            px, py = finite_pairs([x], [y])
            if not px:
                continue
            cx, cy = self.sx(px[0]), self.sy(py[0])
            parts.append(_marker(shape, cx, cy, size, color))
            if i < len(notes) and notes[i]:
                parts.append(
                    f'<text x="{_num(cx + size + 3)}" y="{_num(cy - size - 1)}" '
                    f'class="annot">{esc(notes[i])}</text>'
                )
        if parts:
            svg = '<g class="markers">' + "".join(parts) + "</g>"
            self._add(svg, label, "marker", f"{color}|{shape}")
        return self

    def bars(
        self,
        lefts: Sequence[float],
        rights: Sequence[float],
        heights: Sequence,
        *,
        color: str = PALETTE[0],
        opacity: float = 0.75,
        label: str | None = None,
        base: float = 0.0,
    ) -> Plot:
        """Rectangles from ``base`` to each height over [left, right] (histograms, bins)."""
        parts = []
        for x0, x1, h in zip(lefts, rights, heights, strict=False):
            if h is None or not math.isfinite(float(h)):
                continue
            y0, y1 = sorted((self.sy(base), self.sy(float(h))))
            parts.append(
                f'<rect x="{_num(self.sx(x0))}" y="{_num(y0)}" '
                f'width="{_num(max(self.sx(x1) - self.sx(x0), 0.5))}" '
                f'height="{_num(max(y1 - y0, 0))}"/>'
            )
        if parts:
            svg = (
                f'<g class="bars" fill="{color}" fill-opacity="{opacity}" stroke="#ffffff" '
                f'stroke-width="0.5">' + "".join(parts) + "</g>"
            )
            self._add(svg, label, "band", f"{color}|{opacity}")
        return self

    def vline(self, x: float, *, color: str = "#777777", dash: str = "4 3", label=None) -> Plot:
        """A vertical reference line across the frame (e.g. the best epoch)."""
        lo, hi = self.y_range
        return self.line([x, x], [lo, hi], color=color, width=1.2, dash=dash, label=label)

    def diagonal(self, *, label: str | None = "chance") -> Plot:
        """The y = x reference line (chance on ROC, perfect calibration on reliability)."""
        lo = max(self.x_range[0], self.y_range[0])
        hi = min(self.x_range[1], self.y_range[1])
        return self.line([lo, hi], [lo, hi], color="#999999", width=1.0, dash="5 4", label=label)

    def note(self, text: str, *, x: float, y: float, anchor: str = "start") -> Plot:
        """Free text at data coordinates (e.g. "AUC 0.73 (0.69-0.77)")."""
        self.layers.append(
            _Layer(
                f'<text x="{_num(self.sx(x))}" y="{_num(self.sy(y))}" class="note" '
                f'text-anchor="{anchor}">{esc(text)}</text>'
            )
        )
        return self

    # -- rendering -----------------------------------------------------------------------------
    def _legend_items(self) -> list[tuple[str, str, str]]:
        return [layer.legend for layer in self.layers if layer.legend]

    def _axes(self) -> list[str]:
        left, top, w, h = self.frame
        out = [f'<rect x="{left}" y="{top}" width="{_num(w)}" height="{_num(h)}" class="frame"/>']
        xt = list(self.x_ticks) if self.x_ticks is not None else nice_ticks(*self.x_range)
        yt = list(self.y_ticks) if self.y_ticks is not None else nice_ticks(*self.y_range)
        xstep = (xt[1] - xt[0]) if len(xt) > 1 else 1.0
        ystep = (yt[1] - yt[0]) if len(yt) > 1 else 1.0
        labels = list(self.x_tick_labels) if self.x_tick_labels is not None else None
        for i, v in enumerate(xt):
            x = _num(self.sx(v))
            text = labels[i] if labels is not None and i < len(labels) else tick_label(v, xstep)
            out.append(
                f'<line x1="{x}" x2="{x}" y1="{_num(top)}" y2="{_num(top + h)}" class="grid"/>'
                f'<line x1="{x}" x2="{x}" y1="{_num(top + h)}" y2="{_num(top + h + 4)}" '
                f'class="tick"/><text x="{x}" y="{_num(top + h + 16)}" text-anchor="middle" '
                f'class="ticklabel">{esc(text)}</text>'
            )
        for v in yt:
            y = _num(self.sy(v))
            out.append(
                f'<line x1="{_num(left)}" x2="{_num(left + w)}" y1="{y}" y2="{y}" class="grid"/>'
                f'<line x1="{_num(left - 4)}" x2="{_num(left)}" y1="{y}" y2="{y}" class="tick"/>'
                f'<text x="{_num(left - 7)}" y="{y}" dy="0.32em" text-anchor="end" '
                f'class="ticklabel">{esc(tick_label(v, ystep))}</text>'
            )
        out.append(
            f'<text x="{_num(left + w / 2)}" y="{_num(top + h + 36)}" text-anchor="middle" '
            f'class="axislabel">{esc(self.x_label)}</text>'
        )
        cy = top + h / 2
        out.append(
            f'<text x="{_num(left - 42)}" y="{_num(cy)}" text-anchor="middle" class="axislabel" '
            f'transform="rotate(-90 {_num(left - 42)} {_num(cy)})">{esc(self.y_label)}</text>'
        )
        out.append(
            f'<text x="{_num(left)}" y="{_num(top - 12)}" class="title">{esc(self.title)}</text>'
        )
        return out

    def _legend(self) -> list[str]:
        items = self._legend_items()
        if not items:
            return []
        left, top, w, h = self.frame
        if self.legend == "below":
            cols = self.legend_columns
            col_w = w / cols
            x0, y0 = left, top + h + 48
            rows = [(x0 + (i % cols) * col_w, y0 + (i // cols) * 18) for i in range(len(items))]
            box = ""
        else:
            longest = max(len(label) for label, _, _ in items)
            bw = min(34 + 6.6 * longest, w - 8)
            bh = 18 * len(items) + 6
            x0 = left + 8 if "left" in self.legend else left + w - bw - 8
            y0 = top + 8 if "upper" in self.legend else top + h - bh - 8
            box = (
                f'<rect x="{_num(x0)}" y="{_num(y0)}" width="{_num(bw)}" height="{_num(bh)}" '
                f'class="legendbox"/>'
            )
            rows = [(x0 + 6, y0 + 6 + 18 * i) for i in range(len(items))]
        out = ['<g class="legend">', box] if box else ['<g class="legend">']
        for (label, kind, style), (x, y) in zip(items, rows, strict=True):
            cy = y + 8
            parts = style.split("|")
            if kind == "line":
                dash = f' stroke-dasharray="{parts[2]}"' if parts[2] else ""
                out.append(
                    f'<line x1="{_num(x)}" x2="{_num(x + 20)}" y1="{_num(cy)}" y2="{_num(cy)}" '
                    f'stroke="{parts[0]}" stroke-width="{parts[1]}"{dash}/>'
                )
            elif kind == "band":
                out.append(
                    f'<rect x="{_num(x)}" y="{_num(cy - 5)}" width="20" height="10" '
                    f'fill="{parts[0]}" fill-opacity="{parts[1]}"/>'
                )
            else:
                out.append(_marker(parts[1], x + 10, cy, 5, parts[0]))
            out.append(
                f'<text x="{_num(x + 26)}" y="{_num(cy)}" dy="0.32em" class="legendtext">'
                f"{esc(label)}</text>"
            )
        out.append("</g>")
        return out

    def render(self, *, description: str | None = None) -> str:
        """The chart as one ``<svg>`` element with a ``<title>`` for screen readers.

        No ``xmlns``: the element is meant to be inlined in HTML, whose parser places ``<svg>``
        in the SVG namespace itself (and the report then holds no URL at all).
        """
        left, top, w, h = self.frame
        # a clip id derived from the content: stable output, and two identical charts may share it
        key = "|".join([self.title, self.x_label, self.y_label, str(self.frame)])
        key += "".join(layer.svg for layer in self.layers)
        clip = "clip-" + hashlib.sha1(key.encode()).hexdigest()[:10]
        body = [
            f'<svg viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" class="chart" '
            f'font-family="{esc(FONT)}">',
            f"<title>{esc(description or self.title)}</title>",
            "<style>.frame{fill:#fff;stroke:#444;stroke-width:1}.grid{stroke:#e6e6e6;"
            "stroke-width:1}.tick{stroke:#444}.ticklabel{font-size:11px;fill:#333}"
            ".axislabel{font-size:12.5px;fill:#111}.title{font-size:13.5px;font-weight:600;"
            "fill:#111}.legendbox{fill:#fff;fill-opacity:.92;stroke:#bbb}.legendtext{font-size:"
            "11.5px;fill:#222}.note{font-size:12px;fill:#111}.annot{font-size:10.5px;fill:#222}"
            "</style>",
            f'<defs><clipPath id="{clip}"><rect x="{_num(left)}" y="{_num(top)}" '
            f'width="{_num(w)}" height="{_num(h)}"/></clipPath></defs>',
            *self._axes(),
            f'<g clip-path="url(#{clip})">',
            *(layer.svg for layer in self.layers if 'class="markers"' not in layer.svg),
            "</g>",
            # markers and their labels are drawn unclipped, on top, so points at 0 or 1 stay whole
            *(layer.svg for layer in self.layers if 'class="markers"' in layer.svg),
            f'<rect x="{left}" y="{top}" width="{_num(w)}" height="{_num(h)}" fill="none" '
            'stroke="#444"/>',
            *self._legend(),
            "</svg>",
        ]
        return "\n".join(body)


def _marker(shape: str, cx: float, cy: float, r: float, color: str) -> str:
    style = f'fill="{color}" stroke="#ffffff" stroke-width="1.2"'
    if shape == "square":
        return (
            f'<rect x="{_num(cx - r)}" y="{_num(cy - r)}" width="{_num(2 * r)}" '
            f'height="{_num(2 * r)}" {style}/>'
        )
    if shape == "diamond":
        pts = f"{_num(cx)},{_num(cy - r * 1.3)} {_num(cx + r * 1.3)},{_num(cy)} "
        pts += f"{_num(cx)},{_num(cy + r * 1.3)} {_num(cx - r * 1.3)},{_num(cy)}"
        return f'<polygon points="{pts}" {style}/>'
    if shape == "triangle":
        pts = f"{_num(cx)},{_num(cy - r * 1.3)} {_num(cx + r * 1.2)},{_num(cy + r)} "
        pts += f"{_num(cx - r * 1.2)},{_num(cy + r)}"
        return f'<polygon points="{pts}" {style}/>'
    if shape != "circle":
        raise ValueError(f"marker shape {shape!r}: use circle, square, diamond or triangle")
    return f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(r)}" {style}/>'


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    legend: str = "upper right",
    width: int = 440,
    height: int = 300,
) -> Plot:
    """A line chart of labelled series ``(label, xs, ys)``; ranges default to the data's."""
    allx = [x for _, xs, ys in series for x in finite_pairs(xs, ys)[0]]
    ally = [y for _, xs, ys in series for y in finite_pairs(xs, ys)[1]]
    if x_range is None:
        x_range = (min(allx), max(allx)) if allx else (0.0, 1.0)
        if x_range[1] <= x_range[0]:
            x_range = (x_range[0] - 0.5, x_range[0] + 0.5)
    if y_range is None:
        lo, hi = (min(ally), max(ally)) if ally else (0.0, 1.0)
        pad = (hi - lo) * 0.08 or 0.5
        y_range = (lo - pad, hi + pad)
    plot = Plot(
        title,
        x_label,
        y_label,
        x_range=x_range,
        y_range=y_range,
        legend=legend,
        width=width,
        height=height,
    )
    for i, (label, xs, ys) in enumerate(series):
        plot.line(xs, ys, color=PALETTE[i % len(PALETTE)], label=label)
    return plot
