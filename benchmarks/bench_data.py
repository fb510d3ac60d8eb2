"""Data pipeline: one training epoch of batches, our in-memory pipeline vs a PIL DataLoader.

Datasets from the data root (``$HEALTHCNN_DATA``): RetinaMNIST (28 px, 1,080 training images)
and HAM10000 resized to 128 px (the 200x150 JPEGs in ``ham10000/images_200x150.zip``).

- Ours: the images are decoded once into one uint8 tensor (``load_medmnist``; for HAM10000 the
  JPEGs are decoded and resized once here, as ``load_image_csv`` does), then every epoch is
  ``iterate_batches`` (shuffle, index, scale to float, normalise) with batch 128. The one-off
  decode is timed and printed separately.
- Baseline: a ``torch.utils.data.Dataset`` that builds a PIL image for every item in every
  epoch (RetinaMNIST: ``Image.fromarray`` as the MedMNIST loader does; HAM10000: JPEG decode
  from the zip and resize), converts it to a normalised tensor, and a ``DataLoader`` (batch
  128, shuffle, ``num_workers=0``, the default) collating the batches.

Run: ``python benchmarks/bench_data.py [--quick] [--repeats 3] [--ham-limit N]``.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from _common import base_parser, interleaved, machine_header, median, parse_counts, ratio_line
from healthcnn.data.arrays import ArrayDataset, iterate_batches
from healthcnn.data.medmnist import load_medmnist
from healthcnn.data.root import data_root
from healthcnn.data.transforms import Normalize

TARGET = 5.0
BATCH = 128
HAM_SIZE = 128


class PilDataset(torch.utils.data.Dataset):
    """The baseline: a PIL image per item per epoch, converted and normalised per item."""

    def __init__(self, load_item, labels: np.ndarray) -> None:
        self.load_item, self.labels = load_item, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.load_item(i)
        x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        x = x.permute(2, 0, 1).float().div(255.0)
        return (x - 0.5) / 0.5, int(self.labels[i])


def our_epoch(ds: ArrayDataset, generator: torch.Generator):
    norm = Normalize([0.5] * ds.in_channels, [0.5] * ds.in_channels)

    def run() -> None:
        for x, _, _ in iterate_batches(ds, BATCH, shuffle=True, generator=generator,
                                       transform=norm):  # fmt: skip
            x.sum()  # touch the batch, as a training step would

    return run


def baseline_epoch(dataset: PilDataset):
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)

    def run() -> None:
        for x, _ in loader:
            x.sum()

    return run


def retina(root: Path):
    start = time.perf_counter()
    ds = load_medmnist("retinamnist", "train", size=28, root=root)
    decode = time.perf_counter() - start
    pixels = ds.images.permute(0, 2, 3, 1).numpy()  # what the official npz holds (N, H, W, C)
    labels = ds.labels.numpy()
    return ds, decode, PilDataset(lambda i: Image.fromarray(pixels[i]), labels)


def ham10000(root: Path, limit: int | None):
    zip_path = root / "ham10000" / "images_200x150.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[:limit]
        blobs = [zf.read(n) for n in names]  # the file bytes, as a file system would hold them
    labels = np.zeros(len(names), dtype=np.int64)

    def decode(i: int) -> Image.Image:
        with Image.open(io.BytesIO(blobs[i])) as im:
            return im.convert("RGB").resize((HAM_SIZE, HAM_SIZE), Image.Resampling.BILINEAR)

    start = time.perf_counter()
    images = np.stack([np.asarray(decode(i)) for i in range(len(names))]).transpose(0, 3, 1, 2)
    ds = ArrayDataset(torch.from_numpy(np.ascontiguousarray(images)),
                      torch.from_numpy(labels), ["lesion"])  # fmt: skip
    return ds, time.perf_counter() - start, PilDataset(decode, labels)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    args = parse_counts(
        parser, argv, repeats=(1, 3), ham_limit=(1000, None, "use only the first N HAM10000 images")
    )
    repeats, ham_limit = args.repeats, args.ham_limit
    print(machine_header("data pipeline: in-memory uint8 batches vs a PIL-per-item DataLoader"))
    try:
        root = data_root()
        sets = [("RetinaMNIST 28 px", lambda: retina(root))]
        if (root / "ham10000" / "images_200x150.zip").is_file():
            sets.append((f"HAM10000 {HAM_SIZE} px", lambda: ham10000(root, ham_limit)))
        else:
            print(f"  HAM10000 skipped: {root / 'ham10000' / 'images_200x150.zip'} is missing")
    except Exception as exc:  # a missing data root: say so and skip, as the data tests do
        print(f"  skipped: no data ({exc})")
        return 0
    print(f"  batch {BATCH}, median of {repeats} interleaved epochs after a warm-up each")
    header = f"{'dataset':<22}{'n':>7}{'decode once':>13}{'ours/epoch':>12}{'baseline':>10}"
    print(header + f"{'ratio':>8}")
    print("-" * (len(header) + 8))
    ratios = []
    for name, load in sets:
        try:
            ds, decode, pil = load()
        except Exception as exc:
            print(f"{name:<22} skipped: {exc}")
            continue
        g = torch.Generator().manual_seed(0)
        t = interleaved({"ours": our_epoch(ds, g), "base": baseline_epoch(pil)}, repeats)
        ours, base = median(t["ours"]), median(t["base"])
        ratios.append((name, base / ours))
        print(
            f"{name:<22}{len(ds):>7}{decode:>12.2f}s{ours:>11.3f}s{base:>9.2f}s"
            f"{base / ours:>7.1f}x",
            flush=True,
        )
    print("ratio = baseline epoch time / our epoch time (above 1: ours is faster)")
    for name, r in ratios:
        print(ratio_line(name, r, TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
