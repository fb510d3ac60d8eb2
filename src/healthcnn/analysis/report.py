"""``summarize``: one forward pass, then the table rows and the totals.

Rows are the *leaf calls* (module calls that made no other module call), in call order: a module
called twice gives two rows, and a module whose sub-modules never run on their own (as
``nn.MultiheadAttention`` uses its ``out_proj`` weights functionally) is one row. With
``depth=D`` the calls deeper than ``D`` are folded into their enclosing call at depth ``D``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .capture import Call, make_inputs, run_forward, tensors_in
from .records import LayerRecord, ModelReport, Totals


def summarize(
    model: nn.Module,
    input_size=None,
    *,
    example_input=None,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    depth: int | None = None,
    cross_check: bool = True,
) -> ModelReport:
    """Analyse ``model`` exactly: per-call shapes, parameters, MACs and pooling calculations.

    Args:
        model: any ``nn.Module``; it is not moved, so ``device`` must be where it lives.
        input_size: one input shape without the batch axis (``(3, 224, 224)``, ``(12, 5000)``,
            ``(1, 64, 64, 64)``) or a list of shapes, one per positional input.
        example_input: instead of ``input_size``: a tensor, a tuple of tensors (positional
            arguments) or a dict (keyword arguments), used as given.
        batch_size: batch size of the generated inputs; MACs are for the whole batch.
        dtype, device: of the generated inputs.
        depth: ``None`` for one row per leaf call; ``D`` folds deeper calls into their
            enclosing call at depth ``D`` (the model itself is depth 0).
        cross_check: also run ``torch.utils.flop_counter.FlopCounterMode`` in the same pass and
            report the convolution/matrix-product MACs that ran outside counted rows as
            ``uncounted_macs`` (functional calls, unsupported modules).

    The model is left exactly as it was (training flags, parameters, buffers, ``requires_grad``,
    no hooks), also when its forward pass raises; see :mod:`healthcnn.analysis._state`.
    A forward pass that fails raises ``ValueError`` naming the layer and its input shape.
    """
    _check_arguments(model, depth, dtype)
    device = torch.device(device)
    args, kwargs = make_inputs(input_size, example_input, batch_size, dtype, device)
    root, counter_flops = run_forward(model, args, kwargs, cross_check=cross_check)

    leaves = list(root.leaves())
    layers = _rows(model, root, depth)
    totals, outside = _totals(model, root, depth, leaves)
    unsupported = sorted({type(c.module).__name__ for c in leaves if c.counted.macs is None})
    inputs = tensors_in((args, kwargs))
    return ModelReport(
        model=type(model).__name__,
        input_shapes=tuple(tuple(int(s) for s in t.shape) for t in inputs),
        batch_size=int(inputs[0].shape[0]) if inputs and inputs[0].dim() else batch_size,
        dtype=str(inputs[0].dtype).removeprefix("torch.") if inputs else str(dtype),
        device=str(inputs[0].device) if inputs else str(device),
        depth=depth,
        layers=layers,
        totals=totals,
        unsupported=tuple(unsupported),
        outside_layers=outside,
        uncounted_macs=_uncounted_macs(leaves, counter_flops),
    )


def _check_arguments(model: nn.Module, depth: int | None, dtype: torch.dtype) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be None (every leaf call) or an int >= 0, got {depth!r}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")


def _totals(
    model: nn.Module, root: Call, depth: int | None, leaves: list[Call]
) -> tuple[Totals, tuple[tuple[str, int], ...]]:
    """The whole-model numbers, and the parameters that belong to no row (name, elements)."""
    unique = dict(model.named_parameters())  # first name of each parameter object
    in_rows = {id(p) for layer_call in _row_calls(root, depth) for p in _params_of(layer_call)}
    outside = tuple((n, p.numel()) for n, p in unique.items() if id(p) not in in_rows)
    macs = sum(c.counted.macs for c in leaves if c.counted.macs is not None)
    totals = Totals(
        params=sum(p.numel() for p in unique.values()),
        trainable_params=sum(p.numel() for p in unique.values() if p.requires_grad),
        macs=macs,
        flops=2 * macs,
        pool_calculations=sum(c.counted.pool_calculations for c in leaves),
        activation_elements=sum(c.output_elements for c in leaves),
        params_outside_layers=sum(c for _, c in outside),
    )
    return totals, outside


def _uncounted_macs(leaves: list[Call], counter_flops: int | None) -> int | None:
    """MACs the flop counter saw outside the counted rows (None without the cross-check)."""
    if counter_flops is None:
        return None
    counted_flops = sum(c.counter_flops for c in leaves if c.counted.macs is not None)
    return (counter_flops - counted_flops) // 2


def _row_calls(root: Call, depth: int | None) -> Iterator[Call]:
    """The calls that become rows: leaf calls, or calls at ``depth`` standing for their subtree."""
    if not root.finished:
        return
    if root.is_leaf or (depth is not None and root.depth >= depth):
        yield root
        return
    for child in root.children:
        yield from _row_calls(child, depth)


def _params_of(call: Call) -> list[nn.Parameter]:
    return list(call.module.parameters())  # deduplicated by identity, sub-modules included


def _rows(model: nn.Module, root: Call, depth: int | None) -> tuple[LayerRecord, ...]:
    seen: set[int] = set()
    rows = []
    for call in _row_calls(root, depth):
        params = _params_of(call)
        shared = sum(p.numel() for p in params if id(p) in seen)
        seen.update(id(p) for p in params)
        common = {
            "name": call.name,
            "type": type(call.module).__name__,
            "depth": call.depth,
            "call_index": call.call_index,
            "input_shapes": call.input_shapes,
            "output_shapes": call.output_shapes,
            "params": sum(p.numel() for p in params),
            "trainable_params": sum(p.numel() for p in params if p.requires_grad),
            "shared_params": shared,
        }
        if call.is_leaf:
            c = call.counted
            rows.append(
                LayerRecord(
                    **common,
                    macs=c.macs,
                    pool_calculations=c.pool_calculations,
                    activation_elements=call.output_elements,
                    rule=c.rule,
                    kernel_size=c.kernel_size,
                    stride=c.stride,
                    padding=c.padding,
                    dilation=c.dilation,
                    groups=c.groups,
                )
            )
        else:
            inner = list(call.leaves())
            known = all(c.counted.macs is not None for c in inner)
            rows.append(
                LayerRecord(
                    **common,
                    macs=sum(c.counted.macs for c in inner) if known else None,
                    pool_calculations=sum(c.counted.pool_calculations for c in inner),
                    activation_elements=sum(c.output_elements for c in inner),
                    rule="aggregate",
                )
            )
    return tuple(rows)
