"""Counting rules: how many MACs and pooling calculations one module call performs.

A rule looks only at the module's settings and the shapes that actually went in and out, so it
is exact for any input size, batch size and number of spatial dimensions. Rules are found by the
module's class, walking its method resolution order, so a subclass of ``nn.Conv2d`` is counted
as a convolution. A class with no rule anywhere in its ancestry is *unsupported*: its MACs are
``None``, never a silent 0.

The rules (MACs exclude the bias, as in the lecture):

=========================  ===============================================================
convolution (any dims)      output elements x kernel volume x in_channels / groups
transposed convolution      input elements x kernel volume x out_channels / groups
linear                      output elements x in_features (leading dims included)
bilinear                    output elements x in1_features x in2_features
locally connected           output elements x kernel volume x in_channels
max/avg/Lp/sum pooling      pool calculations = output elements x window volume
adaptive pooling            pool calculations = sum over outputs of the exact window volume,
                            window ``[floor(i*in/out), ceil((i+1)*in/out))`` on each axis
norms, activations, ...     0 MACs by rule ("no_macs"), 0 pool calculations
=========================  ===============================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..layers import LocallyConnected, SumPool


@dataclass(frozen=True)
class Counted:
    """What a rule reports for one call."""

    rule: str
    macs: int | None
    pool_calculations: int = 0
    kernel_size: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | str | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None


#: ``rule(module, inputs, outputs) -> Counted``; inputs/outputs are the call's tensors in order.
Rule = Callable[[nn.Module, Sequence[torch.Tensor], Sequence[torch.Tensor]], Counted]

_RULES: dict[type, Rule] = {}


def register_rule(module_type: type[nn.Module], rule: Rule) -> None:
    """Teach the analyser a module type (a user-defined layer, say).

    ``rule(module, inputs, outputs)`` returns a :class:`Counted`; it applies to subclasses too.
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"module_type must be an nn.Module subclass, got {module_type!r}")
    if not callable(rule):
        raise TypeError(f"rule must be callable(module, inputs, outputs), got {rule!r}")
    _RULES[module_type] = rule


def find_rule(module_type: type) -> Rule | None:
    """The rule for ``module_type`` or its nearest ancestor; ``None`` when unsupported."""
    for cls in module_type.__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule
    return None


def count_call(
    module: nn.Module, inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor]
) -> Counted:
    """Apply the module's rule to one call; unsupported types give ``macs=None``."""
    rule = find_rule(type(module))
    if rule is None:
        return Counted(rule="unsupported", macs=None)
    return rule(module, inputs, outputs)


def is_supported(module_type: type) -> bool:
    return find_rule(module_type) is not None


# ---- helpers ---------------------------------------------------------------------------------


def _tuple(value, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    return tuple(int(v) for v in value)


def _first(tensors: Sequence[torch.Tensor], what: str, module: nn.Module) -> torch.Tensor:
    if not tensors:
        raise ValueError(f"{type(module).__name__}: the counting rule needs an {what} tensor")
    return tensors[0]


# ---- convolution, linear, locally connected --------------------------------------------------


def _window_counted(rule: str, module: nn.Module, macs: int) -> Counted:
    """A convolution's count with its kernel, stride, padding ("same"/"valid" kept as
    written), dilation and groups."""
    padding = module.padding
    return Counted(
        rule=rule,
        macs=macs,
        kernel_size=tuple(module.kernel_size),
        stride=tuple(module.stride),
        padding=padding if isinstance(padding, str) else tuple(padding),
        dilation=tuple(module.dilation),
        groups=module.groups,
    )


def _conv(module: nn.Module, inputs, outputs) -> Counted:
    out = _first(outputs, "output", module)
    macs = out.numel() * math.prod(module.kernel_size) * (module.in_channels // module.groups)
    return _window_counted("conv", module, macs)


def _conv_transpose(module: nn.Module, inputs, outputs) -> Counted:
    x = _first(inputs, "input", module)
    # Every input element is multiplied by a kernel-volume slice of each output channel group.
    macs = x.numel() * math.prod(module.kernel_size) * (module.out_channels // module.groups)
    return _window_counted("conv_transpose", module, macs)


def _linear(module: nn.Linear, inputs, outputs) -> Counted:
    out = _first(outputs, "output", module)
    # Output elements = (product of leading dims) x out_features; each needs in_features MACs.
    return Counted(rule="linear", macs=out.numel() * module.in_features)


def _bilinear(module: nn.Bilinear, inputs, outputs) -> Counted:
    out = _first(outputs, "output", module)
    # One multiply-accumulate per weight entry per output element: x1^T A_k x2.
    return Counted(rule="bilinear", macs=out.numel() * module.in1_features * module.in2_features)


def _locally_connected(module: LocallyConnected, inputs, outputs) -> Counted:
    out = _first(outputs, "output", module)
    k = tuple(module.kernel_size)
    return Counted(
        rule="locally_connected",
        macs=out.numel() * math.prod(k) * module.in_channels,
        kernel_size=k,
        stride=tuple(module.stride),
        padding=tuple(module.padding),
        dilation=tuple(module.dilation),
    )


# ---- pooling ---------------------------------------------------------------------------------


def _window_pool(dims: int | None) -> Rule:
    """Max/avg/Lp/sum/fractional pooling: output elements x window volume."""

    def rule(module: nn.Module, inputs, outputs) -> Counted:
        out = _first(outputs, "output", module)
        d = dims if dims is not None else module.spatial_dims
        k = _tuple(module.kernel_size, d)
        stride = getattr(module, "stride", None)
        padding = getattr(module, "padding", None)
        dilation = getattr(module, "dilation", None)
        return Counted(
            rule="pool",
            macs=0,
            pool_calculations=out.numel() * math.prod(k),
            kernel_size=k,
            stride=_tuple(stride, d) if stride is not None else None,
            padding=_tuple(padding, d) if padding is not None else None,
            dilation=_tuple(dilation, d) if dilation is not None else None,
        )

    return rule


def adaptive_window_total(in_size: int, out_size: int) -> int:
    """Sum of the window lengths adaptive pooling uses on one axis.

    Output ``i`` pools ``[floor(i*in/out), ceil((i+1)*in/out))``, PyTorch's rule; windows
    overlap when ``in`` is not a multiple of ``out``, so this can exceed ``in``.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"adaptive pooling sizes must be >= 1, got in={in_size}, out={out_size}")
    return sum(
        -((-(i + 1) * in_size) // out_size) - (i * in_size) // out_size for i in range(out_size)
    )


def _adaptive_pool(dims: int) -> Rule:
    def rule(module: nn.Module, inputs, outputs) -> Counted:
        x = _first(inputs, "input", module)
        out = _first(outputs, "output", module)
        in_sp = tuple(x.shape[-dims:])
        out_sp = tuple(out.shape[-dims:])
        lead = out.numel() // math.prod(out_sp) if math.prod(out_sp) else 0
        per_axis = [adaptive_window_total(i, o) for i, o in zip(in_sp, out_sp, strict=True)]
        # The windows are products of the per-axis windows, so their volumes sum to the product.
        return Counted(
            rule="adaptive_pool",
            macs=0,
            pool_calculations=lead * math.prod(per_axis),
        )

    return rule


def _no_macs(module: nn.Module, inputs, outputs) -> Counted:
    return Counted(rule="no_macs", macs=0)


# ---- the table -------------------------------------------------------------------------------

for _d in (1, 2, 3):
    register_rule(getattr(nn, f"Conv{_d}d"), _conv)
    register_rule(getattr(nn, f"ConvTranspose{_d}d"), _conv_transpose)
    for _kind in ("Max", "Avg", "LP"):
        register_rule(getattr(nn, f"{_kind}Pool{_d}d"), _window_pool(_d))
    for _kind in ("Max", "Avg"):
        register_rule(getattr(nn, f"Adaptive{_kind}Pool{_d}d"), _adaptive_pool(_d))
for _d in (2, 3):
    register_rule(getattr(nn, f"FractionalMaxPool{_d}d"), _window_pool(_d))
register_rule(SumPool, _window_pool(None))
register_rule(nn.Linear, _linear)
register_rule(nn.Bilinear, _bilinear)
register_rule(LocallyConnected, _locally_connected)

#: Module types that do no multiply-accumulates by our convention: normalisation, activations,
#: dropout, reshaping, padding, resampling and lookups. Their rule says 0 explicitly. Names, not
#: classes, so that a type missing from an older PyTorch is simply skipped.
NO_MAC_TYPE_NAMES: tuple[str, ...] = (
    # normalisation
    *(f"{k}Norm{d}d" for k in ("Batch", "Instance") for d in (1, 2, 3)),
    "SyncBatchNorm",
    "GroupNorm",
    "LayerNorm",
    "RMSNorm",
    "LocalResponseNorm",
    "CrossMapLRN2d",
    # activations
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Tanh",
    "Sigmoid",
    "Hardtanh",
    "Hardswish",
    "Hardsigmoid",
    "Hardshrink",
    "Softshrink",
    "Tanhshrink",
    "Threshold",
    "Softplus",
    "Softsign",
    "LogSigmoid",
    "Softmax",
    "Softmin",
    "LogSoftmax",
    "Softmax2d",
    "GLU",
    # dropout
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
    # reshaping, padding, resampling, lookups
    "Identity",
    "Flatten",
    "Unflatten",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "ChannelShuffle",
    *(
        f"{k}Pad{d}d"
        for k in ("Zero", "Constant", "Reflection", "Replication", "Circular")
        for d in (1, 2, 3)
    ),
    *(f"MaxUnpool{d}d" for d in (1, 2, 3)),
    "Embedding",
)
for _name in NO_MAC_TYPE_NAMES:
    _cls = getattr(nn, _name, None)
    if _cls is not None:
        register_rule(_cls, _no_macs)
