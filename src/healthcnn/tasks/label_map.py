"""Label maps: turn the labels a dataset stores into the classes a task trains on.

A retinopathy dataset stores the DR grade (0-4); a screening task trains on "referable" vs
"non-referable". The dataset keeps the raw grade, the task owns the meaning, and the map between
them is data (a dict), so it can be written into a bundle and read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch


def _as_label_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{what} must be an int, got {value!r} of type {type(value).__name__}")
    return int(value)


@dataclass(frozen=True, eq=True)
class LabelMap:
    """``LabelMap({0: 0, 1: 0, 2: 1, 3: 1, 4: 1}, classes=["non-referable", "referable"])``.

    ``mapping`` sends each source label (an int the dataset stores) to a target class index in
    ``classes``. ``source_classes`` optionally names the source labels (for reports). A source
    label missing from the map is an error when the map is applied, never silently dropped.
    """

    mapping: Mapping[int, int]
    classes: Sequence[str]
    source_classes: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping) or not self.mapping:
            raise ValueError(
                f"LabelMap needs a non-empty dict source label -> class index, got {self.mapping!r}"
            )
        classes = tuple(str(c) for c in self.classes)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"LabelMap classes must be >= 2 distinct names, got {list(classes)}")
        clean: dict[int, int] = {}
        for src, dst in self.mapping.items():
            src_i = _as_label_int(src, "a LabelMap source label")
            dst_i = _as_label_int(dst, f"the target of source label {src_i}")
            if not 0 <= dst_i < len(classes):
                raise ValueError(
                    f"LabelMap sends source label {src_i} to class index {dst_i}, but there are "
                    f"only {len(classes)} classes {list(classes)}"
                )
            clean[src_i] = dst_i
        unused = [c for i, c in enumerate(classes) if i not in clean.values()]
        if unused:
            raise ValueError(f"LabelMap: no source label maps to class(es) {unused}")
        object.__setattr__(self, "mapping", MappingProxyType(dict(sorted(clean.items()))))
        object.__setattr__(self, "classes", classes)
        if self.source_classes is not None:
            object.__setattr__(self, "source_classes", tuple(str(c) for c in self.source_classes))

    def __hash__(self) -> int:
        return hash((tuple(self.mapping.items()), self.classes, self.source_classes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMap):
            return NotImplemented
        return (dict(self.mapping), self.classes, self.source_classes) == (
            dict(other.mapping),
            other.classes,
            other.source_classes,
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _lookup_table(self) -> tuple[int, np.ndarray]:
        lo = min(self.mapping)
        hi = max(self.mapping)
        table = np.full(hi - lo + 1, -1, dtype=np.int64)
        for src, dst in self.mapping.items():
            table[src - lo] = dst
        return lo, table

    def apply(self, labels: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Map integer labels (any shape) to class indices; returns the same array type.

        Raises ``ValueError`` naming the first label the map does not cover.
        """
        is_torch = isinstance(labels, torch.Tensor)
        arr = labels.detach().cpu().numpy() if is_torch else np.asarray(labels)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"LabelMap.apply needs integer labels, got dtype {arr.dtype}")
        lo, table = self._lookup_table()
        pos = arr.astype(np.int64) - lo
        inside = (pos >= 0) & (pos < len(table))
        out = np.full(arr.shape, -1, dtype=np.int64)
        out[inside] = table[pos[inside]]
        if (out < 0).any():
            bad = int(arr[out < 0].flat[0])
            raise ValueError(
                f"label {bad} is not covered by the LabelMap (covers {sorted(self.mapping)}); "
                f"add it to the map or drop those samples"
            )
        if is_torch:
            return torch.from_numpy(out).to(labels.device)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (keys become strings, as JSON requires)."""
        return {
            "mapping": {str(k): v for k, v in self.mapping.items()},
            "classes": list(self.classes),
            "source_classes": None if self.source_classes is None else list(self.source_classes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelMap:
        try:
            mapping = {int(k): int(v) for k, v in data["mapping"].items()}
            return cls(mapping, classes=data["classes"], source_classes=data.get("source_classes"))
        except (KeyError, AttributeError) as exc:
            raise ValueError(
                f"not a LabelMap dict (needs 'mapping' and 'classes'): {exc}"
            ) from None


DR_GRADES = ("no DR", "mild", "moderate", "severe", "proliferative")


def referable_dr() -> LabelMap:
    """DR grade (0 none, 1 mild, 2 moderate, 3 severe, 4 proliferative) -> referable.

    Referable = moderate or worse (grade >= 2), the definition of Gulshan et al. (JAMA 2016) for
    the image-level grade (their reference also counts referable macular edema, which a grade
    alone does not carry).
    """
    return LabelMap(
        {0: 0, 1: 0, 2: 1, 3: 1, 4: 1},
        classes=("non-referable", "referable"),
        source_classes=DR_GRADES,
    )
