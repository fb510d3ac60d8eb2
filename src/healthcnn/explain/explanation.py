"""``explain``: saliency maps that carry their sanity verdict.

Every :class:`Explanation` holds the maps of one method for a batch and the verdict of the
cascading model-parameter randomisation test run on that same batch, method and target classes
(:mod:`healthcnn.explain.sanity`): a reader sees at once whether the map depends on the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .saliency import Layer, ScoreFn, evaluating, resolve_layer, saliency_maps
from .sanity import Verdict, randomisation_test


@dataclass(frozen=True)
class Explanation:
    """Maps ``(N, *spatial)`` in [0, 1] of ``method`` for the target class of each sample, the
    target layer (Grad-CAM methods) and the method's sanity verdict on this batch."""

    method: str
    maps: np.ndarray
    targets: tuple[int, ...]
    layer: str | None
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """Everything but the maps, JSON-ready."""
        return {
            "method": self.method,
            "targets": list(self.targets),
            "layer": self.layer,
            "sanity": self.verdict.to_dict(),
        }


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


def predicted_classes(model: nn.Module, x: torch.Tensor, score_fn: ScoreFn = _identity):
    """The class with the highest score for each sample (the default target)."""
    with evaluating(model), torch.no_grad():
        return score_fn(model(x)).argmax(dim=1)


def explain(
    model: nn.Module,
    x: torch.Tensor,
    targets: Sequence[int] | int | None = None,
    method: str = "gradcam",
    *,
    layer: Layer = None,
    score_fn: ScoreFn = _identity,
    sanity_steps: int = 3,
    threshold: float = 0.5,
    seed: int = 0,
) -> Explanation:
    """Maps of ``method`` for the batch ``x`` (as the network sees it) at ``targets`` (default:
    each sample's predicted class), with the randomisation test's verdict attached.

    ``score_fn`` turns the model's outputs into one score per class (default: the outputs
    themselves, the logits). ``sanity_steps`` comparisons are made in the cascade (the top
    layer, evenly spaced depths, all layers).
    """
    t = predicted_classes(model, x, score_fn) if targets is None else targets
    t = torch.as_tensor(t, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(x.shape[0]).clone()
    layer_name = resolve_layer(model, layer)[0] if method.startswith("gradcam") else None

    def map_fn(m: nn.Module, inp: torch.Tensor, tt: torch.Tensor) -> np.ndarray:
        own = layer if not isinstance(layer, nn.Module) else layer_name
        return saliency_maps(m, inp, tt, method, layer=own, score_fn=score_fn)

    maps = map_fn(model, x, t)
    verdict = randomisation_test(
        model, x, t, map_fn, original=maps, steps=sanity_steps, threshold=threshold, seed=seed
    )
    return Explanation(method, maps, tuple(int(v) for v in t), layer_name, verdict)
