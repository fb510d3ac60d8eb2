"""Python logging: library code logs to the ``healthcnn`` hierarchy and never configures the
root logger; only the command line does."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import healthcnn

SRC = Path(healthcnn.__file__).parent


def test_library_code_never_configures_the_root_logger() -> None:
    pattern = re.compile(r"basicConfig|getLogger\(\)|logging\.root\b|dictConfig|fileConfig")
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.parts[len(SRC.parts)] != "cli" and pattern.search(p.read_text())
    ]
    assert offenders == []
    package = logging.getLogger("healthcnn")
    assert any(isinstance(h, logging.NullHandler) for h in package.handlers)


def test_library_loggers_sit_under_healthcnn() -> None:
    named = set()
    for p in SRC.rglob("*.py"):
        if p.parts[len(SRC.parts)] != "cli":
            named.update(re.findall(r"logging\.getLogger\(([^)]*)\)", p.read_text()))
    assert named and named <= {"__name__", '"healthcnn"'}, named
