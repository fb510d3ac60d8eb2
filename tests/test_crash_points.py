"""Crash-point injection: every fsync and rename of ``train``, ``train --resume``, the bundle
writer, ``export`` and ``report``, each killed with SIGKILL in turn (all points, enumerated).

For each command the harness first runs it once to list its crash points (``_atomic``'s
``HEALTHCNN_CRASH_LOG``), then, for every point, starts from the same state, runs the command
in a forked child that kills itself there (``HEALTHCNN_CRASH_AT``), and checks what is left:

* ``--out`` holds a complete bundle or nothing, once a load has recovered an interrupted write;
* the next run (``--resume`` when a checkpoint was written, else a fresh start) finishes with
  weights bit-identical to an uninterrupted run;
* no temporary file or hidden leftover folder survives that next run.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from healthcnn import _atomic
from healthcnn.bundle import BundleError, verify_bundle
from healthcnn.cli import main

TRAIN = ["--format", "json", "--model", "simple_cnn", "--set", "channels=[4,8]",
         "--batch-size", "8", "--lr", "0.01", "--schedule", "none", "--precision", "fp32",
         "--seed", "3", "--no-download"]  # fmt: skip


def run_child(argv: list[str], log: Path, crash_at: int | None) -> int:
    """``healthcnn argv`` in a forked child; its exit code, or -signal when it was killed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.environ["HEALTHCNN_CRASH_LOG"] = str(log)
            os.environ.pop("HEALTHCNN_CRASH_AT", None)
            if crash_at is not None:
                os.environ["HEALTHCNN_CRASH_AT"] = str(crash_at)
            _atomic.reset_crash_points()
            warnings.simplefilter("ignore")
            code = main(argv)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def crash_points(argv: list[str], log: Path) -> list[str]:
    log.unlink(missing_ok=True)
    assert run_child(argv, log, None) == 0
    return [line.split("\t", 1)[1] for line in log.read_text().splitlines()]


def leftovers(root: Path) -> list[str]:
    """Temporary files and hidden leftover folders anywhere under ``root``."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if p.name.endswith(".tmp") or ".tmp-" in p.name or ".old-" in p.name
    )


def weights(bundle: Path) -> dict[str, torch.Tensor]:
    return load_file(str(bundle / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def complete_or_none(out: Path) -> bool:
    """After a load had the chance to recover: a complete bundle at ``out``, or nothing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verify_bundle(out)
    except BundleError:
        return not out.exists()
    return True


def enumerate_crashes(
    tmp: Path,
    prepare: Callable[[Path], list[str]],
    check: Callable[[Path, list[str]], None],
) -> list[str]:
    """Run the command of ``prepare(workspace)`` killed at each of its crash points; ``check``
    gets the workspace after each kill. Returns the points (for the count in the test)."""
    listing = tmp / "listing"
    points = crash_points(prepare(listing), tmp / "points.log")
    assert points, "the command passed no crash point"
    for i, label in enumerate(points):
        work = tmp / f"crash{i}"
        argv = prepare(work)
        code = run_child(argv, tmp / "crash.log", i)
        assert code == -signal.SIGKILL, f"point {i} ({label}) was not reached: exit {code}"
        check(work, argv)
    return points


def _warm_up(root: Path, npz: Path) -> None:
    """Train, export and report once in this process, so every forked child inherits warm
    kernels and imports (10x faster children)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warm = root / "warm"
        main(["train", "--data", str(npz), *TRAIN, "--epochs", "1", "--out", str(warm)])
        main(["export", str(warm), "-o", str(root / "warm.onnx")])
        main(["report", str(warm), "-o", str(root / "warm.html")])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, split_npz) -> dict[str, Path]:
    """The data, and uninterrupted runs of 1 and 2 epochs (their bundles)."""
    root = tmp_path_factory.mktemp("reference")
    npz = split_npz(root / "tiny.npz", 12, (24, 12, 12))
    _warm_up(root, npz)
    log = root / "log"
    for epochs in (1, 2):
        argv = ["train", "--data", str(npz), *TRAIN, "--epochs", str(epochs)]
        assert run_child([*argv, "--out", str(root / f"e{epochs}")], log, None) == 0
    return {"npz": npz, "e1": root / "e1", "e2": root / "e2"}


def _next_train_run(work: Path, argv: list[str], reference: dict[str, Path]) -> None:
    out = work / "out"
    assert complete_or_none(out)
    resume = (work / "out.work" / "checkpoint.json").exists()
    again = [*argv, "--resume"] if resume and "--resume" not in argv else argv
    if not resume:
        again = [a for a in again if a != "--resume"]
    assert run_child(again, work / "next.log", None) == 0, f"next run failed: {again}"
    assert same_weights(out, reference["e2"]), "the next run did not end bit-identical"
    assert leftovers(work) == []


def test_train_killed_at_every_crash_point(tmp_path: Path, reference: dict[str, Path]) -> None:
    def prepare(work: Path) -> list[str]:
        work.mkdir()
        return ["train", "--data", str(reference["npz"]), *TRAIN, "--epochs", "2",
                "--out", str(work / "out")]  # fmt: skip

    points = enumerate_crashes(
        tmp_path, prepare, lambda work, argv: _next_train_run(work, argv, reference)
    )
    assert any("checkpoint" in p for p in points) and any("into place" in p for p in points)


def test_resume_killed_at_every_crash_point(tmp_path: Path, reference: dict[str, Path]) -> None:
    def prepare(work: Path) -> list[str]:
        work.mkdir()
        argv = ["train", "--data", str(reference["npz"]), *TRAIN, "--out", str(work / "out")]
        assert run_child([*argv, "--epochs", "1"], work / "setup.log", None) == 0
        return [*argv, "--epochs", "2", "--resume"]

    def check(work: Path, argv: list[str]) -> None:
        out = work / "out"
        assert complete_or_none(out)
        # the old bundle (1 epoch) or the new one (2 epochs), never a mixture
        assert same_weights(out, reference["e1"]) or same_weights(out, reference["e2"])
        _next_train_run(work, argv, reference)

    points = enumerate_crashes(tmp_path, prepare, check)
    assert any("away" in p for p in points)  # an existing bundle was replaced


def test_export_and_report_killed_at_every_crash_point(
    tmp_path: Path, reference: dict[str, Path]
) -> None:
    for command in (["export"], ["report"]):

        def prepare(work: Path, command=command) -> list[str]:
            shutil.copytree(reference["e1"], work / "b")
            if command == ["report"]:
                return ["report", str(work / "b"), "-o", str(work / "b" / "report.html")]
            return ["export", str(work / "b")]

        def check(work: Path, argv: list[str]) -> None:
            bundle = work / "b"
            # killed before the manifest took the new file: the bundle is intact, the file is
            # not part of it; after: it is sealed
            verify_bundle(bundle)
            assert same_weights(bundle, reference["e1"])
            assert run_child(argv, work / "next.log", None) == 0
            verify_bundle(bundle)
            assert leftovers(work) == []

        base = tmp_path / command[0]
        base.mkdir()
        points = enumerate_crashes(base, prepare, check)
        assert any("seal" in p for p in points)
