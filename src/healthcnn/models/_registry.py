"""The model registry: register builders by name, list them by pattern, create them uniformly."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._validate import check_spatial_dims, unknown_name
from ._external import external_builder, is_import_path

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    family: str
    paper: str
    default_input_size: int  # per spatial axis, at spatial_dims=2 (e.g. 224)
    min_input_size: int  # per spatial axis, the smallest input the model accepts
    builder: Builder
    description: str = ""
    spatial_dims: tuple[int, ...] = (1, 2, 3)  # the dimensions the model is defined for


@dataclass(frozen=True)
class ModelInfo:
    """``model_info(name)``: the entry plus the parameter count of the default 2D model
    (3 input channels, 1000 classes, default options; a model without a 2D form is counted
    at the first ``spatial_dims`` it supports)."""

    name: str
    family: str
    paper: str
    description: str
    default_input_size: int
    min_input_size: int
    params: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    *,
    family: str,
    paper: str,
    default_input_size: int,
    min_input_size: int,
    name: str | None = None,
    spatial_dims: tuple[int, ...] = (1, 2, 3),
) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(spatial_dims=, in_channels=, num_classes=, **kw)``.

    The name defaults to the function's name; registering a name twice raises ``ValueError``.
    ``spatial_dims`` lists the dimensions the model is defined for (e.g. ``(3,)`` for a
    model that slices volumes); ``create_model`` refuses the others.
    """

    def decorator(fn: Builder) -> Builder:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(
                f"model {key!r} is already registered (by {_REGISTRY[key].builder.__module__}); "
                f"choose another name"
            )
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = ModelEntry(
            name=key,
            family=family,
            paper=paper,
            default_input_size=default_input_size,
            min_input_size=min_input_size,
            builder=fn,
            description=doc[0] if doc else "",
            spatial_dims=tuple(spatial_dims),
        )
        return fn

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``, or for an import path ``package.module:callable`` an
    entry whose builder imports and calls it (see :mod:`._external`)."""
    if is_import_path(name):
        return ModelEntry(
            name=name,
            family="import path",
            paper="",
            default_input_size=224,
            min_input_size=1,
            builder=external_builder(name),
            description=f"your model {name}",
        )
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    spatial_dims: int = 2,
    in_channels: int = 3,
    num_classes: int = 1000,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model for ``spatial_dims`` 1, 2 or 3 (those its entry declares), or
    the model an import path ``package.module:callable`` names (see ``docs/your-model.md``).

    ``weights`` is a weights name (``"imagenet"``, ``"DEFAULT"``, ``"IMAGENET1K_V1"``,
    ``"IMAGENET1K_V2"``: torchvision's published ImageNet weights, downloaded into the data root
    and verified, see :mod:`healthcnn.models.pretrained`), a local ``.safetensors``/``.pt``/
    ``.pth`` file or a state dict (see :func:`healthcnn.models.weights.load_weights`): loaded
    after building, adapting the classifier and the first convolution where ``num_classes`` or
    ``in_channels`` differ, and inflating 2D weights for a 1D or 3D model.
    """
    if "pretrained" in kwargs:
        raise TypeError(
            f"{name}: healthcnn models take weights=, not pretrained=; for ImageNet weights pass "
            f"weights='imagenet' (torchvision's files, downloaded and verified)"
        )
    if weights is not None:
        from .pretrained import check_weights_argument, is_weights_name, pretrained_weights

        check_weights_argument(weights)  # a typo fails before the model is built
        if is_weights_name(weights):
            pretrained_weights(name, weights)  # so does a model without such weights
    entry = get_entry(name)
    check_spatial_dims(spatial_dims)
    if spatial_dims not in entry.spatial_dims:
        raise ValueError(
            f"{name} is defined for spatial_dims {entry.spatial_dims} only, got {spatial_dims}"
        )
    try:
        model = entry.builder(
            spatial_dims=spatial_dims, in_channels=in_channels, num_classes=num_classes, **kwargs
        )
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise TypeError(f"{name}: {exc}") from None
        raise
    if weights is not None:
        from .pretrained import load_named_or_file

        load_named_or_file(model, name, weights)
    return model


def model_info(name: str) -> ModelInfo:
    """Family, paper, default and minimum input size, and the parameter count at defaults."""
    entry = get_entry(name)
    dims = 2 if 2 in entry.spatial_dims else entry.spatial_dims[0]
    # Built on the meta device: no memory for the weights, no time spent initialising them.
    with torch.device("meta"):
        model = entry.builder(spatial_dims=dims, in_channels=3, num_classes=1000)
    params = sum(math.prod(p.shape) for p in model.parameters())
    return ModelInfo(
        name=entry.name,
        family=entry.family,
        paper=entry.paper,
        description=entry.description,
        default_input_size=entry.default_input_size,
        min_input_size=entry.min_input_size,
        params=params,
    )
