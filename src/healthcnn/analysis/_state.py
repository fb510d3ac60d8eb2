"""Leave the model exactly as it was: the guard around the analyser's forward pass.

What :func:`healthcnn.analysis.summarize` promises, and how:

* training flags: every sub-module is put in eval mode for the pass (so batch norm uses and does
  not update its running statistics, dropout is off) and gets its own flag back afterwards;
* buffers: snapshot before the pass (they are small: running statistics, counters); a buffer
  whose version counter moved is copied back, a buffer attribute that was replaced or added is
  put back or removed;
* parameters: the pass runs under ``torch.no_grad``, which built-in layers never use to write
  weights; the objects, ``requires_grad`` flags and version counters are recorded, and a
  parameter written in place by a custom ``forward`` raises ``RuntimeError`` naming it (cloning
  every weight on each call would double the memory of the analysis);
* hooks: the analyser's own hooks are removed by the caller in a ``finally`` block.

All of this holds when the forward pass raises, too.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import nn
from torch.nn.parameter import UninitializedParameter


class ModelStateGuard:
    """Context manager: snapshot on enter, restore on exit (also on an exception)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> ModelStateGuard:
        lazy = [
            n for n, p in self.model.named_parameters() if isinstance(p, UninitializedParameter)
        ]
        if lazy:
            raise ValueError(
                f"the model has uninitialised (lazy) parameters {lazy[:3]}: run one forward pass "
                f"on real data first, so that the analyser does not change the model by "
                f"materialising them"
            )
        modules = list(self.model.modules())
        self._training = [(m, m.training) for m in modules]
        self._params = [(m, dict(m._parameters)) for m in modules]
        self._buffers = [(m, dict(m._buffers)) for m in modules]
        self._param_state = [
            (p, p.requires_grad, p._version)
            for _, params in self._params
            for p in params.values()
            if p is not None
        ]
        self._buffer_state = [
            (b, b._version, b.detach().clone())
            for _, buffers in self._buffers
            for b in buffers.values()
            if b is not None
        ]
        self.model.eval()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for module, flag in self._training:
            module.training = flag
        for module, saved in self._params:
            if not _same_entries(module._parameters, saved):
                module._parameters.clear()
                module._parameters.update(saved)
        for module, saved in self._buffers:
            if not _same_entries(module._buffers, saved):
                module._buffers.clear()
                module._buffers.update(saved)
        with torch.no_grad():
            for buf, version, copy in self._buffer_state:
                if buf._version != version:
                    buf.copy_(copy)
        written = []
        for param, requires_grad, version in self._param_state:
            param.requires_grad_(requires_grad)
            if param._version != version:
                written.append(param)
        if written and exc is None:
            names = [n for n, p in self.model.named_parameters() if any(p is w for w in written)]
            raise RuntimeError(
                f"the model's forward pass wrote parameters {names[:3]} in place; the analyser "
                f"cannot undo that; do not modify weights inside forward()"
            )


def _same_entries(current: dict, saved: dict) -> bool:
    """Same names bound to the very same objects (tensor ``==`` would compare values)."""
    return current.keys() == saved.keys() and all(current[k] is saved[k] for k in saved)
