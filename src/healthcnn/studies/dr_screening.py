"""The diabetic-retinopathy screening study, in the manner of Gulshan et al. (JAMA 2016).

``run_study(StudyConfig(out="runs/dr"))`` goes from data to report in one call, reproducibly
from ``seed``:

1. **Ensemble.** ``ensemble_size`` networks of the recipe (seeds ``seed .. seed + N - 1``) are
   trained on the training split; each keeps its best-validation epoch. Their 5-grade
   probabilities are averaged.
2. **Tasks.** 5-grade DR (macro one-vs-rest AUC, accuracy, quadratic-weighted kappa) and
   referable DR (grade >= 2): the score is ``P(grade >= 2)`` of the 5-grade model, or a binary
   network trained on referable labels; with ``referable_model="auto"`` both are tried and the
   one with the higher *validation* AUC is used.
3. **Operating points.** High sensitivity and high specificity thresholds are fitted on the
   validation (tuning) split; only then is test scored; sensitivity and specificity on test
   carry Wilson intervals, the AUC a DeLong interval.
4. **Single vs ensemble**: the paired DeLong test of the referable AUCs.
5. **Image sampling**: a learning curve over training fractions (several seeds each).
6. **Grade sampling** (SIMULATION): k simulated graders per tuning image (see
   :mod:`.grade_sampling`).

Writes ``<out>/bundles/...`` (one bundle per network; preprocessing, thresholds and metrics in
their metadata), ``<out>/study.json`` (every number) and ``<out>/report.html``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import ArrayDataset
from ..data.fundus import FundusConfig
from ..data.sources import SPLITS, data_files, load_splits
from ..evaluation import OperatingPoint
from ..metrics import roc_auc
from ..tasks import make_task, referable_dr
from ..training import TrainConfig
from ..training.fit import SMALL_STEM_BELOW
from ._common import device_name, est, write_result
from ._resume import Checkpoints, data_fingerprint
from .dr_data import prepare_fundus_csv
from .ensemble import average_probabilities, compare_single_vs_ensemble
from .grade_sampling import DEFAULT_KAPPA, GraderModel, simulate_grade_sampling
from .grading import grade_metrics, referable_labels, referable_scores
from .learning_curve import learning_curve
from .recipe import Member, Recipe, candidate_recipe, fit_member, save_member

REFERABLE_CHOICES = ("auto", "derived", "binary")

#: The configuration chosen on validation by ``scripts/dr_recipe_sweep.py`` (round 5 of
#: docs/results-dr.md: ordinal CORAL head, flips and right-angle rotations, CutMix, AdamW +
#: cosine, probabilities averaged over the 8 flips/right-angle rotations), with early stopping
#: so a CPU run stops once the validation AUC has not improved for 10 epochs.
DEFAULT_RECIPE = dataclasses.replace(
    candidate_recipe("ordinal-aug-cos-cutmix"), tta=True
).with_train(early_stopping_patience=10)

#: ``--quick``: a small CNN, one epoch, small subsets (pipeline checks, not accuracy)
QUICK_RECIPE = Recipe(
    name="quick",
    model="simple_cnn",
    task="ordinal",
    train=TrainConfig(epochs=1, batch_size=64, augment="basic", monitor="auc"),
)


@dataclass(frozen=True)
class StudyConfig:
    """Every setting of the study (stored in ``study.json``).

    ``data`` is a dataset name, a MedMNIST-layout ``.npz``, or an images CSV of full-size
    photographs (see :mod:`.dr_data`), whose labels may come from ``grades_csv`` (image, grader,
    grade) reduced by ``grade_rule``; CSV photographs are preprocessed with ``fundus``.
    """

    out: str
    data: str = "retinamnist"
    data_dir: str | None = None
    device: str = "cpu"
    seed: int = 0
    recipe: Recipe = DEFAULT_RECIPE
    ensemble_size: int = 5
    referable_model: str = "auto"
    sensitivity_target: float = 0.90
    specificity_target: float = 0.90
    fractions: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)
    curve_seeds: int = 3
    grader_ks: tuple[int, ...] = (1, 3, 5, 7)
    grader_replicates: int = 50
    grader_kappa: float = DEFAULT_KAPPA
    fundus: FundusConfig = field(default_factory=lambda: FundusConfig(size=28))
    grades_csv: str | None = None
    grade_rule: str = "majority"
    quick: bool = False

    def __post_init__(self) -> None:
        if self.referable_model not in REFERABLE_CHOICES:
            raise ValueError(
                f"referable_model must be one of {REFERABLE_CHOICES}, got {self.referable_model!r}"
            )
        for name in ("ensemble_size", "curve_seeds", "grader_replicates"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        for name in ("sensitivity_target", "specificity_target"):
            v = getattr(self, name)
            if not 0 < v < 1:
                raise ValueError(f"{name} must be in (0, 1), got {v}")
        fr = tuple(float(f) for f in self.fractions)
        if not fr or any(not 0 < f <= 1 for f in fr):
            raise ValueError(f"fractions must lie in (0, 1], got {self.fractions}")
        object.__setattr__(self, "fractions", tuple(sorted(set(fr))))
        object.__setattr__(self, "grader_ks", tuple(int(k) for k in self.grader_ks))

    def effective(self) -> StudyConfig:
        """The configuration actually run (``quick`` shrinks everything)."""
        if not self.quick:
            return self
        return dataclasses.replace(
            self,
            recipe=dataclasses.replace(QUICK_RECIPE, name=f"quick-{self.recipe.name}"),
            ensemble_size=min(self.ensemble_size, 2),
            fractions=(0.5, 1.0),
            curve_seeds=2,
            grader_ks=(1, 3),
            grader_replicates=5,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["recipe"] = self.recipe.to_dict()
        data["fundus"] = self.fundus.to_dict()
        data["fractions"] = list(self.fractions)
        data["grader_ks"] = list(self.grader_ks)
        return data


@dataclass
class StudyResult:
    """Where the study wrote its outputs, and every number (``numbers`` = ``study.json``)."""

    out: Path
    numbers: dict[str, Any]
    bundles: list[Path]
    report: Path | None
    seconds: float

    @property
    def summary(self) -> dict[str, Any]:
        n = self.numbers
        return {
            "out": str(self.out),
            "grade_test_ensemble": n["ensemble"]["ensemble"]["grade"],
            "referable_test_auc": n["referable"]["test_auc"],
            "operating_points": n["referable"]["operating_points"],
            "ensemble_p_value": n["ensemble"]["delong_ensemble_minus_single"]["p_value"],
            "report": None if self.report is None else str(self.report),
            "seconds": round(self.seconds, 1),
        }


def _quick_splits(splits: dict[str, ArrayDataset], seed: int) -> dict[str, ArrayDataset]:
    """Stratified small subsets: 160 train, the whole val (operating points need it), 200 test."""
    from .learning_curve import stratified_subset

    out = {}
    for name, n in (("train", 160), ("val", None), ("test", 200)):
        ds = splits[name]
        if n is None or len(ds) <= n:
            out[name] = ds
        else:
            out[name] = ds.subset(stratified_subset(ds.labels.numpy(), n / len(ds), seed))
    return out


def _operating_points(cfg: StudyConfig) -> dict[str, OperatingPoint]:
    return {
        "high_sensitivity": OperatingPoint(
            "sensitivity", cfg.sensitivity_target, name="high sensitivity"
        ),
        "high_specificity": OperatingPoint(
            "specificity", cfg.specificity_target, name="high specificity"
        ),
    }


def _referable(
    cfg: StudyConfig, y: dict[str, np.ndarray], candidates: dict[str, dict[str, np.ndarray]]
) -> dict[str, Any]:
    """Choose the referable scorer on val, fit both operating points on val, then score test.

    ``candidates`` maps a name (``"derived"``: P(grade >= 2) of the ensemble; ``"binary"``) to
    its ``{"val": scores, "test": scores}``."""
    yr = {s: referable_labels(y[s]) for s in ("val", "test")}
    val_auc = {k: float(roc_auc(yr["val"], v["val"], ci=None)) for k, v in candidates.items()}
    chosen = max(val_auc, key=lambda k: (val_auc[k], k == "derived"))
    scores = candidates[chosen]
    points = {}
    for key, op in _operating_points(cfg).items():
        op.fit(yr["val"], scores["val"])  # fitted on the tuning split, before test is scored
        val_res = op.apply(yr["val"], scores["val"])
        test_res = op.apply(yr["test"], scores["test"])
        points[key] = {
            **op.to_dict(),
            "fitted_on": "val",
            "val": {k: est(v) for k, v in val_res.items()},
            "test": {k: est(v) for k, v in test_res.items()},
        }
    test_aucs = {k: est(roc_auc(yr["test"], v["test"])) for k, v in candidates.items()}
    return {
        "definition": "referable = grade >= 2 (moderate or worse)",
        "candidates_val_auc": val_auc,
        "chosen_on_val": chosen,
        "test_auc": test_aucs[chosen],
        "test_auc_all_candidates": test_aucs,
        "val_prevalence": float(yr["val"].mean()),
        "test_prevalence": float(yr["test"].mean()),
        "operating_points": points,
    }


def _fundus_record(cfg: StudyConfig, train: ArrayDataset) -> dict[str, Any]:
    """The fundus preprocessing ``healthcnn predict`` applies to full-size photographs."""
    return {
        **cfg.fundus.to_dict(),
        "size": int(train.spatial_shape[-1]),
        "applies_to": "image files of full-size photographs (healthcnn predict)",
    }


def _member_metadata(
    cfg: StudyConfig, source: str, splits: dict[str, ArrayDataset], member: Member
) -> dict:
    train = splits["train"]
    scores = member.scores
    meta: dict[str, Any] = {
        "data": {
            "source": source,
            "size": int(train.spatial_shape[-1]),
            "classes": list(member.task.classes),
            "splits": {s: len(splits[s]) for s in SPLITS},
        },
        "study": "dr-screening",
    }
    if scores["val"].ndim == 2:
        y = {s: splits[s].labels.numpy() for s in ("val", "test")}
        meta["metrics"] = {s: grade_metrics(y[s], scores[s]) for s in ("val", "test")}
        yr = referable_labels(y["val"])
        sv = referable_scores(scores["val"])
        meta["thresholds"] = {
            k: {**op.fit(yr, sv).to_dict(), "score": "P(grade >= 2)", "fitted_on": "val"}
            for k, op in _operating_points(cfg).items()
        }
    return meta


@dataclass
class _Run:
    """What the steps of one study run share: settings, output folder, data and bundles."""

    cfg: StudyConfig
    out: Path
    data: str
    splits: dict[str, ArrayDataset]
    say: Callable[[str], None]
    checkpoints: Checkpoints
    bundles: list[Path] = field(default_factory=list)

    @property
    def y(self) -> dict[str, np.ndarray]:
        return {s: self.splits[s].labels.numpy() for s in SPLITS}

    def fit(self, name: str, seed: int, train: ArrayDataset | None = None, **kw: Any) -> Member:
        """Network ``name`` of the recipe, model selection on val, scored on val and test; it
        checkpoints under ``<out>/checkpoints/<name>`` as it trains (see :mod:`._resume`)."""
        train = self.splits["train"] if train is None else train
        val, test = self.splits["val"], self.splits["test"]
        settings = {
            "recipe": self.cfg.recipe.to_dict(),
            "seed": seed,
            "data": data_fingerprint(train, val),
        }
        where = self.checkpoints.folder(name, settings)
        return fit_member(
            self.cfg.recipe, seed, train, val, {"test": test}, device=self.cfg.device, **where, **kw
        )

    def save(self, member: Member, name: str) -> None:
        meta = _member_metadata(self.cfg, self.data, self.splits, member)
        fundus = _fundus_record(self.cfg, self.splits["train"])
        self.bundles.append(save_member(member, self.out / "bundles" / name, meta, fundus=fundus))


def _prepare(
    cfg: StudyConfig, out: Path, say: Callable[[str], None], checkpoints: Checkpoints
) -> _Run:
    """The splits (photographs preprocessed first), the stem fitted to the image size, and the
    quick subsets."""
    data, size = cfg.data, 28
    if str(data).endswith(".csv"):
        say("preprocessing the photographs (field of view, crop, rescale)")
        prepared = prepare_fundus_csv(
            cfg.data,
            out / "data",
            grades_csv=cfg.grades_csv,
            rule=cfg.grade_rule,
            fundus=cfg.fundus,
        )
        data, size = str(prepared.resolve()), cfg.fundus.size
    elif cfg.grades_csv is not None:
        raise ValueError("grades_csv needs data to be an images CSV of photographs")
    splits, _ = load_splits(data, size=size, data_dir=cfg.data_dir, seed=cfg.seed)
    recipe = cfg.recipe
    if size >= SMALL_STEM_BELOW and recipe.stem == "small" and recipe.model.startswith("resnet"):
        # the 28 px stem keeps full resolution through stage 1: far too costly at 64 px and up
        cfg = dataclasses.replace(cfg, recipe=dataclasses.replace(recipe, stem="imagenet"))
    if splits["train"].labels.ndim != 1 or len(splits["train"].classes) != 5:
        raise ValueError(
            f"the DR study needs 5 grades (0 none .. 4 proliferative); {cfg.data} has classes "
            f"{splits['train'].classes}"
        )
    if cfg.quick:
        splits = _quick_splits(splits, cfg.seed)
    return _Run(cfg, out, data, splits, say, checkpoints)


def _ensemble(run: _Run) -> tuple[list[Member], dict[str, np.ndarray], dict[str, Any]]:
    """Step 1: the 5-grade networks, their bundles, and single vs ensemble."""
    cfg, y = run.cfg, run.y
    members: list[Member] = []
    for i in range(cfg.ensemble_size):
        seed = cfg.seed + i
        run.say(f"ensemble member {i + 1}/{cfg.ensemble_size} (seed {seed})")
        members.append(run.fit(f"grade-seed{seed}", seed))
        run.save(members[-1], f"grade-seed{seed}")
    ens = {s: average_probabilities([m.scores[s] for m in members]) for s in ("val", "test")}
    single = members[0].scores
    ensemble = compare_single_vs_ensemble(
        y["test"], single["test"], [m.scores["test"] for m in members]
    )
    ensemble["val"] = {
        "single": grade_metrics(y["val"], single["val"]),
        "ensemble": grade_metrics(y["val"], ens["val"]),
    }
    ensemble["members_test"] = [grade_metrics(y["test"], m.scores["test"]) for m in members]
    ensemble["members_val"] = [grade_metrics(y["val"], m.scores["val"]) for m in members]
    return members, ens, ensemble


def _referable_step(run: _Run, ens: dict[str, np.ndarray]) -> tuple[dict, dict[str, Any]]:
    """Step 2: referable DR from the ensemble's P(grade >= 2) or a binary network, the scorer
    chosen on val (candidates by name, and the referable result)."""
    cfg = run.cfg
    binary = None
    if cfg.referable_model in ("auto", "binary"):
        run.say("binary referable-DR network")
        task = make_task(
            "binary", ("non-referable", "referable"), label_map=referable_dr(), name="referable DR"
        )
        member = run.fit("referable-binary", cfg.seed, task=task)
        binary = member.scores
        run.save(member, "referable-binary")
    candidates: dict[str, dict[str, np.ndarray]] = {}
    if cfg.referable_model != "binary":
        candidates["derived"] = {s: referable_scores(ens[s]) for s in ("val", "test")}
    if binary is not None:
        candidates["binary"] = binary
    return candidates, _referable(cfg, run.y, candidates)


def _image_sampling(run: _Run, members: list[Member]) -> dict[str, Any]:
    """Step 3: the learning curve over training-set fractions (full-set members reused)."""
    run.say("learning curve")
    reuse = {(1.0, m.seed): m.scores for m in members}
    seeds = [run.cfg.seed + i for i in range(run.cfg.curve_seeds)]

    def fit_subset(seed: int, subset: ArrayDataset) -> dict[str, np.ndarray]:
        run.say(f"  learning curve: {len(subset)} images, seed {seed}")
        return run.fit(f"curve-{len(subset)}-seed{seed}", seed, subset).scores

    return learning_curve(
        fit_subset,
        run.splits["train"],
        run.y["test"],
        fractions=run.cfg.fractions,
        seeds=seeds,
        reuse=reuse,
    )


def _grade_sampling(run: _Run, chosen: dict[str, np.ndarray]) -> dict[str, Any]:
    """Step 4: grade sampling (simulation) on the tuning split, with the chosen scorer."""
    run.say("grade sampling (simulation)")
    cfg, y = run.cfg, run.y
    prior = np.bincount(y["val"], minlength=5) / len(y["val"])
    return simulate_grade_sampling(
        y["val"],
        chosen["val"],
        referable_labels(y["test"]),
        chosen["test"],
        ks=cfg.grader_ks,
        replicates=cfg.grader_replicates,
        targets={
            "high_sensitivity": ("sensitivity", cfg.sensitivity_target),
            "high_specificity": ("specificity", cfg.specificity_target),
        },
        model=GraderModel.for_kappa(cfg.grader_kappa, prior),
        seed=cfg.seed,
    )


def run_study(
    config: StudyConfig, *, progress: Callable[[str], None] | None = None, resume: bool = False
) -> StudyResult:
    """Run the whole study (see the module docstring) and write its outputs.

    Every network checkpoints under ``<out>/checkpoints/`` as it trains (see :mod:`._resume`);
    after an interruption ``resume=True`` goes on from them (a network that had finished is
    only scored again); without it they are refused before any training. They are removed
    once the results are written."""
    start = time.perf_counter()
    cfg = config.effective()
    out = Path(cfg.out)
    # leftovers of an earlier run are refused here, before any training
    checkpoints = Checkpoints.under(out, resume)
    out.mkdir(parents=True, exist_ok=True)
    run = _prepare(cfg, out, progress or (lambda _msg: None), checkpoints)
    members, ens, ensemble = _ensemble(run)
    candidates, referable = _referable_step(run, ens)
    curve = _image_sampling(run, members)
    grading = _grade_sampling(run, candidates[referable["chosen_on_val"]])
    y, single = run.y, members[0].scores
    numbers = {
        "study": "dr-screening",
        "config": run.cfg.to_dict(),
        "data": {
            s: {"n": len(run.splits[s]), "grades": np.bincount(y[s], minlength=5).tolist()}
            for s in SPLITS
        },
        "grade": {
            "single_test": grade_metrics(y["test"], single["test"]),
            "ensemble_test": ensemble["ensemble"]["grade"],
            "members_test_mean": _mean_of(ensemble["members_test"]),
        },
        "referable": referable,
        "ensemble": ensemble,
        "learning_curve": curve,
        "grade_sampling": grading,
        "bundles": [str(b.relative_to(out)) for b in run.bundles],
        "seconds": round(time.perf_counter() - start, 1),
        "device": (
            f"{device_name(run.cfg.device)}, "
            f"{' and '.join(sorted({m.fitted.precision for m in members}))}, "
            f"torch {torch.__version__}"
        ),
    }
    read = data_files(run.cfg.data, size=28, data_dir=run.cfg.data_dir)
    grades = [run.cfg.grades_csv] if run.cfg.grades_csv is not None else []
    write_result(out / "study.json", numbers, [*read, *grades])
    run.say("report")
    from .dr_report import write_study_report

    report = write_study_report(out, numbers, run.bundles[0], data_dir=run.cfg.data_dir)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return StudyResult(out, numbers, run.bundles, report, time.perf_counter() - start)


def _mean_of(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = [k for k in rows[0] if k != "n"]
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return out
