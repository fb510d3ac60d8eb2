"""Generated docs pages: a committed page equals a fresh build by its script."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def load_script(name: str):
    """The script ``scripts/<name>.py`` as a module (its sibling helpers importable)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def check_generated() -> Callable[[str, str], str]:
    """``check_generated(script, page)``: the committed ``docs/<page>`` equals the script's
    ``build()``; returns the page's text."""

    def check(script: str, page: str) -> str:
        committed = (ROOT / "docs" / page).read_text()
        assert committed == load_script(script).build(), f"run scripts/{script}.py and commit"
        return committed

    return check
