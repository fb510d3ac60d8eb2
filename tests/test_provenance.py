"""The run record: git commit (None outside a checkout, never an error), versions, hashes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import torch

import healthcnn
from healthcnn._provenance import git_commit, package_versions, run_record


def test_git_commit_in_and_outside_a_checkout(tmp_path: Path, monkeypatch) -> None:
    assert git_commit(tmp_path) is None  # not a checkout: None, no error
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert git_commit(tmp_path) == {"commit": head.strip(), "dirty": False}
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path)["dirty"] is True
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # git not installed
    assert git_commit(tmp_path) is None


def test_run_record_has_versions_seeds_and_file_hashes(tmp_path: Path) -> None:
    data = tmp_path / "d.bin"
    data.write_bytes(b"abc" * 1000)
    record = run_record({"lr": 0.1}, {"train": 3}, [data, data])
    assert record["config"] == {"lr": 0.1} and record["seeds"] == {"train": 3}
    assert record["data_files"] == {str(data): hashlib.sha256(b"abc" * 1000).hexdigest()}
    assert package_versions() == {
        "python": record["versions"]["python"],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "healthcnn": healthcnn.__version__,
    }
