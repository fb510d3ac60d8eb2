"""Models never name a layer class of fixed dimensionality (``nn.Conv2d``, ``nn.BatchNorm3d``...).

They ask the factories in ``healthcnn.layers`` instead, which is what lets one model definition
build networks for signals, images and volumes. This scans the source text of every file under
``src/healthcnn/models``.
"""

from __future__ import annotations

import re
from pathlib import Path

import healthcnn.models

MODELS_DIR = Path(healthcnn.models.__file__).parent
FIXED_DIMS = re.compile(r"\bnn\.[A-Za-z_]\w*[123]d\b")


def fixed_dim_uses(text: str) -> list[tuple[int, str]]:
    """(line number, name) of every ``nn.<Name>1d/2d/3d`` in ``text``."""
    return [
        (number, match.group())
        for number, line in enumerate(text.splitlines(), start=1)
        for match in FIXED_DIMS.finditer(line)
    ]


def test_pattern_finds_fixed_dim_layers() -> None:
    sample = "a = nn.Conv2d(1, 2, 3)\nb = torch.nn.BatchNorm3d(4)\nc = nn.Linear(1, 2)\n"
    sample += "d = nn.AdaptiveAvgPool1d(1); e = nn.Conv2dSomething; f = nn.Dropout2d(0.1)\n"
    assert fixed_dim_uses(sample) == [
        (1, "nn.Conv2d"),
        (2, "nn.BatchNorm3d"),
        (4, "nn.AdaptiveAvgPool1d"),
        (4, "nn.Dropout2d"),
    ]


def test_models_use_only_the_layer_factories() -> None:
    files = sorted(MODELS_DIR.rglob("*.py"))
    assert len(files) > 3, f"no model sources found under {MODELS_DIR}"
    offences = [
        f"{path.relative_to(MODELS_DIR.parent)}:{number}: {name}"
        for path in files
        for number, name in fixed_dim_uses(path.read_text(encoding="utf-8"))
    ]
    assert not offences, (
        "models must build layers through healthcnn.layers factories (make_conv, make_norm, "
        "make_pool, conv_type, ...), not fixed-dimension classes:\n" + "\n".join(offences)
    )
