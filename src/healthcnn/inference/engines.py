"""Inference engines behind one interface: eager PyTorch, compiled PyTorch, ONNX Runtime.

Every engine is a :class:`Predictor`: ``logits(x)`` maps a float32 batch ``(N, C, *spatial)``
(already normalised, as the model was trained) to float32 logits on the CPU, and
``predict(ds, task)`` runs a whole :class:`~healthcnn.data.ArrayDataset` and returns the task's
:class:`~healthcnn.training.Predictions`. Engines:

- ``torch``: the model in eager mode under the precision policy (bf16 autocast + channels-last
  where the CPU computes bf16 natively, fp32 elsewhere). Always available; the default.
- ``compiled``: the same model through ``torch.compile`` with Inductor's *freezing* (weights
  folded into the graph as constants, batch norm folded into the convolutions), under the same
  policy. The first call of each batch size compiles (tens of seconds on a small CPU); later
  calls reuse the graph. In :meth:`Predictor.predict` the last, smaller batch of a dataset is
  zero-padded to the batch size, so it does not trigger a second compile.
- ``onnx``: the network exported to ONNX (see :mod:`healthcnn.bundle.export`) in an ONNX Runtime
  CPU session, fp32. Portable to runtimes without PyTorch.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bundle import Bundle, load_bundle
from ..data.arrays import ArrayDataset, BatchTransform, iterate_batches
from ..tasks import Task
from .precision import PrecisionPolicy
from .predict import Predictions

ENGINES = ("torch", "compiled", "onnx")


class EngineError(ValueError):
    """An engine cannot run here (a missing package or compiler) or was asked for wrongly."""


class Predictor:
    """Base class: subclasses implement :meth:`logits`; :meth:`predict` runs a dataset."""

    engine = "base"

    #: whether batches should be channels-last (the engine's model expects that layout)
    channels_last = False
    #: where :meth:`predict` puts each batch
    device = torch.device("cpu")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def predict(
        self,
        ds: ArrayDataset,
        task: Task,
        *,
        batch_size: int = 256,
        transform: BatchTransform | None = None,
    ) -> Predictions:
        """The task's probabilities for every sample of ``ds`` (dataset order), with labels,
        ids and groups. ``transform`` is the evaluation transform (normalisation)."""
        chunks = [
            self._batch_logits(x, batch_size)
            for x, _, _ in iterate_batches(
                ds,
                batch_size,
                shuffle=False,
                transform=transform,
                device=self.device,
                channels_last=self.channels_last,
            )
        ]
        if not chunks:
            raise ValueError(f"cannot predict on an empty dataset ({ds.name or 'unnamed'})")
        return Predictions.from_logits(torch.cat(chunks), ds, task)

    def _batch_logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Logits of one batch of a dataset run with ``batch_size`` (the last may be smaller)."""
        return self.logits(x)

    def describe(self) -> str:
        return self.engine


def _check_batch(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor (N, C, *spatial), got {type(x).__name__}")
    if x.dim() < 3:
        raise ValueError(f"inputs must have shape (N, C, *spatial), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"inputs must be floating point (normalised), got {x.dtype}")
    return x


class TorchPredictor(Predictor):
    """Eager PyTorch under a :class:`PrecisionPolicy` (default ``"auto"``). The model is put
    in eval mode and, with channels-last on, converted in place."""

    engine = "torch"

    def __init__(self, model: nn.Module, policy: PrecisionPolicy | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.policy = policy if policy is not None else PrecisionPolicy.resolve("auto")
        self.model = self.policy.prepare_model(model.eval())
        self.channels_last = self.policy.channels_last
        first = next(self.model.parameters(), None)
        self.device = first.device if first is not None else torch.device("cpu")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.policy.prepare_input(_check_batch(x).float().to(self.device))
        with torch.inference_mode(), self.policy.autocast():
            return self._forward(x).float().cpu()

    def describe(self) -> str:
        return f"{self.engine} ({self.policy.describe()})"


class CompiledPredictor(TorchPredictor):
    """``torch.compile`` with Inductor freezing, under the precision policy.

    ``mode`` is ``"default"`` or ``"max-autotune-no-cudagraphs"`` (longer compile, sometimes
    faster kernels). The model is copied, so the caller's module is not changed.
    """

    engine = "compiled"

    def __init__(
        self,
        model: nn.Module,
        policy: PrecisionPolicy | None = None,
        *,
        mode: str = "default",
    ) -> None:
        modes = ("default", "max-autotune-no-cudagraphs")
        if mode not in modes:
            raise ValueError(f"mode must be one of {modes}, got {mode!r}")
        super().__init__(copy.deepcopy(model), policy)
        for p in self.model.parameters():
            p.requires_grad_(False)
        options: dict[str, Any] = {"freezing": True}
        if mode == "max-autotune-no-cudagraphs":
            options.update({"max_autotune": True, "triton.cudagraphs": False})
        self.mode = mode
        self._compiled = torch.compile(self.model, dynamic=False, options=options)
        self._sizes: set[int] = set()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._run(x)
        self._sizes.add(x.shape[0])
        return out

    def _batch_logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        n = x.shape[0]
        if n < batch_size and batch_size in self._sizes:
            # the last batch of a dataset: pad it to the compiled size rather than compile again
            pad = x.new_zeros((batch_size - n, *x.shape[1:]))
            return self.logits(torch.cat([x, pad]))[:n]
        return self.logits(x)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self._compiled(x)
        except Exception as exc:  # Inductor raises many types (no compiler, codegen errors)
            raise EngineError(
                f"torch.compile could not compile this model here ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); use --engine torch"
            ) from exc

    def describe(self) -> str:
        return f"{self.engine} (inductor, frozen, {self.mode}; {self.policy.describe()})"


class OnnxPredictor(Predictor):
    """An ONNX Runtime CPU session over an exported graph (fp32, contiguous inputs)."""

    engine = "onnx"

    def __init__(self, graph: bytes | str | Path, *, threads: int | None = None) -> None:
        from ..bundle.export import INPUT_NAME, OUTPUT_NAME, onnx_session

        self._input, self._output = INPUT_NAME, OUTPUT_NAME
        self.session = onnx_session(graph, threads)
        self.source = "in memory" if isinstance(graph, bytes) else str(graph)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(_check_batch(x).detach().float().cpu().numpy())
        (out,) = self.session.run([self._output], {self._input: arr})
        return torch.from_numpy(out)

    def describe(self) -> str:
        return f"onnx (onnxruntime, fp32, graph {self.source})"


def _onnx_graph_for(bundle: Bundle, bundle_dir: Path, onnx_file: str | Path | None) -> Any:
    """An exported graph matching the bundle's weights: ``onnx_file``, else
    ``<bundle>/model.onnx`` when its recorded weights checksum matches, else a fresh export
    (in memory, parity-checked)."""
    from ..bundle.export import bundle_input_shape, check_parity, graph_bytes, read_onnx_metadata

    sha = str(bundle.metadata.get("model_sha256", ""))
    candidates = [Path(onnx_file)] if onnx_file is not None else [bundle_dir / "model.onnx"]
    for path in candidates:
        if not path.is_file():
            if onnx_file is not None:
                raise FileNotFoundError(f"ONNX file {path} does not exist")
            continue
        recorded = read_onnx_metadata(path).get("model_sha256")
        if recorded == sha:
            return path
        if onnx_file is not None:
            raise EngineError(
                f"{path} was exported from other weights (model_sha256 {str(recorded)[:12]}..., "
                f"the bundle has {sha[:12]}...); export it again with healthcnn export"
            )
    shape = bundle_input_shape(bundle.preprocessing)
    graph = graph_bytes(bundle.model, shape)
    check_parity(bundle.model, graph, shape)
    return graph


def create_predictor(
    model: nn.Module,
    engine: str = "torch",
    *,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    input_shape: tuple[int, ...] | None = None,
    mode: str = "default",
) -> Predictor:
    """A :class:`Predictor` for an in-memory model (the ``onnx`` engine exports it first and
    needs ``input_shape`` = ``(C, *spatial)``)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "onnx":
        from ..bundle.export import check_parity, graph_bytes

        if input_shape is None:
            raise ValueError("the onnx engine needs input_shape=(C, *spatial) to export the model")
        graph = graph_bytes(model, input_shape)
        check_parity(model, graph, input_shape)
        return OnnxPredictor(graph)
    policy = PrecisionPolicy.resolve(precision, device)
    model = model.to(device)
    if engine == "compiled":
        return CompiledPredictor(model, policy, mode=mode)
    return TorchPredictor(model, policy)


def load_predictor(
    bundle_dir: str | Path,
    engine: str = "torch",
    *,
    precision: str = "auto",
    onnx_file: str | Path | None = None,
) -> tuple[Bundle, Predictor]:
    """Load a bundle and build the named engine over it; returns ``(bundle, predictor)``.

    ``precision`` applies to the ``torch`` and ``compiled`` engines (ONNX Runtime runs fp32);
    ``onnx_file`` is an exported graph to use (default: ``<bundle>/model.onnx`` if it was
    exported from these weights, else a parity-checked export made in memory).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    if engine == "onnx":
        return bundle, OnnxPredictor(_onnx_graph_for(bundle, bundle_dir, onnx_file))
    if onnx_file is not None:
        raise ValueError("onnx_file is only used by the onnx engine")
    return bundle, create_predictor(bundle.model, engine, precision=precision)
