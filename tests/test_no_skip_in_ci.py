"""Under HEALTHCNN_REQUIRE_DATA=1 (set by .ci/run) a skip is a failure: an optional dependency
that CI installed, or one it forgot, can never quietly turn a test into a skip there."""

from __future__ import annotations

import shutil
from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")

SKIPPING = """
import pytest
pytest.importorskip("a_module_that_is_not_installed")

def test_never_runs():
    pass
"""
SKIPPING_TEST = """
import pytest

def test_skips():
    pytest.skip("no browser")

def test_passes():
    assert 1 + 1 == 2
"""


def _run(pytester, monkeypatch, require: str):
    shutil.copy(CONFTEST, pytester.path / "conftest.py")
    pytester.makepyfile(test_module_skip=SKIPPING, test_call_skip=SKIPPING_TEST)
    monkeypatch.setenv("HEALTHCNN_REQUIRE_DATA", require)
    args = ("-p", "no:cacheprovider", "-p", "no:xdist", "--continue-on-collection-errors")
    return pytester.runpytest_inprocess(*args)


def test_skips_fail_when_required(pytester, monkeypatch) -> None:
    result = _run(pytester, monkeypatch, "1")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*forbids a skip*no browser*"])


def test_skips_stay_skips_otherwise(pytester, monkeypatch) -> None:
    result = _run(pytester, monkeypatch, "")
    result.assert_outcomes(passed=1, skipped=2)
