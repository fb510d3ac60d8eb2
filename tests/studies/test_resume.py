"""healthcnn.studies._resume: a network's checkpoint folder is gone on from only with resume
and only with the settings it began with, and is removed without touching anyone else's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthcnn.studies._resume import (
    SETTINGS_FILE,
    checkpoint_folder,
    remove_checkpoint_folder,
)

SETTINGS = {"size": (64, 64), "model": "resnet18", "seed": 0}
AGAIN = "give another --out"


def _checkpoint(folder: Path, epoch: int) -> None:
    """A real (tiny) Trainer checkpoint after ``epoch`` epochs, and its log."""
    import torch

    from healthcnn.training.checkpoint import save_checkpoint

    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    save_checkpoint(folder, epoch=epoch, model_state={"w": weight.detach()},
                    optimizer_state=optimizer.state_dict(), best_state=None, info={})  # fmt: skip
    (folder / "log.jsonl").write_text("{}\n")


def test_a_fresh_folder_records_its_settings_and_starts_at_zero(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "binary"
    assert checkpoint_folder(folder, SETTINGS, resume=False, to_start_again=AGAIN) == 0
    assert json.loads((folder / SETTINGS_FILE).read_text()) == {
        "model": "resnet18", "seed": 0, "size": [64, 64]
    }  # fmt: skip
    # nothing trained there yet: a second start (with or without resume) is a fresh start too
    assert checkpoint_folder(folder, SETTINGS, resume=True, to_start_again=AGAIN) == 0


def test_a_checkpoint_is_gone_on_from_only_with_resume_and_the_same_settings(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "net"
    checkpoint_folder(folder, SETTINGS, resume=False, to_start_again=AGAIN)
    _checkpoint(folder, 3)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match=r"holds the checkpoint of an earlier run: pass --resume "
                       r"to go on from it, or give another --out"):  # fmt: skip
        checkpoint_folder(folder, SETTINGS, resume=False, to_start_again=AGAIN)
    with pytest.raises(ValueError, match=r"cannot resume .*other settings \(seed, size\); give"):
        checkpoint_folder(folder, {**SETTINGS, "size": 32, "seed": 1}, True, to_start_again=AGAIN)
    with pytest.raises(ValueError, match=r"other settings \(network\)"):
        checkpoint_folder(folder, {**SETTINGS, "network": "x"}, True, to_start_again=AGAIN)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # refusals write nothing
    assert checkpoint_folder(folder, dict(SETTINGS), resume=True, to_start_again=AGAIN) == 3


def test_the_precision_setting_is_left_to_the_trainer(tmp_path: Path) -> None:
    """A run begun with precision "auto" goes on where the user names what auto gave (the
    Trainer compares the numerics, and its refusal on another machine says to name them);
    every other training setting is still compared, at any depth."""
    train = {"epochs": 4, "lr": 0.001, "precision": "auto"}
    settings = {**SETTINGS, "recipe": {"name": "r", "train": train}}
    folder = tmp_path / "net"
    checkpoint_folder(folder, settings, resume=False, to_start_again=AGAIN)
    _checkpoint(folder, 2)
    for named in ("fp32", "bf16"):
        now = {**settings, "recipe": {"name": "r", "train": {**train, "precision": named}}}
        assert checkpoint_folder(folder, now, resume=True, to_start_again=AGAIN) == 2
    # what was recorded is the settings the run began with
    assert json.loads((folder / SETTINGS_FILE).read_text())["recipe"]["train"] == train
    other = {**settings, "recipe": {"name": "r", "train": {**train, "lr": 0.01}}}
    with pytest.raises(ValueError, match=r"other settings \(recipe\)"):
        checkpoint_folder(folder, other, resume=True, to_start_again=AGAIN)


def test_removal_takes_only_what_training_wrote(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    ours, shared = root / "binary", root / "diagnosis"
    for folder in (ours, shared):
        checkpoint_folder(folder, SETTINGS, resume=False, to_start_again=AGAIN)
        _checkpoint(folder, 2)
        (folder / ".checkpoint.json.123.abc.tmp").write_text("half")
    (shared / "notes.txt").write_text("a user's file")
    (shared / ".other.tmp").write_text("not ours")
    remove_checkpoint_folder(ours)
    assert not ours.exists() and root.exists()  # the parent still holds the other folder
    remove_checkpoint_folder(shared)
    assert sorted(p.name for p in shared.iterdir()) == [".other.tmp", "notes.txt"]
    remove_checkpoint_folder(tmp_path / "never-made")  # nothing there: nothing to do
