"""The in-memory dataset the Trainer consumes, and the batch iterator over it.

Images are decoded once into one uint8 tensor ``(N, C, *spatial)``; an epoch only indexes that
tensor and converts each batch to float32 in [0, 1] (then applies the batch transform). Signals
(ECG) have no fixed integer range: they are kept as one float32 tensor ``(N, leads, samples)``,
already filtered and normalised, and pass through unchanged. No per-sample Python objects, no
re-decoding, no worker processes.

``ArrayDataset`` is also a ``torch.utils.data.Dataset`` (``ds[i]`` is ``(image, label)``), so
``DataLoader(ds)`` works; the Trainer itself indexes the tensor a batch at a time instead (see
:mod:`.loaders` for the ``DataLoader`` path and what it guarantees).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

#: a batch transform: float tensor (N, C, *spatial) and a generator -> tensor
BatchTransform = Callable[..., torch.Tensor]


class LabelledSamples:
    """What the in-memory :class:`ArrayDataset` and the streamed
    :class:`~.image_stream.ImageFileDataset` derive alike from their ``labels`` and
    ``classes``."""

    labels: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    def class_counts(self) -> np.ndarray:
        """Samples per class (multi-label: positives per class), length ``num_classes``."""
        if self.multilabel:
            return self.labels.sum(dim=0).to(torch.int64).numpy()
        return np.bincount(self.labels.numpy(), minlength=len(self.classes))


@dataclass(eq=False)
class ArrayDataset(LabelledSamples, Dataset):
    """Decoded samples plus labels, class names and optional per-sample ids and groups.

    ``images`` is uint8 ``(N, C, *spatial)`` (pixels/voxels, scaled to [0, 1] per batch) or
    float32 (signals such as ECG windows ``(N, leads, samples)``, used as they are).
    ``labels`` are int64 ``(N,)`` for binary, multi-class and ordinal tasks, float32 ``(N, K)``
    (0/1) for multi-label tasks. ``groups`` (patient or lesion id) drive grouped splits and
    bootstraps.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    ids: list[str] | None = None
    groups: list[str] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype not in (
            torch.uint8,
            torch.float32,
        ):
            raise TypeError(
                f"{self.name or 'dataset'}: images must be a uint8 (images) or float32 "
                f"(signals) torch.Tensor (N, C, *spatial), got "
                f"{getattr(self.images, 'dtype', type(self.images))}"
            )
        if self.images.ndim < 3:
            raise ValueError(
                f"{self.name or 'dataset'}: images must have shape (N, C, *spatial), "
                f"got {tuple(self.images.shape)}"
            )
        n = self.images.shape[0]
        if self.labels.shape[0] != n:
            raise ValueError(
                f"{self.name or 'dataset'}: {n} images but {self.labels.shape[0]} labels"
            )
        if self.labels.ndim == 2:
            if self.labels.dtype != torch.float32:
                raise TypeError(
                    f"multi-label labels (N, K) must be float32, got {self.labels.dtype}"
                )
            if self.classes and self.labels.shape[1] != len(self.classes):
                raise ValueError(
                    f"labels have {self.labels.shape[1]} columns but there are "
                    f"{len(self.classes)} classes"
                )
        elif self.labels.ndim == 1:
            if self.labels.dtype != torch.int64:
                raise TypeError(f"class labels (N,) must be int64, got {self.labels.dtype}")
        else:
            raise ValueError(f"labels must be (N,) or (N, K), got {tuple(self.labels.shape)}")
        self.classes = list(self.classes)
        for attr in ("ids", "groups"):
            value = getattr(self, attr)
            if value is not None:
                value = list(value)
                setattr(self, attr, value)
                if len(value) != n:
                    raise ValueError(
                        f"{self.name or 'dataset'}: {len(value)} {attr} for {n} samples"
                    )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``index`` as ``(image, label)``: the stored uint8 (or float32) tensor
        ``(C, *spatial)`` and its label (int64 scalar, or float32 ``(K,)`` multi-label)."""
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not isinstance(index, int | np.integer) or isinstance(index, bool):
            raise TypeError(
                f"{self.name or 'dataset'}: index must be an int, got {type(index).__name__}; "
                "use .subset(indices) for several samples"
            )
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} samples")
        return self.images[index], self.labels[index]

    @property
    def spatial_dims(self) -> int:
        return self.images.ndim - 2

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.images.shape[2:])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ArrayDataset:
        """A new dataset with the given samples (in that order); tensors are copied."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        if idx.ndim != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {tuple(idx.shape)}")
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise IndexError(f"indices out of range for a dataset of {len(self)} samples")
        pick = idx.tolist()
        return ArrayDataset(
            images=self.images.index_select(0, idx),
            labels=self.labels.index_select(0, idx),
            classes=list(self.classes),
            ids=[self.ids[i] for i in pick] if self.ids is not None else None,
            groups=[self.groups[i] for i in pick] if self.groups is not None else None,
            name=self.name,
        )

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(name={self.name!r}, n={len(self)}, images={tuple(self.images.shape)}"
            f", classes={len(self.classes)}, multilabel={self.multilabel})"
        )


def balanced_sample_weights(ds: ArrayDataset) -> torch.Tensor:
    """Per-sample weights 1 / (count of its class): weighted sampling then draws every class
    about equally often. Multi-label datasets have no single class per sample: raises."""
    if ds.multilabel:
        raise ValueError("balanced sampling needs one class per sample; the dataset is multi-label")
    counts = torch.as_tensor(ds.class_counts(), dtype=torch.float64)
    return (1.0 / counts.clamp(min=1))[ds.labels]


def _epoch_indices(
    n: int,
    shuffle: bool,
    generator: torch.Generator | None,
    sample_weights: torch.Tensor | np.ndarray | Sequence[float] | None,
) -> torch.Tensor:
    if sample_weights is not None:
        weights = torch.as_tensor(np.asarray(sample_weights, dtype=np.float64))
        if weights.shape != (n,):
            raise ValueError(
                f"sample_weights must have one weight per sample ({n}), got shape "
                f"{tuple(weights.shape)}"
            )
        if (
            bool((weights < 0).any())
            or not bool(torch.isfinite(weights).all())
            or float(weights.sum()) <= 0
        ):
            raise ValueError("sample_weights must be finite, non-negative and not all zero")
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    if shuffle:
        return torch.randperm(n, generator=generator)
    return torch.arange(n)


def batch_indices(
    n: int,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None,
    sample_weights: torch.Tensor | None,
    drop_last: bool,
) -> Iterator[torch.Tensor]:
    """The sample indices of each batch of one epoch (shuffled or weighted by ``generator``;
    a last, short batch dropped with ``drop_last``)."""
    order = _epoch_indices(n, shuffle, generator, sample_weights)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if drop_last and len(idx) < batch_size:
            return
        yield idx


def iterate_batches(
    ds: ArrayDataset,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    transform: BatchTransform | None = None,
    sample_weights: torch.Tensor | np.ndarray | Sequence[float] | None = None,
    drop_last: bool = False,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of ``(x, y, indices)`` batches.

    ``x`` is float32 on ``device``: in [0, 1] (``uint8 / 255``) for uint8 images, the stored
    values for float32 signals; then ``transform(x,
    generator=generator)`` is applied; ``y`` are the labels; ``indices`` index ``ds`` (CPU,
    int64). Without ``sample_weights`` every sample appears exactly once (shuffled or in order);
    with them, ``len(ds)`` samples are drawn with replacement in proportion to the weights
    (e.g. :func:`balanced_sample_weights`). The same generator state gives the same epoch.
    ``channels_last`` returns 4D/5D batches in channels-last memory format.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = torch.device(device)
    for idx in batch_indices(len(ds), batch_size, shuffle, generator, sample_weights, drop_last):
        x, y = make_batch(ds, idx, device, transform, generator, channels_last)
        yield x, y, idx


def make_batch(
    ds: ArrayDataset,
    idx: torch.Tensor,
    device: torch.device,
    transform: BatchTransform | None,
    generator: torch.Generator | None,
    channels_last: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The float inputs and labels of samples ``idx``: uint8 images scaled to [0, 1] (float32
    signals pass through as stored), then ``transform``, then the memory format."""
    x = prepare_inputs(ds.images.index_select(0, idx), device, transform, generator, channels_last)
    y = ds.labels.index_select(0, idx).to(device, non_blocking=True)
    return x, y


def prepare_inputs(
    x: torch.Tensor,
    device: torch.device,
    transform: BatchTransform | None,
    generator: torch.Generator | None,
    channels_last: bool,
) -> torch.Tensor:
    """A batch as the model sees it: on ``device``, uint8 scaled to [0, 1] (float signals as
    stored), then ``transform(x, generator=generator)``, then channels-last for 4D/5D batches
    when asked. The in-memory and the ``DataLoader`` paths both go through here."""
    x = x.to(device, non_blocking=True)
    if x.dtype == torch.uint8:
        x = x.to(torch.float32).div_(255.0)
    if transform is not None:
        x = transform(x, generator=generator)
    if channels_last:
        memory_format = {4: torch.channels_last, 5: torch.channels_last_3d}.get(x.ndim)
        if memory_format is not None:
            x = x.contiguous(memory_format=memory_format)
    return x
