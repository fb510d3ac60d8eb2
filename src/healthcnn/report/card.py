"""Model-card sections that come from the bundle: intended use, data, task, model, training.

Each function returns one ``<section>`` of HTML. They read the bundle's ``metadata.json`` and
``config.json`` (plain dicts) and, for the model table, the rebuilt network; nothing here
scores data. Wording follows TRIPOD+AI / CLAIM items: what the model is for and not for, where
the data came from and how it was split, what the labels mean, how the model was trained.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from torch import nn

from ._format import kv_table, num, plain, table
from .charts import training_charts
from .svg import esc


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{esc(sid)}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def _dataset_info(source: str | None):
    if not source:
        return None
    try:
        from ..data.catalog import get_dataset

        return get_dataset(source)
    except (ValueError, KeyError):
        return None


def _positive_text(evaluation: Mapping[str, Any]) -> str | None:
    pos = evaluation.get("positive")
    if not pos:
        return None
    classes = esc(", ".join(str(c) for c in pos.get("classes", [])))
    name = esc(pos.get("name") or "positive")
    return (
        f"Binary summaries (ROC, PR, operating points, sensitivity, specificity, PPV, NPV) treat "
        f"classes {classes} as positive (&ldquo;{name}&rdquo;) and every other class as negative."
    )


def intended_use(meta: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """Intended use and caveats, stated from what the bundle records."""
    data = meta.get("data") or {}
    source = data.get("source") or evaluation.get("data") or "an unnamed dataset"
    info = _dataset_info(data.get("source"))
    what = esc(info.description) if info else esc(source)
    task = meta.get("task") or {}
    classes = task.get("classes") or evaluation.get("classes") or []
    splits = data.get("splits") or {}
    items = [
        f"<li><b>Purpose.</b> A {esc(task.get('kind', 'classification'))} classifier with "
        f"{len(classes)} classes, trained on {esc(source)} ({what}). Intended for research and "
        "teaching: studying how a convolutional network performs on this task.</li>",
        "<li><b>Not for clinical use.</b> It is not a medical device, has not been validated "
        "prospectively or on an external population, and must not guide the care of a "
        "patient.</li>",
        "<li><b>Internal validation only.</b> The test split comes from the same dataset as the "
        "training data; performance on other sites, cameras, populations or image sizes is "
        "unknown.</li>",
        "<li><b>Thresholds.</b> Operating points were fitted on the validation split before the "
        "test split was scored; their test sensitivity and specificity may differ from the "
        "targets.</li>",
    ]
    val_n = splits.get("val")
    if isinstance(val_n, int) and val_n < 300:
        items.append(
            f"<li><b>Small tuning split.</b> The validation split has {val_n} cases, so the "
            "chosen epoch and the fitted thresholds are uncertain.</li>"
        )
    test_n = evaluation.get("n")
    if isinstance(test_n, int) and test_n < 1000:
        items.append(
            f"<li><b>Wide intervals.</b> The evaluated split has {test_n} cases; read every "
            "estimate with its 95% confidence interval.</li>"
        )
    return section("intended-use", "Intended use and caveats", "<ul>" + "".join(items) + "</ul>")


def data_provenance(meta: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """Dataset, licence, split sizes, the level of the split and how it was made."""
    data = meta.get("data") or {}
    info = _dataset_info(data.get("source"))
    pairs = [("Dataset", esc(data.get("source") or evaluation.get("data") or "not recorded"))]
    if info:
        pairs.append(("Description", esc(info.description)))
        pairs.append(("Licence", esc(info.license)))
        pairs.append(("Source", esc(info.source)))
    if data.get("size"):
        pairs.append(("Image size", esc(f"{data['size']} px")))
    level = data.get("split_level")
    method = data.get("split_method") or data.get("split")
    if method is None and info and "official" in info.description:
        method = "the dataset's official train/validation/test split, used as published"
    pairs.append(("How the split was made", plain(method) if method else "not recorded"))
    if level:
        pairs.append(("Split level", esc(level)))
    else:
        pairs.append(
            (
                "Split level",
                "not recorded in the bundle (image level assumed): if a patient contributes "
                "several images, images of one patient may fall in different splits",
            )
        )
    evaluated = f"{evaluation.get('split', '?')}, n = {evaluation.get('n', '?')}"
    pairs.append(("Evaluated split", esc(evaluated)))
    splits = data.get("splits") or {}
    body = kv_table(pairs)
    if splits:
        total = sum(v for v in splits.values() if isinstance(v, (int, float)))
        rows = [
            [esc(k), esc(f"{v:,}"), esc(f"{100 * v / total:.1f}%") if total else "&ndash;"]
            for k, v in splits.items()
        ]
        body += table(["Split", "Cases", "Share"], rows, caption="Split sizes")
    return section("data", "Data provenance", body)


def task_section(meta: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """The task kind, the classes and what they mean, and the positive class definition."""
    task = meta.get("task") or {}
    classes = [str(c) for c in task.get("classes") or evaluation.get("classes") or []]
    pairs = [("Task", esc(task.get("kind") or evaluation.get("task") or "?"))]
    if task.get("name"):
        pairs.append(("Name", esc(task["name"])))
    pairs.append(("Classes", esc(", ".join(classes)) or "none recorded"))
    label_map = task.get("label_map")
    if label_map:
        pairs.append(("Label map", plain(label_map)))
    pos = _positive_text(evaluation)
    if pos:
        pairs.append(("Positive class", pos))
    per_class = {str(p.get("class")): p.get("n") for p in evaluation.get("per_class") or []}
    body = kv_table(pairs)
    if per_class:
        n = sum(v for v in per_class.values() if isinstance(v, int)) or None
        rows = [
            [
                esc(c),
                esc(per_class.get(c, "?")),
                esc(f"{100 * per_class[c] / n:.1f}%")
                if n and isinstance(per_class.get(c), int)
                else "&ndash;",
            ]
            for c in classes or per_class
        ]
        body += table(
            ["Class", "Cases", "Prevalence"],
            rows,
            caption=f"Class balance in the {evaluation.get('split', 'evaluated')} split",
        )
    return section("task", "Task and label meaning", body)


def _preprocessing_rows(record: Any) -> dict[str, Any]:
    """The record's fields that are set, for the model card (None fields are left out)."""
    return {k: v for k, v in record.to_dict().items() if v is not None}


def model_section(
    config: Mapping[str, Any], meta: Mapping[str, Any], model: nn.Module | None, record: Any
) -> str:
    """Registry name, keyword arguments, parameter count, the preprocessing record, and the
    analyser's table at the network's input shape."""
    params = sum(p.numel() for p in model.parameters()) if model is not None else None
    pairs = [
        ("Architecture (registry name)", esc(config.get("model_name", "?"))),
        ("Keyword arguments", plain(config.get("model_kwargs") or {})),
        ("Parameters", esc(f"{params:,}") if params is not None else "not available"),
        ("Preprocessing (applied to every input)", plain(_preprocessing_rows(record))),
        ("Weights SHA-256", f"<code>{esc(meta.get('model_sha256', '?'))}</code>"),
    ]
    table_html = note = None
    shape = record.network_input_shape
    if model is not None and shape is not None:
        try:
            from ..analysis import summarize, to_html

            report = summarize(model, shape)
            table_html = to_html(report)
            pairs.append(("Multiply-accumulates (MACs), one image", esc(f"{report.totals.macs:,}")))
        except (ValueError, TypeError, RuntimeError) as exc:
            note = f"The analyser could not run: {esc(exc)}"
    elif model is not None:
        note = "No per-layer table: the bundle does not record the input size (preprocessing.size)."
    body = kv_table(pairs)
    if note:
        body += f"<p class=note>{note}</p>"
    if table_html:
        body += (
            '<details class="analyser"><summary>Per-layer table from the analyser '
            "(shapes, parameters, MACs)</summary>\n" + table_html + "</details>"
        )
    return section("model", "Model", body)


def training_section(meta: Mapping[str, Any]) -> str:
    """Training configuration, seeds, best epoch, wall time, precision and the curves."""
    tc = meta.get("train_config") or {}
    train = tc.get("train") or {}
    history = meta.get("history") or {}
    epochs = history.get("epochs") or []
    seconds = [e.get("seconds") for e in epochs if isinstance(e.get("seconds"), (int, float))]
    speeds = [
        e["images_per_second"]
        for e in epochs
        if isinstance(e.get("images_per_second"), (int, float))
    ]
    best = history.get("best_epoch")
    monitor = history.get("monitor", train.get("monitor", "?"))
    pairs = [
        ("Seeds", plain(meta.get("seeds") or {})),
        ("Precision", esc(meta.get("precision") or train.get("precision") or "not recorded")),
        (
            "Epochs run",
            esc(f"{len(epochs)}" + (" (stopped early)" if history.get("stopped_early") else "")),
        ),
        (
            "Best epoch (selected on validation)",
            esc(
                f"{best}: validation {'AUC' if monitor == 'auc' else monitor} "
                f"{num(history.get('best_metric'))}"
                if best is not None
                else "not recorded"
            ),
        ),
        (
            "Wall time",
            esc(_duration(sum(seconds))) if seconds else "&ndash;",
        ),
    ]
    if speeds:
        pairs.append(("Training speed (median)", esc(f"{statistics.median(speeds):.0f} images/s")))
    shown = {k: v for k, v in train.items() if v is not None}
    config_rows = [(k.replace("_", " "), plain(v)) for k, v in shown.items()]
    for key in ("model", "data", "size", "device"):
        if key in tc:
            config_rows.insert(0, (key, plain(tc[key])))
    charts = training_charts(history, monitor=str(monitor))
    body = kv_table(pairs)
    body += '<div class="figrow">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"
    if config_rows:
        body += (
            "<details><summary>Full training configuration</summary>"
            + kv_table(config_rows, cls="kv compact")
            + "</details>"
        )
    return section("training", "Training", body)


def _duration(seconds: float) -> str:
    """Seconds as "42 s" or "2.7 min (163 s)"."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def versions_section(meta: Mapping[str, Any], now: Mapping[str, str]) -> str:
    """Library versions at training time next to those that built this report."""
    then = meta.get("library_versions") or {}
    names = list(dict.fromkeys([*then, *now]))
    rows = [[esc(n), esc(then.get(n, "-")), esc(now.get(n, "-"))] for n in names]
    body = table(["Library", "Training", "This report"], rows)
    body += kv_table(
        [
            ("Bundle created", esc(meta.get("created", "not recorded"))),
            ("Seeds", plain(meta.get("seeds") or {})),
        ]
    )
    return section("versions", "Reproducibility: library versions and seeds", body)


def finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
