"""The HTML model card: sections, self-containment, escaping, atomic write, browser rendering.

Decision on URLs: the report holds none at all, not even in citations (those are plain text:
"DeLong et al., Biometrics 1988"), so the test is simply that ``http://``/``https://`` never
occur, every ``src`` is an inline ``data:image/png;base64`` image (the example slices), every
``href`` an in-page ``#`` anchor, and every SVG ``url(...)`` points inside the page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from healthcnn.bundle import load_bundle
from healthcnn.report import build_report, write_report

HOSTILE = '<img src=x onerror="alert(1)">&'

SECTIONS = [
    "intended-use",
    "data",
    "task",
    "model",
    "training",
    "discrimination",
    "operating-points",
    "confusion",
    "calibration",
    "subgroups",
    "readers",
    "versions",
]

VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}


class _Balance(HTMLParser):
    """Checks that every non-void element is closed, in order (SVG self-closing allowed)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def svgs(doc: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", doc, flags=re.S)]


def test_report_has_every_model_card_section_and_is_balanced(tiny_bundle, evaluation):
    doc = build_report(tiny_bundle, evaluation)
    assert doc.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in doc
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in doc, sid
    assert 'id="comparison"' not in doc  # no --compare, no comparison section
    checker = _Balance()
    checker.feed(doc)
    assert checker.errors == [] and checker.stack == []
    figures = svgs(doc)  # every inline figure is well-formed XML
    assert len(figures) >= 7  # 2 training, ROC, PR, confusion, reliability + counts


def test_report_states_what_a_clinician_needs(tiny_bundle, evaluation):
    doc = build_report(tiny_bundle, evaluation)
    # AUC with its interval, from the evaluation (not recomputed)
    assert "0.802" in doc and "0.767&ndash;0.837" in doc
    # thresholds, how they were chosen and where they were fitted
    assert "0.2100" in doc and "target sensitivity 0.90" in doc and "validation split" in doc
    # calibration: ECE with its bin count and scheme, temperature
    assert "0.081 (15 bins, uniform binning)" in doc and "T = 1.310" in doc
    # provenance: split sizes and the split level stated (here: not recorded)
    assert "1,080" in doc and "Split level" in doc and "not recorded in the bundle" in doc
    # the model: registry name, parameter count from the real network, analyser table folded
    params = sum(p.numel() for p in load_bundle(tiny_bundle).model.parameters())
    assert f"{params:,}" in doc and "simple_cnn" in doc
    assert re.search(r"<details class=\"analyser\">.*healthcnn-summary", doc, flags=re.S)
    # training: best epoch, wall time from the per-epoch seconds, precision, seeds
    assert "Best epoch" in doc and "7.5 s" in doc and "fp32" in doc and "train=0" in doc
    # footer: CI methods and counting convention
    footer = doc[doc.index("<footer>") :]
    assert "DeLong" in footer and "Wilson" in footer and "MACs" in footer
    assert "95% intervals" in footer
    # parts the evaluation does not hold are said to be absent
    assert "No subgroup analysis" in doc and "No reader data" in doc


def test_report_holds_no_url_script_or_external_resource(tiny_bundle, evaluation):
    doc = build_report(tiny_bundle, evaluation, compare=[("other", evaluation)])
    assert not re.search(r"https?://", doc)
    assert "<script" not in doc.lower() and "<link" not in doc.lower()
    # the only src allowed: an inline PNG (the "Example input" slices), never a fetched resource
    srcs = re.findall(r"<[a-zA-Z][^<>]*?\bsrc\s*=\s*([^\s>]*)", doc)
    assert all(s.startswith('"data:image/png;base64,') for s in srcs), srcs
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', doc))
    assert all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", doc))
    assert "@media print" in doc  # print-friendly


def test_hostile_strings_from_data_are_escaped(tmp_path, evaluation_factory, bundle_factory):
    classes = ["ok", HOSTILE, "c", "d", "e"]
    bundle = bundle_factory(tmp_path / "b", classes=classes)
    ev = evaluation_factory(classes=classes)
    ev["readers"] = [
        {"reader": HOSTILE, "sensitivity": 0.7, "specificity": 0.8, "below_curve": True,
         "model_specificity_at_reader_sensitivity": {"value": 0.85},
         "model_sensitivity_at_reader_specificity": {"value": 0.75}}
    ]  # fmt: skip
    ev["subgroups"] = {
        HOSTILE: [
            {"group": HOSTILE, "n": 9, "small": True,
             "metrics": {"auc": {"value": 0.6, "ci_low": 0.4, "ci_high": 0.8}},
             "gap": {"auc": {"value": -0.13}}}
        ]
    }  # fmt: skip
    ev["notes"] = [HOSTILE]
    ev["operating_points"][0]["name"] = HOSTILE
    doc = build_report(bundle, ev, compare=[(HOSTILE, ev)], title=HOSTILE)
    assert HOSTILE not in doc and "<img" not in doc
    assert doc.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;") >= 8
    assert "small group" in doc and "-0.130" in doc
    checker = _Balance()
    checker.feed(doc)
    assert checker.errors == []
    for svg in svgs(doc):  # escaped names keep the figures well-formed
        assert svg.tag == "svg"


def test_comparison_lists_every_bundle_and_overlays_their_roc(tiny_bundle, evaluation_factory):
    main = evaluation_factory()
    other = evaluation_factory(seed=3)
    other["metrics"]["auc"] = {"value": 0.612, "ci_low": 0.55, "ci_high": 0.67, "method": "x"}
    doc = build_report(tiny_bundle, main, compare=[("baseline-run", other)])
    part = doc[doc.index('<section id="comparison">') : doc.index('<section id="versions">')]
    assert "tiny" in part and "baseline-run" in part and "0.612" in part and "0.731" in part
    roc = svgs(part)[0]
    series = [e for e in roc.iter("polyline") if e.get("class") == "series"]
    assert len(series) >= 3  # chance diagonal, the compared curve, this bundle's curve


def test_bad_arguments_are_rejected(tiny_bundle, evaluation):
    with pytest.raises(TypeError, match="to_dict"):
        build_report(tiny_bundle, [evaluation])
    with pytest.raises(TypeError, match="pairs"):
        build_report(tiny_bundle, evaluation, compare=[evaluation])


def test_write_report_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out" / "report.html"
    assert write_report(path, "<p>one</p>") == path
    assert path.read_text() == "<p>one</p>"
    write_report(path, "<p>two</p>")
    assert path.read_text() == "<p>two</p>"

    def fail(src, dst):
        raise OSError("disk full")

    import healthcnn._atomic as atomic

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(path, "<p>three</p>")
    assert path.read_text() == "<p>two</p>"  # the old report survives a failed write
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temp left
    with pytest.raises(TypeError):
        write_report(tmp_path / "x.html", b"bytes")
    with pytest.raises(IsADirectoryError):
        write_report(tmp_path, "<p/>")


# -- headless Chromium ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def render(path: Path) -> tuple[str, list[str]]:
    """Load ``path`` in headless Chromium: the DOM after loading, and the console messages.

    With ``--enable-logging=stderr`` Chromium writes every console message (``console.*`` and
    uncaught exceptions) to stderr as ``...:CONSOLE(line)] "message", source: ...``.
    """
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--dump-dom", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C.UTF-8"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    return proc.stdout, console


@needs_browser
def test_the_console_check_catches_errors(tmp_path):
    """Control: a page with a script error is caught, so the report test below can fail."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>notDefined()</script>")
    dom, console = render(bad)
    assert "<p>x</p>" in dom
    assert any("Uncaught ReferenceError" in ln for ln in console)


@needs_browser
def test_report_renders_in_headless_chromium_without_console_errors(tiny_bundle, evaluation):
    full = {**evaluation, **_readers_and_subgroups()}
    doc = build_report(tiny_bundle, full, compare=[("other", evaluation)])
    path = write_report(tiny_bundle.parent / "report.html", doc)
    dom, console = render(path)
    assert console == []
    for sid in [*SECTIONS, "comparison"]:  # the browser built the whole document
        assert f'id="{sid}"' in dom
    assert dom.count("<svg") >= 8 and "Model card: simple_cnn on retinamnist" in dom
    assert "Reader A" in dom and "small group" in dom


def _readers_and_subgroups() -> dict:
    est = {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9, "method": "wilson", "n": 50}
    return {
        "readers": [
            {"reader": "Reader A", "sensitivity": 0.75, "specificity": 0.8, "below_curve": True,
             "model_specificity_at_reader_sensitivity": est,
             "model_sensitivity_at_reader_specificity": est}
        ],
        "subgroups": {
            "sex": [
                {"group": "(all)", "n": 400, "small": False, "metrics": {"auc": est},
                 "gap": {"auc": 0.0}},
                {"group": "F", "n": 12, "small": True, "metrics": {"auc": est},
                 "gap": {"auc": -0.05}},
            ]
        },
    }  # fmt: skip
