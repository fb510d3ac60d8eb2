"""Published results the toolkit compares its own runs against, each with its source.

Only numbers confirmed against the paper are here; approximate ones are left out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedResult:
    dataset: str
    method: str
    size: int
    auc: float
    acc: float
    source: str


_MEDMNIST_V2 = "Yang et al., MedMNIST v2, Scientific Data 10:41 (2023), Table 3 (mean of 3 runs)"

#: MedMNIST v2 benchmark, test AUC / ACC.
MEDMNIST_V2: tuple[PublishedResult, ...] = (
    PublishedResult("retinamnist", "resnet18", 28, 0.717, 0.524, _MEDMNIST_V2),
    PublishedResult("retinamnist", "resnet18", 224, 0.710, 0.493, _MEDMNIST_V2),
    PublishedResult("retinamnist", "resnet50", 28, 0.726, 0.528, _MEDMNIST_V2),
    PublishedResult("retinamnist", "resnet50", 224, 0.716, 0.511, _MEDMNIST_V2),
    PublishedResult("breastmnist", "resnet18", 28, 0.901, 0.863, _MEDMNIST_V2),
    PublishedResult("breastmnist", "resnet50", 28, 0.857, 0.812, _MEDMNIST_V2),
    PublishedResult("breastmnist", "resnet50", 224, 0.866, 0.842, _MEDMNIST_V2),
    PublishedResult("dermamnist", "resnet18", 28, 0.917, 0.735, _MEDMNIST_V2),
    PublishedResult("dermamnist", "resnet18", 224, 0.920, 0.754, _MEDMNIST_V2),
    PublishedResult("dermamnist", "resnet50", 28, 0.913, 0.735, _MEDMNIST_V2),
    PublishedResult("dermamnist", "resnet50", 224, 0.912, 0.731, _MEDMNIST_V2),
)


def published_result(dataset: str, model: str, size: int) -> PublishedResult | None:
    """The MedMNIST v2 row for this dataset, model and image size, if there is one."""
    for row in MEDMNIST_V2:
        if (row.dataset, row.method, row.size) == (dataset, model, size):
            return row
    return None
