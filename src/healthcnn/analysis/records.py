"""What the analyser found, as plain frozen values: one :class:`LayerRecord` per table row and a
:class:`ModelReport` with the totals.

Analysis and printing are separate: :func:`healthcnn.analysis.summarize` builds these records,
:mod:`healthcnn.analysis.render` turns them into text, markdown, CSV, JSON or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]

#: The counting convention, one sentence; every renderer prints it next to the numbers.
CONVENTION = (
    "Parameters are learnable scalars, a parameter shared by several layers counted once; "
    "MACs are multiply-accumulates of convolution, fully connected and locally connected layers, "
    "output elements x (kernel volume x input channels / groups) with bias excluded, FLOPs = "
    "2 x MACs; pooling calculations are output elements x window volume, a separate column; "
    "only module calls are counted, for the whole batch, and a module type without a counting "
    "rule is listed as unsupported with MACs '?', never as 0."
)

#: Bumped whenever a key of :func:`ModelReport.as_dict` changes meaning or disappears.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LayerRecord:
    """One row of the table: one call of a module that ran no other module inside it.

    With ``summarize(..., depth=D)`` a row may instead stand for a whole sub-module at depth
    ``D`` (``rule == "aggregate"``): its numbers are the sums over the calls inside it.

    Attributes:
        name: the module's qualified name in the model (``"features.0"``; ``""`` for the model).
        type: the module's class name.
        depth: call nesting depth; the model itself is 0, its children 1, and so on.
        call_index: 0 for the module's first call in the forward pass, 1 for the second, ...
        input_shapes, output_shapes: shapes (batch included) of every tensor going in and out.
        kernel_size, stride, padding, dilation, groups: the layer's settings where it has them
            (tuples per spatial axis; ``padding`` may be a string such as ``"same"``).
        params: parameters of the module (all of its sub-modules included).
        trainable_params: those of ``params`` with ``requires_grad``.
        shared_params: those of ``params`` already counted in an earlier row (a module called
            twice, or weights tied between modules); totals count them once.
        macs: multiply-accumulates, bias excluded; ``None`` when no rule covers the module type
            (or, for an aggregate row, a call inside it).
        pool_calculations: output elements x window volume for pooling layers, else 0.
        activation_elements: number of output elements (all output tensors).
        An aggregate row's ``macs``, ``pool_calculations`` and ``activation_elements`` are sums
        over the leaf calls inside it, so every column adds up to the totals at any depth.
        rule: which counting rule produced the numbers (``"conv"``, ``"linear"``, ``"pool"``,
            ``"adaptive_pool"``, ``"no_macs"``, ``"unsupported"``, ``"aggregate"``, ...).
    """

    name: str
    type: str
    depth: int
    call_index: int
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    params: int
    trainable_params: int
    shared_params: int
    macs: int | None
    pool_calculations: int
    activation_elements: int
    rule: str
    kernel_size: Shape | None = None
    stride: Shape | None = None
    padding: Shape | str | None = None
    dilation: Shape | None = None
    groups: int | None = None

    @property
    def input_shape(self) -> Shape | None:
        """Shape of the first input tensor (``None`` when the module got no tensor)."""
        return self.input_shapes[0] if self.input_shapes else None

    @property
    def output_shape(self) -> Shape | None:
        """Shape of the first output tensor (``None`` when the module returned no tensor)."""
        return self.output_shapes[0] if self.output_shapes else None

    @property
    def supported(self) -> bool:
        return self.macs is not None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (tuples become lists)."""
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "call_index": self.call_index,
            "input_shape": _listify(self.input_shape),
            "output_shape": _listify(self.output_shape),
            "input_shapes": _listify(self.input_shapes),
            "output_shapes": _listify(self.output_shapes),
            "kernel_size": _listify(self.kernel_size),
            "stride": _listify(self.stride),
            "padding": _listify(self.padding),
            "dilation": _listify(self.dilation),
            "groups": self.groups,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "shared_params": self.shared_params,
            "macs": self.macs,
            "pool_calculations": self.pool_calculations,
            "activation_elements": self.activation_elements,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Totals:
    """Whole-model numbers.

    ``params``/``trainable_params`` count every parameter of the model once (by identity),
    including ``params_outside_layers``: parameters that belong to no table row (a bare
    ``nn.Parameter`` on a container, or a module that never ran). ``macs``,
    ``pool_calculations`` and ``activation_elements`` add up every executed call, so a module
    called twice counts twice; ``macs`` leaves out unsupported calls (see
    :attr:`ModelReport.unsupported`). ``flops`` is ``2 * macs``.
    """

    params: int
    trainable_params: int
    macs: int
    flops: int
    pool_calculations: int
    activation_elements: int
    params_outside_layers: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ModelReport:
    """The analyser's result: the rows, the totals and everything the totals leave out.

    Attributes:
        model: the model's class name.
        input_shapes: shapes (batch included) of the tensors fed to the model.
        batch_size, dtype, device: how the forward pass was run (for ``example_input``: the
            first axis, dtype and device of the first input tensor).
        depth: the ``depth`` the rows were collapsed to (``None``: every executed leaf call).
        layers: the rows, in call order.
        totals: see :class:`Totals`.
        unsupported: class names of executed modules without a counting rule (sorted).
        outside_layers: ``(parameter name, count)`` for parameters in no row.
        uncounted_macs: convolution/matrix-multiply MACs that
            ``torch.utils.flop_counter.FlopCounterMode`` saw outside every counted row
            (functional calls such as ``F.conv2d`` or ``x @ w`` in a ``forward``, and the work
            inside unsupported modules); ``None`` when the cross-check was not run.
        convention: :data:`CONVENTION`.
    """

    model: str
    input_shapes: tuple[Shape, ...]
    batch_size: int
    dtype: str
    device: str
    depth: int | None
    layers: tuple[LayerRecord, ...]
    totals: Totals
    unsupported: tuple[str, ...] = ()
    outside_layers: tuple[tuple[str, int], ...] = ()
    uncounted_macs: int | None = None
    convention: str = field(default=CONVENTION)

    @property
    def complete(self) -> bool:
        """True when every executed module had a rule and no MACs escaped the hooks."""
        return not self.unsupported and not self.uncounted_macs

    @property
    def warnings(self) -> tuple[str, ...]:
        """Plain sentences about what the totals leave out; renderers print them."""
        out = []
        if self.unsupported:
            out.append(
                "unsupported module types (no counting rule, MACs '?', not in the MACs total): "
                + ", ".join(self.unsupported)
            )
        if self.uncounted_macs:
            out.append(
                f"{self.uncounted_macs:,} MACs of convolutions/matrix products ran outside the "
                f"counted layers (functional calls or inside unsupported modules; measured with "
                f"torch.utils.flop_counter) and are not in the MACs total"
            )
        if self.outside_layers:
            listed = ", ".join(f"{n} ({c:,})" for n, c in self.outside_layers[:5])
            more = (
                f" and {len(self.outside_layers) - 5} more" if len(self.outside_layers) > 5 else ""
            )
            out.append(
                f"{self.totals.params_outside_layers:,} parameters belong to no row (direct "
                f"parameters of containers or modules that never ran) and are in the parameter "
                f"total: {listed}{more}"
            )
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract (see ``docs/counting.md``); keys are stable per ``schema_version``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "convention": self.convention,
            "model": self.model,
            "input_shapes": _listify(self.input_shapes),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "device": self.device,
            "depth": self.depth,
            "totals": self.totals.as_dict(),
            "complete": self.complete,
            "unsupported": list(self.unsupported),
            "uncounted_macs": self.uncounted_macs,
            "params_outside_layers": [{"name": n, "params": c} for n, c in self.outside_layers],
            "warnings": list(self.warnings),
            "layers": [layer.as_dict() for layer in self.layers],
        }


def _listify(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    return value
