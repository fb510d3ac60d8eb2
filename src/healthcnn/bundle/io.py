"""Model bundles: a trained model as a directory anyone can load without running pickled code.

::

    bundle/
      model.safetensors   the weights (state dict, contiguous CPU tensors)
      config.json         how to rebuild the network: registry name + keyword arguments
      metadata.json       task (kind, classes, label map), the preprocessing record, thresholds,
                          metrics, seeds, train config, library versions, creation time, and the
                          SHA-256 of model.safetensors
      manifest.json       size and SHA-256 of every file of the bundle (see :mod:`.seal`)

``save_bundle`` writes everything into a hidden temporary sibling directory and renames it into
place (see :mod:`.place`): a reader never sees a half-written bundle, a failed write leaves
nothing behind, an existing bundle at the same path is replaced only once the new one is
complete, and nothing but a complete bundle is ever replaced. ``load_bundle`` checks every file
against the manifest before it builds the model.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from .._atomic import crash_point, file_mode
from .._json import dumps
from ..tasks import Task
from . import place
from .schema import BundleError, Preprocessing
from .seal import (
    MANIFEST_FILE,
    check_manifest,
    read_json_object,
    read_manifest,
    sha256_file,
    write_manifest,
)

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (MODEL_FILE, CONFIG_FILE, METADATA_FILE)
#: files other commands add to a version-1 bundle (version 2 lists them in its manifest)
_V1_DERIVED = ("model.onnx", "report.html")
FORMAT = "healthcnn-bundle"
FORMAT_VERSION = 2
#: format versions this healthcnn reads (1: before the preprocessing record)
READABLE_VERSIONS = (1, 2)

#: metadata keys save_bundle fills in itself (a caller's value for them is an error)
_RESERVED = (
    "format",
    "format_version",
    "task",
    "library_versions",
    "created",
    "model_sha256",
    "preprocessing",
    "input",
    "normalisation",
)


@dataclass
class Bundle:
    """A loaded bundle: the model (eval mode, CPU unless asked), its task, and the two JSONs."""

    model: nn.Module
    task: Task
    config: dict[str, Any]
    metadata: dict[str, Any]
    preprocessing: Preprocessing


def library_versions() -> dict[str, str]:
    """Versions that decide whether results reproduce."""
    import safetensors

    return {
        "healthcnn": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def _jsonable(value: Any, where: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{where} must be JSON-serialisable (numbers, strings, lists, dicts): {exc}"
        ) from None
    return value


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(dumps(data, indent=2) + "\n")
    _fsync(path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        crash_point(f"fsync {path.name}")
        os.fsync(f.fileno())


def _write_weights(path: Path, model: nn.Module) -> None:
    # clone: contiguous, on CPU, and no shared storage (safetensors refuses aliased tensors)
    tensors = {
        k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for k, v in model.state_dict().items()
    }
    save_file(tensors, str(path), metadata={"format": "pt"})
    _fsync(path)


def save_bundle(
    directory: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    task: Task,
    preprocessing: Preprocessing | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a bundle at ``directory`` (atomically); returns the directory.

    ``model_kwargs`` must let ``create_model(model_name, **model_kwargs)`` rebuild the network:
    ``spatial_dims``, ``in_channels``, ``num_classes`` and any extra options. ``preprocessing``
    is the record of what inference must do to an input (default: the channels and
    spatial_dims of ``model_kwargs``, no normalisation, size unknown). ``metadata`` holds the
    rest of the story: ``data``, ``thresholds``, ``metrics``, ``seeds``, ``train_config``,
    ``history``...; any JSON-serialisable keys are kept.
    """
    directory = Path(directory)
    kwargs = _checked_kwargs(model_kwargs, task)
    record = _checked_record(preprocessing, kwargs)
    extra = _checked_metadata(metadata)
    check_bundle_target(directory)

    def fill(tmp: Path) -> None:
        _write_weights(tmp / MODEL_FILE, model)
        config = {"model_name": model_name, "model_kwargs": kwargs}
        _write_json(
            tmp / CONFIG_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
        )
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "task": task.to_dict(),
            "preprocessing": record.to_dict(),
            **extra,
            "library_versions": library_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_sha256": sha256_file(tmp / MODEL_FILE),
        }
        _write_json(tmp / METADATA_FILE, meta)
        write_manifest(tmp, BUNDLE_FILES)
        for name in (*BUNDLE_FILES, MANIFEST_FILE):
            os.chmod(tmp / name, file_mode())

    return place.place(directory, fill)


def check_bundle_target(directory: str | Path) -> Path:
    """Fail now, before any training, if a bundle could not be written at ``directory``: a path
    without a name, or a folder that is neither empty nor a complete bundle (see
    :func:`.place.check_replaceable`). Leftovers of an interrupted write are recovered first."""
    directory = Path(directory)
    place.check_out_path(directory)
    place.recover(directory, _is_complete)
    place.check_replaceable(directory, _listed_files)
    return directory


def _checked_kwargs(model_kwargs: Mapping[str, Any], task: Task) -> dict[str, Any]:
    kwargs = dict(_jsonable(dict(model_kwargs), "model_kwargs"))
    missing = [k for k in ("spatial_dims", "in_channels", "num_classes") if k not in kwargs]
    if missing:
        raise ValueError(f"model_kwargs needs {missing} to rebuild the model")
    if kwargs["num_classes"] != task.num_outputs:
        raise ValueError(
            f"model_kwargs num_classes={kwargs['num_classes']} but the {task.kind} task needs "
            f"{task.num_outputs} outputs"
        )
    return kwargs


def _checked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = dict(_jsonable(dict(metadata or {}), "metadata"))
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(
            f"metadata keys {clash} are written by save_bundle itself (input and normalisation "
            f"belong to the preprocessing record); remove them"
        )
    return extra


def _checked_record(preprocessing: Preprocessing | None, kwargs: dict[str, Any]) -> Preprocessing:
    record = preprocessing or Preprocessing(
        channels=kwargs["in_channels"], size=None, spatial_dims=kwargs["spatial_dims"], scale=1.0
    )
    if (record.channels, record.spatial_dims) != (kwargs["in_channels"], kwargs["spatial_dims"]):
        raise ValueError(
            f"the preprocessing record says {record.channels} channels in {record.spatial_dims}D, "
            f"the model takes {kwargs['in_channels']} in {kwargs['spatial_dims']}D"
        )
    return record


def _is_complete(path: Path) -> bool:
    try:
        verify_bundle(path, recover=False)
    except (BundleError, OSError):
        return False
    return True


def _listed_files(directory: Path) -> set[str]:
    """The files that belong to the bundle at ``directory`` (BundleError if it is none)."""
    metadata = verify_bundle(directory, recover=False)  # checks the manifest's every file
    if metadata.get("format_version") == 1:
        return {*BUNDLE_FILES, *_V1_DERIVED}
    return {*read_manifest(directory), MANIFEST_FILE}


def _read_json(path: Path) -> dict[str, Any]:
    missing = f"{path.parent} is not a complete bundle: {path.name} is missing"
    data = read_json_object(path, missing)
    if data.get("format") != FORMAT:
        raise BundleError(f"{path} is not a healthcnn bundle file (no format {FORMAT!r})")
    if data.get("format_version") not in READABLE_VERSIONS:
        raise BundleError(
            f"{path} has format_version {data.get('format_version')!r}; this healthcnn reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    return data


def _build(config: Mapping[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    from ..models import create_model

    try:
        name, kwargs = config["model_name"], dict(config["model_kwargs"])
    except (KeyError, TypeError):
        raise BundleError("config.json needs 'model_name' and 'model_kwargs'") from None
    with torch.device(device):
        return create_model(name, **kwargs)


def verify_bundle(directory: str | Path, *, recover: bool = True) -> dict[str, Any]:
    """Check a bundle without loading the weights into a model; returns its metadata.

    Checks: every file the manifest lists has its recorded size and SHA-256 (version-1 bundles,
    which have no manifest: the SHA-256 of ``model.safetensors``); both JSONs are valid bundle
    files; the task and the preprocessing record can be rebuilt; the tensor names and shapes
    equal those of the network ``config.json`` describes (built on the meta device, so no
    memory is spent). Raises :class:`BundleError` naming the first problem. With ``recover``,
    a bundle whose write was killed between its renames is first put back (see :mod:`.place`).
    """
    directory = Path(directory)
    if recover and not directory.exists():
        place.recover(directory, _is_complete)
    if not directory.is_dir():
        raise BundleError(f"{directory} is not a directory (a bundle is a directory)")
    sealed = (directory / MANIFEST_FILE).exists()
    files = check_manifest(directory, BUNDLE_FILES) if sealed else None
    config = _read_json(directory / CONFIG_FILE)
    metadata = _read_json(directory / METADATA_FILE)
    if metadata["format_version"] >= 2 and not sealed:
        raise BundleError(f"{directory} is not a sealed bundle: {MANIFEST_FILE} is missing")
    # sealed: the manifest has just hashed the weights; their digest need not be read again
    digest = files[MODEL_FILE]["sha256"] if files is not None else None
    _check_weights_digest(directory, metadata, digest)
    _check_task_and_record(directory, metadata)
    _check_tensor_shapes(directory / MODEL_FILE, config)
    return metadata


def _check_weights_digest(
    directory: Path, metadata: Mapping[str, Any], digest: str | None = None
) -> None:
    """The weights' SHA-256 (``digest`` when already computed) equals metadata's record."""
    weights = directory / MODEL_FILE
    if not weights.is_file():
        raise BundleError(f"{directory} is not a complete bundle: {MODEL_FILE} is missing")
    digest = digest or sha256_file(weights)
    if digest != metadata.get("model_sha256"):
        raise BundleError(
            f"{weights} was changed after the bundle was written: SHA-256 {digest[:12]}... but "
            f"metadata.json records {str(metadata.get('model_sha256'))[:12]}..."
        )


def _check_task_and_record(directory: Path, metadata: Mapping[str, Any]) -> None:
    try:
        Task.from_dict(metadata["task"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"metadata.json has no valid task: {exc}") from None
    try:
        Preprocessing.from_metadata(metadata)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{directory / METADATA_FILE}: {exc}") from None


def _check_tensor_shapes(weights: Path, config: Mapping[str, Any]) -> None:
    try:
        expected = {k: tuple(v.shape) for k, v in _build(config, "meta").state_dict().items()}
    except (ValueError, TypeError) as exc:
        raise BundleError(f"config.json cannot rebuild the model: {exc}") from None
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise BundleError(f"{weights} is not a readable safetensors file: {exc}") from None
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise BundleError(
            f"{weights} does not fit {config['model_name']}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    wrong = [(k, stored[k], expected[k]) for k in expected if stored[k] != expected[k]]
    if wrong:
        k, got, want = wrong[0]
        raise BundleError(f"{weights}: tensor {k!r} has shape {got}, the model needs {want}")


def load_bundle(directory: str | Path, *, device: str | torch.device = "cpu") -> Bundle:
    """Verify, rebuild the network with ``create_model`` and load the weights (eval mode)."""
    directory = Path(directory)
    metadata = verify_bundle(directory)
    config = _read_json(directory / CONFIG_FILE)
    model = _build(config)
    model.load_state_dict(load_file(str(directory / MODEL_FILE)), strict=True)
    model.to(device)
    model.eval()
    return Bundle(
        model=model,
        task=Task.from_dict(metadata["task"]),
        config=config,
        metadata=metadata,
        preprocessing=Preprocessing.from_metadata(metadata),
    )
