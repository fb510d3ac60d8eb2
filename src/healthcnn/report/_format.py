"""Small formatting helpers shared by the report sections: numbers, estimates, tables.

Every value that comes from data (class names, group values, reader names, config values) is
escaped here or by the caller with :func:`esc`; the helpers return HTML fragments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .charts import value
from .svg import esc

#: CI method name (as the metrics write it) -> how the footer explains it (plain-text citations)
CI_METHODS = {
    "delong": "DeLong's method (DeLong, DeLong & Clarke-Pearson, Biometrics 1988; fast algorithm "
    "of Sun & Xu, IEEE Signal Processing Letters 2014)",
    "bootstrap": "percentile bootstrap over cases (patients when a group column is given)",
    "wilson": "Wilson score interval for a proportion",
    "clopper-pearson": "Clopper-Pearson exact interval for a proportion",
    "logistic": "calibration slope and intercept from a logistic fit of the outcome on the "
    "log-odds of the prediction (no interval)",
}

#: metric key -> (label, shown as a percentage)
METRIC_LABELS = {
    "auc": ("AUC (one-vs-rest, macro)", False),
    "auc_positive": ("AUC, positive vs rest", False),
    "acc": ("Accuracy", True),
    "accuracy": ("Accuracy", True),
    "balanced_accuracy": ("Balanced accuracy", True),
    "kappa_quadratic": ("Cohen's kappa, quadratic weights", False),
    "kappa_linear": ("Cohen's kappa, linear weights", False),
    "kappa": ("Cohen's kappa", False),
    "brier": ("Brier score", False),
    "sensitivity": ("Sensitivity", True),
    "specificity": ("Specificity", True),
    "ppv": ("PPV", True),
    "npv": ("NPV", True),
    "f1": ("F1", False),
    "ece": ("Expected calibration error", False),
    "mce": ("Maximum calibration error", False),
    "average_precision": ("Average precision", False),
}


def label_of(key: str) -> str:
    """A readable name for a metric key."""
    return METRIC_LABELS.get(key, (key.replace("_", " ").capitalize(), False))[0]


def is_percent(key: str) -> bool:
    return METRIC_LABELS.get(key, ("", False))[1]


def num(x: Any, digits: int = 3, *, percent: bool = False) -> str:
    """A number for a table cell ("-" when missing or not finite); escaped."""
    v = value(x)
    if not math.isfinite(v):
        return "&ndash;"
    if percent:
        return esc(f"{100 * v:.1f}%")
    return esc(f"{v:.{digits}f}")


def is_estimate(x: Any) -> bool:
    return isinstance(x, Mapping) and "value" in x


def ci(est: Any, digits: int = 3, *, percent: bool = False) -> str:
    """The interval of an estimate as "low&ndash;high", or "-" when it has none."""
    if not is_estimate(est):
        return "&ndash;"
    lo, hi = value(est.get("ci_low")), value(est.get("ci_high"))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "&ndash;"
    return f"{num(lo, digits, percent=percent)}&ndash;{num(hi, digits, percent=percent)}"


def est_text(est: Any, digits: int = 3, *, percent: bool = False, stack: bool = False) -> str:
    """An estimate in one cell: "0.731 (0.690&ndash;0.771)"; ``stack`` puts the CI below."""
    main = num(est, digits, percent=percent)
    interval = ci(est, digits, percent=percent)
    if interval == "&ndash;":
        return main
    return f"{main}{'<br>' if stack else ' '}<span class=ci>({interval})</span>"


def plain_est(est: Any, digits: int = 3) -> str:
    """An estimate as plain text (figure notes): "0.731 (95% CI 0.690-0.771)"."""
    v = value(est)
    if not math.isfinite(v):
        return "n/a"
    if is_estimate(est):
        lo, hi = value(est.get("ci_low")), value(est.get("ci_high"))
        if math.isfinite(lo) and math.isfinite(hi):
            return f"{v:.{digits}f} (95% CI {lo:.{digits}f}-{hi:.{digits}f})"
    return f"{v:.{digits}f}"


def figure(svg: str, caption: str) -> str:
    """An SVG figure with its caption."""
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def note(text: str) -> str:
    """A note paragraph (what a section says in place of what it cannot show)."""
    return f"<p class=note>{esc(text)}</p>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str | None = None,
    numeric_from: int = 1,
    cls: str = "",
) -> str:
    """An HTML table; header and caption are escaped here, cells are HTML already."""
    out = ['<div class="tablewrap">', f'<table class="{esc(cls)}">' if cls else "<table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th class="{"num" if i >= numeric_from else ""}">{esc(h)}</th>'
            for i, h in enumerate(header)
        )
        + "</tr></thead><tbody>"
    )
    for row in rows:
        out.append(
            "<tr>"
            + "".join(
                f'<td class="{"num" if i >= numeric_from else ""}">{c}</td>'
                for i, c in enumerate(row)
            )
            + "</tr>"
        )
    out.append("</tbody></table></div>")
    return "\n".join(out)


def kv_table(pairs: Iterable[tuple[str, str]], *, cls: str = "kv") -> str:
    """A two-column key/value table; keys are escaped, values are HTML already."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="{esc(cls)}"><tbody>{rows}</tbody></table>'


def plain(x: Any) -> str:
    """Any config value as escaped text (lists joined, None as "none")."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (list, tuple)):
        return esc(", ".join(str(v) for v in x)) or "none"
    if isinstance(x, Mapping):
        return esc(", ".join(f"{k}={v}" for k, v in x.items())) or "none"
    if isinstance(x, float):
        return esc(f"{x:g}")
    return esc(x)


def methods_used(obj: Any) -> list[str]:
    """Every distinct ``method`` of the estimates nested in ``obj``, in first-seen order."""
    found: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, Mapping):
            if is_estimate(x) and isinstance(x.get("method"), str) and x["method"] not in found:
                found.append(x["method"])
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(obj)
    return found
