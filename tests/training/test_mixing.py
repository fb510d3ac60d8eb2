"""Mixup and CutMix: hand-worked boxes in 1D/2D/3D, the batch mixer's checks, and the Trainer's
mixed loss, determinism and bit-exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_trainer import TASK, TRAIN, VAL, _stop_at, cfg, fit, make_model, same, state

from healthcnn.tasks import make_task
from healthcnn.training import Trainer, TrainingInterrupted
from healthcnn.training.mixing import cutmix, cutmix_box, mix_batch, mixup


def test_mixup_blends_each_sample_with_its_partner() -> None:
    x = torch.tensor([[[1.0, 2.0]], [[10.0, 20.0]], [[100.0, 200.0]]])  # (3, 1, 2)
    partner = torch.tensor([2, 0, 1])
    out = mixup(x, partner, 0.75)
    expected = torch.tensor([[[25.75, 51.5]], [[7.75, 15.5]], [[77.5, 155.0]]])
    torch.testing.assert_close(out, expected)
    assert x[0, 0, 0] == 1.0  # the input is not changed


@pytest.mark.parametrize(
    ("spatial", "lam", "centre", "box", "kept"),
    [
        # 2D, lam 0.75: each axis cut to sqrt(0.25) = 0.5, i.e. int(0.25 * side) either side
        ((10, 8), 0.75, (5, 4), ((3, 7), (2, 6)), 1 - 16 / 80),
        # at a corner the box is clipped, so more of the input is kept than lam says
        ((10, 8), 0.75, (0, 0), ((0, 2), (0, 2)), 1 - 4 / 80),
        # 1D signal, lam 0.6: the axis cut to 0.4 of its length
        ((100,), 0.6, (50,), ((30, 70),), 0.6),
        # 3D volume, lam 0.875: each axis cut to 0.125 ** (1/3) = 0.5
        ((8, 8, 8), 0.875, (4, 4, 4), ((2, 6), (2, 6), (2, 6)), 1 - 64 / 512),
        # lam 1 cuts nothing
        ((6, 6), 1.0, (3, 3), ((3, 3), (3, 3)), 1.0),
    ],
)
def test_cutmix_box_hand_worked(spatial, lam, centre, box, kept) -> None:
    got, share = cutmix_box(spatial, lam, centre)
    assert [(s.start, s.stop) for s in got] == list(box)
    assert share == pytest.approx(kept)


def test_cutmix_box_wants_one_centre_index_per_axis() -> None:
    with pytest.raises(ValueError, match=r"one index per spatial axis \(8, 8\)"):
        cutmix_box((8, 8), 0.5, (4,))


def test_cutmix_pastes_the_partners_box_only() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    partner = torch.tensor([1, 0])
    box = (slice(1, 3), slice(0, 2))
    out = cutmix(x, partner, box)
    torch.testing.assert_close(out[0, :, 1:3, 0:2], x[1, :, 1:3, 0:2])
    torch.testing.assert_close(out[1, :, 1:3, 0:2], x[0, :, 1:3, 0:2])
    outside = torch.ones(4, 4, dtype=torch.bool)
    outside[1:3, 0:2] = False
    assert torch.equal(out[:, :, outside], x[:, :, outside])


@pytest.mark.parametrize("shape", [(6, 2, 50), (6, 3, 12, 10), (6, 1, 6, 6, 6)])
def test_mix_batch_cutmix_keeps_the_share_it_reports(shape) -> None:
    """Over many draws, the share of values left unchanged is exactly the lam returned, in 1D,
    2D and 3D (values are distinct, so a pasted value always differs)."""
    x = torch.randperm(int(np.prod(shape))).reshape(shape).float()
    rng = np.random.default_rng(0)
    for _ in range(20):
        out, partner, lam = mix_batch(x, "cutmix", 1.0, rng)
        assert sorted(partner.tolist()) == list(range(shape[0]))
        moved = partner != torch.arange(shape[0])
        unchanged = (out[moved] == x[moved]).float().mean().item()
        assert unchanged == pytest.approx(lam)
        assert 0.0 <= lam <= 1.0


def test_mix_batch_is_a_function_of_its_generator() -> None:
    x = torch.rand(8, 3, 5, 5)
    a = mix_batch(x, "mixup", 0.4, np.random.default_rng(7))
    b = mix_batch(x, "mixup", 0.4, np.random.default_rng(7))
    c = mix_batch(x, "mixup", 0.4, np.random.default_rng(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert a[2] != c[2]
    torch.testing.assert_close(a[0], mixup(x, a[1], a[2]))


def test_mix_batch_alpha_shapes_the_proportion() -> None:
    """Beta(0.2, 0.2) puts most draws near 0 or 1; Beta(1, 1) is uniform."""
    x = torch.rand(4, 1, 3, 3)
    rng = np.random.default_rng(0)
    small = [mix_batch(x, "mixup", 0.2, rng)[2] for _ in range(400)]
    flat = [mix_batch(x, "mixup", 1.0, rng)[2] for _ in range(400)]
    near_edges = lambda lams: np.mean([min(v, 1 - v) < 0.1 for v in lams])  # noqa: E731
    assert near_edges(small) > 0.5 > near_edges(flat) > 0.1


@pytest.mark.parametrize(
    ("x", "kind", "message"),
    [
        (torch.rand(4, 3, 8, 8), "blend", "mix must be one of"),
        (torch.rand(4, 8), "mixup", r"shape \(N, C, \*spatial\), got a batch of shape \(4, 8\)"),
        (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), "cutmix", "needs float inputs"),
    ],
)
def test_mix_batch_refuses_what_it_cannot_mix(x, kind, message) -> None:
    with pytest.raises(ValueError, match=message):
        mix_batch(x, kind, 1.0, np.random.default_rng(0))


# -- in the Trainer ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "classes", "weights"),
    [
        ("multiclass", ["a", "b", "c"], "balanced"),
        ("multiclass", ["a", "b", "c"], "none"),
        ("multilabel", ["a", "b", "c"], "none"),
        ("ordinal", ["g0", "g1", "g2"], "none"),
    ],
)
def test_mixed_loss_is_the_mix_of_the_two_losses(kind, classes, weights) -> None:
    task = make_task(kind, classes)
    n_out = task.num_outputs
    trainer = Trainer(make_model(num_classes=n_out), task, cfg(), progress=False)
    x = torch.rand(6, 1, 8, 8)
    if kind == "multilabel":
        y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]])
    else:
        y = torch.tensor([0, 1, 2, 2, 1, 0])
    y = task.encode_labels(y)
    cw = task.balanced_class_weights(y) if weights == "balanced" else None
    partner = torch.tensor([3, 4, 5, 0, 1, 2])
    trainer.model.eval()  # no dropout: the same logits on every call
    with torch.no_grad():
        logits = trainer.model(x).float()
        mixed = trainer._loss(x, y, cw, False, (partner, 0.3))
        plain = trainer._loss(x, y, cw, False)
        alone = trainer._loss(x, y, cw, False, (partner, 1.0))
    expected = 0.3 * task.loss(logits, y, cw) + 0.7 * task.loss(logits, y[partner], cw)
    torch.testing.assert_close(mixed, expected)
    torch.testing.assert_close(alone, plain)  # lam 1: the partner's labels weigh nothing


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_trains_deterministically_and_changes_the_result(kind) -> None:
    a, ha, _ = fit(cfg(mix=kind))
    b, hb, _ = fit(cfg(mix=kind))
    plain, _, _ = fit(cfg())
    assert same(state(a), state(b)) and ha.column("val_loss") == hb.column("val_loss")
    assert not same(state(a), state(plain))


def test_mixing_leaves_the_shuffling_and_augmentation_stream_alone() -> None:
    """The mixer draws from a stream of its own: the batches the model would see before mixing
    are the same with and without it."""
    seen = {}
    for kind in ("none", "cutmix"):
        batches = seen[kind] = []

        def record(x, generator=None, batches=batches):
            batches.append(x.clone())
            return x

        fit(cfg(epochs=2, mix=kind), transform=record)
    assert len(seen["none"]) == len(seen["cutmix"]) == 8
    assert all(torch.equal(p, q) for p, q in zip(seen["none"], seen["cutmix"], strict=True))


def test_resume_with_mixing_is_bit_exact(tmp_path) -> None:
    config = cfg(epochs=3, mix="cutmix", mix_alpha=0.5)
    reference, ref_history, _ = fit(config)
    with pytest.raises(TrainingInterrupted):
        fit(config, out_dir=tmp_path, callbacks=[_stop_at(2)])
    model, history, _ = fit(config, model=make_model(seed=7), out_dir=tmp_path, resume=True)
    assert same(state(model), state(reference))
    assert history.column("val_loss") == ref_history.column("val_loss")
    # mixing is part of the config a resumed run must match
    with pytest.raises(ValueError, match=r"mix: saved 'cutmix', now 'mixup'"):
        fit(cfg(epochs=3, mix="mixup", mix_alpha=0.5), out_dir=tmp_path, resume=True)


def test_every_training_batch_is_mixed_and_validation_is_not() -> None:
    """The model sees mixed inputs in training only: each training forward gets a batch that
    differs from the transformed one; validation inputs are the stored images."""
    inputs = {"train": [], "eval": []}
    model = make_model()
    model.register_forward_pre_hook(
        lambda m, args: inputs["train" if m.training else "eval"].append(args[0].clone())
    )
    transformed = []

    def keep(x, generator=None):
        transformed.append(x.clone())
        return x

    trainer = Trainer(model, TASK, cfg(epochs=1, mix="mixup"), transform=keep, progress=False)
    trainer.fit(TRAIN, VAL)
    assert len(inputs["train"]) == len(transformed) == 4
    assert all(not torch.equal(m, t) for m, t in zip(inputs["train"], transformed, strict=True))
    assert sum(len(x) for x in inputs["eval"]) == len(VAL)
    stored = VAL.images.float() / 255
    assert torch.equal(torch.cat(inputs["eval"]), stored)


# -- against torchvision -------------------------------------------------------------------------
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mixing" / "torchvision_v2.json"


def _golden_cases() -> list[dict]:
    return json.loads(GOLDEN.read_text())["cases"]


@pytest.mark.parametrize("case", _golden_cases(), ids=lambda c: f"{c['kind']}-seed{c['seed']}")
def test_same_batch_as_torchvision(case: dict) -> None:
    """Given torchvision's draws (its Beta sample and box centre) and its pairing (sample i with
    i - 1), these functions give torchvision's mixed batch and the share its soft labels give
    each sample's own class (scripts/make_golden_mixing.py wrote the file)."""
    x = torch.tensor(case["input"])
    expected = torch.tensor(case["output"])
    soft = torch.tensor(case["soft_labels"])
    partner = torch.arange(len(x)).roll(1)
    lam = case["draws"]["lam"]
    if case["kind"] == "mixup":
        out, kept = mixup(x, partner, lam), lam
        torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    else:
        centre = (case["draws"]["centre_y"], case["draws"]["centre_x"])
        box, kept = cutmix_box(tuple(x.shape[2:]), lam, centre)
        out = cutmix(x, partner, box)
        assert torch.equal(out, expected)
        assert not torch.equal(out, x) or kept == 1.0  # a real box was cut (or none, said so)
    own = soft[torch.arange(len(x)), torch.tensor(case["labels"])]
    torch.testing.assert_close(own, torch.full((len(x),), kept), rtol=1e-6, atol=1e-6)
