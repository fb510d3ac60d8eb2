"""What the package ships besides code: the ``py.typed`` marker (PEP 561) and the licence file
pyproject names, with the licence's text."""

from __future__ import annotations

import tomllib
from pathlib import Path

import healthcnn

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_py_typed_marker_is_in_the_package_and_its_package_data() -> None:
    assert (Path(healthcnn.__file__).parent / "py.typed").is_file()
    assert (ROOT / "src" / "healthcnn" / "py.typed").is_file()
    package_data = _project()["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["healthcnn"]


def test_licence_file_matches_what_pyproject_names() -> None:
    project = _project()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "Copyright 2026 healthcnn contributors" in text
    assert "[yyyy]" not in text
