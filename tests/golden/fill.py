"""Deterministic weights and inputs for the torchvision golden files, without storing them.

Every tensor is a pure function of its state-dict key and shape: a numpy ``Generator`` seeded by
``zlib.crc32`` of ``"<key>|<shape>"`` draws uniform numbers, which are scaled by what the key
names. The same key and shape give the same numbers on every machine, so the golden script (run
in a scratch environment with torchvision) and the tests (run against healthcnn) fill both
models identically, and the golden files only need the outputs, not hundreds of MB of weights.

This module is pure numpy on purpose: it must not import healthcnn, torch or torchvision.

Scales (``u`` is uniform with mean 0 and variance 1, drawn in float32 with
``Generator.random``, whose stream numpy keeps stable across releases):
- convolution / linear weights (2 or more axes): ``u * sqrt(2 / fan_in)`` (He), fan_in =
  product of all axes but the first; activations keep their scale through ReLU layers;
- batch-norm ``running_var``: uniform in [0.5, 1.5] (positive); ``running_mean``: ``0.1 u``;
- ``num_batches_tracked``: 0 (int64);
- other 1-axis ``weight`` (batch-norm scale): ``1 + 0.25 u``; 1-axis ``bias``: ``0.05 u``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

_SQRT3 = math.sqrt(3.0)


def _unit_uniform(name: str, shape: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """float32 uniform numbers with mean 0 and standard deviation ``scale``, seeded by ``name``
    and ``shape`` (drawn in float32 and transformed in place: the VGG classifiers alone hold
    120M numbers)."""
    seed = zlib.crc32(f"{name}|{tuple(int(s) for s in shape)}".encode())
    rng = np.random.Generator(np.random.PCG64(seed))
    out = rng.random(tuple(shape), dtype=np.float32)
    out -= np.float32(0.5)
    out *= np.float32(2.0 * _SQRT3 * scale)
    return out


def fill_value(key: str, shape: Sequence[int]) -> np.ndarray:
    """The deterministic value of state-dict entry ``key`` with ``shape``.

    Returns float32, except ``num_batches_tracked`` (int64 zeros).
    """
    shape = tuple(int(s) for s in shape)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if leaf == "running_var":  # uniform in [0.5, 1.5]
        return _unit_uniform(key, shape, 1.0 / (2.0 * _SQRT3)) + np.float32(1.0)
    if leaf == "running_mean":
        return _unit_uniform(key, shape, 0.1)
    if len(shape) >= 2:
        return _unit_uniform(key, shape, math.sqrt(2.0 / math.prod(shape[1:])))
    if leaf == "weight":
        return _unit_uniform(key, shape, 0.25) + np.float32(1.0)
    if leaf == "bias":
        return _unit_uniform(key, shape, 0.05)
    return _unit_uniform(key, shape, 0.1)


def fill_state(shapes: dict[str, Sequence[int]]) -> dict[str, np.ndarray]:
    """``fill_value`` for every ``key -> shape`` of a state dict, in the same order."""
    return {key: fill_value(key, shape) for key, shape in shapes.items()}


def fill_input(shape: Sequence[int], name: str = "input") -> np.ndarray:
    """A fixed float32 input batch: unit-variance uniform numbers seeded by ``name``."""
    return _unit_uniform(name, shape)
