"""The studies' networks trained so that an interruption loses at most a minute of training
(or one epoch, where an epoch is longer).

A study (or a sweep of them) trains its networks one after another for hours on a CPU. Each
network's training writes a checkpoint (at most one a minute, and after its last epoch; see
:data:`CHECKPOINT_EVERY_S`) into a folder of its own (the Trainer's checkpoint: live and best
weights, optimiser state, history), beside ``job.json``, the settings that must be the same for
a run to go on from it: the images (size, split, subset, or a fingerprint of the data), the
network, its seed and the labels it learns. The Trainer itself compares its training settings
and task when it resumes; ``job.json`` adds what the Trainer cannot see (a network of another
image size loads the same weights).

A folder that holds a checkpoint is gone on from with ``resume`` and refused without it, so
that a rerun never overwrites hours of training; once a study has written its results, its
checkpoint folders are removed (only the files the Trainer and this module write: a file of
anyone else's in such a folder is left, and so is the folder).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_text
from ..training.checkpoint import CHECKPOINT_JSON, checkpoint_epoch

#: the settings a checkpoint folder was started with
SETTINGS_FILE = "job.json"
#: seconds of training between a study network's checkpoints (and its last epoch): a
#: ResNet-18 checkpoint with its optimiser state is about 180 MB and a second or two to write,
#: as long as a whole epoch on a GPU at small sizes, so a checkpoint a minute costs little
#: anywhere and an interruption loses at most a minute of training (or one epoch)
CHECKPOINT_EVERY_S = 60.0
#: the folder under a study's output where its networks checkpoint while it runs
CHECKPOINTS = "checkpoints"
#: what else a user can do when a study's checkpoints are refused
AGAIN = "give another --out (or remove that folder to train it again)"
#: the files of a checkpoint folder that the Trainer and this module write
_OWN = (CHECKPOINT_JSON, SETTINGS_FILE, "log.jsonl")


def _plain(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON reads them back (tuples are lists), for comparison."""
    return json.loads(json.dumps(dict(settings), sort_keys=True))


def _compared(settings: Any) -> Any:
    """``settings`` without their ``precision`` entries (at any depth): the Trainer compares a
    resumed network's precision itself, by the numerics it resolves to, so that a run begun
    with ``"auto"`` goes on where it is named as what auto gave there (``"bf16"`` or
    ``"fp32"``), as its refusal on another machine tells the user to do."""
    if isinstance(settings, dict):
        return {k: _compared(v) for k, v in settings.items() if k != "precision"}
    if isinstance(settings, list):
        return [_compared(v) for v in settings]
    return settings


def checkpoint_folder(
    folder: str | Path, settings: Mapping[str, Any], resume: bool, *, to_start_again: str
) -> int:
    """Make ``folder`` ready for one network's checkpoints; returns the epochs already trained
    there (0: a fresh start, after recording ``settings``).

    A checkpoint left there is gone on from with ``resume`` (its recorded settings must be
    ``settings``, precision aside: the Trainer compares that) and refused without it;
    ``to_start_again`` says, in the error, what else the user can do (e.g. ``"give another
    --out"``). Both refusals are ``ValueError``.
    """
    folder = Path(folder)
    plain = _plain(settings)
    if (folder / CHECKPOINT_JSON).is_file():
        if not resume:
            raise ValueError(
                f"{folder} holds the checkpoint of an earlier run: pass --resume to go on from "
                f"it, or {to_start_again}"
            )
        path = folder / SETTINGS_FILE
        kept = _compared(json.loads(path.read_text()) if path.is_file() else {})
        now = _compared(plain)
        if kept != now:
            differ = sorted(k for k in now.keys() | kept.keys() if kept.get(k) != now.get(k))
            raise ValueError(
                f"cannot resume {folder}: it was trained with other settings "
                f"({', '.join(differ)}); {to_start_again}"
            )
        return checkpoint_epoch(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / SETTINGS_FILE, json.dumps(plain, indent=2, sort_keys=True) + "\n")
    return 0


def remove_checkpoint_folder(folder: str | Path) -> None:
    """Remove what :func:`checkpoint_folder` and the Trainer wrote in ``folder`` (the
    checkpoint, its weights, the log, the settings; the temporary files of a killed write),
    then the folder and its parent if that leaves them empty; anything else stays."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        ours = path.name in _OWN or (
            path.name.startswith("checkpoint-") and path.name.endswith(".safetensors")
        )
        temp = path.name.endswith(".tmp") and path.name.startswith(
            (".checkpoint", f".{SETTINGS_FILE}.", ".log.jsonl.")
        )
        if path.is_file() and (ours or temp):
            path.unlink()
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError:  # not empty: something else is kept there
            break


def data_fingerprint(*datasets: Any) -> str:
    """SHA-256 over the images and labels (dtype, shape, bytes) of in-memory datasets: what a
    network trained and was selected on, for :func:`checkpoint_folder`'s settings when the
    data is not named by settings alone (a CSV of one's own photographs, a subset)."""
    digest = hashlib.sha256()
    for ds in datasets:
        for tensor in (ds.images, ds.labels):
            array = np.ascontiguousarray(tensor.numpy() if hasattr(tensor, "numpy") else tensor)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


class Checkpoints:
    """The checkpoint folders of one run of a study: ``<root>/<network name>``.

    Made at the start of the run (leftovers of an earlier run are refused there unless
    ``resume``, before any training); :meth:`folder` prepares one network's folder and gives
    the ``out_dir``/``resume`` keywords for its fit; :meth:`remove` clears them all once the
    study's results are written. With ``root`` None (a study that writes no files) nothing is
    checkpointed.
    """

    def __init__(self, root: str | Path | None, resume: bool, *, to_start_again: str) -> None:
        self.root = None if root is None else Path(root)
        self.resume = resume
        self.to_start_again = to_start_again
        self.used: list[Path] = []
        if self.root is None:
            if resume:
                raise ValueError("--resume needs the output folder the interrupted run wrote to")
            return
        left = sorted(f.parent.name for f in self.root.glob(f"*/{CHECKPOINT_JSON}"))
        if left and not resume:  # before any training, not when it reaches them
            raise ValueError(
                f"{self.root} holds checkpoints of an earlier run of the study "
                f"({', '.join(left)}): pass --resume to go on from them, or {to_start_again}"
            )

    @classmethod
    def under(cls, out: str | Path | None, resume: bool) -> Checkpoints:
        """A study's checkpoints in ``<out>/checkpoints`` (none without ``out``)."""
        return cls(None if out is None else Path(out) / CHECKPOINTS, resume, to_start_again=AGAIN)

    def folder(self, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``{"out_dir": ..., "resume": ...}`` for network ``name`` (see
        :func:`checkpoint_folder`; ``settings`` gets ``network: name``)."""
        if self.root is None:
            return {"out_dir": None, "resume": False}
        folder = self.root / name
        settings = {**settings, "network": name}
        done = checkpoint_folder(folder, settings, self.resume, to_start_again=self.to_start_again)
        self.used.append(folder)
        return {"out_dir": folder, "resume": done > 0}

    def remove(self) -> None:
        """Remove every folder :meth:`folder` prepared (see :func:`remove_checkpoint_folder`)."""
        for folder in self.used:
            remove_checkpoint_folder(folder)
