"""Write ``tests/golden/mixing/torchvision_v2.json``: what torchvision's ``transforms.v2.MixUp``
and ``CutMix`` do to fixed batches, for ``tests/training/test_mixing.py`` to check
``healthcnn.training.mixing`` against.

For each case the file records the input batch, the labels, torchvision's mixed batch and soft
labels, and the random draws torchvision made (the Beta sample and, for CutMix, the box centre),
read back by repeating its draws from the same seed. torchvision pairs every sample with the one
before it (``batch.roll(1)``), so the partner of sample i is i - 1.

torchvision is not a dependency of healthcnn; run this in a scratch environment, from the
repository root:

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python scripts/make_golden_mixing.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torchvision
from torchvision.transforms import v2

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "mixing" / "torchvision_v2.json"
CASES = [
    # (kind, alpha, seed, batch shape (N, C, H, W)); H != W so that axis order matters
    ("mixup", 1.0, 0, (4, 2, 5, 3)),
    ("mixup", 0.2, 1, (3, 1, 4, 4)),
    ("cutmix", 1.0, 2, (4, 2, 9, 7)),
    ("cutmix", 1.0, 3, (3, 1, 12, 10)),
    ("cutmix", 0.5, 4, (4, 3, 16, 16)),
    ("cutmix", 1.0, 5, (2, 1, 11, 13)),
]


def _draws(kind: str, alpha: float, seed: int, shape: tuple[int, ...]) -> dict:
    """torchvision's random draws for this case, repeated from the same seed: the Beta sample,
    then (CutMix) the box centre's column and row."""
    torch.manual_seed(seed)
    beta = torch.distributions.Beta(torch.tensor([alpha]), torch.tensor([alpha]))
    draws = {"lam": float(beta.sample(()))}
    if kind == "cutmix":
        height, width = shape[-2:]
        draws["centre_x"] = int(torch.randint(width, size=(1,)))
        draws["centre_y"] = int(torch.randint(height, size=(1,)))
    return draws


def main() -> None:
    cases = []
    for kind, alpha, seed, shape in CASES:
        g = torch.Generator().manual_seed(1000 + seed)
        x = torch.rand(shape, generator=g)
        labels = torch.arange(shape[0])  # one class per sample: the soft labels show the shares
        mixer = {"mixup": v2.MixUp, "cutmix": v2.CutMix}[kind](alpha=alpha, num_classes=shape[0])
        torch.manual_seed(seed)
        out, soft = mixer(x.clone(), labels)
        cases.append(
            {
                "kind": kind,
                "alpha": alpha,
                "seed": seed,
                "input": x.tolist(),
                "labels": labels.tolist(),
                "output": out.tolist(),
                "soft_labels": soft.tolist(),
                "draws": _draws(kind, alpha, seed, shape),
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "generated_by": "scripts/make_golden_mixing.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "partner": "sample i is mixed with sample i - 1 (batch.roll(1, 0))",
        "cases": cases,
    }
    tmp = OUT.with_suffix(".json.tmp")  # this venv has no healthcnn: its atomic write by hand
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(OUT)
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
