"""Image folders too large for memory: decode each image when it is read, in DataLoader workers.

:func:`~.images.load_image_csv` normally decodes every image once into one uint8 tensor (the
fast path). Before it does, :func:`decoded_size` reads only the image headers (size and mode,
no pixels) to learn how much memory the decoded tensor would take. When that is more than the
memory budget (``memory_budget_mb``, else :data:`BUDGET_FRACTION` of the memory available now),
:func:`choose_streaming` picks streaming and the loader returns an :class:`ImageFileDataset`
instead: a ``torch.utils.data.Dataset`` that decodes image ``i`` on ``ds[i]``, so training holds
only the batches in flight. The choice and its numbers are logged (``healthcnn.data`` logger:
streaming at INFO, which ``healthcnn train`` prints on stderr; in memory at DEBUG).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._progress import format_size
from .arrays import LabelledSamples
from .root import DataError

logger = logging.getLogger(__name__)

#: without an explicit budget, stream when the decoded images would take more than this
#: fraction of the memory available when the data is loaded
BUDGET_FRACTION = 0.5


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``, else free pages), None if
    unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def decoded_size(
    paths: Sequence[Path], channels: int, size_hw: tuple[int, int] | None, where: str
) -> int:
    """Bytes of the decoded uint8 tensor of ``paths``, from the image headers alone. Without
    ``size_hw`` every image must have the first image's size (else a DataError naming both
    and the ``size`` option)."""
    if size_hw is not None:
        return len(paths) * channels * size_hw[0] * size_hw[1]
    from PIL import Image, UnidentifiedImageError

    first: tuple[int, int] | None = None
    for row, path in enumerate(paths, start=2):
        try:
            with Image.open(path) as img:  # reads the header only
                width, height = img.size
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            raise DataError(f"image {path} ({where} row {row}) could not be read: {exc}") from None
        if first is None:
            first = (height, width)
        elif (height, width) != first:
            raise DataError(
                f"the images of {where} differ in size ({paths[0]} is {first[0]} x {first[1]} "
                f"px, {path} (row {row}) is {height} x {width} px); choose the size to resize "
                "every image to: --size N for healthcnn train (size: N in a config, size=N in "
                "Python)"
            )
    assert first is not None  # the CSV has rows
    return len(paths) * channels * first[0] * first[1]


def choose_streaming(
    decoded_bytes: int, stream: bool | None, memory_budget_mb: float | None, name: str
) -> bool:
    """Whether to stream: ``stream`` when given, else whether ``decoded_bytes`` exceed the
    budget; the choice and why are logged."""
    if memory_budget_mb is not None and not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be > 0, got {memory_budget_mb!r}")
    if stream is not None:
        reason = "asked for" if stream else "streaming turned off"
    else:
        budget, source = _budget(memory_budget_mb)
        stream = budget is not None and decoded_bytes > budget
        size = f"decoded, the images take {format_size(decoded_bytes)}"
        if budget is None:
            reason = f"{size}; the available memory is unknown"
        else:
            reason = f"{size}; the memory budget is {format_size(budget)} ({source})"
    how = "streaming (decoded per image as read)" if stream else "decoded once into memory"
    # streaming is the notable choice (INFO, shown by the CLI); in memory is the usual one
    logger.log(logging.INFO if stream else logging.DEBUG, "%s: %s (%s)", name, how, reason)
    return stream


def _budget(memory_budget_mb: float | None) -> tuple[int | None, str]:
    """The budget in bytes and where it comes from (None: no budget given, memory unknown)."""
    if memory_budget_mb is not None:
        return int(memory_budget_mb * 2**20), "memory_budget_mb, --memory-budget-mb"
    available = available_memory()
    if available is None:
        return None, ""
    return int(available * BUDGET_FRACTION), (
        f"{BUDGET_FRACTION:.0%} of the {format_size(available)} available"
    )


@dataclass(eq=False)
class ImageFileDataset(LabelledSamples, Dataset):
    """Image files decoded on access: ``ds[i]`` is ``(uint8 tensor (C, H, W), label)``.

    Carries what the in-memory :class:`~.arrays.ArrayDataset` carries apart from the pixels
    (labels, classes, ids, groups, name), so splits, tasks and predictions work unchanged.
    ``rows`` are the CSV row numbers (for error messages).
    """

    paths: list[Path]
    labels: torch.Tensor
    classes: list[str]
    channels: int
    size_hw: tuple[int, int]
    csv_path: Path
    rows: list[int]
    ids: list[str] | None = None
    groups: list[str] | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from .images import decode_image_file

        path, row = self.paths[index], self.rows[index]
        mode = "RGB" if self.channels == 3 else "L"
        pixels = decode_image_file(path, row, self.csv_path, mode, self.size_hw)
        if pixels.shape[1:] != self.size_hw:
            height, width = pixels.shape[1:]
            raise DataError(
                f"the images of {self.csv_path} differ in size ({path} (row {row}) is {height} x "
                f"{width} px, the others {self.size_hw[0]} x {self.size_hw[1]} px); choose the "
                "size to resize every image to: --size N for healthcnn train (size: N in a "
                "config, size=N in Python)"
            )
        return torch.from_numpy(np.ascontiguousarray(pixels)), self.labels[index]

    @property
    def spatial_dims(self) -> int:
        return 2

    @property
    def in_channels(self) -> int:
        return self.channels

    @property
    def spatial_shape(self) -> tuple[int, int]:
        return self.size_hw

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageFileDataset:
        """A new dataset of the given samples, in that order (nothing is decoded)."""
        pick = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        if pick and (min(pick) < -len(self) or max(pick) >= len(self)):
            raise IndexError(f"indices out of range for a dataset of {len(self)} samples")
        return ImageFileDataset(
            paths=[self.paths[i] for i in pick],
            labels=self.labels[torch.as_tensor(pick, dtype=torch.int64)],
            classes=list(self.classes),
            channels=self.channels,
            size_hw=self.size_hw,
            csv_path=self.csv_path,
            rows=[self.rows[i] for i in pick],
            ids=None if self.ids is None else [self.ids[i] for i in pick],
            groups=None if self.groups is None else [self.groups[i] for i in pick],
            name=self.name,
        )

    def __repr__(self) -> str:
        return (
            f"ImageFileDataset(name={self.name!r}, n={len(self)}, "
            f"images=({self.channels}, {self.size_hw[0]}, {self.size_hw[1]}), streamed)"
        )
