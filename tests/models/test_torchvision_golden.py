"""healthcnn's 2D models against torchvision's: the same state-dict layout, the same logits.

The golden files in ``tests/golden/torchvision/`` were written by
``scripts/make_golden_torchvision.py`` with torchvision itself (not a dependency). Each holds the
state-dict keys, shapes and dtypes of one torchvision model and its eval-mode logits with every
tensor filled by ``tests/golden/fill.py``, a pure function of (key, shape). Here the same fill is
loaded into healthcnn's model: equal logits mean the keys name the same tensors and the forward
pass computes the same function, so torchvision checkpoints load into healthcnn unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.models import create_model, list_models

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = sorted((GOLDEN / "torchvision").glob("*.json"))
RTOL = 1e-4  # of the largest |logit|


def _load_fill():
    spec = importlib.util.spec_from_file_location("golden_fill", GOLDEN / "fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fill = _load_fill()


@functools.lru_cache(maxsize=4)
def _big_fill(key: str, shape: tuple[int, ...]) -> np.ndarray:
    # The VGG classifiers (keys and shapes shared by all eight variants) are 120M numbers;
    # drawing them once instead of eight times saves most of this file's run time.
    return fill.fill_value(key, shape)


def _filled_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {
        key: torch.from_numpy(
            _big_fill(key, shape) if math.prod(shape) > 1_000_000 else fill.fill_value(key, shape)
        )
        for key, shape in shapes.items()
    }


def _golden(path: Path) -> dict:
    record = json.loads(path.read_text())
    if record["healthcnn_name"] not in list_models():
        pytest.skip(f"{record['healthcnn_name']} is not registered yet")
    return record


def _build(record: dict, device: str | None = None) -> torch.nn.Module:
    kwargs = dict(spatial_dims=2, in_channels=3, num_classes=1000, **record["healthcnn_kwargs"])
    if device is None:
        return create_model(record["healthcnn_name"], **kwargs)
    with torch.device(device):
        return create_model(record["healthcnn_name"], **kwargs)


def _describe_differences(golden: dict[str, tuple], ours: dict[str, tuple]) -> str:
    missing = [k for k in golden if k not in ours]
    extra = [k for k in ours if k not in golden]
    shapes = [f"{k}: torchvision {golden[k]} vs ours {ours[k]}" for k in golden if k in ours
              and golden[k] != ours[k]]  # fmt: skip
    lines = []
    for title, items in (
        ("in torchvision, missing from ours", missing),
        ("in ours, not in torchvision", extra),
        ("shape/dtype differs", shapes),
    ):
        if items:
            shown = "\n    ".join(items[:15])
            more = f"\n    ... and {len(items) - 15} more" if len(items) > 15 else ""
            lines.append(f"{len(items)} {title}:\n    {shown}{more}")
    return "\n".join(lines)


def test_golden_files_exist() -> None:
    names = {p.stem for p in FILES}
    expected = {f"resnet{d}" for d in (18, 34, 50, 101, 152)}
    expected |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    expected |= {"alexnet", "googlenet", "googlenet_aux", "inception_v3", "inception_v3_aux"}
    assert names == expected


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_state_dict_layout_matches_torchvision(path: Path) -> None:
    record = _golden(path)
    model = _build(record, device="meta")  # no memory, no initialisation time
    golden = {key: (tuple(shape), dtype) for key, shape, dtype in record["state_dict"]}
    ours = {
        key: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for key, t in model.state_dict().items()
    }
    problems = _describe_differences(golden, ours)
    assert not problems, f"{path.stem} differs from torchvision:\n{problems}"
    params = sum(math.prod(p.shape) for p in model.parameters())
    assert params == record["num_parameters"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_logits_match_torchvision(path: Path) -> None:
    record = _golden(path)
    state = _filled_state({key: tuple(shape) for key, shape, _ in record["state_dict"]})

    # Build on the meta device and take the filled tensors as they are (assign=True): the
    # models' own initialisation would cost more time than the whole forward pass.
    model = _build(record, device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        # a non-persistent buffer is not in the state dict: build normally instead
        model = _build(record)
        model.load_state_dict(state, strict=True)
    model.eval()

    x = torch.from_numpy(fill.fill_input(record["input"]["shape"], record["input"]["fill_name"]))
    with torch.no_grad():
        logits = model(x).double().numpy()
    expected = np.asarray(record["logits"], dtype=np.float64)
    assert logits.shape == expected.shape
    err = np.abs(logits - expected).max()
    scale = np.abs(expected).max()
    assert err <= RTOL * scale, (
        f"{path.stem}: max |ours - torchvision| = {err:.3g}, {err / scale:.2e} of the largest "
        f"|logit| {scale:.3g} (tolerance {RTOL:g})"
    )
