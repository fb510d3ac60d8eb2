"""Write the torchvision interchange golden files into ``tests/golden/torchvision/``.

For every torchvision model that healthcnn mirrors, one JSON file records

* the state dict: every key in order, its shape and dtype (buffers such as
  ``num_batches_tracked`` included), and the parameter count;
* the logits of the model in eval mode, fp32, on a fixed input, with every state-dict tensor
  filled by ``tests/golden/fill.py`` (a pure function of key and shape, so the weights are never
  stored: the tests rebuild them and load them into healthcnn's model).

``tests/models/test_torchvision_golden.py`` checks healthcnn's models against these files.
Regenerating them is an explicit step, never a side effect of a test run. torchvision is not a
dependency of healthcnn; run this script in a scratch environment:

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python scripts/make_golden_torchvision.py            # all models
    /tmp/tvenv/bin/python scripts/make_golden_torchvision.py resnet18   # some of them

(from the repository root; it needs only torch, torchvision and numpy).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision import models as tvm

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests" / "golden" / "torchvision"
BATCH = 2
SIGNIFICANT_DIGITS = 7


def _load_fill():
    """Import ``tests/golden/fill.py`` by path (tests/ is not a package)."""
    path = ROOT / "tests" / "golden" / "fill.py"
    spec = importlib.util.spec_from_file_location("golden_fill", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# golden name -> (torchvision builder, its kwargs, healthcnn name, healthcnn kwargs, input size)
# googlenet/inception: transform_input=False (healthcnn never rescales its input) and
# init_weights=False (every tensor is overwritten by the fill anyway; avoids scipy).
_TV_INCEPTION = {"transform_input": False, "init_weights": False}
MODELS: dict[str, tuple[str, dict, str, dict, int]] = {
    **{f"resnet{d}": (f"resnet{d}", {}, f"resnet{d}", {}, 64) for d in (18, 34, 50, 101, 152)},
    **{
        f"vgg{d}{bn}": (f"vgg{d}{bn}", {}, f"vgg{d}{bn}", {}, 64)
        for d in (11, 13, 16, 19)
        for bn in ("", "_bn")
    },
    "alexnet": ("alexnet", {}, "alexnet_tv", {}, 64),
    "googlenet": (
        "googlenet",
        {"aux_logits": False, **_TV_INCEPTION},
        "googlenet_tv",
        {"aux_logits": False},
        64,
    ),
    "googlenet_aux": (
        "googlenet",
        {"aux_logits": True, **_TV_INCEPTION},
        "googlenet_tv",
        {"aux_logits": True},
        64,
    ),
    "inception_v3": (
        "inception_v3",
        {"aux_logits": False, **_TV_INCEPTION},
        "inception_v3",
        {"aux_logits": False},
        80,
    ),
    "inception_v3_aux": (
        "inception_v3",
        {"aux_logits": True, **_TV_INCEPTION},
        "inception_v3",
        {"aux_logits": True},
        80,
    ),
}


def _round(values: np.ndarray) -> list:
    return [[float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in row] for row in values.tolist()]


def make_one(name: str, fill) -> dict:
    builder, tv_kwargs, our_name, our_kwargs, size = MODELS[name]
    torch.manual_seed(0)  # only the throwaway initialisation uses it; the fill replaces it all
    model = getattr(tvm, builder)(weights=None, **tv_kwargs)
    model.eval()
    state = model.state_dict()
    filled = fill.fill_state({k: tuple(v.shape) for k, v in state.items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in filled.items()}, strict=True)

    input_shape = [BATCH, 3, size, size]
    x = torch.from_numpy(fill.fill_input(input_shape))
    with torch.no_grad():
        logits = model(x)
    if not isinstance(logits, torch.Tensor):  # eval mode should give a tensor; be explicit
        raise RuntimeError(f"{name}: eval-mode forward returned {type(logits).__name__}")
    logits = logits.double().numpy()
    if not np.isfinite(logits).all():
        raise RuntimeError(f"{name}: non-finite logits; the fill scales need revisiting")

    return {
        "description": (
            "torchvision state-dict layout and eval-mode fp32 logits with every tensor filled "
            "by tests/golden/fill.py; written by scripts/make_golden_torchvision.py"
        ),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchvision_builder": builder,
        "torchvision_kwargs": tv_kwargs,
        "healthcnn_name": our_name,
        "healthcnn_kwargs": our_kwargs,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_buffers": sum(b.numel() for b in model.buffers()),
        "state_dict": [
            [key, list(t.shape), str(t.dtype).removeprefix("torch.")] for key, t in state.items()
        ],
        "input": {"shape": input_shape, "fill_name": "input"},
        "logits_significant_digits": SIGNIFICANT_DIGITS,
        "logits": _round(logits),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to write (default all: {list(MODELS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    fill = _load_fill()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(MODELS):
        start = time.perf_counter()
        record = make_one(name, fill)
        path = OUT_DIR / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(path)
        logits = np.asarray(record["logits"])
        print(
            f"{name:18s} params {record['num_parameters']:>11,d}  keys "
            f"{len(record['state_dict']):4d}  |logits| max {np.abs(logits).max():.3g}  "
            f"spread across batch {np.abs(logits[0] - logits[1]).max():.3g}  "
            f"({time.perf_counter() - start:.1f} s)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
