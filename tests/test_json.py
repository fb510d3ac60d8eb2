"""Strict JSON: what users' tools (jq, JavaScript, pandas) can read."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from healthcnn._json import dumps, plain
from healthcnn.metrics import Estimate


def test_nonfinite_numbers_become_null_and_text_is_strict():
    data = {"auc": float("nan"), "thr": np.float32("inf"), "neg": -math.inf, "ok": np.float64(0.5)}
    text = dumps(data)
    assert "NaN" not in text and "Infinity" not in text
    # a strict parser (as in JavaScript) refuses NaN; the text must parse with one
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert back == {"auc": None, "thr": None, "neg": None, "ok": 0.5}


def test_numpy_tuples_sets_paths_and_estimates_become_plain():
    est = Estimate(0.8, 0.7, 0.9, method="delong", level=0.95)
    data = {
        1: (np.int64(3), np.bool_(True)),
        "arr": np.array([[1.0, np.nan]]),
        "set": {"b", "a"},
        "path": Path("runs") / "x",
        "est": est,
    }
    out = plain(data)
    assert out == {
        "1": [3, True],
        "arr": [[1.0, None]],
        "set": ["a", "b"],
        "path": str(Path("runs") / "x"),
        "est": plain(est.as_dict()),
    }
    assert type(out["1"][0]) is int and type(out["1"][1]) is bool


def test_nonfinite_kept_in_memory_when_asked():
    out = plain({"x": np.float32("nan")}, nonfinite=True)
    assert math.isnan(out["x"]) and type(out["x"]) is float
    with pytest.raises(ValueError):  # but never written as such
        json.dumps(out, allow_nan=False)


def test_unknown_objects_are_refused_with_their_type():
    with pytest.raises(TypeError, match="cannot write a object to JSON"):
        dumps({"x": object()})
