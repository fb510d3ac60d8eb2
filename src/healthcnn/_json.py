"""Strict JSON for every file and printout that users read with other tools.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which JavaScript, jq and most
JSON parsers refuse. Results here are turned into plain JSON first: undefined numbers (an AUC
on a one-class split, an infinite threshold) become ``null``, numpy scalars and arrays become
Python numbers and lists, tuples become lists, paths become strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np


def plain(obj: Any, *, nonfinite: bool = False) -> Any:
    """``obj`` as plain JSON data; non-finite floats become ``None`` unless ``nonfinite`` (kept
    for in-memory use, e.g. a report that prints "n/a" for NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v, nonfinite=nonfinite) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [plain(v, nonfinite=nonfinite) for v in items]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), nonfinite=nonfinite)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if nonfinite or math.isfinite(f) else None
    if isinstance(obj, PathLike):
        return str(obj)
    if hasattr(obj, "as_dict"):
        return plain(obj.as_dict(), nonfinite=nonfinite)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write a {type(obj).__name__} to JSON: {obj!r:.80}")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (see :func:`plain`); never contains NaN or Infinity."""
    return json.dumps(plain(obj), indent=indent, allow_nan=False)


def read_object(path: PathLike | str, error: type[Exception], hint: str = "") -> dict[str, Any]:
    """The JSON object stored in ``path``; ``error`` (naming the file, plus ``hint``) when the
    file is not valid UTF-8 JSON or holds something other than an object."""
    try:
        doc = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON ({exc}){hint}") from None
    if not isinstance(doc, dict):
        raise error(f"{path} must hold a JSON object, not {type(doc).__name__}{hint}")
    return doc
