"""Layer classes looked up by name and number of spatial dimensions.

Models never name ``nn.Conv2d`` and friends directly: they ask these factories, so the same model
code builds a network for signals (``spatial_dims=1``), images (2) or volumes (3).

A layer choice is data: a name (``"batch"``), a name with keyword arguments
(``("group", {"num_groups": 8})``), an ``nn.Module`` subclass, or ``None`` for "no layer".
An unknown name raises ``ValueError`` listing the valid names and the closest match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .._validate import check_spatial_dims, unknown_name
from .pooling import SumPool

LayerSpec = str | tuple[str, Mapping[str, Any]] | type[nn.Module] | None

_CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T: dict[int, type[nn.Module]] = {
    1: nn.ConvTranspose1d,
    2: nn.ConvTranspose2d,
    3: nn.ConvTranspose3d,
}

_POOL: dict[str, dict[int, type[nn.Module]]] = {
    "max": {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d},
    "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d},
    "adaptive_max": {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d},
    "adaptive_avg": {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d},
}
# "mean" is the lecture's word for average pooling.
_POOL["mean"] = _POOL["avg"]

_NORM: dict[str, dict[int, type[nn.Module]]] = {
    "batch": {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d},
    "instance": {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d},
    "group": {d: nn.GroupNorm for d in (1, 2, 3)},
    "local_response": {d: nn.LocalResponseNorm for d in (1, 2, 3)},
}

_ACT: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": nn.Softmax,
    "identity": nn.Identity,
}

_DROPOUT: dict[str, dict[int, type[nn.Module]]] = {
    # element-wise dropout, the same for every dimensionality
    "dropout": {d: nn.Dropout for d in (1, 2, 3)},
    # whole feature maps (channels) dropped together
    "channel": {1: nn.Dropout1d, 2: nn.Dropout2d, 3: nn.Dropout3d},
    "alpha": {d: nn.AlphaDropout for d in (1, 2, 3)},
}


def _by_dims(
    kind: str,
    tables: Mapping[str, dict[int, type[nn.Module]]],
    name: str,
    spatial_dims: int,
    valid: list[str] | None = None,
) -> type[nn.Module]:
    """``tables[name][spatial_dims]``; an unknown name raises listing ``valid`` (default: the
    table's names) and the closest match."""
    d = check_spatial_dims(spatial_dims)
    table = tables.get(name)
    if table is None:
        raise unknown_name(kind, name, tables if valid is None else valid)
    return table[d]


def conv_type(spatial_dims: int, *, transposed: bool = False) -> type[nn.Module]:
    """The convolution class for ``spatial_dims`` (``nn.Conv1d``/``2d``/``3d``)."""
    d = check_spatial_dims(spatial_dims)
    return (_CONV_T if transposed else _CONV)[d]


def pool_type(name: str, spatial_dims: int) -> type[nn.Module]:
    """The pooling class for ``name`` (max, avg/mean, sum, adaptive_max, adaptive_avg)."""
    if name == "sum":
        return _sum_pool_type(check_spatial_dims(spatial_dims))
    return _by_dims("pooling", _POOL, name, spatial_dims, valid=[*_POOL, "sum"])


def norm_type(name: str, spatial_dims: int) -> type[nn.Module]:
    """The normalisation class for ``name`` (batch, instance, group, local_response)."""
    return _by_dims("normalisation", _NORM, name, spatial_dims)


def act_type(name: str) -> type[nn.Module]:
    """The activation class for ``name`` (relu, gelu, silu, ...)."""
    cls = _ACT.get(name)
    if cls is None:
        raise unknown_name("activation", name, _ACT)
    return cls


def dropout_type(name: str, spatial_dims: int) -> type[nn.Module]:
    """The dropout class for ``name`` (dropout: element-wise; channel: whole feature maps)."""
    return _by_dims("dropout", _DROPOUT, name, spatial_dims)


def valid_names(kind: str) -> list[str]:
    """The names a factory accepts; ``kind`` is one of pool, norm, act, dropout."""
    tables = {"pool": [*_POOL, "sum"], "norm": list(_NORM), "act": list(_ACT), "dropout": _DROPOUT}
    if kind not in tables:
        raise unknown_name("layer kind", kind, tables)
    return sorted(tables[kind])


def _sum_pool_type(spatial_dims: int) -> type[nn.Module]:
    return _SUM_POOL[spatial_dims]


def _make_sum_pool_class(d: int) -> type[nn.Module]:
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        SumPool.__init__(self, d, kernel_size, stride, padding, ceil_mode)

    return type(f"SumPool{d}d", (SumPool,), {"__init__": __init__, "__module__": __name__})


_SUM_POOL = {d: _make_sum_pool_class(d) for d in (1, 2, 3)}
SumPool1d, SumPool2d, SumPool3d = _SUM_POOL[1], _SUM_POOL[2], _SUM_POOL[3]


# ---- builders: a spec (name, (name, kwargs), class or None) to a module ----------------------


def _split_spec(spec: LayerSpec, what: str) -> tuple[str | type[nn.Module] | None, dict]:
    if spec is None or isinstance(spec, str):
        return spec, {}
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec, {}
    if (
        isinstance(spec, tuple)
        and len(spec) == 2
        and (
            isinstance(spec[0], str)
            or (isinstance(spec[0], type) and issubclass(spec[0], nn.Module))
        )
        and isinstance(spec[1], Mapping)
    ):
        return spec[0], dict(spec[1])
    raise TypeError(
        f"{what} must be a name, a (name, kwargs) pair, an nn.Module subclass or None, got {spec!r}"
    )


def _build(
    spec: LayerSpec, what: str, lookup: Callable[[str], type[nn.Module]], **defaults: Any
) -> nn.Module | None:
    name, kwargs = _split_spec(spec, what)
    if name is None or name == "none":
        return None
    cls = lookup(name) if isinstance(name, str) else name
    return cls(**{**defaults, **kwargs})


def make_norm(spec: LayerSpec, spatial_dims: int, num_features: int) -> nn.Module | None:
    """A normalisation layer over ``num_features`` channels, or ``None`` for ``spec=None``."""
    name, kwargs = _split_spec(spec, "norm")
    if name is None or name == "none":
        return None
    cls = norm_type(name, spatial_dims) if isinstance(name, str) else name
    if cls is nn.GroupNorm:
        groups = kwargs.pop("num_groups", min(32, num_features))
        if num_features % groups:
            raise ValueError(
                f"group norm: {num_features} channels do not split into {groups} groups; "
                f"pass ('group', {{'num_groups': g}}) with g dividing {num_features}"
            )
        return nn.GroupNorm(groups, num_features, **kwargs)
    if cls is nn.LocalResponseNorm:
        return nn.LocalResponseNorm(**{"size": 5, **kwargs})
    return cls(num_features, **kwargs)


def make_act(spec: LayerSpec) -> nn.Module | None:
    """An activation layer, or ``None`` for ``spec=None``."""
    return _build(spec, "act", act_type)


def make_pool(spec: LayerSpec, spatial_dims: int, **kwargs: Any) -> nn.Module | None:
    """A pooling layer; ``kwargs`` (kernel_size, stride, output_size, ...) go to its class."""
    return _build(spec, "pool", lambda n: pool_type(n, spatial_dims), **kwargs)


def make_dropout(spec: LayerSpec, spatial_dims: int, p: float) -> nn.Module | None:
    """A dropout layer with probability ``p``; ``None`` when ``spec`` is None or ``p`` is 0."""
    if p == 0:
        return None
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return _build(spec, "dropout", lambda n: dropout_type(n, spatial_dims), p=p)


def make_conv(spatial_dims: int, in_channels: int, out_channels: int, kernel_size, **kwargs: Any):
    """A convolution for ``spatial_dims``; ``kwargs`` go to ``nn.ConvNd``."""
    return conv_type(spatial_dims)(in_channels, out_channels, kernel_size, **kwargs)
