"""The precision policy: resolving "auto" from CPU flags, autocast, channels-last."""

from __future__ import annotations

import pytest
import torch

from healthcnn.inference.precision import PrecisionPolicy, cpu_flags
from healthcnn.models import create_model


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n\n")
    assert {"avx512_bf16", "amx_tile", "fpu"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(("amx_bf16",), "bf16"), (("avx512_bf16",), "bf16"), (("avx512f", "avx2"), "fp32")],
)
def test_auto_picks_bf16_only_with_native_support(fake_flags, flags, expected):
    fake_flags(*flags)
    policy = PrecisionPolicy.resolve("auto", "cpu")
    assert policy.name == expected
    assert policy.channels_last is (expected == "bf16")
    assert (policy.dtype is torch.bfloat16) is (expected == "bf16")


def test_explicit_choices_override_the_cpu(fake_flags):
    fake_flags("amx_bf16")
    assert PrecisionPolicy.resolve("fp32").dtype is None
    fake_flags()
    assert PrecisionPolicy.resolve("bf16").dtype is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        PrecisionPolicy.resolve("fp16")


def test_autocast_runs_convolutions_in_bf16_only_when_enabled():
    conv = torch.nn.Conv2d(2, 3, 3)
    x = torch.rand(1, 2, 6, 6)
    with PrecisionPolicy.resolve("bf16").autocast():
        assert conv(x).dtype is torch.bfloat16
    with PrecisionPolicy.resolve("fp32").autocast():
        assert conv(x).dtype is torch.float32


@pytest.mark.parametrize(
    ("dims", "fmt"), [(2, torch.channels_last), (3, torch.channels_last_3d), (1, None)]
)
def test_prepare_model_and_input_use_channels_last(dims, fmt):
    policy = PrecisionPolicy.resolve("bf16")
    model = create_model("simple_cnn", spatial_dims=dims, in_channels=2, num_classes=3,
                         channels=(4,))  # fmt: skip
    policy.prepare_model(model)
    x = policy.prepare_input(torch.rand((2, 2) + (4,) * dims))
    conv_w = next(p for p in model.parameters() if p.dim() == dims + 2)
    if fmt is None:
        assert conv_w.is_contiguous() and x.is_contiguous()
    else:
        assert conv_w.is_contiguous(memory_format=fmt)
        assert x.is_contiguous(memory_format=fmt) and not x.is_contiguous()
        with policy.autocast():
            out = model(x)
        assert out.shape == (2, 3) and torch.isfinite(out.float()).all()


def test_fp32_policy_leaves_layout_alone():
    policy = PrecisionPolicy.resolve("fp32")
    x = torch.rand(2, 3, 5, 5)
    assert policy.prepare_input(x) is x
    assert "fp32" in policy.describe()


def test_auto_trains_3d_models_in_fp32_on_cpu() -> None:
    """bf16 3D training diverged on this CPU; "auto" keeps 3D models in fp32, "bf16" obeys."""
    from healthcnn.models import create_model
    from healthcnn.tasks import make_task
    from healthcnn.training import TrainConfig, Trainer
    from healthcnn.training.trainer import training_precision

    cpu = torch.device("cpu")
    vol = create_model("simple_cnn", spatial_dims=3, in_channels=1, num_classes=1)
    img = create_model("simple_cnn", spatial_dims=2, in_channels=1, num_classes=1)
    assert training_precision("auto", vol, cpu) == "fp32"
    assert training_precision("bf16", vol, cpu) == "bf16"
    assert training_precision("auto", img, cpu) == "auto"
    task = make_task("binary", ["a", "b"])
    trainer = Trainer(vol, task, TrainConfig(precision="auto"), progress=False)
    assert trainer.policy.dtype is None and not trainer.policy.channels_last


def test_auto_finds_a_users_own_3d_network_by_its_convolutions(fake_flags) -> None:
    """A network without ``spatial_dims`` (a user's own) is 3D when its convolutions are: on a
    CPU with native bf16, ``auto`` trains it at fp32 as the registered 3D models."""
    from healthcnn.tasks import make_task
    from healthcnn.training import TrainConfig, Trainer

    fake_flags("avx512_bf16")
    own_3d = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 1),
    )
    own_2d = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 1),
    )
    task = make_task("binary", ["a", "b"])
    assert Trainer(own_3d, task, TrainConfig(precision="auto"), progress=False).policy.name == (
        "fp32"
    )
    assert Trainer(own_2d, task, TrainConfig(precision="auto"), progress=False).policy.name == (
        "bf16"
    )
    assert Trainer(own_3d, task, TrainConfig(precision="bf16"), progress=False).policy.name == (
        "bf16"
    )
