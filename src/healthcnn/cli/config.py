"""Reading a run configuration (``--config`` YAML or JSON) and checking ``--device`` / ``--out``.

A configuration holds plain settings only: YAML is read with ``yaml.safe_load``, so a
``!!python/...`` tag constructs nothing and is refused with the line it is on. Typed settings
are converted strictly: YAML 1.1 reads ``lr: 1e-3`` as the string ``"1e-3"`` (it wants
``1.0e-3``), so a string in a number field is converted (``"1e-3"`` -> 0.001) when it is one,
and refused naming the setting when it is not; ``2.5`` for an integer field is refused, never
truncated. Every problem is a ``ValueError`` naming the file, the setting and the fix.
"""

from __future__ import annotations

import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import torch

from ..training.config import TrainConfig
from . import CLIError

#: run-level settings with a scalar type (the rest of RunConfig is text or a mapping)
_RUN_TYPES: dict[str, type] = {"size": int, "normalise": bool, "download": bool}


def _scalar_types(cls: type) -> dict[str, type]:
    """``{field: int | float | bool}`` for the dataclass fields of scalar (or optional scalar)
    type."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        scalars = [a for a in args if a in (int, float, bool)]
        if len(scalars) == 1:
            out[name] = scalars[0]
    return out


_TRAIN_TYPES = _scalar_types(TrainConfig)


def _yaml_load(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise ValueError(
            f"{path}: reading YAML needs PyYAML (pip install 'healthcnn[yaml]'); or use JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ValueError(
            f"{path}{where}: {exc.problem}; a configuration holds plain settings (numbers, text, "
            "lists, mappings) - tags such as !!python/... are refused, nothing is constructed"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}{where} is not valid YAML: {problem}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Run settings from YAML (``.yaml``/``.yml``) or JSON, typed fields converted strictly."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a UTF-8 text file ({exc.reason})") from None
    if path.suffix in (".yaml", ".yml"):
        data = _yaml_load(path, text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    return coerce_settings(data, str(path))


def coerce_settings(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``data`` with the scalar settings (top level and under ``train``) converted to
    their types; a value that is not one raises a ValueError naming it."""
    out = dict(data)
    for key, kind in {**_TRAIN_TYPES, **_RUN_TYPES}.items():
        if key in out and out[key] is not None:
            out[key] = convert(out[key], kind, f"{where}: setting {key!r}")
    train = out.get("train")
    if isinstance(train, dict):
        out["train"] = {
            k: convert(v, _TRAIN_TYPES[k], f"{where}: setting train.{k}")
            if k in _TRAIN_TYPES and v is not None
            else v
            for k, v in train.items()
        }
    elif train is not None:
        raise ValueError(f"{where}: 'train' must be a mapping of settings, got {train!r}")
    return out


def convert(value: Any, kind: type, what: str) -> Any:
    """``value`` as ``kind`` (int, float or bool), from a number or a string, never rounding."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(f"{what} = {value!r} is not true or false")
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{what} = {value!r} is not a number") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError(f"{what} = {value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{what} = {value!r} is not a finite number")
    if kind is int:
        if float(number) != int(number):
            raise ValueError(f"{what} = {value!r} is not a whole number")
        return int(number)
    return float(number)


def check_device(device: str | None) -> str:
    """``device`` if this machine can run on it (``cpu``, ``cuda``, ``cuda:N``), else a
    CLIError saying why and what to use instead."""
    text = "cpu" if device is None else str(device).strip()
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError):
        raise CLIError(
            f"--device {text!r} is not a device; use cpu, cuda or cuda:N (N: the GPU index)"
        ) from None
    if parsed.type == "cpu":
        return text
    if parsed.type != "cuda":
        raise CLIError(f"--device {text!r} is not supported; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise CLIError(
            f"--device {text}: CUDA is not available on this machine (this PyTorch build "
            f"{torch.__version__} has no CUDA, or no GPU is visible); use --device cpu"
        )
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise CLIError(
            f"--device {text}: there are {torch.cuda.device_count()} GPU(s) (cuda:0.."
            f"cuda:{torch.cuda.device_count() - 1})"
        )
    return text
