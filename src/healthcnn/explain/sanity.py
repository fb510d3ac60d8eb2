"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): an explanation of a model must
change when the model does.

- The cascading model-parameter randomisation test re-initialises the model's parameterised
  layers one after another from the top (the classifier first), recomputes the maps after
  chosen numbers of layers and compares each with the map of the trained model (Spearman's rank
  correlation and SSIM, averaged over the samples). A method PASSES when, with every layer
  re-initialised, both mean similarities are below ``threshold`` (default 0.5): the map then
  depends on what the model learned. An "explanation" that ignores the model (an edge detector
  on the input) stays identical and FAILS.
- The data-label randomisation test (where a training run is cheap) compares the maps of a model
  trained on the true labels with those of the same recipe trained on permuted labels.

The model given is never modified: the randomisation runs on a copy, and re-initialisation
draws from a fork of the random state seeded by ``seed``, so the caller's random state is left
as it was.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .saliency import ConstantMapWarning, scale_maps
from .similarity import spearman, ssim

#: ``map_fn(model, x, targets) -> (N, *spatial)`` maps in [0, 1]
MapFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], np.ndarray]

CASCADE = "cascading model-parameter randomisation"
LABELS = "data-label randomisation"


@dataclass(frozen=True)
class Step:
    """The similarity after the top ``layers`` parameterised layers were re-initialised,
    ``deepest`` being the last of them; Spearman and SSIM are means over the samples."""

    layers: int
    deepest: str
    spearman: float
    ssim: float


@dataclass(frozen=True)
class Verdict:
    """A sanity check's outcome: ``passed`` when the final mean similarities are both below
    ``threshold``; ``steps`` holds every comparison made."""

    test: str
    passed: bool
    spearman: float
    ssim: float
    threshold: float
    steps: tuple[Step, ...]
    constant_maps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "verdict": "pass" if self.passed else "fail",
            "spearman": self.spearman,
            "ssim": self.ssim,
            "threshold": self.threshold,
            "steps": [vars(s) for s in self.steps],
            "constant_maps": self.constant_maps,
        }

    def __str__(self) -> str:
        word = "PASS" if self.passed else "FAIL"
        return (
            f"{word} ({self.test}): Spearman {self.spearman:.2f}, SSIM {self.ssim:.2f} between "
            f"the maps of the trained and the randomised model (pass: both < {self.threshold})"
        )


def edge_detector(_model: nn.Module, x: torch.Tensor, _targets: torch.Tensor) -> np.ndarray:
    """A deliberately broken "explanation", the negative control of the checks: the gradient
    magnitude of the input's channel mean (central differences), which ignores the model."""
    gray = x.detach().float().mean(dim=1)
    grads = torch.gradient(gray, dim=tuple(range(1, gray.dim())))
    return scale_maps(torch.stack(grads).pow(2).sum(dim=0).sqrt(), "edge map")


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules holding parameters of their own, in the order they are registered (bottom up)."""
    return [
        (name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(False))
    ]


def reinitialise(module: nn.Module, seed: int) -> None:
    """Fresh parameters for ``module`` (its ``reset_parameters``; otherwise a normal draw with
    each parameter's own mean and spread), from a fork of the random state seeded by ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
            return
        with torch.no_grad():
            for p in module.parameters(recurse=False):
                std = float(p.std()) if p.numel() > 1 else 1.0
                p.normal_(float(p.mean()), std or 1.0)


def cascade_points(n_layers: int, steps: int) -> list[int]:
    """How many layers are re-initialised at each comparison: the top one, evenly spaced
    counts, and all of them (``steps`` comparisons at most)."""
    if n_layers < 1:
        raise ValueError("the model has no parameters to randomise")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if steps == 1:
        return [n_layers]
    return sorted({round(float(v)) for v in np.linspace(1, n_layers, min(steps, n_layers))})


def _mean_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    rho = [spearman(x, y) for x, y in zip(a, b, strict=True)]
    s = [ssim(x, y, data_range=1.0) for x, y in zip(a, b, strict=True)]
    return float(np.mean(rho)), float(np.mean(s))


def _quiet_maps(map_fn: MapFn, model: nn.Module, x: torch.Tensor, t: torch.Tensor):
    """Maps and how many of them were constant (their warnings are counted, not shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantMapWarning)
        maps = map_fn(model, x, t)
    n = sum(1 for w in caught if issubclass(w.category, ConstantMapWarning))
    for w in caught:
        if not issubclass(w.category, ConstantMapWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return maps, n


def randomisation_test(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    map_fn: MapFn,
    *,
    original: np.ndarray | None = None,
    steps: int = 3,
    threshold: float = 0.5,
    seed: int = 0,
) -> Verdict:
    """The cascading model-parameter randomisation test of ``map_fn`` on ``model`` (left
    unchanged) for the batch ``x`` and its ``targets``; ``original`` are the trained model's maps
    when already computed."""
    layers = parameter_layers(model)
    points = cascade_points(len(layers), steps)
    base = map_fn(model, x, targets) if original is None else original
    rand = copy.deepcopy(model)
    rand_layers = list(reversed(parameter_layers(rand)))
    done, out, constant = 0, [], 0
    for k in points:
        for i in range(done, k):
            reinitialise(rand_layers[i][1], seed + i)
        done = k
        maps, n = _quiet_maps(map_fn, rand, x, targets)
        constant += n
        rho, s = _mean_similarity(base, maps)
        out.append(Step(k, rand_layers[k - 1][0] or "<model>", rho, s))
    last = out[-1]
    passed = last.spearman < threshold and last.ssim < threshold
    return Verdict(CASCADE, passed, last.spearman, last.ssim, threshold, tuple(out), constant)


def label_randomisation_test(
    train: Callable[[torch.Tensor], nn.Module],
    labels: torch.Tensor,
    x: torch.Tensor,
    map_fn: MapFn,
    *,
    targets: Sequence[int] | int = 0,
    threshold: float = 0.5,
    seed: int = 0,
) -> Verdict:
    """Adebayo et al.'s data-label randomisation test: ``train(labels)`` fits a model (same
    recipe, same seed) once on the true training ``labels`` and once on a random permutation of
    them; the maps of the two models for ``x`` at ``targets`` must differ (both mean similarities
    below ``threshold``) for a PASS."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1).expand(x.shape[0]).clone()
    true_maps, n1 = _quiet_maps(map_fn, train(labels), x, t)
    rand_maps, n2 = _quiet_maps(map_fn, train(labels[perm]), x, t)
    rho, s = _mean_similarity(true_maps, rand_maps)
    step = Step(0, "labels permuted", rho, s)
    passed = rho < threshold and s < threshold
    return Verdict(LABELS, passed, rho, s, threshold, (step,), n1 + n2)
