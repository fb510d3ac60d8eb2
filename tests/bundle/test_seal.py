"""Sealed bundles: every file hashed in full, a changed or missing file refused by name; only
a complete bundle is ever replaced; leftovers of a killed write are recovered or removed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from healthcnn._atomic import atomic_write_bytes
from healthcnn.bundle import BundleError, Preprocessing, load_bundle, save_bundle, verify_bundle
from healthcnn.bundle.place import BundleRecovered
from healthcnn.bundle.seal import seal_file, sha256_file
from healthcnn.models import create_model
from healthcnn.tasks import make_task

TASK = make_task("binary", ["no", "yes"])
KWARGS = {"spatial_dims": 2, "in_channels": 1, "num_classes": 1, "channels": [4, 8]}
RECORD = Preprocessing(channels=1, size=(8, 8), spatial_dims=2, mean=(0.5,), std=(0.5,))


def save(path: Path, kwargs=KWARGS, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = create_model("simple_cnn", **kwargs).eval()
    return save_bundle(path, model, model_name="simple_cnn", model_kwargs=kwargs, task=TASK,
                       preprocessing=RECORD, metadata={"note": seed})  # fmt: skip


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_a_change_past_the_first_mebibyte_is_found(tmp_path: Path) -> None:
    wide = {**KWARGS, "channels": [64, 256, 512]}
    path = save(tmp_path / "big", wide)
    weights = path / "model.safetensors"
    size = weights.stat().st_size
    assert size > 3 * 2**20  # larger than any read buffer of the hash
    with open(weights, "r+b") as f:  # one byte near the end; the size stays the same
        f.seek(size - 100)
        byte = f.read(1)
        f.seek(size - 100)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(BundleError, match=r"model\.safetensors was changed after"):
        load_bundle(path)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("metadata.json", lambda m: {**m, "preprocessing": {**m["preprocessing"], "mean": [0.4]}}),
        ("metadata.json", lambda m: {**m, "preprocessing": {**m["preprocessing"], "size": [9, 9]}}),
        ("config.json", lambda c: {**c, "model_name": "simple_cnn "}),
        ("manifest.json", None),
    ],
)
def test_an_edited_or_missing_file_is_refused_by_name(tmp_path: Path, name: str, edit) -> None:
    path = save(tmp_path / "b")
    target = path / name
    if edit is None:
        target.unlink()
        match = "manifest.json is missing"
    else:
        target.write_text(json.dumps(edit(json.loads(target.read_text()))))
        match = rf"{name.replace('.', '[.]')} was changed after the bundle was written"
    with pytest.raises(BundleError, match=match):
        load_bundle(path)


def test_only_a_complete_bundle_is_replaced(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "config.json").write_text("{}")  # the old rule replaced any folder with this
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(BundleError, match=r"not a complete healthcnn bundle .*refusing"):
        save(notes)
    assert sorted(p.name for p in notes.iterdir()) == ["config.json", "todo.txt"]
    path = save(tmp_path / "b")
    (path / "todo.txt").write_text("mine")
    with pytest.raises(BundleError, match=r"holds files that are not part of its bundle \(todo"):
        save(path, seed=1)
    (path / "todo.txt").unlink()
    (path / "report.html").write_text("<html></html>")
    seal_file(path, "report.html")  # a sealed extra file belongs to the bundle
    assert load_bundle(save(path, seed=1)).metadata["note"] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_bundle(save(empty)).metadata["note"] == 0
    with pytest.raises(BundleError, match="give a new folder name"):
        save(Path("/"))


def test_a_write_killed_between_its_renames_is_recovered(tmp_path: Path) -> None:
    path = save(tmp_path / "b", seed=0)
    pid = dead_pid()
    new = save(tmp_path / "new", seed=1)
    # what a SIGKILL between the two renames leaves: no bundle, the old one aside, the new one
    # still under its temporary name
    old = tmp_path / f".b.old-{pid}-abc"
    old.mkdir()
    os.replace(path, old / "bundle")
    os.replace(new, tmp_path / f".b.tmp-{pid}-def")
    with pytest.warns(BundleRecovered, match="put the new bundle from .b.tmp-.* back at"):
        bundle = load_bundle(path)
    assert bundle.metadata["note"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_an_incomplete_new_bundle_falls_back_to_the_old_one(tmp_path: Path) -> None:
    path = save(tmp_path / "b", seed=0)
    pid = dead_pid()
    old = tmp_path / f".b.old-{pid}-abc"
    old.mkdir()
    os.replace(path, old / "bundle")
    half = tmp_path / f".b.tmp-{pid}-def"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.warns(BundleRecovered, match="put the previous bundle"):
        assert verify_bundle(path)["note"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_leftovers_of_a_live_writer_are_left_alone(tmp_path: Path) -> None:
    save(tmp_path / "b")
    live = tmp_path / f".b.tmp-{os.getppid()}-xyz"
    live.mkdir()
    save(tmp_path / "b", seed=1)
    assert live.is_dir()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """Shared (022: colleagues read), group-writable (002) and private (077) servers alike."""
    old = os.umask(umask)
    try:
        path = save(tmp_path / "b")
        again = save(tmp_path / "b", seed=1)  # a rewrite in place keeps to the umask too
    finally:
        os.umask(old)
    assert again == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask
    assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o666 & ~umask}


def test_a_stale_temporary_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.safetensors"
    stale = tmp_path / f".checkpoint.safetensors.{dead_pid()}.x1y2.tmp"
    stale.write_bytes(b"\0" * 1000)
    live = tmp_path / f".checkpoint.safetensors.{os.getppid()}.a1b2.tmp"
    live.write_bytes(b"\0")
    with pytest.warns(UserWarning, match="removed leftovers of an interrupted write"):
        atomic_write_bytes(target, b"new")
    assert not stale.exists() and live.exists() and target.read_bytes() == b"new"
    assert sha256_file(target) == __import__("hashlib").sha256(b"new").hexdigest()
