"""What a run folder records so its results can be traced: the code's git commit (when the code
is in a git checkout; never an error when it is not), package versions and the SHA-256 of each
data file read."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def package_versions() -> dict[str, str]:
    """Versions of python, torch, numpy and healthcnn."""
    import numpy
    import torch

    from . import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "healthcnn": __version__,
    }


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(where: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``where`` (default: this
    package's source), or None when it is not in one or git is not installed."""
    folder = Path(where) if where is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], folder)
    if not commit:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    return {"commit": commit, "dirty": bool(status)}


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def data_file_hashes(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{path: sha256}`` of every data file, in the order given (duplicates once)."""
    return {str(p): sha256_of(p) for p in dict.fromkeys(Path(p) for p in paths)}


def run_record(
    config: dict[str, Any], seeds: dict[str, int], data_files: Iterable[str | os.PathLike[str]]
) -> dict[str, Any]:
    """The record of one run: the resolved config, the seeds, the git commit (None outside a
    checkout), package versions and the SHA-256 of each data file."""
    return {
        "config": config,
        "seeds": seeds,
        "git": git_commit(),
        "versions": package_versions(),
        "data_files": data_file_hashes(data_files),
    }
