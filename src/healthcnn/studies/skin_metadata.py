"""The patient's age and sex and the lesion's site beside the image (HAM10000 metadata).

A dermatologist sees the patient as well as the lesion, and the HAM10000 diagnoses differ a lot
by age and body site (nv in younger patients, akiec and bkl on the faces of older ones). This
module turns the metadata file's ``age``, ``sex`` and ``localization`` columns into one-hot
features, fits a multinomial logistic regression of the diagnosis on them (training images
only), and combines its probabilities with an image network's as if image and metadata were
independent given the diagnosis:

    p(y | image, metadata)  proportional to  p(y | image) p(y | metadata) / p(y)

with p(y) the training prior both models learned. Nothing in it is tuned on validation data.
``dx_type`` (how the diagnosis was confirmed) is never a feature: it is not known when a
prediction is made, and it follows the label.

The regression is fitted here (full-batch L-BFGS in float64 on torch, about 40 one-hot
features) rather than with scikit-learn, which is a test-only dependency of the package; its
objective is scikit-learn's ``LogisticRegression`` with an L2 penalty of strength ``C``
(intercepts not penalised), and a test checks the two fits give the same probabilities.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

#: the sexes of the metadata file
SEXES = ("male", "female", "unknown")
#: the body sites (``localization``) of the metadata file
SITES = (
    "abdomen",
    "acral",
    "back",
    "chest",
    "ear",
    "face",
    "foot",
    "genital",
    "hand",
    "lower extremity",
    "neck",
    "scalp",
    "trunk",
    "unknown",
    "upper extremity",
)
#: ages are given in 5-year steps from 0 to 85 (85: 85 and older); a missing age has its own
#: feature
AGE_STEP, AGE_MAX = 5, 85
AGES = tuple(range(0, AGE_MAX + 1, AGE_STEP))


def feature_names() -> list[str]:
    """The names of :func:`metadata_features`' columns, in order."""
    return (
        [f"age {a}" for a in AGES]
        + ["age missing"]
        + [f"sex {s}" for s in SEXES]
        + [f"site {s}" for s in SITES]
    )


def _where(meta: Mapping[str, Any], i: int) -> str:
    ids = meta.get("image_id")
    return f"image {ids[i]}" if ids is not None else f"row {i}"


def metadata_features(meta: Mapping[str, Sequence]) -> np.ndarray:
    """One-hot ``age`` (5-year steps, 85 and over together, missing apart), ``sex`` and
    ``localization`` of each row of ``meta`` (columns as the metadata file, e.g.
    ``Ham10000.meta``): an array of shape ``(rows, len(feature_names()))``.

    Raises ValueError, naming the image, for a negative or non-numeric age and for a sex or
    site that is not one of :data:`SEXES` / :data:`SITES`.
    """
    missing = [c for c in ("age", "sex", "localization") if c not in meta]
    if missing:
        raise ValueError(f"metadata has no {', '.join(missing)} column; it has {sorted(meta)}")
    ages, sexes, sites = meta["age"], meta["sex"], meta["localization"]
    n = len(ages)
    if not len(sexes) == len(sites) == n:
        raise ValueError(
            f"metadata columns differ in length: age {n}, sex {len(sexes)}, "
            f"localization {len(sites)}"
        )
    n_age = len(AGES) + 1
    x = np.zeros((n, n_age + len(SEXES) + len(SITES)), dtype=np.float64)
    for i in range(n):
        try:
            age = float(ages[i])
        except (TypeError, ValueError):
            raise ValueError(f"{_where(meta, i)}: age {ages[i]!r} is not a number") from None
        if math.isnan(age):
            x[i, len(AGES)] = 1.0
        elif age < 0 or math.isinf(age):
            raise ValueError(f"{_where(meta, i)}: age {age} is not a valid age in years")
        else:
            x[i, min(int(age // AGE_STEP), len(AGES) - 1)] = 1.0
        sex, site = str(sexes[i]), str(sites[i])
        if sex not in SEXES:
            raise ValueError(f"{_where(meta, i)}: sex {sex!r} is not one of {SEXES}")
        if site not in SITES:
            raise ValueError(f"{_where(meta, i)}: localization {site!r} is not one of {SITES}")
        x[i, n_age + SEXES.index(sex)] = 1.0
        x[i, n_age + len(SEXES) + SITES.index(site)] = 1.0
    return x


class MetadataModel:
    """Multinomial logistic regression of the diagnosis on :func:`metadata_features`.

    ``C`` is the inverse L2 strength as in scikit-learn: the fit minimises the summed
    cross-entropy plus ``||W||^2 / (2 C)`` (the intercepts are not penalised).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 500, name: str = "metadata model") -> None:
        if not (C > 0 and math.isfinite(C)):
            raise ValueError(f"C must be a positive number, got {C}")
        self.C, self.max_iter, self.name = float(C), int(max_iter), name
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def fit(self, x: np.ndarray, labels: Sequence[int], num_classes: int) -> MetadataModel:
        """Fit on features ``x`` (rows) and class indices ``labels`` in ``[0, num_classes)``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(labels)
        if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
            raise ValueError(f"need one label per row of x; got x {x.shape}, {len(y)} labels")
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"labels must be integers in [0, {num_classes}), got {y[:10]}...")
        xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        w = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b],
            lr=1.0,
            max_iter=self.max_iter,
            tolerance_grad=1e-10,
            tolerance_change=1e-14,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, reduction="sum")
            loss = loss + (w * w).sum() / (2 * self.C)
            loss.backward()
            return loss

        opt.step(closure)
        if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise RuntimeError("the metadata model's fit diverged (non-finite weights)")
        closure()  # the gradient at the weights found
        grad = torch.cat([w.grad.flatten(), b.grad.flatten()]).abs().max().item()
        if grad > 1e-4 * max(len(y), 1) ** 0.5:
            warnings.warn(
                f"the {self.name} did not converge in {self.max_iter} iterations (largest "
                f"gradient {grad:.2e}); its probabilities may be off: raise max_iter",
                RuntimeWarning,
                stacklevel=2,
            )
        self.coef_, self.intercept_ = w.detach().numpy().copy(), b.detach().numpy().copy()
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, rows summing to 1."""
        if self.coef_ is None:
            raise RuntimeError("fit the metadata model before predicting")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"x must have {self.coef_.shape[0]} columns, got shape {x.shape}")
        logits = torch.from_numpy(x) @ torch.from_numpy(self.coef_) + torch.from_numpy(
            self.intercept_
        )
        return torch.softmax(logits, dim=1).numpy()


def fuse(p_image: np.ndarray, p_meta: np.ndarray, prior: Sequence[float]) -> np.ndarray:
    """p(y | image) p(y | metadata) / p(y), normalised per row (image and metadata taken as
    independent given the diagnosis; ``prior`` the training prior both were fitted under)."""
    p_image = np.asarray(p_image, dtype=np.float64)
    p_meta = np.asarray(p_meta, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if p_image.shape != p_meta.shape or p_image.ndim != 2 or p_image.shape[1] != len(prior):
        raise ValueError(
            f"probabilities of the image {p_image.shape} and of the metadata {p_meta.shape} "
            f"must both be (rows, {len(prior)} classes)"
        )
    if (prior <= 0).any() or not np.isfinite(prior).all():
        raise ValueError(f"the prior must be positive for every class, got {prior.tolist()}")
    joint = p_image * p_meta / prior
    total = joint.sum(axis=1, keepdims=True)
    if not (total > 0).all():
        rows = np.flatnonzero(~(total[:, 0] > 0))[:5].tolist()
        raise ValueError(f"image and metadata give every class probability 0 in rows {rows}")
    return joint / total


def fit_metadata_model(
    train_meta: Mapping[str, Sequence], classes: Sequence[str], C: float = 1.0
) -> MetadataModel:
    """The metadata model fitted on the training images' metadata (``dx`` their diagnosis,
    one of ``classes``, which fixes the probabilities' column order)."""
    classes = [str(c) for c in classes]
    unknown = sorted({str(d) for d in train_meta["dx"]} - set(classes))
    if unknown:
        raise ValueError(f"training diagnoses {unknown} are not among the classes {classes}")
    labels = [classes.index(str(d)) for d in train_meta["dx"]]
    return MetadataModel(C).fit(metadata_features(train_meta), labels, len(classes))


def _by_id(meta: Mapping[str, Sequence], ids: Sequence[str]) -> dict[str, list]:
    """The rows of ``meta`` for image ``ids``, in that order."""
    index = {str(i): k for k, i in enumerate(meta["image_id"])}
    absent = [i for i in ids if str(i) not in index]
    if absent:
        raise ValueError(f"{len(absent)} images have no metadata row, e.g. {absent[:3]}")
    rows = [index[str(i)] for i in ids]
    return {c: [meta[c][k] for k in rows] for c in ("image_id", "age", "sex", "localization")}


def metadata_scores(
    record: Mapping[str, Any],
    train_meta: Mapping[str, Sequence],
    meta: Mapping[str, Sequence],
    C: float = 1.0,
) -> dict[str, Any]:
    """Score a 7-way ``hamrec`` record with the metadata: the metadata model alone and fused
    with the record's image probabilities (each view), under both decision rules.

    ``train_meta``: the training split's metadata (with ``dx``), which the model is fitted on;
    ``meta``: metadata of every image (``image_id``, ``age``, ``sex``, ``localization``), read
    by the record's ``image_ids``. Returns ``{"model": ..., "scores": {"<split>_<view>":
    {"fused": {...}}, "<split>_metadata": {...}}, "probabilities": {"<split>": rows}}``, each
    score with ``balanced_accuracy`` per rule and ``macro_auc``; ``probabilities`` are the
    metadata model's, to 6 decimals, in the record's row order (what a seed ensemble fuses).
    """
    from ..metrics import roc_auc
    from ._skin_eval import DECISION_RULES, _balanced, decide

    model = fit_metadata_model(train_meta, record["classes"], C)
    prior = record["train_prior"]

    def scored(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        return {
            "balanced_accuracy": {r: _balanced(y, decide(p, prior, r)) for r in DECISION_RULES},
            "macro_auc": float(roc_auc(y, p, ci=None).value),
        }

    scores: dict[str, Any] = {}
    kept: dict[str, list[list[float]]] = {}
    for split in ("val", "test"):
        ids = record["image_ids"][split]
        y = np.asarray(record["labels"][split])
        if len(ids) != len(y):
            raise ValueError(f"{split}: {len(ids)} image ids but {len(y)} labels")
        p_meta = model.predict_proba(metadata_features(_by_id(meta, ids)))
        scores[f"{split}_metadata"] = scored(p_meta, y)
        kept[split] = [[round(float(x), 6) for x in row] for row in p_meta]
        for view in ("plain", "tta"):
            key = f"{split}_{view}"
            p_image = np.asarray(record["probabilities"][key], dtype=np.float64)
            if len(p_image) != len(y):
                raise ValueError(f"{key}: {len(p_image)} rows of probabilities, {len(y)} labels")
            scores[key] = {"fused": scored(fuse(p_image, p_meta, prior), y)}
    return {
        "model": {"C": C, "features": feature_names(), "train_images": len(train_meta["dx"])},
        "scores": scores,
        "probabilities": kept,
    }


#: the learned fusion takes logarithms of probabilities floored here (stored probabilities are
#: rounded to 6 decimals, so a stored 0 is anything below 5e-7)
FUSION_FLOOR = 1e-6


def fusion_features(p_image: np.ndarray, p_meta: np.ndarray) -> np.ndarray:
    """The learned fusion's features: the logarithms of the image's and of the metadata model's
    class probabilities (each floored at :data:`FUSION_FLOOR`), side by side."""
    p_image = np.asarray(p_image, dtype=np.float64)
    p_meta = np.asarray(p_meta, dtype=np.float64)
    if p_image.shape != p_meta.shape or p_image.ndim != 2:
        raise ValueError(
            f"probabilities of the image {p_image.shape} and of the metadata {p_meta.shape} "
            "must both be (rows, classes)"
        )
    for name, p in (("image", p_image), ("metadata", p_meta)):
        if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
            raise ValueError(f"the {name} probabilities must be finite numbers in [0, 1]")
    return np.log(np.clip(np.hstack([p_image, p_meta]), FUSION_FLOOR, 1.0))


class LearnedFusion:
    """Image and metadata fused by a multinomial logistic regression of the diagnosis on
    :func:`fusion_features`, fitted on images neither model trained on (the validation split):
    it can weigh the two models, where :func:`fuse` takes both as calibrated and independent
    given the diagnosis (the product rule is its special case of unit weights and intercepts
    of minus the log prior). ``C`` as in :class:`MetadataModel`, which does the fitting; its
    features (log-probabilities down to log 1e-6) are scaled worse than the metadata's one-hot
    ones, so L-BFGS is given more iterations (on the HAM10000 validation split 500 stop short
    of the convergence check, 5000 pass it)."""

    def __init__(self, C: float = 1.0, max_iter: int = 5000) -> None:
        self.model = MetadataModel(C, max_iter, name="learned fusion")

    def fit(self, p_image: np.ndarray, p_meta: np.ndarray, labels: Sequence[int]) -> LearnedFusion:
        p_image = np.asarray(p_image, dtype=np.float64)
        self.model.fit(fusion_features(p_image, p_meta), labels, p_image.shape[1])
        return self

    def predict_proba(self, p_image: np.ndarray, p_meta: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(fusion_features(p_image, p_meta))


def fusion_folds(groups: Sequence, labels: Sequence[int], k: int = 5, seed: int = 0) -> np.ndarray:
    """A fold in ``[0, k)`` per row for cross-fitting: the rows of a group (a lesion) share a
    fold, and the groups of each label (a group's label is its first row's) are dealt round
    the folds in a seeded random order, so every fold holds every label that has >= k groups."""
    groups = [str(g) for g in groups]
    labels = np.asarray(labels)
    if len(groups) != len(labels) or not len(groups):
        raise ValueError(f"need one group per row: {len(groups)} groups, {len(labels)} labels")
    if k < 2:
        raise ValueError(f"cross-fitting needs k >= 2 folds, got {k}")
    first: dict[str, int] = {}
    for g, y in zip(groups, labels.tolist(), strict=True):
        first.setdefault(g, y)
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for y in sorted(set(first.values())):
        members = sorted(g for g, v in first.items() if v == y)
        for i, g in enumerate(rng.permutation(members).tolist()):
            fold_of[g] = i % k
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


def cross_fitted_fusion(
    p_image: np.ndarray,
    p_meta: np.ndarray,
    labels: Sequence[int],
    folds: np.ndarray,
    C: float = 1.0,
) -> np.ndarray:
    """The :class:`LearnedFusion` probability of each row from a fusion fitted on the rows of
    the other folds (so that a fusion fitted and scored on one split is scored honestly)."""
    p_image = np.asarray(p_image, dtype=np.float64)
    p_meta = np.asarray(p_meta, dtype=np.float64)
    labels = np.asarray(labels)
    folds = np.asarray(folds)
    if not (len(p_image) == len(p_meta) == len(labels) == len(folds)):
        raise ValueError("need one fold and one label per row of probabilities")
    out = np.empty_like(p_image)
    for f in np.unique(folds):
        held = folds == f
        model = LearnedFusion(C).fit(p_image[~held], p_meta[~held], labels[~held])
        out[held] = model.predict_proba(p_image[held], p_meta[held])
    return out
