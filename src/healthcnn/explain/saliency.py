"""Saliency maps for 1D, 2D and 3D models: Grad-CAM, Grad-CAM++, occlusion, integrated gradients.

Every method takes a model, a float batch ``x`` of shape ``(N, C, *spatial)`` exactly as the
network sees it (normalised) and one target class per sample, and returns one map per sample of
shape ``(N, *spatial)``: upsampled to the input size, scaled to [0, 1] per sample. A map that is
constant (no evidence anywhere) becomes zeros with a warning, never NaN.

- Grad-CAM and Grad-CAM++ are computed here for any number of spatial axes, on the activations of
  a target layer: by default the model's ``forward_features`` output (models built by the
  toolkit), else the last convolution; an explicit module or dotted name may be given. The tests
  compare them on a 2D model with captum's ``LayerGradCam`` and with a Grad-CAM++ written from
  the paper's formula on captum's layer gradients.
- Occlusion and integrated gradients are captum's (``Occlusion``, ``IntegratedGradients``);
  the baseline is 0 in the network's input space (the normalisation mean).

While a map is computed the model is in eval mode and no parameter records gradients; its
train/eval mode and every parameter's ``requires_grad`` are restored afterwards.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: the method names ``saliency_maps`` and ``healthcnn explain --method`` accept
METHODS = ("gradcam", "gradcam++", "occlusion", "ig")

#: a target layer: None (automatic), a submodule, or its dotted name
Layer = nn.Module | str | None
ScoreFn = Callable[[torch.Tensor], torch.Tensor]


class ConstantMapWarning(UserWarning):
    """A map with the same value everywhere: returned as zeros (it shows no evidence)."""


def _captum():
    try:
        import captum.attr as attr
    except ImportError:  # pragma: no cover - captum is in the explain extra
        raise ImportError(
            "occlusion and integrated gradients need captum: pip install 'healthcnn[explain]'"
        ) from None
    return attr


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode with no parameter recording gradients; its mode and every
    parameter's ``requires_grad`` are restored on exit, also after an error."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        model.train(was_training)
        for p, flag in flags:
            p.requires_grad_(flag)


def check_batch(model: nn.Module, x: torch.Tensor, targets: Sequence[int] | int) -> torch.Tensor:
    """``targets`` as a long tensor of one class index per sample, after checking ``x``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (3, 4, 5):
        raise ValueError(
            "explanations need a float batch (N, C, L), (N, C, H, W) or (N, C, D, H, W), got "
            f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("the input batch holds NaN or infinite values; explain finite inputs")
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(x.shape[0])
    if t.numel() != x.shape[0]:
        raise ValueError(f"{t.numel()} targets for a batch of {x.shape[0]}; give one per sample")
    return t.clone()


def _pick(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if scores.dim() != 2 or int(targets.max()) >= scores.shape[1] or int(targets.min()) < 0:
        raise ValueError(
            f"target classes {sorted(set(targets.tolist()))} are outside the model's "
            f"{scores.shape[-1]} outputs (scores of shape {tuple(scores.shape)})"
        )
    return scores.gather(1, targets[:, None].to(scores.device)).squeeze(1)


def resolve_layer(model: nn.Module, layer: Layer) -> tuple[str, nn.Module | None]:
    """The target layer's name and module; ``(forward_features, None)`` for the automatic
    choice on a model with ``forward_features``, else the last convolution."""
    if isinstance(layer, nn.Module):
        for name, m in model.named_modules():
            if m is layer:
                return name or "<model>", m
        raise ValueError("the given layer is not a submodule of the model")
    if isinstance(layer, str):
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            raise ValueError(
                f"the model has no layer {layer!r}; its layers include {', '.join(names[-8:])}"
            ) from None
    if layer is not None:
        raise TypeError(f"layer must be a module, a dotted name or None, got {layer!r}")
    if callable(getattr(model, "forward_features", None)) and callable(
        getattr(model, "forward_head", None)
    ):
        return "forward_features", None
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convs:
        raise ValueError("the model has no convolution; name a target layer explicitly")
    return convs[-1]


def _features_and_scores(
    model: nn.Module, x: torch.Tensor, module: nn.Module | None, score_fn: ScoreFn
) -> tuple[torch.Tensor, torch.Tensor]:
    """The target layer's activations (in the graph) and the class scores for ``x``."""
    if module is None:
        if hasattr(model, "check_input"):
            model.check_input(x)
        feats = model.forward_features(x)
        return feats, score_fn(model.forward_head(feats))
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> torch.Tensor:
        captured.append(out)
        return out.clone()  # a following in-place op must not overwrite what was captured

    handle = module.register_forward_hook(hook)
    try:
        scores = score_fn(model(x))
    finally:
        handle.remove()
    if len(captured) != 1 or not isinstance(captured[0], torch.Tensor):
        raise ValueError("the target layer must run exactly once per forward and return a tensor")
    return captured[0], scores


def layer_gradients(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, layer: Layer, score_fn: ScoreFn
) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations ``A`` of the target layer and the gradients of each sample's target score
    with respect to them, both ``(N, K, *spatial')``."""
    _, module = resolve_layer(model, layer)
    with evaluating(model), torch.enable_grad():
        xi = x.detach().clone().requires_grad_(True)
        acts, scores = _features_and_scores(model, xi, module, score_fn)
        if acts.dim() != x.dim():
            raise ValueError(
                f"the target layer gives activations of shape {tuple(acts.shape)}; Grad-CAM "
                f"needs a feature map with the input's {x.dim() - 2} spatial axes"
            )
        (grads,) = torch.autograd.grad(_pick(scores, targets).sum(), acts)
    return acts.detach(), grads.detach()


def gradcam_weights(acts: torch.Tensor, grads: torch.Tensor, plus_plus: bool) -> torch.Tensor:
    """Channel weights ``(N, K)``: Grad-CAM's mean gradient, or Grad-CAM++'s
    sum of ``alpha * relu(gradient)`` with ``alpha = g^2 / (2 g^2 + sum(A) g^3)`` (Chattopadhay
    et al., WACV 2018, with the exponential of the score; 0 where the denominator is 0)."""
    axes = tuple(range(2, grads.dim()))
    if not plus_plus:
        return grads.mean(dim=axes)
    g2, g3 = grads.pow(2), grads.pow(3)
    total = acts.sum(dim=axes, keepdim=True)
    denom = 2 * g2 + total * g3
    safe = torch.where(denom != 0, denom, torch.ones_like(denom))
    alpha = torch.where(denom != 0, g2 / safe, torch.zeros_like(g2))
    return (alpha * grads.clamp(min=0)).sum(dim=axes)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    layer: Layer = None,
    score_fn: ScoreFn = lambda z: z,
    plus_plus: bool = False,
) -> torch.Tensor:
    """Grad-CAM (or Grad-CAM++) maps ``(N, *spatial')`` at the target layer's resolution,
    before upsampling and scaling: ``relu(sum_k w_k A_k)``."""
    acts, grads = layer_gradients(model, x, targets, layer, score_fn)
    w = gradcam_weights(acts, grads, plus_plus)
    shape = (*w.shape, *([1] * (acts.dim() - 2)))
    return F.relu((w.reshape(shape) * acts).sum(dim=1))


def _scored(model: nn.Module, score_fn: ScoreFn) -> ScoreFn:
    return lambda inp: score_fn(model(inp))


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    window: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    score_fn: ScoreFn = lambda z: z,
) -> torch.Tensor:
    """captum's occlusion sensitivity: the drop of the target score when a window is set to the
    baseline 0, averaged over the windows covering each position, summed over channels and
    clipped at 0 (occluding evidence lowers the score). The default window is about 1/7 of
    each axis, moved by half a window (1D, 2D) or a whole window (3D, to bound the cost)."""
    spatial = x.shape[2:]
    window = tuple(window or [max(1, math.ceil(s / 7)) for s in spatial])
    if stride is None:
        stride = [w if x.dim() == 5 else max(1, w // 2) for w in window]
    if len(window) != len(spatial):
        raise ValueError(f"occlusion window {window} needs one size per axis of {tuple(spatial)}")
    if any(w < 1 or w > s for w, s in zip(window, spatial, strict=True)):
        raise ValueError(f"occlusion window {window} does not fit inputs of size {tuple(spatial)}")
    with evaluating(model), torch.no_grad():
        occ = _captum().Occlusion(_scored(model, score_fn))
        attr = occ.attribute(
            x.detach(),
            sliding_window_shapes=(x.shape[1], *window),
            strides=(x.shape[1], *stride),
            baselines=0.0,
            target=targets.tolist(),
            perturbations_per_eval=16,
        )
    return attr.sum(dim=1).clamp(min=0)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int = 32,
    score_fn: ScoreFn = lambda z: z,
) -> torch.Tensor:
    """captum's integrated gradients from the baseline 0 (Riemann trapezoid, ``steps`` points),
    summed over channels; the map is its magnitude."""
    with evaluating(model):
        ig = _captum().IntegratedGradients(_scored(model, score_fn))
        attr = ig.attribute(
            x.detach(),
            baselines=torch.zeros_like(x),
            target=targets.tolist(),
            n_steps=steps,
            internal_batch_size=max(1, 64 // max(1, x.shape[0])) * x.shape[0],
        )
    return attr.detach().sum(dim=1).abs()


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Maps ``(N, *s)`` resized to ``size`` by (bi/tri)linear interpolation."""
    size = tuple(size)
    if tuple(maps.shape[1:]) == size:
        return maps
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return F.interpolate(maps[:, None].float(), size=size, mode=mode, align_corners=False)[:, 0]


def scale_maps(maps: torch.Tensor, what: str = "map") -> np.ndarray:
    """Each map scaled to [0, 1] (min to 0, max to 1); a constant map becomes zeros with a
    :class:`ConstantMapWarning` naming the samples. Non-finite values are an error."""
    m = maps.detach().double().cpu().numpy()
    if not np.isfinite(m).all():
        raise ValueError(f"the {what} has NaN or infinite values: the model's output is not finite")
    flat = m.reshape(len(m), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = hi - lo
    flat_scale = np.maximum(np.abs(hi), np.abs(lo))
    constant = span <= 1e-12 * np.maximum(flat_scale, 1e-300)
    if constant.any():
        warnings.warn(
            f"{what}: samples {np.flatnonzero(constant).tolist()} have a constant map "
            f"(no evidence anywhere); returned as zeros",
            ConstantMapWarning,
            stacklevel=3,
        )
    safe = np.where(constant, 1.0, span)
    out = (flat - lo[:, None]) / safe[:, None]
    out[constant] = 0.0
    return out.reshape(m.shape).astype(np.float32)


def raw_maps(
    model: nn.Module,
    x: torch.Tensor,
    targets: Sequence[int] | int,
    method: str,
    *,
    layer: Layer = None,
    score_fn: ScoreFn = lambda z: z,
) -> torch.Tensor:
    """One unscaled map per sample ``(N, *spatial)`` at the input size, by ``method``."""
    t = check_batch(model, x, targets)
    if method in ("gradcam", "gradcam++"):
        m = grad_cam(model, x, t, layer=layer, score_fn=score_fn, plus_plus=method == "gradcam++")
    elif method == "occlusion":
        m = occlusion(model, x, t, score_fn=score_fn)
    elif method == "ig":
        m = integrated_gradients(model, x, t, score_fn=score_fn)
    else:
        from .._validate import unknown_name

        raise unknown_name("explanation method", method, METHODS)
    return upsample(m, x.shape[2:])


def saliency_maps(
    model: nn.Module,
    x: torch.Tensor,
    targets: Sequence[int] | int,
    method: str = "gradcam",
    *,
    layer: Layer = None,
    score_fn: ScoreFn = lambda z: z,
) -> np.ndarray:
    """One map per sample ``(N, *spatial)`` in [0, 1], at the input size, by ``method``
    (``gradcam``, ``gradcam++``, ``occlusion`` or ``ig``); no sanity verdict: use
    :func:`healthcnn.explain.explain` for maps that carry theirs."""
    raw = raw_maps(model, x, targets, method, layer=layer, score_fn=score_fn)
    return scale_maps(raw, f"{method} map")
