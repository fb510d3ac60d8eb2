"""Skin-lesion classification over a disease taxonomy, in the manner of Esteva et al. (2017).

``run_study(SkinStudyConfig(...))`` is what ``healthcnn study skin-taxonomy`` calls:

1. HAM10000 at ``size`` (px, or the stored 200 x 150), a seeded lesion-level 70/15/15 split
   stratified by diagnosis;
2. the taxonomy (shipped ``ham10000``: benign/malignant > melanocytic/non-melanocytic > the 7
   diagnoses), its leaves refined by body site from the training data, and PartitionDisease
   with ``max_class_size`` (keeping the 7 diagnoses apart so they stay predictable);
3. three models with the same recipe, trained (a) on benign/malignant directly, (b) on the 7
   diagnoses, (c) on the partition's training classes; each is scored on the test split at the
   2-way and 7-way levels, inference-class probabilities being sums over training classes
   (:mod:`._skin_eval`), with paired DeLong tests between approaches;
4. the "more data, better performance" curve: the approach with the best validation 2-way AUC
   retrained on fractions of the training lesions, several seeds each;
5. ``study.json`` and ``report.html`` in ``out``.

Every model choice uses the validation split only (best epoch by validation AUC; the learning
curve's approach by validation AUC); the test split is scored once per model.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._json import plain
from ..data.arrays import ArrayDataset
from ..data.ham10000 import Ham10000, ham10000_splits, image_size, load_ham10000
from ..data.root import data_root
from ..data.splits import group_split
from ..data.transforms import Compose, Dihedral
from ..tasks import LabelMap, make_task
from ..tasks.taxonomy import (
    Partition,
    Taxonomy,
    load_taxonomy,
    partition_disease,
    partition_from_nodes,
)
from ..training import TrainConfig
from ..training.fit import FitSpec, Fitted, fit_model
from . import _resume, _skin_eval, _skin_report
from ._common import write_result

APPROACHES = ("binary", "diagnosis", "partition")
TWO_WAY = ("benign", "malignant")

#: the training recipes the 7-way recipe sweep compares (``scripts/skin_sweep.py
#: --ham-recipes``): changes to :func:`recipe_train_config`'s settings (the loss, or how batches
#: are mixed: mixup with Beta(0.2, 0.2) as Zhang et al. on ImageNet, CutMix with Beta(1, 1) as
#: Yun et al.)
RECIPES: dict[str, dict[str, Any]] = {
    "ce": {},
    "logit-adjusted": {"logit_adjust": 1.0},
    "class-weighted": {"class_weights": "balanced"},
    "mixup": {"mix": "mixup", "mix_alpha": 0.2},
    "cutmix": {"mix": "cutmix", "mix_alpha": 1.0},
}
#: the loss chosen on validation balanced accuracy in docs/results-skin-recipes.md (plain
#: cross-entropy, with the prior-corrected decision rule: argmax of P(class) / training prevalence)
DEFAULT_RECIPE = "ce"
#: the image side, epochs and test-time views of the recipe chosen on validation
#: (docs/results-skin-recipes.md: round 2 chose 64 px over 128 px; round 4 chose 32 epochs over
#: 8 and 16, with the mean over each image and its three flips; round 5 chose 64 epochs over 32)
DEFAULT_SIZE = 64
DEFAULT_EPOCHS = 64
#: how an approach's probabilities are read: from the image alone (``plain``) or as the mean
#: over the image and its flips left-right, up-down and both (``flips``)
VIEWS = ("plain", "flips")
DEFAULT_VIEWS = "flips"
#: whether the study also scores each 7-way answer with the patient's age, sex and lesion site
#: fused in (:mod:`.skin_metadata`): round 13 of docs/results-skin-recipes.md chose image +
#: metadata over the image alone on validation at the 64-epoch recipe
DEFAULT_METADATA = True


def flip_views(fitted: Fitted) -> list:
    """The evaluation transform of ``fitted`` alone and followed by each of the three flips
    (width, height, both), for :meth:`Fitted.infer`'s ``views``; rotations by 180 degrees and
    flips keep a non-square image's shape."""
    ev = fitted.preprocessing.transform()
    flips = (Dihedral(0, True), Dihedral(2, True), Dihedral(2, False))  # W, H, both
    return [ev, *(Compose([ev, f]) for f in flips)]


def recipe_train_config(
    recipe: str = DEFAULT_RECIPE, epochs: int = DEFAULT_EPOCHS, **overrides: Any
) -> TrainConfig:
    """The study's training settings with ``recipe``'s loss: AdamW (lr 1e-3, weight decay
    0.05), cosine schedule with 2 warm-up epochs, batch 128, ``strong`` augmentation, best epoch
    by validation AUC; ``overrides`` change any TrainConfig field."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    settings: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": 128,
        "lr": 1e-3,
        "optimizer": "adamw",
        "weight_decay": 0.05,
        "schedule": "cosine",
        "warmup_epochs": min(2, epochs - 1),
        "augment": "strong",
        **RECIPES[recipe],
    }
    settings.update(overrides)
    return TrainConfig(**settings)


@dataclass(frozen=True)
class SkinStudyConfig:
    """Everything the study needs, as plain data (written into ``study.json``).

    Attributes:
        out: output folder (``study.json``, ``report.html``).
        data_dir: data root holding ``ham10000/`` (None: ``$HEALTHCNN_DATA`` or the default).
        size: image side in px, a (height, width) pair, or ``"stored"`` for the stored
            200 x 150 px images (width x height) unresampled (HAM10000 is decoded once per size
            and cached).
        model / model_kwargs: registry model (ResNets under 64 px get the 28 px stem,
            :func:`healthcnn.training.fit.default_model_kwargs`).
        taxonomy: shipped name or a JSON path.
        refine: split the leaves by the taxonomy's ``refine`` field (body site) before
            partitioning, as Esteva's taxonomy had finer leaves than the clinical classes.
        max_class_size: PartitionDisease threshold (Esteva: 1,000 of 129,450 images).
        seed: training seed (initialisation, shuffling, augmentation).
        split_seed: seed of the lesion-level split (fixed across training seeds, so every
            model is scored on the same test images).
        train: the Trainer's recipe, shared by all approaches.
        views: ``"flips"`` (the probabilities averaged over each image and its three flips,
            the chosen recipe's) or ``"plain"`` (the image alone), for every scored split.
        curve_fractions / curve_seeds: the learning curve (empty fractions: no curve).
        readers_csv: optional ``reader,sensitivity,specificity`` points for benign/malignant.
        subsample: keep this many lesions (stratified), for quick runs; None keeps all.
        device: ``"cpu"`` or ``"cuda"``.
        metadata: also score the 7-way answers with the patient's age, sex and lesion site
            fused in (:mod:`~.skin_metadata`; a model of the metadata fitted on the training
            images), beside the image alone (``seven_way_metadata``); on by default, the
            recipe chosen on validation (:data:`DEFAULT_METADATA`).
    """

    out: str
    data_dir: str | None = None
    size: int | tuple[int, int] = DEFAULT_SIZE
    model: str = "resnet18"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    taxonomy: str = "ham10000"
    refine: bool = True
    max_class_size: int = 1000
    seed: int = 0
    split_seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    views: str = DEFAULT_VIEWS
    curve_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    curve_seeds: tuple[int, ...] = (0, 1, 2)
    readers_csv: str | None = None
    subsample: int | None = None
    device: str = "cpu"
    approaches: tuple[str, ...] = APPROACHES
    metadata: bool = DEFAULT_METADATA

    def __post_init__(self) -> None:
        object.__setattr__(self, "curve_fractions", tuple(float(f) for f in self.curve_fractions))
        object.__setattr__(self, "curve_seeds", tuple(int(s) for s in self.curve_seeds))
        object.__setattr__(self, "approaches", tuple(self.approaches))
        object.__setattr__(self, "size", image_size(self.size))
        bad = [a for a in self.approaches if a not in APPROACHES]
        if bad or not self.approaches:
            raise ValueError(f"approaches must be taken from {APPROACHES}, got {self.approaches}")
        if self.views not in VIEWS:
            raise ValueError(f"views must be one of {VIEWS}, got {self.views!r}")
        if any(not 0 < f <= 1 for f in self.curve_fractions):
            raise ValueError(f"curve_fractions must lie in (0, 1], got {self.curve_fractions}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["train"] = self.train.to_dict()
        d["model_kwargs"] = dict(self.model_kwargs)
        d["curve_fractions"], d["curve_seeds"] = list(self.curve_fractions), list(self.curve_seeds)
        d["approaches"] = list(self.approaches)
        d["size"] = self.size if isinstance(self.size, int) else list(self.size)
        return d


@dataclass
class Labelled:
    """One split with each sample's refined-leaf index as its label."""

    ham: Ham10000
    dataset: ArrayDataset


@dataclass
class Prepared:
    """The data and label meaning for one training set: refined tree, splits, partitions."""

    base: Taxonomy
    tree: Taxonomy
    splits: dict[str, Labelled]
    leaf_counts: dict[str, int]
    partitions: dict[str, Partition]


def _labelled(ham: Ham10000, tree: Taxonomy, field_name: str | None) -> Labelled:
    dx = ham.meta["dx"].tolist()
    if field_name is None:
        labels = dx
    else:
        labels = [
            tree.refined_label(d, str(v)) for d, v in zip(dx, ham.meta[field_name], strict=True)
        ]
    leaves = tree.leaves
    index = {leaf: i for i, leaf in enumerate(leaves)}
    y = np.array([index[tree.leaf_of(lab)] for lab in labels], dtype=np.int64)
    ds = ham.dataset
    return Labelled(
        ham,
        ArrayDataset(ds.images, torch.from_numpy(y), leaves, ds.ids, ds.groups, ds.name),
    )


def prepare(
    base: Taxonomy,
    parts: Mapping[str, Ham10000],
    *,
    refine: bool,
    max_class_size: int,
) -> Prepared:
    """Refine the tree on the training split, label every split, and partition three ways."""
    base.check_labels(sorted(set().union(*(set(h.meta["dx"].tolist()) for h in parts.values()))))
    train = parts["train"]
    field_name = base.refine_field if refine else None
    if field_name is not None:
        if field_name not in train.meta:
            raise ValueError(
                f"the taxonomy refines by {field_name!r}, which is not a metadata column "
                f"({', '.join(train.meta)})"
            )
        tree = base.refine(train.meta["dx"].tolist(), [str(v) for v in train.meta[field_name]])
    else:
        tree = base
    splits = {k: _labelled(h, tree, field_name) for k, h in parts.items()}
    y = splits["train"].dataset.labels.numpy()
    counts = {leaf: int((y == i).sum()) for i, leaf in enumerate(tree.leaves)}
    tree.check_counts(counts)
    diagnoses = base.leaves
    partitions = {
        "binary": partition_from_nodes(tree, TWO_WAY, counts),
        "diagnosis": partition_from_nodes(tree, diagnoses, counts),
        "partition": partition_disease(tree, counts, max_class_size, keep_apart=diagnoses),
    }
    return Prepared(base, tree, splits, counts, partitions)


def _task(tree: Taxonomy, partition: Partition):
    mapping = {i: partition.leaf_class[leaf] for i, leaf in enumerate(tree.leaves)}
    kind = "binary" if len(partition.classes) == 2 else "multiclass"
    label_map = LabelMap(mapping, classes=partition.classes, source_classes=tree.leaves)
    return make_task(kind, partition.classes, label_map=label_map)


def train_approach(
    prep: Prepared,
    approach: str,
    cfg: SkinStudyConfig,
    seed: int,
    *,
    keep_fitted: bool = False,
    out_dir: str | Path | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one approach; returns test/val class probabilities ``(N, K)`` over its training
    classes, the classes, the best epoch and the wall time (and with ``keep_fitted`` the
    :class:`Fitted` model under ``"fitted"``). With ``out_dir`` the training checkpoints there
    as it trains (see :mod:`._resume`), which ``resume=True`` goes on from (then ``seconds``
    counts the epochs trained before too, and ``resumed_after_epoch`` says where it went on)."""
    partition = prep.partitions[approach]
    task = _task(prep.tree, partition)
    train, val, test = (prep.splits[s].dataset for s in ("train", "val", "test"))
    spec = FitSpec(
        model=cfg.model,
        train=dataclasses.replace(cfg.train, seed=seed),
        model_kwargs=cfg.model_kwargs,
        device=cfg.device,
        out_dir=None if out_dir is None else Path(out_dir),
        checkpoint_every=_resume.CHECKPOINT_EVERY_S,
    )
    fitted = fit_model(spec, train, val, task, resume=resume)
    views = flip_views(fitted) if cfg.views == "flips" else None
    out: dict[str, Any] = {"classes": list(partition.classes)}
    for name, ds in (("val", val), ("test", test)):
        p = fitted.infer(ds, views=views)[1]
        out[name] = task.class_columns(p)
    out["best_epoch"] = fitted.history.best_epoch
    out["epochs_run"] = len(fitted.history.epochs)
    out["seconds"] = fitted.seconds  # with the epochs trained before a resume
    if fitted.resumed_after_epoch:
        out["resumed_after_epoch"] = fitted.resumed_after_epoch
    if keep_fitted:
        out["fitted"] = fitted
    return out


def split_rows(
    meta: Mapping[str, np.ndarray], subsample: int | None, split_seed: int
) -> dict[str, np.ndarray]:
    """The study's split as rows of the metadata ``meta`` (the whole file, or a
    :class:`Ham10000`'s ``meta``): with ``subsample``, a seeded, diagnosis-stratified draw of
    that many lesions first; then the lesion-level train/val/test split. Needs no pixels, so
    stored runs can be matched to their images from the metadata file alone."""
    lesions = meta["lesion_id"]
    keep = np.arange(len(lesions))
    total = len(set(lesions.tolist()))
    if subsample is not None and subsample < total:
        drawn, _ = group_split(
            lesions, (subsample / total, 1 - subsample / total), stratify=meta["dx"],
            seed=split_seed,
        )  # fmt: skip
        keep = np.asarray(drawn, dtype=np.int64)
    idx = ham10000_splits({c: v[keep] for c, v in meta.items()}, seed=split_seed)
    return {k: keep[np.asarray(v, dtype=np.int64)] for k, v in idx.items()}


def lesion_fraction(ham: Ham10000, fraction: float, seed: int) -> Ham10000:
    """The images of a seeded, diagnosis-stratified ``fraction`` of the lesions."""
    if fraction >= 1.0:
        return ham
    keep, _ = group_split(
        ham.meta["lesion_id"], (fraction, 1 - fraction), stratify=ham.meta["dx"], seed=seed
    )
    return ham.subset(keep)


def load_parts(cfg: SkinStudyConfig) -> dict[str, Ham10000]:
    ham = load_ham10000(cfg.data_dir, size=cfg.size)
    rows = split_rows(ham.meta, cfg.subsample, cfg.split_seed)
    return {k: ham.subset(v) for k, v in rows.items()}


def prepare_study(
    cfg: SkinStudyConfig,
    parts: Mapping[str, Ham10000] | None = None,
    base: Taxonomy | None = None,
) -> Prepared:
    """:func:`prepare` with ``cfg``'s settings: its taxonomy (or ``base``, already loaded)
    refined and partitioned on ``parts`` (default: ``cfg``'s split, loaded here)."""
    return prepare(
        base if base is not None else load_taxonomy(cfg.taxonomy),
        parts if parts is not None else load_parts(cfg),
        refine=cfg.refine,
        max_class_size=cfg.max_class_size,
    )


def curve_point(
    cfg: SkinStudyConfig,
    base: Taxonomy,
    parts: Mapping[str, Ham10000],
    approach: str,
    fraction: float,
    seed: int,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    kept: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One learning-curve point: ``approach`` trained with ``seed`` on a seeded ``fraction`` of
    the training lesions (the taxonomy is refined and partitioned on that subset), scored on
    the full test split, with the metadata fused in too when ``cfg.metadata`` (its model
    fitted on the same subset); ``out_dir`` and ``resume`` as for :func:`train_approach`.

    ``kept``, if given, is filled with what scoring the network again later needs (so that a
    new way of scoring it does not mean training it again): its 7-way probabilities of the
    validation and test images (diagnosis order; none for a binary model), their labels and
    image ids, the subset's training prior and its training image ids."""
    sub = dict(parts, train=lesion_fraction(parts["train"], fraction, seed))
    prep = prepare_study(cfg, sub, base)
    run = train_approach(prep, approach, cfg, seed, out_dir=out_dir, resume=resume)
    meta_test = _metadata_probs(prep, parts["test"]) if cfg.metadata else None
    point = _skin_eval.curve_point(prep, run, parts["test"], fraction, seed, meta_test)
    if kept is not None:
        leaves = list(prep.base.leaves)
        kept["classes"] = leaves
        kept["train_prior"] = _skin_eval.train_prior(prep).tolist()
        kept["train_image_ids"] = [str(i) for i in prep.splits["train"].ham.meta["image_id"]]
        kept["labels"], kept["image_ids"], kept["probabilities"] = {}, {}, {}
        for split in ("val", "test"):
            meta = prep.splits[split].ham.meta
            kept["labels"][split] = [leaves.index(d) for d in meta["dx"]]
            kept["image_ids"][split] = [str(i) for i in meta["image_id"]]
            kept["probabilities"][split] = _skin_eval.level_probs(prep, run, split, leaves)
    point["seconds"] = round(run["seconds"], 2)
    if "resumed_after_epoch" in run:
        point["resumed_after_epoch"] = run["resumed_after_epoch"]
    return point


def _metadata_probs(prep: Prepared, ham: Ham10000) -> np.ndarray:
    """The metadata model fitted on ``prep``'s training images, its probabilities of the images
    of ``ham`` (diagnosis order)."""
    from .skin_metadata import fit_metadata_model, metadata_features

    model = fit_metadata_model(prep.splits["train"].ham.meta, prep.base.leaves)
    return model.predict_proba(metadata_features(ham.meta))


def approach_run_to_json(run: Mapping[str, Any]) -> dict[str, Any]:
    """A :func:`train_approach` result as JSON (probabilities as full-precision floats, which
    JSON keeps exactly), for an approach trained in a process of its own."""
    out = {k: v for k, v in run.items() if k != "fitted"}
    for split in ("val", "test"):
        out[split] = np.asarray(run[split], dtype=np.float64).tolist()
    return out


def approach_run_from_json(record: Mapping[str, Any], prep: Prepared, approach: str) -> dict:
    """The inverse of :func:`approach_run_to_json`, checked against ``prep``: the classes must be
    the approach's training classes and the rows the split's images, or the run was trained on
    another split, size or taxonomy."""
    classes = list(prep.partitions[approach].classes)
    if list(record.get("classes", ())) != classes:
        raise ValueError(
            f"approach {approach!r} was trained on classes {record.get('classes')}, but this "
            f"study's are {classes}: train it again with the study's settings"
        )
    run = dict(record)
    for split in ("val", "test"):
        probs = np.asarray(record[split], dtype=np.float64)
        n = len(prep.splits[split].dataset)
        if probs.shape != (n, len(classes)):
            raise ValueError(
                f"approach {approach!r}: {split} probabilities have shape {probs.shape}, but "
                f"this study's {split} split has {n} images and {len(classes)} classes: train "
                "it again with the study's settings"
            )
        bad = ~(np.isfinite(probs) & (probs >= 0) & (probs <= 1))
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"approach {approach!r}: {split} probability row {row} is {probs[row].tolist()}, "
                "not probabilities in [0, 1]: the stored run is damaged; train it again"
            )
        run[split] = probs
    return run


#: the settings of a study that change none of its networks' training (what a resumed
#: study may change)
_SCORING_ONLY = (
    "out", "data_dir", "device", "approaches", "metadata", "views", "readers_csv",
    "curve_fractions", "curve_seeds",
)  # fmt: skip


def network_settings(cfg: SkinStudyConfig, network: str) -> dict[str, Any]:
    """What a checkpoint of one of the study's networks must share with a study that goes on
    from it: every setting that changes its training, and which network it is."""
    kept = {k: v for k, v in cfg.to_dict().items() if k not in _SCORING_ONLY}
    return {**kept, "network": network}


def run_study(
    cfg: SkinStudyConfig,
    *,
    progress: bool = False,
    runs: Mapping[str, Mapping[str, Any]] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run the whole study; writes ``study.json`` and ``report.html`` under ``cfg.out`` and
    returns the JSON-ready result.

    ``runs`` maps approaches already trained with ``cfg`` (each as written by
    :func:`approach_run_to_json`, e.g. by processes of their own on separate cores) to their
    results; those are scored instead of trained again, and the result lists them under
    ``"trained_apart"``.

    Every network trained here checkpoints under ``<out>/checkpoints/`` as it trains (see
    :mod:`._resume`); after an interruption, ``resume=True`` goes on from them (a network that
    had finished is only scored again), and without it they are refused, never overwritten.
    They are removed once the results are written."""
    start = time.perf_counter()
    out = Path(cfg.out)

    given = dict(runs or {})
    unknown = sorted(set(given) - set(cfg.approaches))
    if unknown:  # before the data is loaded
        raise ValueError(
            f"runs given for approaches {unknown} that this study does not compare "
            f"(its approaches: {list(cfg.approaches)})"
        )
    # leftovers of an earlier run are refused here, before any training
    checkpoints = _resume.Checkpoints.under(out, resume)

    def checkpointed(name: str) -> dict[str, Any]:
        """Where network ``name`` checkpoints, and whether it goes on from an earlier run."""
        return checkpoints.folder(name, network_settings(cfg, name))

    base = load_taxonomy(cfg.taxonomy)  # a bad taxonomy file fails before the data loads
    parts = load_parts(cfg)
    prep = prepare_study(cfg, parts, base)
    test = prep.splits["test"].ham
    readers = None
    if cfg.readers_csv:
        from ..evaluation.readers import load_readers

        readers = load_readers(cfg.readers_csv)

    def say(msg: str) -> None:
        if progress:
            print(f"[skin-taxonomy {time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    meta_test = _metadata_probs(prep, test) if cfg.metadata else None
    # the runs given are checked before any network trains, not after hours of it
    runs = {a: approach_run_from_json(given[a], prep, a) for a in cfg.approaches if a in given}
    evals = {}
    for approach in cfg.approaches:
        if approach not in runs:
            n = len(prep.partitions[approach].classes)
            say(f"training approach {approach} ({n} classes)")
            runs[approach] = train_approach(prep, approach, cfg, cfg.seed, **checkpointed(approach))
        evals[approach] = _skin_eval.evaluate(
            prep, runs[approach], test, readers=readers, metadata=meta_test
        )
    runs = {a: runs[a] for a in cfg.approaches}  # the study's order, given or trained
    comparisons = _skin_eval.compare(prep, runs, test)
    val_auc = {a: _skin_eval.malignant_auc(prep, runs[a], prep.splits["val"].ham) for a in runs}
    chosen = max(val_auc, key=lambda a: (val_auc[a], -cfg.approaches.index(a)))
    curve = []
    for fraction in cfg.curve_fractions:
        for s in cfg.curve_seeds:
            if fraction >= 1.0 and s == cfg.seed:
                point = _skin_eval.curve_point(prep, runs[chosen], test, fraction, s, meta_test)
                curve.append(point)
            else:
                say(f"learning curve: {chosen}, {fraction:.3g} of the lesions, seed {s}")
                where = checkpointed(f"curve-{chosen}-{fraction:g}-seed{s}")
                curve.append(curve_point(cfg, base, parts, chosen, fraction, s, **where))
    result = {
        "study": "skin-taxonomy",
        "config": cfg.to_dict(),
        "data": _skin_eval.data_summary(prep),
        "taxonomy": {
            "name": base.name,
            "levels": {"2-way": list(TWO_WAY), "7-way": list(base.leaves)},
            "refined_leaves": prep.leaf_counts,
            "partitions": {a: p.to_dict() for a, p in prep.partitions.items()},
        },
        "approaches": {
            a: {
                **evals[a],
                "best_epoch": runs[a]["best_epoch"],
                "epochs_run": runs[a]["epochs_run"],
                "seconds": round(runs[a]["seconds"], 2),
                "val_malignant_auc": val_auc[a],
            }
            for a in runs
        },
        "comparisons": comparisons,
        "learning_curve": {
            "approach": chosen,
            "chosen_by": "validation 2-way AUC",
            "points": curve,
            "summary": _skin_eval.curve_summary(curve),
        },
        "seconds": round(time.perf_counter() - start, 2),
        "device": cfg.device,
    }
    if given:
        result["trained_apart"] = sorted(given)
    out.mkdir(parents=True, exist_ok=True)
    result = plain(result, nonfinite=True)
    folder = data_root(cfg.data_dir) / "ham10000"
    write_result(out / "study.json", result, sorted(f for f in folder.rglob("*") if f.is_file()))
    _skin_report.write(out / "report.html", result)
    checkpoints.remove()  # the results are written: nothing is left to go on from
    return result


def quick_config(
    out: str, data_dir: str | None = None, recipe: str = DEFAULT_RECIPE, **overrides: Any
) -> SkinStudyConfig:
    """A seconds-long setting for tests: 32 px, 700 lesions, a small CNN, one epoch of
    ``recipe``'s loss, a two-point learning curve with one seed."""
    base = {
        "out": out,
        "data_dir": data_dir,
        "size": 32,
        "model": "simple_cnn",
        "model_kwargs": {"channels": (8, 16, 32)},
        "subsample": 700,
        "max_class_size": 150,
        "train": recipe_train_config(
            recipe, epochs=1, batch_size=64, precision="fp32", augment="none"
        ),
        "curve_fractions": (0.5, 1.0),
        "curve_seeds": (0,),
    }
    base.update(overrides)
    return SkinStudyConfig(**base)


def summarize(result: Mapping[str, Any]) -> list[str]:
    """The partition's training classes, then one line per approach, for the CLI."""
    part = result["taxonomy"]["partitions"].get("partition")
    lines = []
    if part:
        classes = ", ".join(f"{c['node']} ({c['images']})" for c in part["classes"])
        lines.append(
            f"PartitionDisease (max_class_size {part['max_class_size']}): "
            f"{len(part['classes'])} training classes: {classes}"
        )
    for a, ev in result["approaches"].items():
        two = ev["two_way"]["auc"]
        seven = ev.get("seven_way")
        tail = (
            f"7-way macro AUC {seven['macro_auc']['value']:.3f}  balanced acc "
            f"{seven['balanced_accuracy_prior_corrected']['value']:.3f} prior-corrected (the "
            f"rule chosen on validation), {seven['balanced_accuracy']['value']:.3f} argmax"
            if seven
            else "7-way: n/a (trained on benign/malignant only)"
        )
        lines.append(
            f"{a:10s} 2-way AUC {two['value']:.3f} ({two['ci_low']:.3f}-{two['ci_high']:.3f})"
            f"  {tail}"
        )
        fused = ev.get("seven_way_metadata")
        if fused:
            lines.append(
                f"{'':10s} with age, sex and site (the recipe chosen on validation): 7-way "
                f"macro AUC {fused['macro_auc']['value']:.3f}  balanced acc "
                f"{fused['balanced_accuracy_prior_corrected']['value']:.3f} prior-corrected, "
                f"{fused['balanced_accuracy']['value']:.3f} argmax"
            )
    return lines
