"""Resumable training checkpoints without pickles: one safetensors file plus one JSON file.

``out_dir/checkpoint-<epoch>-<token>.safetensors`` holds the tensors (the live model under
``model.``, the best weights so far under ``best.``, the weight average (when training keeps one)
under ``ema.``, the optimizer state under ``optim.<param index>.<name>``);
``out_dir/checkpoint.json`` holds everything else (epoch, schedule position, RNG scheme,
non-tensor optimizer state, history) and names the tensors file it belongs to, with its SHA-256.

Writes are atomic: each file goes to a temporary name, is flushed to disk and renamed into place,
the tensors file first and the JSON last. A crash at any point leaves the previous JSON pointing
at the previous, intact tensors file; tensors files no JSON points to are deleted afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .._atomic import atomic_write_bytes, remove_stale_temps_in
from .._json import dumps, read_object

CHECKPOINT_JSON = "checkpoint.json"
FORMAT = "healthcnn-checkpoint"
FORMAT_VERSION = 1


def _cpu_contiguous(t: torch.Tensor) -> torch.Tensor:
    # safetensors needs contiguous, unshared storage; clone also detaches from the live model
    return t.detach().to("cpu").clone(memory_format=torch.contiguous_format)


def flatten_optimizer_state(
    state: Mapping[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` -> (tensors keyed ``optim.<idx>.<name>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, per_param in state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = _cpu_contiguous(value)
            else:
                scalars.setdefault(str(idx), {})[name] = value
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
        for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(
    tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith("optim."):
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
        for g in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    out_dir: str | Path,
    *,
    epoch: int,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    best_state: Mapping[str, torch.Tensor] | None,
    info: Mapping[str, Any],
    ema_state: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint of ``epoch`` completed epochs; returns the JSON's path.

    ``info`` is the JSON-able rest (config, history, schedule, RNG); it must not use the keys
    this function writes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps_in(out)  # what a run killed while writing a checkpoint left
    tensors = {f"model.{k}": _cpu_contiguous(v) for k, v in model_state.items()}
    if best_state is not None:
        tensors.update({f"best.{k}": _cpu_contiguous(v) for k, v in best_state.items()})
    if ema_state is not None:
        tensors.update({f"ema.{k}": _cpu_contiguous(v) for k, v in ema_state.items()})
    optim_tensors, optim_meta = flatten_optimizer_state(optimizer_state)
    tensors.update(optim_tensors)
    blob = st_save(tensors, metadata={"format": FORMAT})
    name = f"checkpoint-{epoch:04d}-{secrets.token_hex(4)}.safetensors"
    atomic_write_bytes(out / name, blob)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tensors": name,
        "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        "epoch": epoch,
        "has_best": best_state is not None,
        "optimizer": optim_meta,
        **info,
    }
    atomic_write_bytes(out / CHECKPOINT_JSON, dumps(doc, indent=1).encode())
    for stale in out.glob("checkpoint-*.safetensors"):
        if stale.name != name:
            stale.unlink(missing_ok=True)
    return out / CHECKPOINT_JSON


class Checkpoint:
    """A loaded checkpoint: ``info`` (the JSON), ``model_state``, ``best_state`` and
    ``ema_state`` (or None), ``optimizer_state`` (ready for ``optimizer.load_state_dict``)."""

    def __init__(self, info: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.info = info
        self.epoch: int = info["epoch"]
        self.model_state = _strip(tensors, "model.")
        self.best_state = _strip(tensors, "best.") if info["has_best"] else None
        self.ema_state = _strip(tensors, "ema.") or None
        self.optimizer_state = unflatten_optimizer_state(tensors, info["optimizer"])


def _strip(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


#: keys every checkpoint JSON holds, with their JSON types
_REQUIRED = {
    "tensors": str,
    "tensors_sha256": str,
    "epoch": int,
    "has_best": bool,
    "optimizer": dict,
}


def _read_info(path: Path) -> dict[str, Any]:
    """The checkpoint JSON, checked for every key this module reads."""
    info = read_object(path, ValueError, "; delete it to start over")
    if info.get("format") != FORMAT:
        raise ValueError(f"{path} is not a healthcnn checkpoint (format {info.get('format')!r})")
    for key, kind in _REQUIRED.items():
        if key not in info:
            raise ValueError(
                f"{path} has no {key!r} entry: the checkpoint is incomplete or was edited; "
                "delete it to start over"
            )
        if not isinstance(info[key], kind) or (kind is int and isinstance(info[key], bool)):
            raise ValueError(f"{path}: {key!r} must be a {kind.__name__}, got {info[key]!r}")
    name = info["tensors"]
    if Path(name).name != name or not name.endswith(".safetensors"):
        raise ValueError(
            f"{path}: 'tensors' must be a file name in {path.parent} ending in .safetensors, "
            f"got {name!r}"
        )
    return info


def checkpoint_epoch(out_dir: str | Path) -> int:
    """The epochs done in ``out_dir``'s checkpoint, from its JSON alone (checked as
    :func:`load_checkpoint` checks it; the tensors are read and verified when it is loaded)."""
    path = Path(out_dir) / CHECKPOINT_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint to resume from: {path} does not exist (train without resume first)"
        )
    return int(_read_info(path)["epoch"])


def load_checkpoint(out_dir: str | Path) -> Checkpoint:
    """Read ``out_dir/checkpoint.json`` and the tensors file it names (checking its SHA-256).
    A damaged or edited checkpoint is a ValueError naming the file and what is wrong."""
    out = Path(out_dir)
    path = out / CHECKPOINT_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint to resume from: {path} does not exist (train without resume first)"
        )
    info = _read_info(path)
    tensors_path = out / info["tensors"]
    if not tensors_path.is_file():
        raise FileNotFoundError(f"{path} names {tensors_path.name}, which is missing")
    blob = tensors_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != info["tensors_sha256"]:
        raise ValueError(f"{tensors_path} does not match the SHA-256 recorded in {path}")
    try:
        return Checkpoint(info, st_load(blob))
    except (KeyError, TypeError, ValueError, AttributeError, SafetensorError) as exc:
        raise ValueError(
            f"{path}: the checkpoint's optimizer or tensor entries are malformed "
            f"({type(exc).__name__}: {exc}); delete it to start over"
        ) from None
