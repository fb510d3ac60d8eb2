"""Reading a run configuration (``--config`` YAML or JSON) and checking ``--device`` / ``--out``.

A configuration holds plain settings only: YAML is read with ``yaml.safe_load``, so a
``!!python/...`` tag constructs nothing and is refused with the line it is on. Typed settings
are converted strictly: YAML 1.1 reads ``lr: 1e-3`` as the string ``"1e-3"`` (it wants
``1.0e-3``), so a string in a number field is converted (``"1e-3"`` -> 0.001) when it is one,
and refused naming the setting when it is not; ``2.5`` for an integer field is refused, never
truncated. Every bad setting is listed at once, in one ``ValueError`` naming the file
(:class:`healthcnn.training.config.ConfigError`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..training.config import ConfigError, RunConfig, TrainConfig, convert, scalar_types
from . import CLIError

_TRAIN_TYPES = scalar_types(TrainConfig)
_RUN_TYPES = scalar_types(RunConfig)


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


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings of a YAML (``.yaml``/``.yml``) or JSON file as read, types unconverted."""
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
    return data


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Run settings from YAML (``.yaml``/``.yml``) or JSON, typed fields converted strictly."""
    return coerce_settings(read_config_file(path), str(path))


def coerce_settings(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``data`` with the scalar settings (top level and under ``train``) converted to
    their types; every value that is not one is listed in one :class:`ConfigError`."""
    problems: list[str] = []

    def typed(key: str, value: Any, kind: type | None, what: str) -> Any:
        if kind is None or value is None:
            return value
        try:
            return convert(value, kind, what)
        except ValueError as exc:
            problems.append(str(exc))
            return value

    kinds = {**_TRAIN_TYPES, **_RUN_TYPES}
    out = {k: typed(k, v, kinds.get(k), f"setting {k!r}") for k, v in data.items()}
    train = out.get("train")
    if isinstance(train, dict):
        out["train"] = {
            k: typed(k, v, _TRAIN_TYPES.get(k), f"setting train.{k}") for k, v in train.items()
        }
    elif train is not None:
        problems.append(f"'train' must be a mapping of settings, got {train!r}")
    if problems:
        raise ConfigError(problems, where)
    return out


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
