"""Shared test configuration: the real-data marker and the data root fixture.

Tests marked ``data`` read real data from ``$HEALTHCNN_DATA``. Without it they skip with a reason;
with ``HEALTHCNN_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing data root is a failure instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
