"""What every study shares: estimates as plain dicts, metrics without degenerate-case
warnings, spreads over seeds, the device's name and the one writer of a study's result file."""

from __future__ import annotations

import math
import platform
import statistics
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import atomic_write_text
from .._json import dumps
from .._provenance import data_file_hashes, git_commit, package_versions
from ..metrics import DegenerateMetricWarning


def est(e: Any) -> dict[str, Any]:
    """An estimate (value, CI, method) as a dict; a bare number as ``{"value": x}``."""
    return e.as_dict() if hasattr(e, "as_dict") else {"value": float(e)}


def quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with :class:`DegenerateMetricWarning` silenced (a fold or a
    subgroup with one class only gives NaN, which the study reports as such)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        return fn(*args, **kwargs)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample SD over the non-NaN ``values`` (seeds), with the values themselves."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if not len(v):
        return {"mean": float("nan"), "sd": float("nan"), "n": 0, "values": list(values)}
    sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "sd": sd, "n": len(v), "values": list(map(float, values))}


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample SD (NaN for one value) of ``values``, and their number."""
    return {
        "mean": float(np.mean(values)),
        "sd": float(statistics.stdev(values)) if len(values) > 1 else float("nan"),
        "n": len(values),
    }


def device_name(device: str | torch.device) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name and architecture and torch's
    thread count (the model matters: kernels, and so the last bits of a run, differ between
    CPUs with and without bf16 or AMX units, and CPUs of one model name can differ in them, so
    the CPU's native-bf16 flags are named too: ``"none"`` where it has neither)."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from ..inference.precision import BF16_CPU_FLAGS, cpu_flags, cpu_name

    bf16 = " ".join(f for f in BF16_CPU_FLAGS if f in cpu_flags()) or "none"
    return (
        f"CPU {cpu_name()} ({platform.machine()}, native bf16: {bf16}), "
        f"{torch.get_num_threads()} thread(s)"
    )


#: the run record written beside every study result
RUN_FILE = "run.json"


def write_result(path: str | Path, result: Any, data_files: Sequence[str | Path] = ()) -> Path:
    """Write a study's result as strict JSON (NaN as null), atomically: an interrupted
    study leaves the previous file or the new one. Beside it, ``run.json`` records the run:
    the result's ``config`` (seeds included), the git commit of the code (None outside a
    checkout), the package versions and the SHA-256 of each of ``data_files`` (the files the
    study read)."""
    path = Path(path)
    config = result.get("config") if isinstance(result, dict) else None
    record = {
        "config": config,
        "git": git_commit(),
        "versions": package_versions(),
        "data_files": data_file_hashes(data_files),
    }
    atomic_write_text(path.with_name(RUN_FILE), dumps(record, indent=1) + "\n")
    return atomic_write_text(path, dumps(result, indent=1) + "\n")
