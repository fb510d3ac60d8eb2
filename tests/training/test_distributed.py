"""Data-parallel training: 2 gloo processes on CPU against one process with the same global batch.

The model has no batch norm (simple_cnn with ``norm=None``): batch statistics are per rank under
DDP, so a BN model would legitimately differ. Without it, each step of the 2-process run is the
single-process step up to float summation order (DDP averages two half-batch gradients instead
of summing the whole batch at once), so weights and metrics agree to ~1e-5 after 2 epochs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from healthcnn.data.arrays import ArrayDataset
from healthcnn.models import create_model
from healthcnn.tasks import make_task
from healthcnn.training import TrainConfig, Trainer, distributed

CLASSES = ["a", "b", "c"]
# 45 training samples, global batch 8: 5 full batches and a last one of 5, cut 3 + 2 (uneven);
# 13 validation samples: shards of 7 and 6 (uneven)
N_TRAIN, N_VAL, BATCH = 45, 13, 8
TOL = 1e-4


def _ds(n: int, seed: int) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = (torch.randint(0, 120, (n, 1, 8, 8), generator=g) + 60 * y.view(-1, 1, 1, 1)).clamp(0, 255)
    return ArrayDataset(x.to(torch.uint8), y.long(), CLASSES)


def _fit(out_dir: str | None, epochs: int = 2, resume: bool = False, mix: str = "none") -> dict:
    """Train the same tiny model on the same data; returns what the test compares."""
    torch.manual_seed(0)
    model = create_model(
        "simple_cnn", spatial_dims=2, in_channels=1, num_classes=3, channels=(4, 8), norm=None
    )
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=3e-3, seed=1, precision="fp32", mix=mix)
    trainer = Trainer(model, make_task("multiclass", CLASSES), cfg, out_dir=out_dir, progress=False)
    history = trainer.fit(_ds(N_TRAIN, 0), _ds(N_VAL, 1), resume=resume)
    return {
        "train_loss": [e.train_loss for e in history.epochs],
        "val_loss": [e.val_loss for e in history.epochs],
        "val_auc": [e.val_metrics["auc"] for e in history.epochs],
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "rank": distributed.current().rank if distributed.current() else 0,
    }


def _ddp_fit(out_dir: str | None, epochs: int, resume: bool) -> dict:
    distributed.init_from_env("cpu")
    result = _fit(out_dir, epochs, resume)
    result["world"] = distributed.current().world_size
    return result


def _ddp_fit_cutmix() -> dict:
    distributed.init_from_env("cpu")
    return _fit(None, 2, False, mix="cutmix")


def _ddp_fit_batch_1() -> None:
    distributed.init_from_env("cpu")
    model = create_model("simple_cnn", spatial_dims=2, in_channels=1, num_classes=3, norm=None)
    cfg = TrainConfig(epochs=1, batch_size=1, precision="fp32")
    Trainer(model, make_task("multiclass", CLASSES), cfg, progress=False).fit(
        _ds(N_TRAIN, 0), _ds(N_VAL, 1)
    )


def _assert_same(a: dict, b: dict) -> None:
    for key in ("train_loss", "val_loss", "val_auc"):
        np.testing.assert_allclose(a[key], b[key], atol=TOL, rtol=0, err_msg=key)
    for name, w in a["weights"].items():
        torch.testing.assert_close(b["weights"][name], w, atol=TOL, rtol=0)


def test_batch_pieces_cover_the_batch_once():
    for n in (1, 5, 8, 13):
        for world in (1, 2, 3):
            pieces = [distributed.batch_piece(n, r, world) for r in range(world)]
            covered = [i for p in pieces for i in range(n)[p]]
            assert covered == list(range(n))
            sizes = [p.stop - p.start for p in pieces]
            assert max(sizes) - min(sizes) <= 1


def test_epoch_steps_drops_batches_a_rank_would_miss():
    assert distributed.epoch_steps(45, 8, 2) == (6, False)  # last batch of 5: 3 + 2
    assert distributed.epoch_steps(41, 8, 2) == (5, True)  # last batch of 1: dropped
    assert distributed.epoch_steps(42, 8, 4) == (5, True)  # 2 samples for 4 ranks: dropped
    assert distributed.epoch_steps(40, 8, 2) == (5, False)


def test_launch_rejects_bad_nproc():
    with pytest.raises(ValueError, match="nproc"):
        distributed.launch(_ddp_fit, 0, None, 1, False)


def test_two_processes_match_one(tmp_path):
    single = _fit(None)
    ddp = distributed.launch(_ddp_fit, 2, str(tmp_path / "ddp"), 2, False)
    assert ddp["world"] == 2 and ddp["rank"] == 0
    _assert_same(single, ddp)
    # rank 0 wrote the checkpoint and the log; resuming for a third epoch in 2 processes
    # matches 3 epochs in one
    log = (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2]
    resumed = distributed.launch(_ddp_fit, 2, str(tmp_path / "ddp"), 3, True)
    _assert_same(_fit(None, epochs=3), resumed)


def test_cutmix_under_two_processes_is_deterministic_and_trains():
    """Each rank mixes within its own piece of the global batch (pieces of 4 + 4 and, last,
    3 + 2): two launches give the same weights, and the losses are finite."""
    a = distributed.launch(_ddp_fit_cutmix, 2)
    b = distributed.launch(_ddp_fit_cutmix, 2)
    for name, w in a["weights"].items():
        assert torch.equal(b["weights"][name], w), name
    assert a["train_loss"] == b["train_loss"] and np.all(np.isfinite(a["train_loss"]))
    plain = _fit(None)  # mixing changed what was learned
    assert any(not torch.equal(plain["weights"][k], w) for k, w in a["weights"].items())


def test_a_failing_rank_raises_launch_error_naming_it():
    with pytest.raises(distributed.LaunchError, match=r"rank \d: ValueError: batch_size 1"):
        distributed.launch(_ddp_fit_batch_1, 2)


def test_not_in_a_group_means_no_context(monkeypatch):
    assert distributed.current() is None
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched_by_torchrun()
    with pytest.raises(ValueError, match="torchrun"):
        distributed.init_from_env()


def test_launcher_variables_of_a_group_of_one_count(monkeypatch):
    env = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert distributed.launched_by_torchrun()  # a group of one is a group
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("WORLD_SIZE", bad)
        with pytest.raises(ValueError, match=f"WORLD_SIZE='{bad}' in the environment is not a"):
            distributed.launched_by_torchrun()


def test_a_group_of_one_runs_the_parallel_path_and_matches_one_process():
    # DDP over one rank, validation gathered: the path torchrun --nproc-per-node 1 takes (on one
    # GPU, the way to run nccl); it must give what a plain process gives
    ddp = distributed.launch(_ddp_fit, 1, None, 2, False)
    assert ddp["world"] == 1 and ddp["rank"] == 0
    _assert_same(_fit(None), ddp)


@pytest.mark.data
@pytest.mark.slow
def test_cli_nproc_2_matches_one_process(retina_subset, tmp_path, capsys):
    """``healthcnn train --nproc 2`` on real RetinaMNIST images (37 train: uneven last batch;
    9 validation: uneven shards) gives the one-process validation and test scores."""
    from healthcnn.bundle import load_bundle
    from healthcnn.cli import main

    data = retina_subset(tmp_path / "retina_small.npz", {"train": 37, "val": 9, "test": 8})
    results = {}
    for nproc in (1, 2):
        out = tmp_path / f"run{nproc}"
        args = ["train", "--data", str(data), "--model", "simple_cnn", "--set", "norm=null",
                "--set", "channels=[4,8]", "--epochs", "2", "--batch-size", "16",
                "--precision", "fp32", "--nproc", str(nproc), "--out", str(out),
                "--format", "json"]  # fmt: skip
        assert main(args) == 0
        results[nproc] = json.loads(capsys.readouterr().out)
        assert load_bundle(out).metadata["metrics"] == results[nproc]["metrics"]
    for split in ("val", "test"):
        for key in ("auc", "acc"):
            a, b = results[1]["metrics"][split][key], results[2]["metrics"][split][key]
            assert b == pytest.approx(a, abs=TOL), (split, key)


@pytest.mark.data
def test_cli_under_a_launchers_group_of_one_records_it(retina_subset, tmp_path):
    """``healthcnn train`` in the environment torchrun gives one process (WORLD_SIZE=1) joins a
    gloo group of one, says so, and records it in the bundle; bad launcher settings are refused
    with the variable named."""
    import os
    import subprocess
    import sys

    from healthcnn.bundle import load_bundle

    data = retina_subset(tmp_path / "retina_small.npz", {"train": 24, "val": 8, "test": 8})
    env = dict(
        os.environ, RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(distributed.free_port()), OMP_NUM_THREADS="1",
    )  # fmt: skip
    args = [sys.executable, "-m", "healthcnn", "train", "--data", str(data), "--model",
            "simple_cnn", "--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--out",
            str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "data-parallel: 1 process(es), backend gloo" in done.stdout
    processes = load_bundle(tmp_path / "run").metadata["run"]["processes"]
    assert processes == {"world_size": 1, "backend": "gloo"}
    env["WORLD_SIZE"] = "one"
    args[-1] = str(tmp_path / "run2")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "WORLD_SIZE='one' in the environment" in done.stderr
    assert not (tmp_path / "run2").exists()


def test_shutdown_without_a_group_does_nothing():
    distributed.shutdown()
    assert distributed.current() is None


@pytest.mark.data
def test_cli_under_a_launcher_leaves_the_group_it_joined(
    retina_subset, tmp_path, monkeypatch, capsys
):
    """The torchrun path destroys its process group before returning, after a run and after a
    failed one, so nothing is left for the interpreter's exit to tear down."""
    import healthcnn.cli.train as cli_train
    from healthcnn.cli import main

    data = retina_subset(tmp_path / "retina_small.npz", {"train": 16, "val": 8, "test": 8})
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = ["train", "--data", str(data), "--model", "simple_cnn", "--epochs", "1",
            "--batch-size", "8", "--precision", "fp32", "--quiet", "--out"]  # fmt: skip
    monkeypatch.setenv("MASTER_PORT", str(distributed.free_port()))
    assert main([*args, str(tmp_path / "run")]) == 0
    assert "backend gloo" in capsys.readouterr().out
    assert distributed.current() is None

    joined = []

    def failing_run(cfg, resume=False, progress=None):
        joined.append(distributed.current())
        raise ValueError("a failure inside the run")

    monkeypatch.setattr(cli_train, "train_run", failing_run)
    monkeypatch.setenv("MASTER_PORT", str(distributed.free_port()))
    assert main([*args, str(tmp_path / "run2")]) != 0
    assert "a failure inside the run" in capsys.readouterr().err
    assert joined and joined[0].world_size == 1  # it was in the group when it failed
    assert distributed.current() is None
