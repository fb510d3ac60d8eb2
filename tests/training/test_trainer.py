"""The Trainer: determinism, best weights, resume, interruption, NaN, checks and plumbing.

Tiny data (64 samples of 1x8x8) and a tiny CNN keep every fit well under a second.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from healthcnn.data.arrays import ArrayDataset
from healthcnn.models import create_model
from healthcnn.tasks import BinaryTask, make_task, referable_dr
from healthcnn.training import (
    Callback,
    LambdaCallback,
    PrecisionPolicy,
    TrainConfig,
    Trainer,
    TrainingError,
    TrainingInterrupted,
    load_checkpoint,
    predict,
)
from healthcnn.training import trainer as trainer_mod
from healthcnn.training.optim import lr_at

CLASSES = ["a", "b", "c"]


def make_ds(n=64, classes=CLASSES, seed=0, labels=None, invert=False) -> ArrayDataset:
    """Images whose brightness encodes the label (so a model learns something)."""
    g = torch.Generator().manual_seed(seed)
    k = len(classes)
    y = torch.randint(0, k, (n,), generator=g) if labels is None else torch.as_tensor(labels)
    signal = (k - 1 - y) if invert else y
    noise = torch.randint(0, 120, (n, 1, 8, 8), generator=g)
    x = (noise + signal.view(-1, 1, 1, 1) * (130 // max(k - 1, 1))).clamp(0, 255)
    ids = [f"s{i}" for i in range(n)]
    groups = [f"p{i // 2}" for i in range(n)]
    return ArrayDataset(x.to(torch.uint8), y.long(), list(classes), ids=ids, groups=groups)


def make_model(seed=0, num_classes=3, dropout=0.3) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return create_model(
            "simple_cnn",
            spatial_dims=2,
            in_channels=1,
            num_classes=num_classes,
            channels=(4, 8),
            dropout=dropout,
        )


def flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random horizontal flip per sample, drawn from the epoch's generator."""
    mask = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def cfg(**kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "precision": "fp32", "seed": 0}
    base.update(kw)
    return TrainConfig(**base)


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


TASK = make_task("multiclass", CLASSES)
TRAIN, VAL = make_ds(seed=0), make_ds(n=32, seed=1)


def fit(config, *, model=None, out_dir=None, callbacks=(), resume=False, transform=flip, every=0):
    model = make_model() if model is None else model
    trainer = Trainer(model, TASK, config, out_dir=out_dir, transform=transform,
                      callbacks=callbacks, progress=False, checkpoint_every=every)  # fmt: skip
    history = trainer.fit(TRAIN, VAL, resume=resume)
    return model, history, trainer


# -- determinism --------------------------------------------------------------------------------
def test_same_seed_gives_identical_weights_and_another_seed_differs():
    a, ha, _ = fit(cfg())
    b, hb, _ = fit(cfg())
    c, _, _ = fit(cfg(seed=1))
    assert same(state(a), state(b))
    assert ha.column("val_loss") == hb.column("val_loss")
    assert not same(state(a), state(c))


def test_global_rng_is_untouched_and_irrelevant():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    a, _, _ = fit(cfg(epochs=2))
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)
    torch.manual_seed(456)  # a different global state must not change the result
    b, _, _ = fit(cfg(epochs=2))
    assert same(state(a), state(b))


def test_bf16_path_runs_autocast_and_is_deterministic():
    dtypes = []
    model = make_model()
    model.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    a, history, trainer = fit(cfg(epochs=2, precision="bf16"), model=model)
    assert trainer.policy.name == "bf16"
    assert torch.bfloat16 in dtypes  # the forward pass ran under bf16 autocast
    conv_w = next(p for p in a.parameters() if p.dim() == 4)
    assert conv_w.dtype is torch.float32  # master weights stay fp32
    assert conv_w.is_contiguous(memory_format=torch.channels_last)
    assert all(np.isfinite(history.column("train_loss")))
    b, _, _ = fit(cfg(epochs=2, precision="bf16"))
    assert same(state(a), state(b))


# -- best weights -------------------------------------------------------------------------------
def test_model_ends_with_a_copy_of_the_best_epochs_weights():
    # validation labels are the reverse of training's: the more it learns, the worse val AUC
    # gets, so the best epoch is not the last one and the check below can fail
    val = make_ds(n=32, seed=1, invert=True)
    seen: dict[int, tuple[float, dict]] = {}
    record_cb = LambdaCallback(
        on_epoch_end=lambda t, r: seen.__setitem__(r.epoch, (r.val_metrics["auc"], state(t.model)))
    )
    model = make_model()
    trainer = Trainer(model, TASK, cfg(epochs=4), callbacks=[record_cb], progress=False)
    history = trainer.fit(TRAIN, val)
    aucs = {e: auc for e, (auc, _) in seen.items()}
    best = max(aucs, key=lambda e: (aucs[e], -e))  # first epoch with the highest AUC
    assert history.best_epoch == best
    assert history.best_metric == aucs[best]
    assert best != 4, "precondition: the last epoch should not be the best here"
    assert same(state(model), seen[best][1])
    assert not same(state(model), seen[4][1])
    assert not model.training


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    val = make_ds(n=32, seed=1, invert=True)
    model = make_model()
    history = Trainer(model, TASK, cfg(epochs=6, early_stopping_patience=1), progress=False).fit(
        TRAIN, val
    )
    assert history.stopped_early
    assert len(history.epochs) == history.best_epoch + 1 < 6


# -- resume and interruption --------------------------------------------------------------------
RESUME_CFG = cfg(epochs=4, schedule="cosine", warmup_epochs=1, optimizer="adamw",
                 weight_decay=1e-2)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    model, history, _ = fit(RESUME_CFG, out_dir=out)
    return state(model), history, out


def _stop_at(epoch, batch=None):
    def hook(trainer, *args):
        if args[0] == epoch and (batch is None or args[1] == batch):
            raise KeyboardInterrupt

    return LambdaCallback(**({"on_epoch_end": lambda t, r: hook(t, r.epoch)} if batch is None
                             else {"on_batch_end": hook}))  # fmt: skip


def test_resume_after_interruption_is_bit_exact(tmp_path, uninterrupted):
    ref_state, ref_history, ref_dir = uninterrupted
    with pytest.raises(TrainingInterrupted) as info:
        fit(RESUME_CFG, out_dir=tmp_path, callbacks=[_stop_at(2)])
    assert info.value.epochs_completed == 2
    assert info.value.checkpoint == tmp_path / "checkpoint.json"
    assert load_checkpoint(tmp_path).epoch == 2
    # a different initialisation proves the weights come from the checkpoint
    model, history, _ = fit(RESUME_CFG, model=make_model(seed=99), out_dir=tmp_path, resume=True)
    assert same(state(model), ref_state)
    assert history.column("val_loss") == ref_history.column("val_loss")
    assert history.best_epoch == ref_history.best_epoch
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    # the final checkpoints agree too (live weights, best weights, optimizer state)
    mine, ref = load_checkpoint(tmp_path), load_checkpoint(ref_dir)
    assert same(mine.model_state, ref.model_state) and same(mine.best_state, ref.best_state)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_weight_average_is_the_ema_of_every_step_and_is_what_is_kept():
    decay, seen = 0.8, []
    record = LambdaCallback(
        on_batch_end=lambda t, e, b, v: seen.append({k: p.detach().clone()
                                                     for k, p in t.model.named_parameters()})
    )  # fmt: skip
    model, history, _ = fit(cfg(epochs=1, ema_decay=decay), callbacks=[record])
    expected = seen[0]
    for step in seen[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * step[k] for k in expected}
    kept = dict(model.named_parameters())
    assert len(seen) == 4  # 64 samples in batches of 16
    for name, value in expected.items():
        torch.testing.assert_close(kept[name].detach(), value, rtol=1e-5, atol=1e-6)
    # the live weights moved on without averaging; the model returned holds the average
    name = next(iter(expected))
    assert not torch.allclose(seen[-1][name], kept[name].detach())
    _, plain_history, _ = fit(cfg(epochs=1))
    assert history.column("val_loss") != plain_history.column("val_loss")


def test_resume_with_weight_average_is_bit_exact(tmp_path):
    config = cfg(epochs=3, ema_decay=0.9)
    reference, ref_history, _ = fit(config)
    with pytest.raises(TrainingInterrupted):
        fit(config, out_dir=tmp_path, callbacks=[_stop_at(2)])
    assert load_checkpoint(tmp_path).ema_state is not None
    model, history, _ = fit(config, model=make_model(seed=7), out_dir=tmp_path, resume=True)
    assert same(state(model), state(reference))
    assert history.column("val_loss") == ref_history.column("val_loss")


def test_resume_refuses_a_checkpoint_without_the_weight_average(tmp_path):
    with pytest.raises(TrainingInterrupted):
        fit(cfg(epochs=3), out_dir=tmp_path, callbacks=[_stop_at(1)])
    # ema_decay is part of the config that must match
    with pytest.raises(ValueError, match=r"ema_decay: saved None, now 0\.9"):
        fit(cfg(epochs=3, ema_decay=0.9), out_dir=tmp_path, resume=True)


def test_ctrl_c_mid_epoch_keeps_the_last_completed_epoch(tmp_path, uninterrupted):
    ref_state = uninterrupted[0]
    with pytest.raises(TrainingInterrupted, match="after 1 epoch") as info:
        fit(RESUME_CFG, out_dir=tmp_path, callbacks=[_stop_at(2, batch=2)])
    assert info.value.checkpoint is not None
    assert load_checkpoint(tmp_path).epoch == 1
    model, _, _ = fit(RESUME_CFG, model=make_model(seed=5), out_dir=tmp_path, resume=True)
    assert same(state(model), ref_state)


def test_interrupt_without_out_dir_says_nothing_was_saved():
    with pytest.raises(TrainingInterrupted, match="nothing was saved") as info:
        fit(cfg(), callbacks=[_stop_at(1, batch=1)])
    assert info.value.checkpoint is None


def test_resume_refuses_missing_checkpoint_and_changed_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        fit(cfg(), out_dir=tmp_path, resume=True)
    fit(cfg(epochs=1), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"different config \(lr: saved 0.003, now 0.01\)"):
        fit(cfg(epochs=2, lr=1e-2), out_dir=tmp_path, resume=True)
    _, history, _ = fit(cfg(epochs=2), out_dir=tmp_path, resume=True)  # more epochs is fine
    assert [r.epoch for r in history.epochs] == [1, 2]


def test_checkpoints_at_most_every_so_many_seconds_and_always_at_the_end(
    tmp_path, uninterrupted
) -> None:
    """With checkpoint_every, epochs inside the interval write no checkpoint (the log still
    gets every epoch's line), the last epoch always does, and the weights are those of a run
    that checkpointed every epoch; an interruption before the first checkpoint says nothing
    was saved."""
    ref_state, ref_history, _ = uninterrupted
    model, history, _ = fit(RESUME_CFG, out_dir=tmp_path / "hourly", every=3600)
    assert same(state(model), ref_state)
    assert history.column("val_loss") == ref_history.column("val_loss")
    assert load_checkpoint(tmp_path / "hourly").epoch == RESUME_CFG.epochs
    lines = (tmp_path / "hourly" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    with pytest.raises(TrainingInterrupted, match="nothing was saved") as info:
        fit(RESUME_CFG, out_dir=tmp_path / "cut", every=3600, callbacks=[_stop_at(2)])
    assert info.value.checkpoint is None
    assert not (tmp_path / "cut" / "checkpoint.json").exists()
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="checkpoint_every must be seconds >= 0"):
            fit(RESUME_CFG, out_dir=tmp_path / "bad", every=bad)


@pytest.mark.parametrize("bf16_cpu", [False, True])
def test_resume_keeps_the_numerics_the_run_began_with(tmp_path, monkeypatch, bf16_cpu):
    """A run begun in fp32 and resumed with precision "auto" goes on where "auto" still means
    fp32, and is refused where it would switch to bf16 half-way (a machine with native bf16)."""
    from healthcnn.inference import precision as precision_module

    reference, _, _ = fit(cfg(epochs=2))
    with pytest.raises(TrainingInterrupted):
        fit(cfg(epochs=2), out_dir=tmp_path, callbacks=[_stop_at(1)])
    assert load_checkpoint(tmp_path).info["precision"] == "fp32"
    monkeypatch.setattr(precision_module, "_device_supports_bf16", lambda device: bf16_cpu)
    if bf16_cpu:
        with pytest.raises(ValueError, match=r"trained in fp32, and precision='auto' is bf16 "
                           r"on this machine; resume with precision='fp32'"):  # fmt: skip
            fit(cfg(epochs=2, precision="auto"), out_dir=tmp_path, resume=True)
        assert load_checkpoint(tmp_path).epoch == 1  # the refusal wrote nothing
        # naming the numerics it began with goes on, bit-exactly
        model, _, _ = fit(cfg(epochs=2), model=make_model(seed=3), out_dir=tmp_path, resume=True)
    else:
        model, _, _ = fit(cfg(epochs=2, precision="auto"), model=make_model(seed=3),
                          out_dir=tmp_path, resume=True)  # fmt: skip
    assert same(state(model), state(reference))
    # an explicit other precision is refused whatever the machine
    with pytest.raises(ValueError, match="trained in fp32, and precision='bf16' is bf16"):
        fit(cfg(epochs=3, precision="bf16"), out_dir=tmp_path, resume=True)


# -- failures -----------------------------------------------------------------------------------
class Poisonable(nn.Module):
    """Wraps a model; once ``poison`` is set its logits are NaN."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.num_classes = inner.num_classes
        self.poison = False

    def forward(self, x):
        out = self.inner(x)
        return out * float("nan") if self.poison else out


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    model = Poisonable(make_model())
    poison = LambdaCallback(on_epoch_start=lambda t, e: setattr(t.model, "poison", e == 2))
    with pytest.raises(TrainingError, match="epoch 2, batch 1") as info:
        fit(cfg(), model=model, out_dir=tmp_path, callbacks=[poison])
    assert (info.value.epoch, info.value.batch) == (2, 1)
    assert info.value.checkpoint == tmp_path / "checkpoint.json"
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == 1
    fresh = Poisonable(make_model(seed=3))
    fresh.load_state_dict(ckpt.model_state)
    assert all(torch.isfinite(v.float()).all() for v in fresh.state_dict().values())


def test_losses_read_one_step_late_give_the_same_training(monkeypatch):
    """On a GPU the Trainer reads each step's loss after queueing the next step (no wait per
    step); forced on here, it must train the same weights, log the same losses and stop on a
    NaN naming the same epoch and batch as the immediate read."""
    a, ha, ta = fit(cfg())
    assert not ta._defer_loss_reads()  # on a CPU the loss is read at once
    monkeypatch.setattr(Trainer, "_defer_loss_reads", lambda self: True)
    b, hb, _ = fit(cfg())
    assert same(state(a), state(b))
    assert [r.train_loss for r in ha.epochs] == [r.train_loss for r in hb.epochs]
    model = Poisonable(make_model())
    poison = LambdaCallback(on_epoch_start=lambda t, e: setattr(t.model, "poison", e == 2))
    with pytest.raises(TrainingError, match="epoch 2, batch 1") as info:
        fit(cfg(), model=model, callbacks=[poison])
    assert (info.value.epoch, info.value.batch) == (2, 1)


def test_losses_are_read_late_only_on_a_gpu_without_batch_hooks():
    trainer = Trainer(make_model(), TASK, cfg(), progress=False)
    trainer.device = torch.device("cuda")  # the decision only; nothing runs
    assert trainer._defer_loss_reads()
    seen = []
    hooked = LambdaCallback(on_batch_end=lambda t, e, b, loss: seen.append(loss))
    for callbacks in ([hooked], [SubclassHook()]):
        trainer = Trainer(make_model(), TASK, cfg(), progress=False, callbacks=callbacks)
        trainer.device = torch.device("cuda")
        assert not trainer._defer_loss_reads()
    epoch_only = LambdaCallback(on_epoch_end=lambda t, r: None)
    trainer = Trainer(make_model(), TASK, cfg(), progress=False, callbacks=[epoch_only])
    trainer.device = torch.device("cuda")
    assert trainer._defer_loss_reads()


class SubclassHook(Callback):
    def on_batch_end(self, trainer, epoch, batch, loss):
        pass


def test_a_class_absent_from_training_is_named_before_training(tmp_path):
    train = make_ds(labels=[0, 2] * 32)
    model = make_model()
    before = state(model)
    with pytest.raises(ValueError, match=r"\['b'\] have no samples in the training split"):
        Trainer(model, TASK, cfg(), out_dir=tmp_path, progress=False).fit(train, VAL)
    assert same(state(model), before)
    assert not (tmp_path / "checkpoint.json").exists()


def test_setup_errors_name_the_fix():
    with pytest.raises(ValueError, match="build it with num_classes=1"):
        Trainer(make_model(num_classes=3), BinaryTask(("n", "p")), cfg()).fit(TRAIN, VAL)
    with pytest.raises(ValueError, match="monitor='kappa' is not computed"):
        Trainer(make_model(), TASK, cfg(monitor="kappa")).fit(TRAIN, VAL)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        cfg(optimizer="rmsprop")


# -- schedules ----------------------------------------------------------------------------------
def test_learning_rate_schedules():
    step = cfg(epochs=100, lr=1.0, schedule="multistep", milestones=(50, 75), gamma=0.1)
    # MedMNIST protocol: x0.1 from epoch 50 and again from epoch 75 (0-based)
    assert [lr_at(step, e) for e in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    )
    cos = cfg(epochs=4, lr=1.0, schedule="cosine", warmup_epochs=1)
    warm = [lr_at(cos, 0, s, 4) for s in range(4)]
    assert warm == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lr_at(cos, 1, 0, 4) == pytest.approx(1.0)
    # halfway through the decay (1.5 of 3 epochs after warm-up) the rate is half
    assert lr_at(cos, 2, 2, 4) == pytest.approx(0.5)
    later = [lr_at(cos, e, s, 4) for e in (1, 2, 3) for s in range(4)]
    assert all(a > b for a, b in itertools.pairwise(later)) and later[-1] > 0


# -- plumbing -----------------------------------------------------------------------------------
def test_balanced_sampling_and_class_weights_reach_the_loop(monkeypatch):
    labels = [0] * 56 + [1] * 8
    train = make_ds(labels=labels, classes=["neg", "pos"])
    val = make_ds(n=32, seed=1, classes=["neg", "pos"])
    task = make_task("binary", ["neg", "pos"])
    seen_labels, seen_weights = [], []
    real_iter = trainer_mod.iterate_batches

    def spy_iter(ds, *a, **kw):
        for x, y, idx in real_iter(ds, *a, **kw):
            seen_labels.append(y.clone())
            yield x, y, idx

    real_loss = type(task).loss

    def spy_loss(self, logits, y, class_weights=None):
        seen_weights.append(class_weights)
        return real_loss(self, logits, y, class_weights)

    monkeypatch.setattr(trainer_mod, "iterate_batches", spy_iter)
    monkeypatch.setattr(type(task), "loss", spy_loss)
    config = cfg(epochs=3, sampling="balanced", class_weights="balanced")
    Trainer(make_model(num_classes=1), task, config, progress=False).fit(train, val)
    drawn = torch.cat(seen_labels).float().mean().item()
    assert 0.35 < drawn < 0.65  # 8 of 64 positives, drawn about half the time
    train_weights = [w for w in seen_weights if w is not None]
    torch.testing.assert_close(train_weights[0], torch.tensor([64 / 112, 64 / 16]))
    assert None in seen_weights  # validation loss is unweighted


class _BiasOnly(nn.Module):
    """Logits that are one learnable bias per class: the fitted bias is the model's prior."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.num_classes = k
        self.bias = nn.Parameter(torch.zeros(k))

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1) + 0.0 * x.float().flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_logit_adjustment_trains_balanced_posteriors(tau):
    # 48 / 12 / 4 samples: with the plain loss a bias-only model learns the prior, with the
    # logit-adjusted loss (tau 1) its own probabilities are the balanced (uniform) posterior
    labels = [0] * 48 + [1] * 12 + [2] * 4
    train, val = make_ds(labels=labels), make_ds(n=30, seed=1, labels=[0, 1, 2] * 10)
    model, last = _BiasOnly(3), {}
    keep = LambdaCallback(on_epoch_end=lambda t, r: last.update(bias=t.model.bias.detach().clone()))
    config = cfg(epochs=40, lr=0.05, logit_adjust=tau)
    task = make_task("multiclass", CLASSES)
    Trainer(model, task, config, progress=False, callbacks=[keep]).fit(train, val)
    probs = torch.softmax(last["bias"], 0)  # the last epoch's, not the best-validation one
    expected = torch.tensor([48, 12, 4]) / 64 if tau == 0 else torch.full((3,), 1 / 3)
    torch.testing.assert_close(probs, expected.float(), atol=0.03, rtol=0)


def test_logit_adjustment_needs_labels_up_front():
    class NoLabels(torch.utils.data.Dataset):
        def __init__(self, ds):
            self.ds = ds

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.ds[i]

    train, val = make_ds(), make_ds(n=16, seed=1)
    trainer = Trainer(make_model(), make_task("multiclass", CLASSES), cfg(logit_adjust=1.0))
    with pytest.raises(ValueError, match=r"logit_adjust=1\.0 needs every training label"):
        trainer.fit(NoLabels(train), val)


def test_aux_heads_add_weighted_losses():
    class WithAux(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = make_model(dropout=0.0)
            self.aux_head = nn.Linear(64, 3)
            self.num_classes = 3
            self.aux_calls = 0

        def forward(self, x):
            return self.inner(x)

        def forward_with_aux(self, x):
            self.aux_calls += 1
            return self.inner(x), [self.aux_head(x.flatten(1))]

    model = WithAux()
    fit(cfg(epochs=1), model=model)
    assert model.aux_calls == 4  # 64 samples / 16 per batch
    head_before = state(model.aux_head)
    fit(cfg(epochs=1, aux_weight=0.0), model=model)
    assert same(state(model.aux_head), head_before)  # weight 0: the aux head is not trained


@pytest.mark.parametrize("kind", ["ordinal", "multilabel"])
def test_other_task_kinds_train(kind):
    classes = ["g0", "g1", "g2", "g3"]
    if kind == "ordinal":
        train, val = make_ds(classes=classes), make_ds(n=32, seed=1, classes=classes)
    else:
        g = torch.Generator().manual_seed(0)
        ml = (torch.rand(96, 4, generator=g) < 0.5).float()
        base = make_ds(n=96, classes=classes)
        train = ArrayDataset(base.images[:64], ml[:64], classes)
        val = ArrayDataset(base.images[64:], ml[64:], classes)
    task = make_task(kind, classes)
    model = make_model(num_classes=task.num_outputs)
    history = Trainer(model, task, cfg(epochs=2), progress=False).fit(train, val)
    assert np.isfinite(history.column("train_loss")).all()
    assert 0.0 <= history.best_metric <= 1.0


def test_predict_returns_probabilities_ids_groups_and_mapped_labels():
    grades = make_ds(classes=["0", "1", "2", "3", "4"], seed=2)
    task = make_task("binary", referable_dr().classes, label_map=referable_dr())
    model = make_model(num_classes=1)
    model.train()
    preds = predict(model, grades, task, batch_size=24, policy=PrecisionPolicy.resolve("fp32"))
    assert model.training  # mode restored
    assert preds.scores.shape == (64,)
    assert preds.labels.tolist() == (grades.labels >= 2).long().tolist()
    assert preds.ids == grades.ids and preds.groups == grades.groups
    model.eval()
    with torch.no_grad():
        direct = torch.sigmoid(model(grades.images.float() / 255)[:, 0])
    np.testing.assert_allclose(preds.scores, direct.numpy(), rtol=1e-5, atol=1e-6)
