"""GoogLeNet: the paper's counts, torchvision's keys and counts, auxiliary heads, 1D/3D, sizes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from healthcnn.models import create_model, model_info

torch.set_num_threads(1)


def n_params(module: torch.nn.Module) -> int:
    return sum(math.prod(p.shape) for p in module.parameters())


def meta_model(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


# The paper's Table 1 (Szegedy et al. 2015), typed in here independently of the model code:
# label, input depth, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
PAPER_TABLE = [
    ("3a", 192, 64, 96, 128, 16, 32, 32),
    ("3b", 256, 128, 128, 192, 32, 96, 64),
    ("4a", 480, 192, 96, 208, 16, 48, 64),
    ("4b", 512, 160, 112, 224, 24, 64, 64),
    ("4c", 512, 128, 128, 256, 24, 64, 64),
    ("4d", 512, 112, 144, 288, 32, 64, 64),
    ("4e", 528, 256, 160, 320, 32, 128, 128),
    ("5a", 832, 256, 160, 320, 32, 128, 128),
    ("5b", 832, 384, 192, 384, 48, 128, 128),
]


def module_params(row, k5: int, per_channel: int) -> int:
    """The lecture's formula, summed over the six convolutions of an inception module:
    k*k*in*out weights plus ``per_channel`` extras per output channel (1 bias, or 2 BN)."""
    _, cin, c1, r3, c3, r5, c5, pp = row
    convs = [(1, cin, c1), (1, cin, r3), (9, r3, c3), (1, cin, r5), (k5 * k5, r5, c5), (1, cin, pp)]
    return sum(k * i * o + per_channel * o for k, i, o in convs)


# ---- the paper's network -------------------------------------------------------------------


def test_paper_total_and_module_3a_match_the_lecture():
    model = meta_model("googlenet")
    assert n_params(model) == 6_998_552
    assert n_params(model.inception3a) == 163_696
    assert model_info("googlenet").params == 6_998_552


@pytest.mark.parametrize("row", PAPER_TABLE, ids=[r[0] for r in PAPER_TABLE])
def test_paper_inception_modules_match_the_table(row):
    model = meta_model("googlenet")
    label = row[0]
    module = model.inception_modules()[f"({label})"]
    assert module is getattr(model, f"inception{label}")
    assert n_params(module) == module_params(row, k5=5, per_channel=1)
    # Output depth = 1x1 + 3x3 + 5x5 + pool proj, as in the table's "depth" column.
    assert module.out_channels == row[2] + row[4] + row[6] + row[7]


def test_inception_labels_are_the_papers_in_order():
    labels = list(meta_model("googlenet").inception_modules())
    assert labels == [f"({r[0]})" for r in PAPER_TABLE]


def test_paper_layout_biases_no_batch_norm_5x5_and_lrn():
    model = meta_model("googlenet")
    names = dict(model.named_modules())
    assert not any(type(m).__name__.startswith("BatchNorm") for m in names.values())
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert model.inception3a.branch3[1].conv.bias is not None
    assert type(model.lrn1).__name__ == "LocalResponseNorm"
    assert model.dropout.p == 0.4


def test_module_3a_macs_are_output_positions_times_weights():
    # Every convolution in (3a) is stride 1 with "same" padding: MACs = 28*28 x weights.
    block = meta_model("googlenet").inception3a
    weights = sum(math.prod(p.shape) for n, p in block.named_parameters() if "weight" in n)
    with FlopCounterMode(display=False) as counter:
        block(torch.empty(1, 192, 28, 28, device="meta"))
    assert counter.get_total_flops() // 2 == 28 * 28 * weights == 128_049_152


# ---- torchvision's layout ------------------------------------------------------------------


def test_torchvision_layout_counts():
    assert n_params(meta_model("googlenet_tv")) == 6_624_904
    assert n_params(meta_model("googlenet_tv", aux_logits=True)) == 13_004_888
    model = meta_model("googlenet_tv")
    for row in PAPER_TABLE:
        module = getattr(model, f"inception{row[0]}")
        assert n_params(module) == module_params(row, k5=3, per_channel=2)


def test_torchvision_layout_state_dict_keys_and_shapes():
    model = meta_model("googlenet_tv", aux_logits=True)
    sd = model.state_dict()
    expected = {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv1.bn.running_mean": (64,),
        "conv2.conv.weight": (64, 64, 1, 1),
        "conv3.bn.weight": (192,),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.0.conv.weight": (96, 192, 1, 1),
        "inception3a.branch2.1.bn.num_batches_tracked": (),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),
        "inception3a.branch4.1.conv.weight": (32, 192, 1, 1),
        "inception5b.branch4.1.bn.running_var": (128,),
        "aux1.conv.conv.weight": (128, 512, 1, 1),
        "aux1.fc1.weight": (1024, 2048),
        "aux2.fc2.weight": (1000, 1024),
        "fc.weight": (1000, 1024),
        "fc.bias": (1000,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    # 57 conv blocks (3 stem + 9 modules x 6) + 2 aux blocks, 6 entries each (conv weight, BN
    # weight, bias, running mean, running var, batch count); 5 linear layers with bias (fc1 and
    # fc2 in each auxiliary head, fc).
    assert len(sd) == 59 * 6 + 5 * 2
    assert not any(".act" in k or "lrn" in k for k in sd)
    convs = [m for m in model.modules() if type(m).__name__ == "Conv2d"]
    assert len(convs) == 59 and all(m.bias is None for m in convs)
    bns = [m for m in model.modules() if type(m).__name__ == "BatchNorm2d"]
    assert len(bns) == 59 and all(m.eps == 0.001 for m in bns)
    assert model.maxpool1.ceil_mode and model.maxpool4.kernel_size == 2
    assert model.dropout.p == 0.2


def test_torchvision_layout_macs_at_224():
    model = meta_model("googlenet_tv")
    with FlopCounterMode(display=False) as counter, torch.device("meta"):
        model(torch.empty(1, 3, 224, 224))
    assert counter.get_total_flops() // 2 == 1_498_376_192


def test_torchvision_layout_init():
    model = create_model("googlenet_tv", num_classes=10)
    w = model.inception4a.branch2[1].conv.weight  # 208 x 96 x 3 x 3 values
    assert 0.009 < w.std().item() < 0.011
    assert torch.all(model.conv1.bn.weight == 1) and torch.all(model.conv1.bn.bias == 0)


# ---- auxiliary classifiers -----------------------------------------------------------------


# forward vs forward_with_aux in train and eval mode: tests/models/test_zoo.py


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_without_aux_the_heads_do_not_exist_and_asking_raises(name):
    model = meta_model(name, num_classes=5)
    assert model.aux1 is None and model.aux2 is None
    assert not any(k.startswith("aux") for k in model.state_dict())
    with pytest.raises(ValueError, match="aux_logits=True"):
        model.forward_with_aux(torch.empty(1, 3, 64, 64, device="meta"))


def test_reset_classifier_resets_the_aux_heads_too():
    model = meta_model("googlenet_tv", aux_logits=True)
    model.reset_classifier(7)
    assert model.fc.out_features == 7 and model.num_classes == 7
    assert model.aux1.fc2.out_features == 7 and model.aux2.fc2.out_features == 7
    assert model.num_features == 1024


# ---- other dimensions and input sizes ------------------------------------------------------


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
@pytest.mark.parametrize("dims", [1, 3])
def test_builds_and_runs_in_1d_and_3d(name, dims):
    torch.manual_seed(0)
    model = create_model(name, spatial_dims=dims, in_channels=2, num_classes=4, aux_logits=True)
    # The auxiliary head pools to 4 per axis: 128 * 4**d features into its first FC layer.
    assert model.aux1.fc1.in_features == 128 * 4**dims
    size = model.min_input_size
    x = torch.randn(2, 2, *(size,) * dims)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 4) and [a.shape for a in aux] == [(2, 4), (2, 4)]
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_minimum_input_size_is_enforced_and_tight(name):
    model = create_model(name, spatial_dims=1, in_channels=1, num_classes=3).eval()
    size = model.min_input_size
    assert model_info(name).min_input_size == size
    with torch.no_grad():
        assert model(torch.randn(1, 1, size)).shape == (1, 3)
        with pytest.raises(ValueError, match=f"at least {size}"):
            model(torch.randn(1, 1, size - 1))
        # Tight: below the minimum the layers themselves fail.
        with pytest.raises(RuntimeError):
            model.forward_features(torch.randn(1, 1, size - 1))
    model2d = create_model(name, in_channels=1, num_classes=3).eval()
    with torch.no_grad():
        assert model2d(torch.randn(1, 1, size, size)).shape == (1, 3)
        with pytest.raises(ValueError, match=f"at least {size}"):
            model2d(torch.randn(1, 1, size, size - 1))


def test_unknown_layout_raises():
    from healthcnn.models.googlenet import GoogLeNet

    with pytest.raises(ValueError, match="layout"):
        GoogLeNet(layout="caffe")
