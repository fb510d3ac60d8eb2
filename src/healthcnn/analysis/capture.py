"""Run one forward pass with hooks on every module and record the tree of module calls.

Each module call becomes a :class:`Call` with its parent, its children (the module calls made
inside it), the shapes that went in and out and, for a call with no children (a *leaf call*),
what its counting rule says. Only calls through ``module(...)`` fire hooks: work done with
functional calls (``F.conv2d``, ``x @ w``) is not a module call; the optional cross-check with
``torch.utils.flop_counter.FlopCounterMode`` measures how much of it there was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._state import ModelStateGuard
from .rules import Counted, count_call

Shape = tuple[int, ...]


@dataclass(eq=False)
class Call:
    """One module call in the forward pass (mutable while the pass runs)."""

    module: nn.Module
    name: str
    depth: int
    call_index: int
    parent: Call | None
    input_shapes: tuple[Shape, ...]
    children: list[Call] = field(default_factory=list)
    output_shapes: tuple[Shape, ...] = ()
    output_elements: int = 0
    counted: Counted | None = None
    counter_flops: int = 0  # FlopCounterMode flops while this call ran (leaf calls only)
    finished: bool = False

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def leaves(self) -> Iterator[Call]:
        """The finished leaf calls inside this call (itself when it is one), in call order.

        A call left unfinished raised an exception that the model caught; it did no work.
        """
        if not self.finished:
            return
        if self.is_leaf:
            yield self
            return
        for child in self.children:
            yield from child.leaves()


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) tuple/list/dict/namedtuple, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, tuple | list):
        return [t for v in value for t in tensors_in(v)]
    return []


def _shapes(tensors: Sequence[torch.Tensor]) -> tuple[Shape, ...]:
    return tuple(tuple(int(s) for s in t.shape) for t in tensors)


def _fmt_shape(shapes: tuple[Shape, ...]) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes) or "no tensor"


class CountingError(ValueError):
    """A counting rule could not handle a call (a bug in a rule, not in the model)."""


class _Recorder:
    """Holds the hooks' state: the call stack, the root call and the flop counter."""

    def __init__(self, model: nn.Module, counter: FlopCounterMode | None) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.counter = counter
        self.stack: list[Call] = []
        self.root: Call | None = None
        self.times_called: dict[int, int] = {}
        self._start_flops: dict[int, int] = {}

    def _flops(self) -> int:
        return self.counter.get_total_flops() if self.counter is not None else 0

    def pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        parent = self.stack[-1] if self.stack else None
        index = self.times_called.get(id(module), 0)
        self.times_called[id(module)] = index + 1
        call = Call(
            module=module,
            name=self.names.get(id(module), f"<unregistered {type(module).__name__}>"),
            depth=parent.depth + 1 if parent is not None else 0,
            call_index=index,
            parent=parent,
            input_shapes=_shapes(tensors_in((args, kwargs))),
        )
        if parent is not None:
            parent.children.append(call)
        elif self.root is None:
            self.root = call
        self.stack.append(call)
        self._start_flops[id(call)] = self._flops()

    def post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        # Pop to this module's call; calls left open above it raised an exception that the
        # model caught itself.
        while self.stack and self.stack[-1].module is not module:
            self.stack.pop()
        if not self.stack:
            return
        call = self.stack.pop()
        outputs = tensors_in(output)
        call.output_shapes = _shapes(outputs)
        call.output_elements = sum(t.numel() for t in outputs)
        call.finished = True
        if call.is_leaf:
            call.counter_flops = self._flops() - self._start_flops.pop(id(call))
            try:
                call.counted = count_call(module, tensors_in((args, kwargs)), outputs)
            except Exception as exc:
                raise CountingError(
                    f"counting layer {call.name or type(module).__name__!r} "
                    f"({type(module).__name__}) failed: {exc}"
                ) from exc
        else:
            self._start_flops.pop(id(call), None)

    def failing_call(self) -> Call | None:
        """The innermost call still open: the layer whose forward raised."""
        return self.stack[-1] if self.stack else None


def run_forward(
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    *,
    cross_check: bool,
) -> tuple[Call, int | None]:
    """Run ``model(*args, **kwargs)`` with hooks; return the root call and the counter's FLOPs.

    The model is guarded by :class:`ModelStateGuard` (eval mode, state restored) and the hooks
    are removed whatever happens. A failing forward pass raises ``ValueError`` naming the layer.
    """
    counter = FlopCounterMode(display=False) if cross_check else None
    recorder = _Recorder(model, counter)
    handles = []
    try:
        with ModelStateGuard(model), torch.no_grad():
            for module in model.modules():
                handles.append(module.register_forward_pre_hook(recorder.pre, with_kwargs=True))
                handles.append(module.register_forward_hook(recorder.post, with_kwargs=True))
            with counter if counter is not None else contextlib.nullcontext():
                try:
                    model(*args, **kwargs)
                except CountingError:
                    raise
                except Exception as exc:
                    raise _forward_error(model, recorder.failing_call(), exc) from exc
    finally:
        for handle in handles:
            handle.remove()
    if recorder.root is None:
        raise ValueError(
            f"{type(model).__name__} ran without calling its hooks (a scripted or traced "
            f"module?); the analyser needs an eager nn.Module"
        )
    total = counter.get_total_flops() if counter is not None else None
    return recorder.root, total


def _forward_error(model: nn.Module, call: Call | None, exc: Exception) -> ValueError:
    what = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    if call is None:
        where = f"the forward pass of {type(model).__name__}"
    elif call.depth == 0:
        where = f"{type(model).__name__}.forward (outside its sub-modules)"
    else:
        where = f"layer {call.name!r} ({type(call.module).__name__})"
    shapes = _fmt_shape(call.input_shapes) if call is not None else "?"
    return ValueError(f"forward pass failed in {where} on input {shapes}: {what}")


# ---- inputs ----------------------------------------------------------------------------------


def _is_shape(value: Any) -> bool:
    return isinstance(value, Sequence | torch.Size) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def make_inputs(
    input_size: Any,
    example_input: Any,
    batch_size: int,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[tuple, dict]:
    """Positional and keyword arguments for the forward pass.

    ``input_size`` is one shape without the batch axis, or a list of them (one tensor per
    positional input); ``example_input`` is a tensor, a tuple of tensors or a dict of keyword
    arguments. Random inputs come from a private generator (seed 0): global RNG state is left
    alone, and the same call gives the same inputs.
    """
    if (input_size is None) == (example_input is None):
        raise ValueError(
            "give exactly one of input_size (a shape without the batch axis, e.g. (3, 224, 224), "
            "or a list of shapes) and example_input (a tensor, tuple of tensors or dict)"
        )
    if example_input is not None:
        if isinstance(example_input, torch.Tensor):
            return (example_input,), {}
        if isinstance(example_input, tuple | list):
            return tuple(example_input), {}
        if isinstance(example_input, Mapping):
            return (), dict(example_input)
        raise TypeError(
            f"example_input must be a tensor, a tuple of tensors or a dict of keyword arguments, "
            f"got {type(example_input).__name__}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if _is_shape(input_size) and len(input_size) > 0:
        shapes = [tuple(input_size)]
    elif (
        isinstance(input_size, Sequence)
        and len(input_size) > 0
        and all(_is_shape(s) and len(s) > 0 for s in input_size)
    ):
        shapes = [tuple(s) for s in input_size]
    else:
        raise ValueError(
            f"input_size must be one shape without the batch axis, e.g. (3, 224, 224), or a "
            f"list of such shapes, got {input_size!r}"
        )
    bad = [s for s in shapes if any(v < 1 for v in s)]
    if bad:
        raise ValueError(f"input_size entries must be >= 1, got {bad[0]}")
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for shape in shapes:
        full = (batch_size, *shape)
        if dtype.is_floating_point or dtype.is_complex:
            t = torch.randn(full, generator=generator, dtype=dtype)
        else:
            t = torch.zeros(full, dtype=dtype)
        tensors.append(t.to(device))
    return tuple(tensors), {}
