"""The HTML report: a self-contained TRIPOD+AI / CLAIM style model card of a bundle.

>>> from healthcnn.report import make_report
>>> make_report("runs/demo", "runs/demo/report.html")        # doctest: +SKIP

``make_report`` scores the bundle (and any bundles to compare) with
``healthcnn.evaluation.evaluate_bundle`` and writes ``build_report``'s document with
``write_report``. Figures are drawn by ``svg``/``charts`` as inline SVG: no plotting library, no
JavaScript, no network needed to view or print the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..bundle.seal import MANIFEST_FILE, seal_file
from .html import build_report, write_report

__all__ = ["build_report", "make_report", "write_report"]


def _evaluate(bundle: str | Path, **kwargs: Any) -> Any:
    from ..evaluation import evaluate_bundle

    return evaluate_bundle(bundle, **kwargs)


def make_report(
    bundle: str | Path,
    out: str | Path,
    *,
    compare: Sequence[str | Path] = (),
    split: str = "test",
    data_dir: str | Path | None = None,
    groups_column: str | None = None,
    readers_csv: str | Path | None = None,
    positive: str | Sequence[int | str] | None = None,
    precision: str = "auto",
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Evaluate ``bundle`` (and each of ``compare``) on ``split`` and write the report to ``out``.

    Operating points are evaluate_bundle's defaults (sensitivity 0.90 and specificity 0.90,
    fitted on val). Compared bundles are scored on the same split and positive classes, without
    groups or readers. Returns the path written.
    """
    common = {
        "split": split,
        "data_dir": data_dir,
        "positive": positive,
        "precision": precision,
        "seed": seed,
    }
    evaluation = _evaluate(bundle, groups_column=groups_column, readers_csv=readers_csv, **common)
    others = [(Path(b).name or str(b), _evaluate(b, **common)) for b in compare]
    html = build_report(bundle, evaluation, compare=others, title=title, data_dir=data_dir)
    path = write_report(out, html)
    bundle_dir = Path(bundle)
    if path.parent.resolve() == bundle_dir.resolve() and (bundle_dir / MANIFEST_FILE).exists():
        seal_file(bundle_dir, path.name)  # a report inside the bundle belongs to it
    return path
