"""``docs/results-skin.md`` from a ``scripts/skin_sweep.py`` result folder (``--report``).

Only numbers found in the result files are written; targets are the issue's Done-when lines and
the published MedMNIST v2 DermaMNIST rows (Yang et al., Scientific Data 2023, Table 3).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

DERMA_TARGET = {"auc": 0.920, "acc": 0.768}
# MedMNIST v2 DermaMNIST test AUC / ACC (Yang et al., Scientific Data 10:41, 2023, Table 3);
# "approx." where the value is given as approximate in our reference notes.
DERMA_PUBLISHED = [
    ("ResNet-18 (28)", "0.917", "0.735"),
    ("ResNet-18 (224)", "0.920", "0.754"),
    ("ResNet-50 (28)", "0.913", "0.735"),
    ("ResNet-50 (224)", "0.912", "0.731"),
    ("auto-sklearn", "0.902 (approx.)", "0.719 (approx.)"),
    ("AutoKeras", "0.915 (approx.)", "0.749 (approx.)"),
    ("Google AutoML Vision", "0.914 (approx.)", "0.768 (approx.)"),
]
HAM_TARGET = {"macro_auc": 0.95, "balanced_accuracy": 0.75}
# The best published 7-way balanced accuracy on HAM10000's diagnoses: the ISIC 2018 challenge,
# task 3 (lesion diagnosis), scored as balanced accuracy (mean recall) on the challenge's own
# held-out 1,512 images; the winner averaged its 10 best models and external data was allowed
# (MetaOptima, 88.5%, as announced on 25 March 2019; Codella et al., arXiv:1902.03368). Not our
# lesion-level test split, so it stands beside our rows as a reference, not a comparison.
HAM_PUBLISHED = {
    "name": "ISIC 2018 task 3 winner, published",
    "balanced_accuracy": "0.885",
    "note": (
        "the challenge's own 1,512 held-out images and the submission's own decision rule, "
        "external data allowed (MetaOptima, an average of 10 models; Codella et al. 2019, "
        "arXiv:1902.03368): not our test split, so a reference rather than a comparison"
    ),
}


METHOD = [
    "## Method",
    "",
    "- **Taxonomy** (`src/healthcnn/tasks/taxonomies/ham10000.json`): lesion > benign /",
    "  malignant > melanocytic / non-melanocytic > the 7 diagnoses. akiec (actinic keratoses",
    "  and intraepithelial carcinoma / Bowen's disease) is placed under *malignant,",
    "  non-melanocytic*: Tschandl et al. (Sci Data 2018) describe these lesions as non-invasive",
    "  variants of squamous cell carcinoma, and HAM10000 benign/malignant benchmarks group akiec",
    "  with bcc and mel. Each diagnosis leaf is refined by body site (sites with >= 40",
    "  training images, the rest as `other`), so that PartitionDisease has finer leaves to",
    "  group.",
    "- **PartitionDisease** (Esteva et al. 2017) with max_class_size 1,000: a node whose",
    "  subtree holds fewer than 1,000 training images becomes a training class, otherwise its",
    "  children are visited; our addition keeps the 7 diagnoses apart (a node with a diagnosis",
    "  strictly below it is always split), so the 7-way question can be answered. Inference",
    "  classes: P(node) = sum of the probabilities of its descendant training classes.",
    "- **Approaches**: (a) *binary*: trained on benign/malignant directly; (b) *diagnosis*: the",
    "  7 diagnoses; (c) *partition*: PartitionDisease's classes. Same model and recipe for all.",
    "- **Decisions fixed before test scoring**: best epoch by validation AUC; 7-way prediction",
    "  by argmax, and, reported separately, the prior-corrected argmax (argmax of P(class) /",
    "  training prevalence), the decision rule that targets balanced accuracy; benign/malignant",
    "  threshold 0.5. No test data informs any choice.",
    "- **Intervals**: AUC 95% CI by DeLong; paired DeLong tests between approaches on the same",
    "  test images; sensitivity/specificity by Wilson; balanced accuracy by stratified",
    "  bootstrap. Across seeds: mean and standard deviation.",
    "",
]


#: the seed-ensemble scores a report computed from the runs' probabilities, kept beside the
#: runs so that the copies in docs/results-data (which hold no probabilities) give the same page
ENSEMBLES = "ensembles.json"
#: the fields that say which runs an ensemble averaged (all kept in the copies)
RUN_FIELDS = ("job", "recipe", "seed", "best_epoch", "seconds")


class Ensembles:
    """Seed-ensemble scores: computed from the runs' probabilities where the result files hold
    them, else read from ``<folder>/ensembles.json``, which a report with probabilities wrote;
    a stored entry is used only for exactly the runs it was computed from."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = folder / ENSEMBLES if folder is not None else None
        self.stored = {}
        if self.path is not None and self.path.is_file():
            try:
                self.stored = json.loads(self.path.read_text())["ensembles"]
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{self.path} is not an ensemble summary ({exc}): it is rewritten by a "
                    "report on the full result files (with their probabilities); move it away"
                ) from None
        self.fresh: dict[str, dict] = {}

    @staticmethod
    def runs(records: list[dict]) -> list[dict]:
        return [{k: r.get(k) for k in RUN_FIELDS} for r in records]

    def get(self, key: str, records: list[dict], compute) -> dict | None:
        """``compute()`` (a dict of scores) if every record holds its probabilities, else the
        stored entry of ``key`` for these very runs, else None."""
        if records and all("probabilities" in r for r in records):
            self.fresh[key] = {"runs": self.runs(records), "scores": compute()}
            return self.fresh[key]["scores"]
        entry = self.stored.get(key)
        if entry is not None and entry["runs"] == json.loads(json.dumps(self.runs(records))):
            return entry["scores"]
        return None

    def save(self) -> None:
        """Write the entries computed in this report beside those stored before (nothing when
        none was computed: a report on the copies never rewrites the summary)."""
        if self.path is None or not self.fresh:
            return
        from healthcnn._atomic import atomic_write_text

        # the entries of other reports stay (each is used only for the very runs it names)
        record = {
            "written_by": "scripts/skin_sweep.py --report / --recipe-report / --metadata-report "
            "/ --fusion-report",
            "ensembles": dict(sorted({**self.stored, **self.fresh}.items())),
        }
        atomic_write_text(self.path, json.dumps(record, indent=1) + "\n")


def _load(folder: Path, prefix: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{prefix}-*/result.json"))]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return (
        f"{statistics.mean(values):.3f} (sd {sd:.3f})" if not math.isnan(sd) else f"{values[0]:.3f}"
    )


def _devices(records: list[dict]) -> str:
    return "; ".join(
        sorted({f"{r['device_name']} ({_precision(r)}torch {r['torch']})" for r in records})
    )


def _precision(record: dict) -> str:
    """The precision a run resolved to, as the device line names it (runs before it was
    recorded name none)."""
    resolved = record.get("precision_resolved")
    return f"{resolved}, " if resolved else ""


def _derma_model(records: list[dict]) -> str:
    m = records[0].get("model") or {"name": "resnet18", "stem": "small", "input_px": 28}
    stem = {"small": "the 28 px stem", "imagenet": "the ImageNet stem"}.get(m.get("stem"), "")
    px = m.get("input_px", 28)
    size = "28 px inputs" if px == 28 else f"inputs upsampled from 28 to {px} px"
    return f"{m['name']} with {stem}, {size}" if stem else f"{m['name']}, {size}"


def _epochs(records: list[dict]) -> str:
    epochs = sorted({r["train_config"]["epochs"] for r in records if "train_config" in r})
    return "/".join(map(str, epochs)) or "?"


def _mean_probabilities(records: list[dict], split: str, view: str) -> tuple:
    """The seed ensemble: the mean of the records' class probabilities on ``split`` seen through
    ``view`` (``plain``/``tta``), and the split's labels."""
    import numpy as np

    p = np.mean([np.asarray(r["probabilities"][f"{split}_{view}"]) for r in records], axis=0)
    return p, np.asarray(records[0]["labels"][split])


def _derma_ensemble(records: list[dict], split: str, tag: str) -> dict:
    """AUC and accuracy of the mean of the records' class probabilities on ``split``."""

    from healthcnn.metrics import accuracy_from_scores, roc_auc

    p, y = _mean_probabilities(records, split, tag)
    return {"auc": float(roc_auc(y, p, ci=None)), "acc": float(accuracy_from_scores(y, p))}


def derma_section(records: list[dict], ensembles: Ensembles | None = None) -> list[str]:
    if not records:
        return ["No DermaMNIST runs in this folder.", ""]
    ensembles = ensembles if ensembles is not None else Ensembles()
    lines = [
        "## DermaMNIST rebuild (28 px, official split sizes 7,007 / 1,003 / 2,005)",
        "",
        "The rebuild was decoded from a third-party JPEG export: pixel values differ from the",
        "official npz by JPEG compression error, so comparisons with published rows are",
        f"indicative only. Model: {_derma_model(records)}; AdamW (weight decay 0.05), cosine",
        f"schedule with 2 warm-up epochs, batch 128, {_epochs(records)} epochs, best epoch by",
        "validation AUC.",
        "",
        "| recipe | test-time flips | seeds | val ACC mean | test AUC mean (sd) | "
        "test ACC mean (sd) | wall time per run |",
        "|---|---|---|---|---|---|---|",
    ]
    candidates = []
    for recipe in sorted({r["recipe"] for r in records}):
        rs = [r for r in records if r["recipe"] == recipe]
        seconds = statistics.mean(r["seconds"] for r in rs)
        for tag in ("plain", "tta"):
            val_acc = statistics.mean(r[f"val_{tag}"]["acc"] for r in rs)
            auc = [r[f"test_{tag}"]["auc"] for r in rs]
            acc = [r[f"test_{tag}"]["acc"] for r in rs]
            candidates.append((val_acc, recipe, tag, auc, acc))
            lines.append(
                f"| {recipe} | {'yes' if tag == 'tta' else 'no'} | {len(rs)} | {val_acc:.3f} | "
                f"{_ms(auc)} | {_ms(acc)} | {seconds:.0f} s |"
            )
        if len(rs) < 2:
            continue
        for tag in ("plain", "tta"):  # the seed ensemble: a candidate of its own
            scores = ensembles.get(
                f"derma:{recipe}:{tag}",
                rs,
                lambda rs=rs, tag=tag: {
                    "val": _derma_ensemble(rs, "val", tag),
                    "test": _derma_ensemble(rs, "test", tag),
                },
            )
            if scores is None:
                continue
            val, test = scores["val"], scores["test"]
            name = f"{recipe}, ensemble of {len(rs)}"
            candidates.append((val["acc"], name, tag, [test["auc"]], [test["acc"]]))
            lines.append(
                f"| {name} | {'yes' if tag == 'tta' else 'no'} | {len(rs)} | {val['acc']:.3f} | "
                f"{test['auc']:.3f} | {test['acc']:.3f} | {len(rs)} x {seconds:.0f} s |"
            )
    lines += [f"| {name}, published | | | | {a} | {c} | |" for name, a, c in DERMA_PUBLISHED]
    val_acc, recipe, tag, auc, acc = max(candidates, key=lambda c: c[0])
    ok_auc = statistics.mean(auc) > DERMA_TARGET["auc"]
    ok_acc = statistics.mean(acc) > DERMA_TARGET["acc"]
    lines += [
        "",
        f"Chosen on validation accuracy: **{recipe}**, test-time flips "
        f"{'on' if tag == 'tta' else 'off'}: test AUC {statistics.mean(auc):.3f}, ACC "
        f"{statistics.mean(acc):.3f}"
        + (f" (mean of {len(auc)} seeds)" if len(auc) > 1 else "")
        + ". Target AUC > 0.920: "
        f"{'reached' if ok_auc else 'not reached'}; ACC > 0.768: "
        f"{'reached' if ok_acc else 'not reached'} (best published MedMNIST v2 rows: AUC 0.920 "
        "ResNet-18 (224), ACC 0.768 Google AutoML Vision).",
        f"Device: {_devices(records)}.",
        "",
    ]
    return lines


def _study_time(record: dict) -> str:
    """A study's time: its wall time, or, where approaches were trained apart (in processes of
    their own), each approach's training seconds, since the study itself only scored them."""
    apart = record.get("trained_apart") or []
    if not apart:
        return f"{record['wall_seconds']:.0f} s"
    each = ", ".join(f"{a} {record['summary'][a]['seconds']:.0f} s" for a in apart)
    return f"{record['wall_seconds']:.0f} s in the study's process; trained apart: {each}"


#: the 7-way scores of a study's summary, in the tables' column order
SEVEN_WAY_KEYS = (
    "macro_auc",
    "balanced_accuracy",
    "balanced_accuracy_prior_corrected",
    "accuracy",
    "mel_vs_nv_auc",
)


def _load_ham(folder: Path) -> list[dict]:
    """The ham studies under ``folder``, each approach's summary with its 7-way scores with the
    metadata fused in (``seven_way_metadata``) where the study scored them: from the summary,
    or from the study's own ``study.json`` beside it (studies summarised before the summary
    kept them); a study without them (scored before the metadata was) has none. Each record
    also carries its study's ``config`` under ``study_config`` (None without a study.json),
    so that the study file is read once."""
    records = []
    for path in sorted(folder.glob("ham-*/result.json")):
        record = json.loads(path.read_text())
        study = path.parent / record.get("study", "study.json")
        whole = json.loads(study.read_text()) if study.is_file() else {}
        record["study_config"] = whole.get("config")
        approaches = whole.get("approaches", {})
        for a, s in record["summary"].items():
            if "seven_way_metadata" not in s:
                fused = approaches.get(a, {}).get("seven_way_metadata")
                s["seven_way_metadata"] = {k: fused[k] for k in SEVEN_WAY_KEYS} if fused else None
        records.append(record)
    return records


def _seven_way_cells(summaries: list[dict], key: str) -> list[str]:
    """The 7-way columns (:data:`SEVEN_WAY_KEYS`) of ``summaries``' ``key`` scores (mean and
    sd over those that have them), "n/a" where none has."""
    sv = [s[key] for s in summaries if s.get(key)]
    return [
        _ms([x[k]["value"] if isinstance(x[k], dict) else x[k] for x in sv]) if sv else "n/a"
        for k in SEVEN_WAY_KEYS
    ]


def _fused_lines(records: list[dict], approaches: list[str]) -> list[str]:
    """The table of the 7-way scores with the patient's age, sex and site fused in (the chosen
    recipe), over the seeds whose study scored them; nothing when none did."""
    scored = [r for r in records if any(s.get("seven_way_metadata") for s in r["summary"].values())]
    if not scored:
        return []
    seeds = ", ".join(str(r["seed"]) for r in scored)
    lines = [
        f"The 7-way answers with the patient's age, sex and lesion site fused in (the chosen "
        f"recipe; the seeds whose study scored them: {seeds}):",
        "",
        "| approach | seeds | 7-way macro AUC | 7-way balanced acc (argmax) | balanced acc "
        "(prior-corrected) | 7-way ACC | mel vs nv AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in approaches:
        s = [r["summary"][a] for r in scored if r["summary"][a].get("seven_way_metadata")]
        if s:
            cells = " | ".join(_seven_way_cells(s, "seven_way_metadata"))
            lines.append(f"| {a} | {len(s)} | {cells} |")
    return [*lines, ""]


def ham_section(records: list[dict], heading: bool = True) -> list[str]:
    if not records:
        return ["No HAM10000 runs in this folder.", ""]
    approaches = list(records[0]["summary"])
    head = [
        "## HAM10000, lesion-level split (70/15/15 by lesion_id, stratified by diagnosis, "
        "split seed 0)",
        "",
    ]
    lines = [
        *(head if heading else []),
        "| approach | training classes | seeds | 2-way AUC mean (sd) | 7-way macro AUC | "
        "7-way balanced acc (argmax) | balanced acc (prior-corrected) | 7-way ACC | "
        "mel vs nv AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in approaches:
        s = [r["summary"][a] for r in records]
        lines.append(
            f"| {a} | {s[0]['training_classes']} | {len(s)} | "
            f"{_ms([x['two_way_auc']['value'] for x in s])} | "
            + " | ".join(_seven_way_cells(s, "seven_way"))
            + " |"
        )
    lines.append(
        f"| {HAM_PUBLISHED['name']} | 7 | | | | {HAM_PUBLISHED['balanced_accuracy']} (own rule) "
        "| | | |"
    )
    lines += ["", f"Published row: {HAM_PUBLISHED['note']}.", ""]
    lines += _fused_lines(records, approaches)
    lines += [*_ham_targets(records, approaches)]
    lines += ["", "Per seed, 2-way (benign vs malignant) test AUC with DeLong 95% CI:", ""]
    for r in records:
        parts = [
            f"{a} {x['two_way_auc']['value']:.3f} ({x['two_way_auc']['ci_low']:.3f}-"
            f"{x['two_way_auc']['ci_high']:.3f})"
            for a, x in r["summary"].items()
        ]
        lines.append(f"- seed {r['seed']}: " + "; ".join(parts) + f" ({_study_time(r)})")
    lines += ["", "Paired DeLong tests (difference a - b, two-sided p), per seed:", ""]
    for r in records:
        for c in r["comparisons"]:
            lines.append(
                f"- seed {r['seed']}, {c['level']}: {c['a']} - {c['b']} = {c['difference']:+.3f} "
                f"(95% CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}), p = {c['p_value']:.3g}"
            )
    part = records[0]["partition"]
    lines += [
        "",
        f"PartitionDisease training classes (max_class_size {part['max_class_size']}, seed "
        f"{records[0]['seed']}): "
        + ", ".join(f"{c['node']} ({c['images']})" for c in part["classes"]),
        "",
        f"Device: {_devices(records)}.",
        "",
    ]
    return lines


def _ham_targets(records: list[dict], approaches: list[str]) -> list[str]:
    """One line per target: which approaches reach it (means over seeds), and the approach
    chosen on validation (mean validation 2-way AUC), so no test number picks a winner."""
    mean_val = {
        a: statistics.mean(r["summary"][a]["val_malignant_auc"] for r in records)
        for a in approaches
    }
    chosen = max(mean_val, key=mean_val.get)
    lines = [
        f"Approach chosen on validation (mean validation 2-way AUC): **{chosen}** "
        f"({mean_val[chosen]:.3f}).",
        "",
    ]
    labels = {
        "macro_auc": "7-way macro AUC >= 0.95",
        "balanced_accuracy": "balanced accuracy >= 0.75 (argmax rule)",
        "balanced_accuracy_prior_corrected": "balanced accuracy >= 0.75 (prior-corrected rule)",
    }
    targets = {**HAM_TARGET, "balanced_accuracy_prior_corrected": HAM_TARGET["balanced_accuracy"]}
    for key, target in targets.items():
        means = {}
        for a in approaches:
            sv = [r["summary"][a]["seven_way"] for r in records if r["summary"][a]["seven_way"]]
            if sv:
                vals = [x[key]["value"] if isinstance(x[key], dict) else x[key] for x in sv]
                means[a] = statistics.mean(vals)
        reached = [a for a, m in means.items() if m >= target]
        shown = ", ".join(f"{a} {m:.3f}" for a, m in means.items())
        verdict = "reached by " + ", ".join(reached) if reached else "**not reached**"
        lines.append(f"- Target {labels[key]}, mean over seeds: {verdict} ({shown}).")
    return lines


def curve_section(records: list[dict]) -> list[str]:
    if not records:
        return []
    lines = [
        f"## Learning curve ({records[0]['approach']})",
        "",
        "| fraction of training lesions | training images | seeds | 2-way test AUC mean (sd) |",
        "|---|---|---|---|",
    ]
    for f in sorted({r["fraction"] for r in records}):
        rs = [r for r in records if r["fraction"] == f]
        lines.append(
            f"| {f:g} | {statistics.mean(r['train_images'] for r in rs):.0f} | {len(rs)} | "
            f"{_ms([r['malignant_auc']['value'] for r in rs])} |"
        )
    return [*lines, "", "Fraction 1 is the HAM10000 table above.", ""]


def _reproduce(total: dict | None) -> list[str]:
    argv = " ".join(total["argv"]) if total else "--device cpu --jobs 2 --threads 1 --out runs/skin"
    return [
        "## Reproducing",
        "",
        "From the project root, with the data root in `$HEALTHCNN_DATA` (or `--data-dir`):",
        "",
        f"    .venv/bin/python scripts/skin_sweep.py {argv}",
        "    .venv/bin/python scripts/skin_sweep.py --report docs/results-skin.md \\",
        "        --out <folder> [--notes notes.md]",
        "",
        "Each run writes `<out>/<run>/result.json` when it ends (`ham-<seed>/` also holds the",
        "study's `study.json` and `report.html`), so a sweep cut short at `--time-limit` keeps",
        "what it finished. One study alone: `healthcnn study skin-taxonomy --help`.",
        "",
    ]


def write_report(folder: Path, out: Path, notes: Path | None = None) -> None:
    derma, ham, curve = _load(folder, "derma"), _load_ham(folder), _load(folder, "curve")
    if not (derma or ham or curve):
        raise SystemExit(f"no result.json files under {folder}")
    ensembles = Ensembles(folder)
    sweep = folder / "sweep.json"
    total = json.loads(sweep.read_text()) if sweep.is_file() else None
    lines = [
        "# Results: skin-lesion classification (DermaMNIST rebuild, HAM10000 taxonomy study)",
        "",
        "Generated by `scripts/skin_sweep.py --report` from the runs' result files"
        + (
            f"; the whole sweep took {total['wall_seconds']:.0f} s wall time "
            f"(`skin_sweep.py {' '.join(total['argv'])}`, {total['failed_runs']} failed runs, "
            f"{total.get('unfinished_runs', 0)} stopped or skipped at the time limit)."
            if total
            else "."
        ),
        "",
        *METHOD,
        *derma_section(derma, ensembles),
        *ham_section(ham),
        *curve_section(curve),
        *(
            ["## Notes (written by hand, not generated)", "", notes.read_text().strip(), ""]
            if notes
            else []
        ),
        *_reproduce(total),
    ]
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(out, "\n".join(lines))
    ensembles.save()
    print(f"wrote {out}")


# ---- the 7-way recipe sweep (hamrec: jobs) -> docs/results-skin-recipes.md ---------------------
RESULTS_MARK = "<!-- results below: generated by scripts/skin_sweep.py --recipe-report -->"
#: the pre-registered tie order of docs/results-skin-recipes.md
RECIPE_ORDER = ("ce", "logit-adjusted", "class-weighted", "mixup", "cutmix")
VIEW_ORDER = ("plain", "tta")
# the study's fixed rules (healthcnn.studies._skin_eval.DECISION_RULES), then the rule tuned on
# validation (round 6), so a tie goes to a fixed rule
RULE_ORDER = ("argmax", "prior-corrected", "prior-tuned")
# the issue asks for every choice at >= 3 seeds: a setting cut short (fewer seeds finished) is
# shown in the table but cannot be chosen
MIN_SEEDS = 3


#: the marks in docs/results-skin-recipes.md between which the three-approach study at the
#: chosen recipe (64 px, 64 epochs) goes, every seed scored so far (rounds 7, 14, 16)
APPROACHES_MARKS = (
    "<!-- three-approach study at 64 epochs: generated by scripts/skin_sweep.py "
    "--approaches-report -->",
    "<!-- end of the three-approach study at 64 epochs -->",
)


#: what a study's config may vary between the seeds of one setting: where it ran and what it
#: scored, and the seed itself (the training's precision is named in the table's device line)
_SEED_VARIES = (
    "out",
    "data_dir",
    "device",
    "approaches",
    "seed",
    "curve_fractions",
    "curve_seeds",
    "readers_csv",
    "metadata",
)


def _study_setting(config: dict) -> dict:
    """A study's config without what its seeds of one setting may vary (:data:`_SEED_VARIES`,
    and the training's seed and precision)."""
    setting = {k: v for k, v in config.items() if k not in _SEED_VARIES}
    setting["train"] = {k: v for k, v in config["train"].items() if k not in ("seed", "precision")}
    return setting


def write_approaches_report(folder: Path, doc: Path) -> None:
    """Write the three-approach study of the ham studies in ``folder`` (their table, the
    approach chosen on validation, each seed's 2-way AUCs and paired DeLong tests, and the
    7-way answers with the metadata fused where scored) between :data:`APPROACHES_MARKS` in
    ``doc``. The studies must share one setting (their study.json configs equal but for
    :func:`_study_setting`'s exceptions), so that seeds of different recipes are never
    averaged."""
    records = _load_ham(folder)
    if not records:
        raise SystemExit(f"no ham-*/result.json files under {folder}")
    if not doc.is_file():
        raise SystemExit(f"{doc} does not exist (docs/results-skin-recipes.md)")
    settings = {}
    for r in records:
        if r["study_config"] is None:
            study = folder / f"ham-{r['seed']}" / r.get("study", "study.json")
            raise SystemExit(f"{study} is missing: the study's settings are read from it")
        settings[r["seed"]] = _study_setting(r["study_config"])
    first = next(iter(settings.values()))
    for seed, setting in settings.items():
        if setting != first:
            differ = sorted(
                k for k in first.keys() | setting.keys() if first.get(k) != setting.get(k)
            )
            raise SystemExit(
                f"the study of seed {seed} under {folder} has other settings ({', '.join(differ)}) "
                "than the first: put each setting in a folder of its own"
            )
    text = _between_marks(
        doc.read_text(),
        doc,
        *APPROACHES_MARKS,
        ham_section(records, heading=False),
        "three-approach",
    )
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(doc, text)
    print(f"wrote the three-approach study ({len(records)} seeds) into {doc}")


def add_prior_tuned(record: dict) -> dict:
    """Score a hamrec record's ``prior-tuned`` rule (round 6) from its probabilities, into its
    ``scores`` beside the fixed rules, and keep the powers chosen under ``prior_power``."""
    from healthcnn.studies._skin_eval import prior_tuned_scores

    tuned = prior_tuned_scores(record["probabilities"], record["labels"], record["train_prior"])
    record["prior_power"] = {}
    for view, s in tuned.items():
        record["scores"][f"val_{view}"]["balanced_accuracy"]["prior-tuned"] = s["val"]
        record["scores"][f"test_{view}"]["balanced_accuracy"]["prior-tuned"] = s["test"]
        record["prior_power"][view] = {"power": s["power"], "half_powers": s["half_powers"]}
    return record


def add_metadata(record: dict, train_meta: dict, meta: dict) -> dict:
    """Score a hamrec record with the patient's age, sex and lesion site (round 11): the
    metadata model alone and fused with the image probabilities, under ``metadata``."""
    from healthcnn.studies.skin_metadata import metadata_scores

    record["metadata"] = metadata_scores(record, train_meta, meta)
    return record


def scores_differ(old, new, tol: float = 1e-9, where: str = "") -> str:
    """Where two nested score records first differ (a number by more than ``tol``, a missing
    key, another type), or "" when they agree."""
    if isinstance(old, dict) and isinstance(new, dict):
        if set(old) != set(new):
            return f"{where or 'top'}: keys {sorted(set(old) ^ set(new))} in one only"
        for key in old:
            found = scores_differ(old[key], new[key], tol, f"{where}/{key}" if where else key)
            if found:
                return found
        return ""
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        same = (math.isnan(old) and math.isnan(new)) or abs(old - new) <= tol
        return "" if same else f"{where}: {old} stored, {new} now"
    return "" if old == new else f"{where}: {old!r} stored, {new!r} now"


#: the rounds that score the metadata, with the epochs their networks trained: 11, 12 and 13,
#: each with its seed ensemble as round <n>b
METADATA_ROUNDS = {11: 16, 12: 32, 13: 64}


def metadata_marks(round_: int) -> tuple[str, str, str, str]:
    """The marks in docs/results-skin-recipes.md between which a metadata round's results go:
    (candidates start, end, seed ensemble start, end)."""
    if round_ not in METADATA_ROUNDS:
        raise SystemExit(
            f"round {round_} does not score the metadata (rounds {sorted(METADATA_ROUNDS)})"
        )
    marks = []
    for label in (f"{round_}", f"{round_}b"):
        marks += [
            f"<!-- round {label} results: generated by scripts/skin_sweep.py --metadata-report -->",
            f"<!-- end of round {label} results -->",
        ]
    return marks[0], marks[1], marks[2], marks[3]


#: round 11's marks: its candidates, and round 11b's seed ensemble of its networks
METADATA_MARK, METADATA_END, ENSEMBLE_MARK, ENSEMBLE_END = metadata_marks(11)
SPLIT_PAIR = ("val", "test")
#: round 11's inputs, in the registered tie order (the image alone first)
INPUTS = ("image", "image + metadata")


def _metadata_value(record: dict, split: str, view: str, inputs: str, what: str, rule: str = ""):
    """One number of a round-11 record: balanced accuracy under ``rule`` or macro AUC."""
    if inputs == "image":
        scores = record["scores"][f"{split}_{view}"]
    elif inputs == "image + metadata":
        scores = record["metadata"]["scores"][f"{split}_{view}"]["fused"]
    else:  # the metadata model alone (no view)
        scores = record["metadata"]["scores"][f"{split}_metadata"]
    return scores["balanced_accuracy"][rule] if what == "ba" else scores["macro_auc"]


def metadata_rows(records: list[dict]) -> list[dict]:
    """Round 11's 8 candidates, in the registered order ({image, image + metadata} x {plain,
    flips} x {argmax, prior-corrected}), each with its runs' validation and test numbers."""
    rs = sorted((r for r in records if "metadata" in r), key=lambda r: r["seed"])
    if not rs:
        raise SystemExit("no hamrec run with metadata scores (run --add-metadata first)")
    combos = [(i, v, u) for i in INPUTS for v in VIEW_ORDER for u in ("argmax", "prior-corrected")]
    rows = []
    for order, (inputs, view, rule) in enumerate(combos):

        def per_seed(split: str, what: str, inputs=inputs, view=view, rule=rule) -> list[float]:
            return [_metadata_value(r, split, view, inputs, what, rule) for r in rs]

        rows.append(
            {
                "key": (inputs, view, rule),
                "order": order,
                "seeds": [r["seed"] for r in rs],
                "val_ba_seeds": per_seed("val", "ba"),
                "val_ba": statistics.mean(per_seed("val", "ba")),
                "val_auc": statistics.mean(per_seed("val", "auc")),
                "test_ba": per_seed("test", "ba"),
                "test_auc": per_seed("test", "auc"),
                "records": rs,
            }
        )
    return rows


def _one_setting(records: list[dict]) -> None:
    """Refuse runs of several settings (image size, epochs) in one round's folder."""
    settings = sorted({(str(r.get("size")), _epochs([r])) for r in records})
    if len(settings) > 1:
        named = ", ".join(f"{size} px {epochs} epochs" for size, epochs in settings)
        raise SystemExit(
            f"the runs are of {len(settings)} settings ({named}): a round's report reads one "
            "setting; point --out at that setting's folder"
        )


def metadata_ensemble(records: list[dict], view: str, rule: str) -> dict:
    """A metadata round's seed ensemble (11b, 12b): the mean of the runs' class probabilities
    on each split (through ``view``), scored as it is and fused once with the metadata model's
    probabilities, under ``rule``.
    ``{"image" | "image + metadata": {split: {"balanced_accuracy", "macro_auc"}}}``."""
    from healthcnn.studies._skin_eval import decide
    from healthcnn.studies.skin_metadata import fuse

    prior = records[0]["train_prior"]
    out: dict[str, dict] = {"image": {}, "image + metadata": {}}
    for split in SPLIT_PAIR:
        p_meta = _shared_metadata(records, split)
        p, y = _mean_probabilities(records, split, view)
        for inputs, q in (("image", p), ("image + metadata", fuse(p, p_meta, prior))):
            out[inputs][split] = _ba_and_auc(y, q, decide(q, prior, rule))
    return out


def _shared_metadata(records: list[dict], split: str):
    """The metadata model's probabilities on ``split``, which every record (seed) must share,
    as it must share the images and labels (an ensemble averages the same images)."""
    import numpy as np

    lacking = [r["seed"] for r in records if "probabilities" not in r.get("metadata", {})]
    if lacking:
        raise SystemExit(
            f"seeds {lacking} hold no metadata probabilities: run scripts/skin_sweep.py "
            "--add-metadata on their folder first"
        )
    first = records[0]
    for r in records[1:]:
        if r["labels"][split] != first["labels"][split] or r.get("image_ids", {}).get(
            split
        ) != first.get("image_ids", {}).get(split):
            raise SystemExit(
                f"seeds {first['seed']} and {r['seed']} scored different {split} images: "
                "an ensemble averages the same images"
            )
    p_meta = np.asarray(first["metadata"]["probabilities"][split], dtype=np.float64)
    for r in records[1:]:  # one metadata model: fitted on the same training images
        other = np.asarray(r["metadata"]["probabilities"][split], dtype=np.float64)
        if other.shape != p_meta.shape or np.abs(other - p_meta).max() > 1e-5:
            raise SystemExit(
                f"seeds {first['seed']} and {r['seed']} hold different metadata "
                f"probabilities on {split}: not one metadata model"
            )
    return p_meta


def _ba_and_auc(y, p, pred) -> dict:
    """Balanced accuracy of the predictions ``pred`` and macro AUC of the probabilities ``p``."""
    from healthcnn.metrics import balanced_accuracy, roc_auc

    return {
        "balanced_accuracy": float(balanced_accuracy(y, pred, ci=None).value),
        "macro_auc": float(roc_auc(y, p, ci=None).value),
    }


def metadata_ensemble_section(records: list[dict], ensembles: Ensembles) -> list[str]:
    """A metadata round's seed ensemble (11b, 12b): at the round's chosen view and rule, alone
    and with the metadata, beside the single networks' means."""
    rows = metadata_rows(records)
    rs = rows[0]["records"]
    _, view, rule = _chosen(rows)["key"]
    view_name = {"plain": "plain", "tta": "flips"}[view]
    scores = ensembles.get(f"metadata:{view}:{rule}", rs, lambda: metadata_ensemble(rs, view, rule))
    if scores is None:
        return [
            "The seed ensemble needs the runs' probabilities: these result files hold none and "
            f"no {ENSEMBLES} entry was computed from these very runs."
        ]
    single = {r["key"][0]: r for r in rows if r["key"][1:] == (view, rule)}
    lines = [
        f"Seed ensemble of {len(rs)} networks (seeds "
        f"{', '.join(str(r['seed']) for r in rs)}), {view_name}, {rule}:",
        "",
        "| input | val balanced acc | val macro AUC | test balanced acc | test macro AUC "
        "| single networks, test (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for inputs in INPUTS:
        e, one = scores[inputs], single[inputs]
        lines.append(
            f"| {inputs} | {e['val']['balanced_accuracy']:.3f} | {e['val']['macro_auc']:.3f} "
            f"| {e['test']['balanced_accuracy']:.3f} | {e['test']['macro_auc']:.3f} "
            f"| {statistics.mean(one['test_ba']):.3f} / {statistics.mean(one['test_auc']):.3f} |"
        )
    a, f = scores["image"], scores["image + metadata"]
    lines += [
        "",
        "Ensemble, image + metadata minus the image alone: validation balanced accuracy "
        f"{f['val']['balanced_accuracy'] - a['val']['balanced_accuracy']:+.3f}, test balanced "
        f"accuracy {f['test']['balanced_accuracy'] - a['test']['balanced_accuracy']:+.3f}, test "
        f"macro AUC {f['test']['macro_auc'] - a['test']['macro_auc']:+.3f}.",
    ]
    return lines


def metadata_section(records: list[dict]) -> list[str]:
    """Round 11's generated results: every candidate, the choice on validation, the paired
    per-seed differences and the metadata model alone."""
    rows = metadata_rows(records)
    rs = rows[0]["records"]
    chosen = _chosen(rows)  # ties: the earlier in the registered order, so the image alone
    view_name = {"plain": "plain", "tta": "flips"}
    lines = [
        "| input | views | decision rule | seeds | val balanced acc | val macro AUC "
        "| test balanced acc | test macro AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        inputs, view, rule = row["key"]
        name = f"**{inputs}**" if row is chosen else inputs
        lines.append(
            f"| {name} | {view_name[view]} | {rule} | {len(row['seeds'])} | {row['val_ba']:.3f} "
            f"| {row['val_auc']:.3f} | {_ms(row['test_ba'])} | {_ms(row['test_auc'])} |"
        )
    for rule in ("argmax", "prior-corrected"):  # reported, not a candidate
        ba, auc = (
            {s: [_metadata_value(r, s, "", "metadata", w, rule) for r in rs] for s in SPLIT_PAIR}
            for w in ("ba", "auc")
        )
        lines.append(
            f"| metadata alone (not a candidate) | - | {rule} | {len(rs)} "
            f"| {statistics.mean(ba['val']):.3f} | {statistics.mean(auc['val']):.3f} "
            f"| {_ms(ba['test'])} | {_ms(auc['test'])} |"
        )
    seeds = ", ".join(str(s) for s in rows[0]["seeds"])
    lines += [
        "",
        f"Paired differences, image + metadata minus the image alone, per seed ({seeds}):",
        "",
        "| views | decision rule | val balanced acc | test balanced acc | test macro AUC |",
        "|---|---|---|---|---|",
    ]
    half = len(rows) // 2
    for alone, fused in zip(rows[:half], rows[half:], strict=True):
        _, view, rule = alone["key"]

        def diff(field: str, alone=alone, fused=fused) -> str:
            d = [f - a for a, f in zip(alone[field], fused[field], strict=True)]
            return f"{statistics.mean(d):+.3f} (" + ", ".join(f"{x:+.3f}" for x in d) + ")"

        lines.append(
            f"| {view_name[view]} | {rule} | {diff('val_ba_seeds')} | {diff('test_ba')} "
            f"| {diff('test_auc')} |"
        )
    inputs, view, rule = chosen["key"]
    epochs = _epochs(rs)
    size = sorted({str(r.get("size")) for r in rs})
    lines += [
        "",
        f"Chosen on mean validation balanced accuracy: **{inputs}, {view_name[view]}, {rule}** "
        f"({chosen['val_ba']:.3f}). Test, mean of {len(chosen['seeds'])} seeds: balanced "
        f"accuracy {statistics.mean(chosen['test_ba']):.3f}, macro AUC "
        f"{statistics.mean(chosen['test_auc']):.3f}.",
        f"- Device: {_devices(rs)}; image size {'/'.join(size)} px, {epochs} epochs; "
        f"{statistics.mean(r['seconds'] for r in rs):.0f} s of training per network.",
    ]
    if len(rs) < MIN_SEEDS:
        lines.append(
            f"- Only {len(rs)} seeds finished: with fewer than {MIN_SEEDS} the round "
            "chooses nothing; the line above is what the rule would give."
        )
    return lines


def _between_marks(text: str, doc: Path, mark: str, end: str, body: list[str], name: str) -> str:
    """``text`` with what lies between ``mark`` and ``end`` replaced by ``body``."""
    marks_ok = text.count(mark) == 1 and text.count(end) == 1
    if not marks_ok or text.index(mark) > text.index(end):
        raise SystemExit(
            f"{doc} must hold the two {name} marks once each ({mark!r} and {end!r}), in that "
            "order, where the results go"
        )
    head, rest = text.split(mark)
    _, tail = rest.split(end)
    return head + mark + "\n\n" + "\n".join(body) + "\n\n" + end + tail


def write_metadata_report(folder: Path, doc: Path, round_: int = 11) -> None:
    """Write a metadata round's results (round 11: between :data:`METADATA_MARK` and
    :data:`METADATA_END` in ``doc``) and its seed ensemble (round 11b: between
    :data:`ENSEMBLE_MARK` and :data:`ENSEMBLE_END`) from the hamrec runs in ``folder`` (and its
    subfolders: one setting). The ensemble's scores are kept in ``folder``'s ``ensembles.json``
    when computed from the probabilities, so that the copies without them give the same page."""
    mark, end, ensemble_mark, ensemble_end = metadata_marks(round_)
    records = _load_recipe_runs(folder)
    if not doc.is_file():
        raise SystemExit(f"{doc} does not exist (docs/results-skin-recipes.md)")
    _one_setting(records)
    epochs = METADATA_ROUNDS[round_]
    if records and _epochs(records) != str(epochs):
        raise SystemExit(
            f"the runs in {folder} trained {_epochs(records)} epochs; round {round_}'s trained "
            f"{epochs}: give --metadata-round the round these runs belong to"
        )
    text = doc.read_text()
    text = _between_marks(text, doc, mark, end, metadata_section(records), f"round-{round_}")
    ensembles = Ensembles(folder)
    body = metadata_ensemble_section(records, ensembles)
    text = _between_marks(text, doc, ensemble_mark, ensemble_end, body, f"round-{round_}b")
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(doc, text)
    ensembles.save()
    print(f"wrote rounds {round_} and {round_}b's results into {doc}")


#: round 15's candidates, in the registered order (ties to the earlier): the fusion of image
#: and metadata (the product rule, or learned on validation) and the decision rule
FUSION_CANDIDATES = (
    ("product", "prior-corrected"),
    ("product", "argmax"),
    ("learned", "prior-corrected"),
    ("learned", "argmax"),
)
#: round 15's fixed settings: the learned fusion's L2 strength, the cross-fitting folds and
#: the seed that deals the validation lesions into them, the view scored (flips)
FUSION_C, FUSION_FOLDS, FUSION_FOLD_SEED, FUSION_VIEW = 1.0, 5, 0, "tta"
FUSION_MARKS = tuple(
    mark
    for label in ("15", "15b")
    for mark in (
        f"<!-- round {label} results: generated by scripts/skin_sweep.py --fusion-report -->",
        f"<!-- end of round {label} results -->",
    )
)


def fusion_scores(records: list[dict], lesions) -> dict:
    """Round 15's four candidates on the mean of ``records``' probabilities (one record: a
    seed; several: their seed ensemble), through :data:`FUSION_VIEW`: the validation scores
    (the learned fusion's cross-fitted over :data:`FUSION_FOLDS` folds of lesions) and the test
    scores (the learned fusion fitted on the whole validation split). ``lesions()`` gives the
    lesion of each image id (the metadata file's), read only here.
    ``{"<fusion>:<rule>": {split: {"balanced_accuracy", "macro_auc"}}}``."""
    from healthcnn.studies._skin_eval import decide
    from healthcnn.studies.skin_metadata import (
        LearnedFusion,
        cross_fitted_fusion,
        fuse,
        fusion_folds,
    )

    prior = records[0]["train_prior"]
    p_meta = {split: _shared_metadata(records, split) for split in SPLIT_PAIR}
    (p_val, y_val), (p_test, y_test) = (
        _mean_probabilities(records, split, FUSION_VIEW) for split in SPLIT_PAIR
    )
    lesion_of = lesions()
    ids = records[0]["image_ids"]["val"]
    absent = [i for i in ids if str(i) not in lesion_of]
    if absent:
        raise SystemExit(f"{len(absent)} validation images have no lesion id, e.g. {absent[:3]}")
    folds = fusion_folds([lesion_of[str(i)] for i in ids], y_val, FUSION_FOLDS, FUSION_FOLD_SEED)
    learned = LearnedFusion(FUSION_C).fit(p_val, p_meta["val"], y_val)
    fused = {
        "product": {
            "val": fuse(p_val, p_meta["val"], prior),
            "test": fuse(p_test, p_meta["test"], prior),
        },
        "learned": {
            "val": cross_fitted_fusion(p_val, p_meta["val"], y_val, folds, FUSION_C),
            "test": learned.predict_proba(p_test, p_meta["test"]),
        },
    }
    labels = {"val": y_val, "test": y_test}
    return {
        f"{fusion}:{rule}": {
            split: _ba_and_auc(labels[split], q, decide(q, prior, rule))
            for split, q in fused[fusion].items()
        }
        for fusion, rule in FUSION_CANDIDATES
    }


def _fusion_key(what: str) -> str:
    return f"fusion:C{FUSION_C:g}:k{FUSION_FOLDS}:s{FUSION_FOLD_SEED}:{FUSION_VIEW}:{what}"


def fusion_section(records: list[dict], ensembles: Ensembles, lesions) -> tuple[list, list]:
    """Round 15's generated results (every candidate per seed, the choice on validation, the
    paired differences) and round 15b's (the seed ensemble fused by the chosen candidate)."""
    rs = sorted((r for r in records if "metadata" in r), key=lambda r: r["seed"])
    if not rs:
        raise SystemExit("no hamrec run with metadata scores (run --add-metadata first)")
    per_seed = []
    for r in rs:
        scores = ensembles.get(
            _fusion_key(f"seed{r['seed']}"), [r], lambda r=r: fusion_scores([r], lesions)
        )
        if scores is None:
            raise SystemExit(
                f"seed {r['seed']}: round 15 needs the run's probabilities, or an entry of "
                f"{ENSEMBLES} computed from this very run"
            )
        per_seed.append(scores)
    names = [f"{f}:{u}" for f, u in FUSION_CANDIDATES]

    def values(name: str, split: str, what: str) -> list[float]:
        return [s[name][split][what] for s in per_seed]

    val_ba = {n: statistics.mean(values(n, "val", "balanced_accuracy")) for n in names}
    chosen = max(names, key=lambda n: (val_ba[n], -names.index(n)))
    lines = [
        "| fusion | decision rule | seeds | val balanced acc | val macro AUC | test balanced acc "
        "| test macro AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for (fusion, rule), n in zip(FUSION_CANDIDATES, names, strict=True):
        label = {"product": "product rule", "learned": "learned on validation"}[fusion]
        lines.append(
            f"| {f'**{label}**' if n == chosen else label} | {rule} | {len(rs)} "
            f"| {val_ba[n]:.3f} | {statistics.mean(values(n, 'val', 'macro_auc')):.3f} "
            f"| {_ms(values(n, 'test', 'balanced_accuracy'))} "
            f"| {_ms(values(n, 'test', 'macro_auc'))} |"
        )
    seeds = ", ".join(str(r["seed"]) for r in rs)
    lines += [
        "",
        f"Paired differences, learned minus product rule, per seed ({seeds}); the validation "
        "scores of the learned fusion are cross-fitted:",
        "",
        "| decision rule | val balanced acc | test balanced acc | test macro AUC |",
        "|---|---|---|---|",
    ]
    for rule in ("prior-corrected", "argmax"):
        a, b = f"product:{rule}", f"learned:{rule}"

        def diff(split: str, what: str, a=a, b=b) -> str:
            d = [y - x for x, y in zip(values(a, split, what), values(b, split, what), strict=True)]
            return f"{statistics.mean(d):+.3f} (" + ", ".join(f"{x:+.3f}" for x in d) + ")"

        lines.append(
            f"| {rule} | {diff('val', 'balanced_accuracy')} | "
            f"{diff('test', 'balanced_accuracy')} | {diff('test', 'macro_auc')} |"
        )
    fusion, rule = chosen.split(":")
    lines += [
        "",
        f"Chosen on mean validation balanced accuracy: **{fusion} fusion, {rule}** "
        f"({val_ba[chosen]:.3f}). Test, mean of {len(rs)} seeds: balanced accuracy "
        f"{statistics.mean(values(chosen, 'test', 'balanced_accuracy')):.3f}, macro AUC "
        f"{statistics.mean(values(chosen, 'test', 'macro_auc')):.3f}.",
        f"- Settings: C = {FUSION_C:g}, {FUSION_FOLDS} folds of validation lesions (seed "
        f"{FUSION_FOLD_SEED}), flips; the networks: {_devices(rs)}, {_epochs(rs)} epochs.",
    ]
    if len(rs) < MIN_SEEDS:
        lines.append(
            f"- Only {len(rs)} seeds: with fewer than {MIN_SEEDS} the round chooses nothing; "
            "the line above is what the rule would give."
        )
    ensemble = ensembles.get(_fusion_key("ensemble"), rs, lambda: fusion_scores(rs, lesions))
    if ensemble is None:
        return lines, [
            "The seed ensemble needs the runs' probabilities: these result files hold none and "
            f"no {ENSEMBLES} entry was computed from these very runs."
        ]
    pick = [chosen] if chosen == names[0] else [names[0], chosen]
    how = (
        "(a learned fusion fitted on the ensemble's validation probabilities), beside the "
        "product rule"
        if fusion == "learned"
        else f"({fusion} fusion, {rule})"
    )
    more = [
        f"Seed ensemble of {len(rs)} networks (seeds {seeds}), flips, fused by the chosen "
        f"candidate {how}:",
        "",
        "| fusion | decision rule | val balanced acc | val macro AUC | test balanced acc "
        "| test macro AUC |",
        "|---|---|---|---|---|---|",
    ]
    for n in pick:
        f, u = n.split(":")
        e = ensemble[n]
        more.append(
            f"| {f} | {u} | {e['val']['balanced_accuracy']:.3f} | {e['val']['macro_auc']:.3f} "
            f"| {e['test']['balanced_accuracy']:.3f} | {e['test']['macro_auc']:.3f} |"
        )
    return lines, more


def write_fusion_report(folder: Path, doc: Path, lesions) -> None:
    """Write round 15's results and round 15b's between their marks in ``doc`` from the
    hamrec runs in ``folder`` (their probabilities, or the ``ensembles.json`` entries a report
    on them wrote); ``lesions()`` maps image ids to lesion ids (read only when computing)."""
    records = _load_recipe_runs(folder)
    if not doc.is_file():
        raise SystemExit(f"{doc} does not exist (docs/results-skin-recipes.md)")
    _one_setting(records)
    ensembles = Ensembles(folder)
    body, more = fusion_section(records, ensembles, lesions)
    text = doc.read_text()
    text = _between_marks(text, doc, FUSION_MARKS[0], FUSION_MARKS[1], body, "round-15")
    text = _between_marks(text, doc, FUSION_MARKS[2], FUSION_MARKS[3], more, "round-15b")
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(doc, text)
    ensembles.save()
    print(f"wrote rounds 15 and 15b's results into {doc}")


#: what a copy of an approach trained apart (``hamapp``) says in place of its probabilities
HAMAPP_NOTE = "copy without the per-image probabilities (run.val / run.test); *_rows counts them"


def _without_paths(config: dict, out: str) -> dict:
    """A study's config as the docs keep it: the folders of the machine it ran on (its output
    and data folders) are not the reader's, so ``out`` is the run's folder relative to the
    copies and ``data_dir`` is dropped (None)."""
    return {**config, "out": out, "data_dir": None}


def _hamapp_copy(record: dict) -> dict:
    """An approach trained apart without its per-image probabilities (``run.val_rows`` and
    ``run.test_rows`` count them, and a note says so) or the machine's folders."""
    run = {k: v for k, v in record["run"].items() if k not in ("val", "test")}
    for split in ("val", "test"):
        run[f"{split}_rows"] = len(record["run"][split])
    config = _without_paths(record["study_config"], "")
    return {**record, "study_config": config, "run": run, "note": HAMAPP_NOTE}


def docs_copy(folder: Path, dest: Path) -> list[Path]:
    """Copy the hamrec and curve runs of ``folder`` (result files, same relative paths) and
    its ``ensembles.json`` to ``dest`` without the probabilities and image ids (what
    docs/results-data keeps: the scores); the three-approach studies too (``ham-*``: their
    result and study files, which hold scores only, and the ``hamapp-*`` approaches they
    scored, without probabilities; both without the machine's folders, see
    :func:`_without_paths`). Returns the files written."""
    from healthcnn._atomic import atomic_write_text

    src, to = folder.resolve(), dest.resolve()
    if to == src or src in to.parents:
        raise SystemExit(
            f"{dest} is {'the runs folder' if to == src else 'inside the runs folder'} "
            f"{folder}: the copies would replace or join the full result files; copy elsewhere"
        )
    written = []
    paths = sorted(folder.glob("**/hamrec-*/result.json"))
    paths += sorted(folder.glob("**/curve-*/result.json"))
    for path in paths:
        record = json.loads(path.read_text())
        record.pop("probabilities", None)
        record.pop("image_ids", None)
        record.pop("train_image_ids", None)
        if isinstance(record.get("metadata"), dict):
            record["metadata"].pop("probabilities", None)
        target = dest / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(record, indent=2, allow_nan=True) + "\n")
        written.append(target)
    for path in sorted(folder.glob("**/hamapp-*/result.json")):
        target = dest / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        record = _hamapp_copy(json.loads(path.read_text()))
        atomic_write_text(target, json.dumps(record, indent=2, allow_nan=True) + "\n")
        written.append(target)
    for path in sorted(folder.glob("**/ham-*/result.json")):
        text = path.read_text()
        record = json.loads(text)
        target = dest / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
        written.append(target)
        study = path.parent / record.get("study", "study.json")
        if study.is_file():
            kept = json.loads(study.read_text())
            where = path.parent.relative_to(folder).as_posix()
            kept["config"] = _without_paths(kept["config"], where)
            target = dest / study.relative_to(folder)
            atomic_write_text(target, json.dumps(kept, indent=1, allow_nan=True) + "\n")
            written.append(target)
    if not written:
        raise SystemExit(f"no hamrec-*, curve-*, hamapp-* or ham-* result.json under {folder}")
    if (folder / ENSEMBLES).is_file():
        atomic_write_text(dest / ENSEMBLES, (folder / ENSEMBLES).read_text())
        written.append(dest / ENSEMBLES)
    return written


def _ensemble(records: list[dict], split: str, view: str, rule: str) -> dict:
    """Balanced accuracy and macro AUC of the mean of the records' probabilities (the
    ``prior-tuned`` rule tuned on the ensemble's own validation probabilities, cross-fitted
    when ``split`` is the validation split)."""

    from healthcnn.studies._skin_eval import decide, prior_tuned

    p, y = _mean_probabilities(records, split, view)
    prior = records[0]["train_prior"]
    if rule == "prior-tuned":
        p_val, y_val = _mean_probabilities(records, "val", view)
        tuned = prior_tuned(p_val, y_val, prior, p)
        pred = tuned["val_pred"] if split == "val" else tuned["eval_pred"]
    else:
        pred = decide(p, prior, rule)
    return {**_ba_and_auc(y, p, pred), "n": len(records)}


def _seeds_needed(rows: list[dict]) -> int:
    """Seeds a row needs to be chosen: ``MIN_SEEDS``, or fewer when no row has that many (a
    smoke sweep of one seed still makes a choice)."""
    return min(MIN_SEEDS, max(len(r["seeds"]) for r in rows))


def _chosen(rows: list[dict]) -> dict:
    """The pre-registered rule: among the rows with enough seeds, the highest mean validation
    balanced accuracy (to 3 decimals), ties to the earlier configuration in the registered
    order."""
    need = _seeds_needed(rows)
    eligible = [r for r in rows if len(r["seeds"]) >= need]
    return max(eligible, key=lambda r: (round(r["val_ba"], 3), -r["order"]))


def _load_recipe_runs(folder: Path) -> list[dict]:
    """The ``hamrec-*`` runs in ``folder`` and in its subfolders (one per setting of a later
    round, e.g. ``128px-8ep/``)."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("**/hamrec-*/result.json"))]


def chosen_configuration(folder: Path) -> tuple[str, int | tuple[int, int], int, str, str]:
    """(loss, image size (side or (height, width)), epochs, views, decision rule) chosen on
    validation among the hamrec runs in ``folder`` and its subfolders."""
    return _chosen(_recipe_rows(_load_recipe_runs(folder)))["key"]


def recipe_section(records: list[dict], ensembles: Ensembles | None = None) -> list[str]:
    """Every candidate's validation and test numbers, the validation-only choice, the chosen
    configuration's seed ensemble, and the targets."""
    rows = _recipe_rows(records)
    if not rows:
        return ["No 7-way recipe runs in this folder.", ""]
    chosen = _chosen(rows)
    return _recipe_lines(rows, chosen, ensembles if ensembles is not None else Ensembles())


def _setting(record: dict) -> tuple[int | tuple[int, int], int]:
    """(image size: a square side or (height, width), epochs)."""
    from healthcnn.data.ham10000 import image_size

    return image_size(record["size"]), record["train_config"]["epochs"]


def _cost(setting: tuple[int | tuple[int, int], int]) -> tuple[int, int]:
    """Pixels x epochs, then the longer side: the registered order of settings."""
    size, epochs = setting
    h, w = (size, size) if isinstance(size, int) else size
    return h * w * epochs, max(h, w)


def _recipe_rows(records: list[dict]) -> list[dict]:
    """One row per (setting, loss, views, rule) with runs, in the registered tie order: the
    cheaper setting first (pixels x epochs), then loss, views and rule as round 1."""
    settings = sorted({_setting(r) for r in records}, key=_cost)
    combos = [
        (s, r, v, u) for s in settings for r in RECIPE_ORDER for v in VIEW_ORDER for u in RULE_ORDER
    ]
    rows = []
    for order, (setting, recipe, view, rule) in enumerate(combos):
        rs = sorted(
            (r for r in records if r["recipe"] == recipe and _setting(r) == setting),
            key=lambda r: r["seed"],
        )
        # a rule the runs were not scored with (prior-tuned before round 6) has no row
        if not rs or any(rule not in r["scores"][f"val_{view}"]["balanced_accuracy"] for r in rs):
            continue
        val_ba = [r["scores"][f"val_{view}"]["balanced_accuracy"][rule] for r in rs]
        test_ba = [r["scores"][f"test_{view}"]["balanced_accuracy"][rule] for r in rs]
        test_auc = [r["scores"][f"test_{view}"]["macro_auc"] for r in rs]
        rows.append(
            {
                "key": (recipe, *setting, view, rule),
                "order": order,
                "seeds": [r["seed"] for r in rs],
                "val_ba": statistics.mean(val_ba),
                "val_auc": statistics.mean(r["scores"][f"val_{view}"]["macro_auc"] for r in rs),
                "test_ba": test_ba,
                "test_auc": test_auc,
                "seconds": statistics.mean(r["seconds"] for r in rs),
                "records": rs,
            }
        )
    return rows


def _recipe_lines(rows: list[dict], chosen: dict, ensembles: Ensembles) -> list[str]:
    from healthcnn.data.ham10000 import size_text

    lines = [
        "## Results (every candidate; the choice used validation only)",
        "",
        "Mean over seeds; sd in brackets. Balanced accuracy = mean per-class sensitivity of the "
        "7 diagnoses; macro AUC = unweighted mean of the 7 one-vs-rest AUCs.",
        "",
        "| loss | px | epochs | views | decision rule | seeds | val balanced acc | "
        "val macro AUC | test balanced acc | test macro AUC | s per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    need, short = _seeds_needed(rows), False
    for r in rows:
        recipe, size, epochs, view, rule = r["key"]
        mark = "**" if r is chosen else ""
        seeds = str(len(r["seeds"]))
        if len(r["seeds"]) < need:
            seeds, short = f"{seeds} (too few)", True
        lines.append(
            f"| {mark}{recipe}{mark} | {size_text(size)} | {epochs} | {view} | {rule} | "
            f"{seeds} | {r['val_ba']:.3f} | "
            f"{r['val_auc']:.3f} | {_ms(r['test_ba'])} | {_ms(r['test_auc'])} | "
            f"{r['seconds']:.0f} |"
        )
    lines.append(
        f"| {HAM_PUBLISHED['name']} | | | | own | | | | {HAM_PUBLISHED['balanced_accuracy']} | | |"
    )
    lines += ["", f"Published row: {HAM_PUBLISHED['note']}."]
    if short:
        lines += [
            "",
            f"Rows marked *too few* have fewer than {need} seeds (runs cut short) and cannot be "
            "chosen.",
        ]
    recipe, size, epochs, view, rule = chosen["key"]
    px = size_text(size)
    ba, auc = statistics.mean(chosen["test_ba"]), statistics.mean(chosen["test_auc"])
    records = chosen["records"]
    scores = ensembles.get(
        f"hamrec:{recipe}:{px}:{epochs}:{view}:{rule}",
        records,
        lambda: {
            "val": _ensemble(records, "val", view, rule),
            "test": _ensemble(records, "test", view, rule),
        },
    )
    if scores is not None:
        ens, ens_val = scores["test"], scores["val"]
        ensemble = (
            f"The {ens['n']}-seed ensemble of this configuration: validation balanced accuracy "
            f"{ens_val['balanced_accuracy']:.3f}, test balanced accuracy "
            f"{ens['balanced_accuracy']:.3f}, macro AUC {ens['macro_auc']:.3f}."
        )
    else:
        ensemble = (
            "(These result files hold no probabilities and no ensemble summary of these runs, "
            "so no seed ensemble is scored.)"
        )
    lines += [
        "",
        f"Chosen on mean validation balanced accuracy: **{recipe}, {px} px, {epochs} epochs, "
        f"{view}, {rule}** "
        f"({chosen['val_ba']:.3f}). Test, mean of {len(chosen['seeds'])} seeds: balanced "
        f"accuracy {ba:.3f}, macro AUC {auc:.3f}. {ensemble}",
        "",
        f"- Target macro AUC >= {HAM_TARGET['macro_auc']:.2f}: "
        + (
            "reached."
            if auc >= HAM_TARGET["macro_auc"]
            else f"**not reached** ({auc:.3f}, {HAM_TARGET['macro_auc'] - auc:.3f} short)."
        ),
        f"- Target balanced accuracy >= {HAM_TARGET['balanced_accuracy']:.2f}: "
        + (
            "reached."
            if ba >= HAM_TARGET["balanced_accuracy"]
            else f"**not reached** ({ba:.3f}, {HAM_TARGET['balanced_accuracy'] - ba:.3f} short)."
        ),
        f"- Device: {_devices(chosen['records'])}; image size {px} px, {epochs} epochs.",
        "",
    ]
    return lines


def recipe_curve_lines(curve: list[dict], full: list[dict]) -> list[str]:
    """The learning-curve table of a recipe: one row per fraction of the training lesions
    (``curve-*`` runs) and a 100% row from the recipe's ``hamrec`` runs ``full`` (which score no
    2-way AUC: that column says n/a there), read through the same views as the curve runs (their
    ``views``: ``flips`` takes the ``hamrec`` runs' flip-averaged scores; files written before the
    study averaged flips have none and were ``plain``). Curve runs that scored the metadata
    fused in (all of them) add its macro AUC and balanced accuracy, the 100% row from the
    ``hamrec`` runs' metadata scores (n/a where a run has none)."""
    views = {r.get("views", "plain") for r in curve}
    if len(views) > 1:
        raise SystemExit(
            f"the curve runs were read through different views ({', '.join(sorted(views))}): "
            "put each setting's curve-* runs in a folder of its own"
        )
    view = "tta" if views == {"flips"} else "plain"
    # runs that scored the patient's age, sex and site fused in (the study's recipe since
    # round 13) get those two columns too
    fused = all("metadata" in r for r in curve)
    lines = [
        "| training lesions | images | seeds | 2-way AUC (benign/malignant) | 7-way macro AUC | "
        "balanced acc, prior-corrected | balanced acc, argmax | "
        + ("with age, sex and site: macro AUC | with age, sex and site: balanced acc, "
           "prior-corrected | " if fused else "")
        + "s per run |",
        "|---|---|---|---|---|---|---|" + ("---|---|" if fused else "") + "---|",
    ]  # fmt: skip
    for fraction in sorted({r["fraction"] for r in curve}):
        rs = sorted((r for r in curve if r["fraction"] == fraction), key=lambda r: r["seed"])
        ba = [r["balanced_accuracy"] for r in rs]
        meta = [r["metadata"] for r in rs] if fused else []
        with_meta = (
            f"{_ms([m['macro_auc']['value'] for m in meta])} | "
            f"{_ms([m['balanced_accuracy']['prior-corrected']['value'] for m in meta])} | "
            if fused
            else ""
        )
        lines.append(
            f"| {fraction:.0%} ({statistics.mean(r['train_lesions'] for r in rs):,.0f}) | "
            f"{statistics.mean(r['train_images'] for r in rs):,.0f} | {len(rs)} | "
            f"{_ms([r['malignant_auc']['value'] for r in rs])} | "
            f"{_ms([r['macro_auc']['value'] for r in rs])} | "
            f"{_ms([b['prior-corrected']['value'] for b in ba])} | "
            f"{_ms([b['argmax']['value'] for b in ba])} | {with_meta}"
            f"{statistics.mean(r['seconds'] for r in rs):.0f} |"
        )
    if full:
        scores = [r["scores"][f"test_{view}"] for r in full]
        with_meta = ""
        if fused:  # the full runs' fused scores, where each has them (--add-metadata)
            meta = [
                (r.get("metadata") or {}).get("scores", {}).get(f"test_{view}", {}).get("fused")
                for r in full
            ]
            with_meta = (
                f"{_ms([m['macro_auc'] for m in meta])} | "
                f"{_ms([m['balanced_accuracy']['prior-corrected'] for m in meta])} | "
                if all(meta)
                else "n/a | n/a | "
            )
        lines.append(
            f"| 100% | | {len(full)} | n/a | {_ms([s['macro_auc'] for s in scores])} | "
            f"{_ms([s['balanced_accuracy']['prior-corrected'] for s in scores])} | "
            f"{_ms([s['balanced_accuracy']['argmax'] for s in scores])} | {with_meta}"
            f"{statistics.mean(r['seconds'] for r in full):.0f} |"
        )
    return lines


def write_recipe_report(folder: Path, doc: Path) -> None:
    """Replace everything below :data:`RESULTS_MARK` in ``doc`` (the pre-registration above it
    stays as written) with the results of the ``hamrec-*`` runs in ``folder`` and its
    subfolders."""
    records = _load_recipe_runs(folder)
    if not records:
        raise SystemExit(f"no hamrec-*/result.json files under {folder}")
    if not doc.is_file():
        raise SystemExit(
            f"{doc} does not exist: the results go below the pre-registration of an existing "
            f"page (docs/results-skin-recipes.md)"
        )
    text = doc.read_text()
    head = text.split(RESULTS_MARK)[0].rstrip() + "\n\n"
    ensembles = Ensembles(folder)
    lines = recipe_section(records, ensembles)
    from healthcnn._atomic import atomic_write_text

    atomic_write_text(doc, head + RESULTS_MARK + "\n\n" + "\n".join(lines))
    ensembles.save()
    print(f"wrote {doc}")
