"""Shared test configuration: the real-data marker, the data root fixture and small real-data
subsets (a few RetinaMNIST images, a bundle trained on them for one epoch).

Tests marked ``data`` read real data from ``$HEALTHCNN_DATA``. Without it they skip with a reason;
with ``HEALTHCNN_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing data root is a failure instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# Tests are small: more intra-op threads than cores only adds contention under pytest-xdist.
torch.set_num_threads(1)


def _data_root() -> Path | None:
    value = os.environ.get("HEALTHCNN_DATA")
    if not value:
        return None
    return Path(value)


def _require_data() -> bool:
    return os.environ.get("HEALTHCNN_REQUIRE_DATA", "") not in ("", "0")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("data") is None:
        return
    root = _data_root()
    problem = None
    if root is None:
        problem = "HEALTHCNN_DATA is not set (point it at the shared data folder)"
    elif not root.is_dir():
        problem = f"HEALTHCNN_DATA={root} is not a directory"
    if problem is None:
        return
    if _require_data():
        pytest.fail(
            f"real-data test cannot run: {problem}; HEALTHCNN_REQUIRE_DATA=1 forbids a skip"
        )
    pytest.skip(f"real-data test: {problem}")


def _skip_is_a_failure(report: Any) -> None:
    """Under HEALTHCNN_REQUIRE_DATA=1 (CI, which installs every optional dependency and the
    browser) a skipped test or module is a failure: a skip there would hide a test."""
    if _require_data() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under HEALTHCNN_REQUIRE_DATA=1, which forbids a skip: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):
    outcome = yield
    _skip_is_a_failure(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: Any):
    outcome = yield
    _skip_is_a_failure(outcome.get_result())


@pytest.fixture
def data_root() -> Path:
    """The real data root (tests using it must carry ``@pytest.mark.data``)."""
    root = _data_root()
    assert root is not None, "mark the test with @pytest.mark.data"
    return root


@pytest.fixture
def strict_json() -> Callable[[str], Any]:
    """Parse JSON text as a strict parser (JavaScript, jq) would: NaN or Infinity fail the test."""

    def refuse(constant: str) -> None:
        pytest.fail(f"non-standard JSON constant {constant} in a file users read")

    return lambda text: json.loads(text, parse_constant=refuse)


def _medmnist_subset(src: Path, dst: Path, counts: Mapping[str, int], step: int = 1) -> Path:
    """The first ``counts[split]`` samples of each split of a MedMNIST file (optionally every
    ``step``-th voxel/pixel along each spatial axis), saved under a non-official name."""
    with np.load(src) as npz:
        arrays = {}
        for split, n in counts.items():
            images = npz[f"{split}_images"][:n]
            if step > 1:
                images = images[(slice(None), *[slice(None, None, step)] * 3)]
            arrays[f"{split}_images"] = images
            arrays[f"{split}_labels"] = npz[f"{split}_labels"][:n]
    np.savez(dst, **arrays)
    return dst


@pytest.fixture(scope="session")
def medmnist_subset() -> Callable[..., Path]:
    """``medmnist_subset(src, dst, {"train": 32, "val": 8, "test": 8}, step=1) -> dst``: the
    first samples of each split of the MedMNIST file ``src`` written to ``dst``."""
    return _medmnist_subset


def _retina_subset(dst: Path, counts: Mapping[str, int]) -> Path:
    root = _data_root()
    assert root is not None, "mark the test with @pytest.mark.data"
    return _medmnist_subset(root / "medmnist" / "retinamnist.npz", dst, counts)


@pytest.fixture(scope="session")
def retina_subset() -> Callable[[Path, Mapping[str, int]], Path]:
    """``retina_subset(dst, {"train": 32, "val": 8, "test": 8}) -> dst``: the first real
    RetinaMNIST images of each split under a non-official name (tests marked ``data``)."""
    return _retina_subset


def _tiny_retina_bundle(tmp: Path, npz_name: str, seed: int) -> Path:
    from healthcnn.studies.run import train_run
    from healthcnn.training import TrainConfig
    from healthcnn.training.config import RunConfig

    npz = _retina_subset(tmp / npz_name, {"train": 48, "val": 40, "test": 40})
    cfg = RunConfig(
        data=str(npz),
        out=str(tmp / "bundle"),
        model="simple_cnn",
        train=TrainConfig(epochs=1, batch_size=16, precision="fp32", seed=seed),
    )
    train_run(cfg, progress=False)
    return tmp / "bundle"


@pytest.fixture(scope="session")
def tiny_retina_bundle() -> Callable[[Path, str, int], Path]:
    """``tiny_retina_bundle(tmp, npz_name, seed) -> tmp/"bundle"``: a simple_cnn trained for one
    epoch (fp32, batch 16) on 48 real RetinaMNIST training images, 40 val, 40 test."""
    return _tiny_retina_bundle


def write_split_npz(
    path: Path, side: int, counts: tuple[int, int, int], *, seed: int = 0, classes: int = 2
) -> Path:
    """A MedMNIST-layout ``.npz`` of random uint8 grey images (``side`` px) with labels cycling
    through ``classes``: ``counts`` images in train, val and test."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def split_npz() -> Callable[..., Path]:
    """:func:`write_split_npz`, for tests that write a tiny MedMNIST-layout file."""
    return write_split_npz


def _write_checkpoint(folder: Path) -> Path:
    from healthcnn.training.checkpoint import save_checkpoint

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    return save_checkpoint(
        folder,
        epoch=1,
        model_state=model.state_dict(),
        optimizer_state=opt.state_dict(),
        best_state=model.state_dict(),
        info={"history": []},
    )


@pytest.fixture(scope="session")
def write_checkpoint() -> Callable[[Path], Path]:
    """``write_checkpoint(folder) -> folder/checkpoint JSON``: a training checkpoint of a
    ``Linear(2, 2)`` after one SGD step with momentum (optimizer state and best weights saved)."""
    return _write_checkpoint


@pytest.fixture(scope="session")
def saved_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of one :func:`write_checkpoint` checkpoint, written once; tests copy it."""
    folder = tmp_path_factory.mktemp("checkpoint")
    _write_checkpoint(folder)
    return folder


@pytest.fixture
def fake_flags(monkeypatch):
    """Pretend the CPU lists the given flags, e.g. ``fake_flags("avx512_bf16")`` for a CPU with
    native bf16 whatever this one has (clears the cached answer before and after)."""
    from healthcnn.inference import precision as precision_mod

    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(precision_mod, "cpu_flags", lambda *a, **k: frozenset(flags))
        precision_mod.cpu_has_native_bf16.cache_clear()

    yield set_flags
    precision_mod.cpu_has_native_bf16.cache_clear()
