"""Bad input and interruptions through the command line: one line on stderr, the usual exit code
(2 for a user error, 130 for Ctrl-C), never a traceback. Synthetic inputs only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn import cli
from healthcnn.cli import main
from healthcnn.cli.config import load_config_file


def _one_line(capsys: pytest.CaptureFixture, argv: list[str], expected: int = 2) -> str:
    assert main(argv) == expected
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def tiny_npz(tmp_path: Path, split_npz) -> Path:
    return split_npz(tmp_path / "tiny.npz", 8, (8, 4, 4))


def _device_commands(tmp_path: Path, tiny_npz: Path) -> list[list[str]]:
    out = str(tmp_path / "out")
    return [
        ["train", "--data", str(tiny_npz), "--out", out],
        ["study", "dr-screening", "--out", out, "--data", str(tiny_npz)],
        ["study", "skin-taxonomy", "--out", out, "--data-dir", str(tmp_path)],
        ["study", "adrenal3d", "--out", out, "--data-dir", str(tmp_path)],
    ]


@pytest.mark.parametrize("command", range(4))
def test_bogus_device_is_one_line_in_every_command(
    tmp_path: Path, tiny_npz: Path, capsys: pytest.CaptureFixture, command: int
) -> None:
    argv = _device_commands(tmp_path, tiny_npz)[command]
    line = _one_line(capsys, [*argv, "--device", "bogus"])
    assert "--device 'bogus' is not a device" in line


@pytest.mark.parametrize("command", range(4))
def test_cuda_without_cuda_is_one_line_in_every_command(
    tmp_path: Path,
    tiny_npz: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    command: int,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = _device_commands(tmp_path, tiny_npz)[command]
    line = _one_line(capsys, [*argv, "--device", "cuda"])
    assert "CUDA is not available" in line and "--device cpu" in line


def _config(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_malformed_yaml_is_one_line_with_the_position(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("yaml")
    path = _config(tmp_path, "data: x.npz\nout: [unclosed\nmodel: resnet18\n")
    line = _one_line(capsys, ["train", "--config", str(path)])
    assert str(path) in line and "line" in line and "not valid YAML" in line


def test_python_tag_in_yaml_is_refused_and_constructs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("yaml")
    marker = tmp_path / "pwned"
    path = _config(
        tmp_path,
        f"data: x.npz\nout: o\nmodel: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    line = _one_line(capsys, ["train", "--config", str(path)])
    assert "line 3" in line and "python/object/apply" in line and "refused" in line
    assert not marker.exists()


def test_yaml_exponent_numbers_are_converted_strictly(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = _config(tmp_path, "data: x.npz\nout: o\nlr: 1e-3\ntrain:\n  epochs: '3'\n")
    settings = load_config_file(path)
    assert settings["lr"] == 0.001 and isinstance(settings["lr"], float)
    assert settings["train"]["epochs"] == 3
    from healthcnn.cli import build_parser
    from healthcnn.cli.train import run_config_from_args

    args = build_parser().parse_args(["train", "--config", str(path)])
    assert run_config_from_args(args).train.lr == 0.001
    for text, message in (
        ("lr: fast\n", r"setting 'lr' = 'fast' is not a number"),
        ("train:\n  epochs: 2.5\n", r"setting train.epochs = 2.5 is not a whole number"),
        ("size: .nan\n", r"setting 'size' = nan is not a finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            load_config_file(_config(tmp_path, "data: x.npz\n" + text, "bad.yaml"))


def test_zero_byte_npz_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    line = _one_line(capsys, ["train", "--data", str(empty), "--out", str(tmp_path / "o")])
    assert "empty.npz is empty (0 bytes)" in line


def test_out_at_filesystem_root_is_one_clear_line(
    tiny_npz: Path, capsys: pytest.CaptureFixture
) -> None:
    line = _one_line(capsys, ["train", "--data", str(tiny_npz), "--out", "/"])
    assert "/: a filesystem root (or . and ..) cannot hold a bundle" in line


def test_data_info_verify_on_a_corrupt_file_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "medmnist"
    folder.mkdir()
    (folder / "retinamnist.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    argv = ["data", "info", "retinamnist", "--verify", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "MISMATCH" in captured.out and "unreadable" in captured.out


def test_data_info_reports_nan_labels_as_nan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "medmnist-rebuilt"
    folder.mkdir()
    labels = np.array([[0.0], [np.nan], [1.0]])
    np.savez(folder / "retinamnist.npz", train_images=np.zeros((3, 28, 28, 3)), train_labels=labels)
    assert main(["data", "info", "retinamnist", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "invalid:" in out and "nan at sample 1" in out
    assert "-9223372036854775808" not in out


def test_summary_input_too_large_for_memory_is_one_line(capsys: pytest.CaptureFixture) -> None:
    line = _one_line(capsys, ["summary", "resnet18", "--input", "200000x200000x3"])
    assert "GiB" in line and "memory" in line


def test_ctrl_c_during_start_up_exits_130(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert _one_line(capsys, ["models", "list"], 130) == "healthcnn: interrupted"


def test_ctrl_c_during_training_exits_130(
    tiny_npz: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from healthcnn.cli import train as train_cli
    from healthcnn.training import TrainingInterrupted

    def interrupted(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted(epochs_completed=1, checkpoint=tmp_path / "checkpoint.json")

    monkeypatch.setattr(train_cli, "train_distributed", interrupted)
    line = _one_line(capsys, ["train", "--data", str(tiny_npz), "--out", str(tmp_path / "o")], 130)
    assert "interrupted after 1 epoch(s)" in line and "--resume" in line


def test_ctrl_c_in_a_study_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from healthcnn.studies import volumes
    from healthcnn.training import TrainingInterrupted

    def interrupted(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted(epochs_completed=0, checkpoint=None)

    monkeypatch.setattr(volumes, "run_adrenal3d", interrupted)
    line = _one_line(capsys, ["study", "adrenal3d", "--data-dir", str(tmp_path)], 130)
    assert line.startswith("healthcnn study: interrupted")


def _healthcnn(args: list[str], cwd: Path) -> subprocess.Popen:
    """``python -m healthcnn ARGS`` with Ctrl-C delivered as in a terminal (a shell that
    started the tests in the background may have left SIGINT ignored for its children)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "healthcnn", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_torch_import(proc: subprocess.Popen, limit_s: float = 60.0) -> None:
    """Return once ``proc`` has begun importing torch (a libtorch library is mapped), which
    happens inside the entry point's guarded import of the command line. A fixed sleep is not
    enough: on a loaded machine the interpreter may still be starting when it ends."""
    maps = Path(f"/proc/{proc.pid}/maps")
    if not maps.parent.is_dir():  # no procfs: importing torch takes longer than this anywhere
        time.sleep(0.15)
        return
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if "libtorch" in maps.read_text():
                return
        except OSError:  # the process ended between the checks
            break
        time.sleep(0.005)
    raise AssertionError(f"healthcnn never began importing torch (exit status {proc.poll()})")


def test_sigint_in_a_real_process_is_one_line_and_130(tmp_path: Path) -> None:
    proc = _healthcnn(["models", "list"], tmp_path)
    # inside the imports of start-up (importing torch takes a while after its first library
    # is mapped), where the interpreter's SIGINT handler is long installed
    _wait_for_torch_import(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("interrupted"), err


@pytest.mark.slow
def test_sigint_during_real_training_is_one_line_and_130(tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _healthcnn(
        ["train", "--data", str(tiny_npz), "--out", str(out), "--epochs", "500"], tmp_path
    )
    deadline = time.monotonic() + 180
    while not (out.parent / "run.work").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # earlier lines are the per-epoch progress
    assert last.startswith("healthcnn train: interrupted") and "--resume" in last, err
