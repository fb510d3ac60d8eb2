"""Inception-v3: torchvision's counts, keys and MACs; the 1D/3D kernel rule; aux head; sizes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from healthcnn.models import create_model, model_info
from healthcnn.models.inception import InceptionAux, InceptionC

torch.set_num_threads(1)


def n_params(module: torch.nn.Module) -> int:
    return sum(math.prod(p.shape) for p in module.parameters())


def meta_model(**kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model("inception_v3", **kwargs)


# ---- torchvision compatibility -------------------------------------------------------------


def test_parameter_counts():
    assert n_params(meta_model()) == 23_834_568
    assert n_params(meta_model(aux_logits=True)) == 27_161_264
    assert model_info("inception_v3").params == 23_834_568


def test_mixed_6b_count_from_its_kernels():
    # Conv (k_h*k_w*in*out, no bias) + BN (2*out) for each of Mixed_6b's ten convolutions
    # (channels_7x7 = 128), written out from the architecture independently of the code.
    convs = [
        (1, 768, 192),  # branch1x1
        (1, 768, 128),  # branch7x7_1
        (7, 128, 128),  # branch7x7_2 (1x7)
        (7, 128, 192),  # branch7x7_3 (7x1)
        (1, 768, 128),  # branch7x7dbl_1
        (7, 128, 128),  # _2
        (7, 128, 128),  # _3
        (7, 128, 128),  # _4
        (7, 128, 192),  # _5
        (1, 768, 192),  # branch_pool
    ]
    assert n_params(meta_model().Mixed_6b) == sum(k * i * o + 2 * o for k, i, o in convs)


def test_state_dict_size_and_batch_norms():
    """The torchvision key names and shapes are checked in test_zoo.py."""
    model = meta_model(aux_logits=True)
    sd = model.state_dict()
    # Conv blocks: stem 5, Mixed_5b-d 3x7, 6a 4, 6b-e 4x10, 7a 6, 7b-c 2x9, aux 2 = 96; each
    # has 6 entries (conv weight, BN weight, bias, running mean, var, batch count); 2 linears.
    assert len(sd) == 96 * 6 + 2 * 2
    bns = [m for m in model.modules() if type(m).__name__ == "BatchNorm2d"]
    assert len(bns) == 96 and all(m.eps == 0.001 for m in bns)
    assert model.dropout.p == 0.5


def test_macs_at_299():
    model = meta_model()
    with FlopCounterMode(display=False) as counter, torch.device("meta"):
        model(torch.empty(1, 3, 299, 299))
    assert counter.get_total_flops() // 2 == 5_713_216_096


def test_init_like_torchvision():
    model = create_model("inception_v3", num_classes=10, aux_logits=True)
    assert 0.09 < model.Mixed_6b.branch7x7_2.conv.weight.std().item() < 0.11
    assert 0.0009 < model.AuxLogits.fc.weight.std().item() < 0.0011
    assert torch.all(model.Mixed_5b.branch1x1.bn.weight == 1)


# ---- the kernel rule in 1D and 3D ----------------------------------------------------------


def test_factorised_kernels_per_dimension_keep_the_keys():
    shapes = {}
    for d in (1, 2, 3):
        with torch.device("meta"):
            block = InceptionC(d, 768, channels_7x7=128)
        shapes[d] = {k: tuple(v.shape[2:]) for k, v in block.state_dict().items() if "conv" in k}
    assert shapes[1].keys() == shapes[2].keys() == shapes[3].keys()
    key_1x7, key_7x1 = "branch7x7_2.conv.weight", "branch7x7_3.conv.weight"
    assert (shapes[2][key_1x7], shapes[2][key_7x1]) == ((1, 7), (7, 1))
    assert (shapes[3][key_1x7], shapes[3][key_7x1]) == ((1, 1, 7), (7, 7, 1))
    assert (shapes[1][key_1x7], shapes[1][key_7x1]) == ((7,), (1,))


def _centre_slices(state: dict) -> dict:
    """The state with each conv weight replaced by its centre slice along the first spatial
    axis (tensor dim 2)."""
    out = {}
    for k, v in state.items():
        if k.endswith("conv.weight"):
            v = v.select(2, v.shape[2] // 2)
        out[k] = v
    return out


@pytest.mark.parametrize("low, high", [(2, 3), (1, 2)])
def test_lower_dimensional_kernel_is_the_centre_slice(low, high):
    # The 7x7 double branch of a mixed block (five convolutions, BN in eval mode): the
    # higher-dimensional branch on an input one voxel/row thick along the first axis equals the
    # lower-dimensional branch whose kernels are the centre slices.
    torch.manual_seed(0)
    names = [f"branch7x7dbl_{i}" for i in range(1, 6)]
    big, small = InceptionC(high, 6, 4).eval(), InceptionC(low, 6, 4).eval()
    with torch.no_grad():
        for p in big.parameters():
            p.normal_()
    small.load_state_dict(_centre_slices(big.state_dict()))
    x = torch.randn(2, 6, *(9,) * low)
    with torch.no_grad():
        y_small, y_big = x, x.unsqueeze(2)
        for name in names:
            y_small = getattr(small, name)(y_small)
            y_big = getattr(big, name)(y_big)
    torch.testing.assert_close(y_big.squeeze(2), y_small)


def test_small_grid_average_pool_gives_the_same_numbers():
    block = InceptionC(2, 4, 4)
    x = torch.randn(1, 4, 2, 2)  # under 3 per axis: explicit zero padding path
    torch.testing.assert_close(block.pool(x), block.pool.pool(x))


# ---- auxiliary classifier ------------------------------------------------------------------


# forward vs forward_with_aux in train and eval mode: tests/models/test_zoo.py


def test_reset_classifier_resets_the_aux_head_too():
    torch.manual_seed(0)
    model = create_model("inception_v3", in_channels=1, num_classes=5, aux_logits=True)
    model.reset_classifier(3)
    assert model.fc.out_features == 3 and model.AuxLogits.fc.out_features == 3


def test_without_aux_the_head_does_not_exist_and_asking_raises():
    model = meta_model(num_classes=5)
    assert model.AuxLogits is None
    assert not any(k.startswith("AuxLogits") for k in model.state_dict())
    with pytest.raises(ValueError, match="aux_logits=True"):
        model.forward_with_aux(torch.empty(1, 3, 299, 299, device="meta"))


@pytest.mark.parametrize("grid, pool_used", [(17, "pool"), (12, "pool_small"), (3, "pool_small")])
def test_aux_head_pools_5x5_stride_3_at_17_and_adaptively_below(grid, pool_used):
    head = InceptionAux(2, 8, num_classes=4).eval()
    calls = []
    for name in ("pool", "pool_small"):
        getattr(head, name).register_forward_hook(
            lambda m, i, o, name=name: calls.append((name, tuple(o.shape[2:])))
        )
    with torch.no_grad():
        out = head(torch.randn(1, 8, grid, grid))
    assert out.shape == (1, 4)
    assert calls == [(pool_used, (5, 5))]


# ---- other dimensions and input sizes ------------------------------------------------------


def test_runs_in_1d():
    model = create_model(
        "inception_v3", spatial_dims=1, in_channels=12, num_classes=4, aux_logits=True
    )
    logits, aux = model.forward_with_aux(torch.randn(2, 12, 75))
    assert logits.shape == (2, 4) and aux[0].shape == (2, 4)


def test_runs_in_3d():
    model = create_model(
        "inception_v3", spatial_dims=3, in_channels=1, num_classes=2, aux_logits=True
    )
    model.eval()
    with torch.no_grad():
        logits, aux = model.forward_with_aux(torch.randn(1, 1, 75, 75, 75))
    assert logits.shape == (1, 2) and aux[0].shape == (1, 2)
    assert torch.isfinite(logits).all()


def test_minimum_input_size_is_enforced_and_tight():
    assert model_info("inception_v3").min_input_size == 75
    model = create_model("inception_v3", spatial_dims=1, in_channels=1, num_classes=3).eval()
    assert model.min_input_size == 75
    with torch.no_grad():
        assert model(torch.randn(1, 1, 75)).shape == (1, 3)
        with pytest.raises(ValueError, match="at least 75"):
            model(torch.randn(1, 1, 74))
        with pytest.raises(RuntimeError):  # below 75 the layers themselves fail
            model.forward_features(torch.randn(1, 1, 74))
    model2d = meta_model(in_channels=1, num_classes=3)
    with pytest.raises(ValueError, match="at least 75"):
        model2d(torch.empty(1, 1, 299, 74, device="meta"))
