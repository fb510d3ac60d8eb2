"""Export a bundle's network to ONNX, with an output-parity check against PyTorch.

``export_onnx(bundle_dir, out)`` rebuilds the model from the bundle, traces it with PyTorch's
TorchScript-based ONNX exporter (it needs only the ``onnx`` package, no network and no
``onnxscript``), runs the exported graph in ONNX Runtime and the model in eager float32 on the
same seeded inputs, prints nothing itself but returns the largest absolute difference of the
logits, and raises :class:`ExportError` when it exceeds ``atol``. The file is written to a
temporary sibling and renamed into place, so a failed export or check leaves no half-written or
unchecked ``.onnx`` behind.

The graph maps *normalised* float32 inputs ``(N, C, *spatial)`` to logits, like the model
itself; the bundle's normalisation, classes, task and the SHA-256 of its weights are stored in
the ONNX file's ``metadata_props`` (keys ``healthcnn.*``), so a reader can apply the same
preprocessing and tell which weights the graph came from.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_write_bytes
from .._json import dumps
from .io import BundleError, load_bundle
from .schema import Preprocessing
from .seal import MANIFEST_FILE, seal_file

#: the default tolerance on the largest absolute logit difference, ONNX Runtime vs eager fp32
#: (float32 kernels that sum in another order differ by ~1e-6 to 1e-4 on ResNet-scale logits)
DEFAULT_ATOL = 1e-3
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
META_PREFIX = "healthcnn."


class ExportError(ValueError):
    """The export failed or the exported graph does not reproduce the model's outputs."""


@dataclass(frozen=True)
class ExportResult:
    """Where the graph went and how closely it reproduces the model (``max_abs_diff`` is NaN
    when the check was skipped)."""

    path: Path
    opset: int
    batch_dynamic: bool
    input_shape: tuple[int, ...]
    max_abs_diff: float
    atol: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "opset": self.opset,
            "batch_dynamic": self.batch_dynamic,
            "input_shape": list(self.input_shape),
            "max_abs_diff": None if np.isnan(self.max_abs_diff) else self.max_abs_diff,
            "atol": self.atol,
        }


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise ExportError(
            f"ONNX export needs the {module!r} package: pip install 'healthcnn[onnx]'"
        ) from None


def bundle_input_shape(record: Preprocessing) -> tuple[int, ...]:
    """The network's ``(C, *spatial)`` from a bundle's preprocessing record: the data's size,
    replaced by ``model_input_size`` where the bundle resizes its inputs before the network."""
    shape = record.network_input_shape
    if shape is None:
        raise BundleError(
            "the bundle's preprocessing record does not say its input size; pass "
            "input_shape=(C, H, W)"
        )
    return shape


def graph_bytes(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    opset: int = 17,
    batch_dynamic: bool = True,
) -> bytes:
    """The ONNX graph of ``model`` (eval mode, float32, CPU) for inputs ``(N, *input_shape)``."""
    _require("onnx")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= 21:
        raise ValueError(f"opset must be an int between 13 and 21, got {opset!r}")
    model = model.float().cpu().eval()
    example = torch.zeros(2, *input_shape)
    buffer = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if batch_dynamic else None
    with warnings.catch_warnings():
        # the TorchScript-based exporter announces its deprecation in favour of the dynamo one,
        # which needs onnxscript; it is kept because it works offline with `onnx` alone
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except Exception as exc:  # the exporter raises many error types for unsupported ops
            raise ExportError(f"torch.onnx.export failed for this model: {exc}") from exc
    return buffer.getvalue()


def _reference_logits(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.float().cpu().eval()(x).numpy()


def onnx_session(graph: bytes | str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU ``InferenceSession`` for a graph (bytes or file)."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def check_parity(
    model: nn.Module,
    graph: bytes | str | Path,
    input_shape: Sequence[int],
    *,
    atol: float = DEFAULT_ATOL,
    batch_sizes: Sequence[int] = (2, 3),
    seed: int = 0,
) -> float:
    """Largest absolute logit difference, ONNX Runtime vs eager fp32, on seeded standard-normal
    inputs of each batch size; raises :class:`ExportError` if it exceeds ``atol``."""
    if not atol >= 0:
        raise ValueError(f"atol must be a number >= 0, got {atol!r}")
    session = onnx_session(graph)
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n in batch_sizes:
        x = torch.randn(n, *input_shape, generator=g)
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        want = _reference_logits(model, x)
        if got.shape != want.shape:
            raise ExportError(f"the ONNX graph returned shape {got.shape}, the model {want.shape}")
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))))
    if not worst <= atol:
        raise ExportError(
            f"the ONNX graph's logits differ from PyTorch fp32 by up to {worst:.3g} (tolerance "
            f"{atol:.3g}); the export is not trustworthy for this model"
        )
    return worst


def _with_metadata(graph: bytes, props: dict[str, str]) -> bytes:
    onnx = _require("onnx")
    proto = onnx.load_from_string(graph)
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, value
    return proto.SerializeToString()


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``healthcnn.*`` metadata of an exported graph, without the prefix."""
    onnx = _require("onnx")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends for a corrupt file
        raise ExportError(
            f"{path} is not a readable ONNX graph ({type(exc).__name__}: {exc}); export it "
            f"again with healthcnn export"
        ) from None
    return {
        p.key[len(META_PREFIX) :]: p.value
        for p in proto.metadata_props
        if p.key.startswith(META_PREFIX)
    }


def export_onnx(
    bundle_dir: str | Path,
    out: str | Path | None = None,
    *,
    opset: int = 17,
    batch_dynamic: bool = True,
    check: bool = True,
    atol: float = DEFAULT_ATOL,
    input_shape: Sequence[int] | None = None,
) -> ExportResult:
    """Export the bundle's network to ONNX at ``out`` (default ``<bundle>/model.onnx``).

    Args:
        opset: ONNX opset version (13-21).
        batch_dynamic: the batch axis is symbolic (any batch size); otherwise fixed at 2.
        check: run the parity check (ONNX Runtime vs eager fp32); without it ``max_abs_diff``
            is NaN.
        atol: the largest absolute logit difference accepted; above it :class:`ExportError` is
            raised and nothing is written.
        input_shape: ``(C, *spatial)``; default from the bundle's metadata.
    """
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    shape = (
        tuple(input_shape) if input_shape is not None else bundle_input_shape(bundle.preprocessing)
    )
    dims = bundle.config["model_kwargs"].get("spatial_dims")
    if isinstance(dims, int) and len(shape) != dims + 1:
        raise ValueError(
            f"input_shape {shape} does not fit a model with spatial_dims={dims}; give "
            f"(channels, {', '.join(['size'] * dims)})"
        )
    path = Path(out) if out is not None else bundle_dir / "model.onnx"
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name such as model.onnx")
    graph = graph_bytes(bundle.model, shape, opset=opset, batch_dynamic=batch_dynamic)
    diff = float("nan")
    if check:
        sizes = (2, 3) if batch_dynamic else (2,)
        diff = check_parity(bundle.model, graph, shape, atol=atol, batch_sizes=sizes)
    meta = bundle.metadata
    graph = _with_metadata(
        graph,
        {
            "model_sha256": str(meta.get("model_sha256", "")),
            "model_name": str(bundle.config.get("model_name", "")),
            "task": dumps(meta.get("task")),
            "preprocessing": dumps(bundle.preprocessing.to_dict()),
            "input_shape": dumps(list(shape)),
        },
    )
    atomic_write_bytes(path, graph)
    if path.parent.resolve() == bundle_dir.resolve() and (bundle_dir / MANIFEST_FILE).exists():
        seal_file(bundle_dir, path.name)  # the graph becomes part of the sealed bundle
    return ExportResult(
        path=path,
        opset=opset,
        batch_dynamic=batch_dynamic,
        input_shape=shape,
        max_abs_diff=diff,
        atol=atol,
    )
