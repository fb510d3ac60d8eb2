"""2D weights for 1D and 3D models: the kernels' rules and the equalities they keep.

What is exact (docs/weights.md):
* "centre" (middle slice / middle row): a 3D model on a volume of identical slices, of any depth,
  gives the 2D model's logits on one slice; a 1D model on a signal gives the 2D model's logits on
  the image one row high carrying that signal. Zero padding does not matter: the middle tap
  always falls inside the input.
* "i3d" (repeat and average / sum over rows): exact for identical slices (rows) as long as every
  kernel sees whole slices: with circular padding along the new axis, or kernel depth 1. With
  zero padding the border slices see fewer taps (a 3-deep kernel at the border: 2/3 of the
  response), so a deep network's logits differ.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from healthcnn.layers import make_conv, make_norm, make_pool
from healthcnn.models import ClassifierModel, create_model
from healthcnn.models.weights import WeightAdaptationWarning, inflate_state_dict, load_weights


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    return bool((a - b).abs().max() <= rtol * b.abs().max() + 1e-6)


def _kernel(d: int, kh: int, kw: int) -> tuple[int, ...]:
    """The model families' rule for a 2D kernel (kh, kw): the last axis kw, the others kh."""
    return (kh,) * (d - 1) + (kw,)


class TinyNet(ClassifierModel):
    """Square and factorised (1x3, 3x1) kernels, a strided convolution, batch norm, max pool,
    and a head that pools to ``flat_pool`` per axis and flattens (VGG-like) or pools globally."""

    classifier_name = "fc"

    def __init__(self, spatial_dims=2, in_channels=3, num_classes=4, flat_pool=1,
                 padding_mode="zeros"):  # fmt: skip
        super().__init__(spatial_dims, in_channels, num_classes)
        d = spatial_dims

        def conv(cin, cout, kh, kw, stride=1):
            k = _kernel(d, kh, kw)
            return make_conv(d, cin, cout, k, stride=stride, padding=tuple(n // 2 for n in k),
                             padding_mode=padding_mode)  # fmt: skip

        self.stem = conv(in_channels, 8, 3, 3)
        self.bn1 = make_norm("batch", d, 8)
        self.wide = conv(8, 8, 1, 3)
        self.tall = conv(8, 16, 3, 1, stride=2)
        self.bn2 = make_norm("batch", d, 16)
        self.pool = make_pool("max", d, kernel_size=3, stride=2, padding=1)
        self.head_pool = make_pool("adaptive_avg", d, output_size=flat_pool)
        self.fc = nn.Linear(16 * flat_pool**d, num_classes)

    def forward_features(self, x):
        x = torch.relu(self.bn1(self.stem(x)))
        return self.pool(torch.relu(self.bn2(self.tall(self.wide(x)))))

    def forward_head(self, x, pre_logits=False):
        x = torch.flatten(self.head_pool(x), 1)
        return x if pre_logits else self.fc(x)


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if t.dim() == 1 else 0.5))
    return model.eval()


def _inflated(source: nn.Module, target: nn.Module, mode: str) -> nn.Module:
    with pytest.warns(WeightAdaptationWarning, match=r"inflated 2D weights to \dD"):
        result = load_weights(target, source.state_dict(), inflate_mode=mode)
    assert result.inflated_from == 2
    return target.eval()


def _volume(image: torch.Tensor, depth: int) -> torch.Tensor:
    """A 'boring video': ``depth`` identical slices of ``image``."""
    return image.unsqueeze(2).expand(-1, -1, depth, -1, -1).contiguous()


IMAGE = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(3))
SIGNAL = torch.randn(2, 3, 12, generator=torch.Generator().manual_seed(4))


# ---- the kernel rules ----------------------------------------------------------------------------


def test_inflate_state_dict_kernels() -> None:
    w = torch.randn(4, 2, 3, 5)
    state = {"conv.weight": w, "bn.running_var": torch.rand(4), "fc.weight": torch.randn(3, 4)}
    i3d = inflate_state_dict(state, 3)["conv.weight"]
    assert i3d.shape == (4, 2, 3, 3, 5)  # depth = kernel height by default
    assert all(torch.allclose(i3d[:, :, k], w / 3) for k in range(3))
    centre = inflate_state_dict(state, 3, mode="centre", depth=5)["conv.weight"]
    assert centre.shape == (4, 2, 5, 3, 5)
    assert torch.equal(centre[:, :, 2], w) and centre[:, :, [0, 1, 3, 4]].abs().sum() == 0
    for mode in ("i3d", "centre"):  # depth 1: both modes are the 2D kernel itself
        assert torch.equal(inflate_state_dict(state, 3, mode=mode, depth=1)["conv.weight"],
                           w.unsqueeze(2))  # fmt: skip
    assert torch.allclose(inflate_state_dict(state, 1)["conv.weight"], w.sum(dim=2))
    assert torch.equal(inflate_state_dict(state, 1, mode="centre")["conv.weight"], w[:, :, 1])
    out = inflate_state_dict(state, 3)
    for key in ("bn.running_var", "fc.weight"):  # copied, unchanged
        assert torch.equal(out[key], state[key]) and out[key] is not state[key]
    assert state["conv.weight"] is w and w.shape == (4, 2, 3, 5)  # input untouched


def test_inflate_state_dict_errors() -> None:
    state = {"conv.weight": torch.randn(4, 2, 3, 3)}
    with pytest.raises(ValueError, match="spatial_dims must be 1 or 3"):
        inflate_state_dict(state, 2)
    with pytest.raises(ValueError, match="'i3d', 'centre'"):
        inflate_state_dict(state, 3, mode="mean")
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        inflate_state_dict(state, 3, depth=0)
    with pytest.raises(ValueError, match="depth applies to 2D -> 3D"):
        inflate_state_dict(state, 1, depth=3)
    with pytest.raises(ValueError, match=r"look \[3\]D"):
        inflate_state_dict({"conv.weight": torch.randn(4, 2, 3, 3, 3)}, 3)


def test_i3d_layer_on_identical_slices_interior_exact_borders_scaled() -> None:
    conv2 = make_conv(2, 3, 5, 3, padding=1, bias=False)
    conv3 = make_conv(3, 3, 5, 3, padding=1, bias=False)
    conv3.weight.data = inflate_state_dict({"w": conv2.weight.data}, 3)["w"]
    with torch.no_grad():
        ref, out = conv2(IMAGE), conv3(_volume(IMAGE, 5))
    for k in (1, 2, 3):  # the kernel sees 3 identical slices
        assert _close(out[:, :, k], ref)
    for k in (0, 4):  # zero padding: 2 of the 3 taps see data
        assert _close(out[:, :, k], ref * 2 / 3)


# ---- whole networks ----------------------------------------------------------------------------


@pytest.mark.parametrize("flat_pool", [1, 2])
@pytest.mark.parametrize("depth", [1, 3])
def test_centre_3d_equals_2d_on_identical_slices(flat_pool: int, depth: int) -> None:
    net2 = _randomise(TinyNet(2, flat_pool=flat_pool))
    net3 = _inflated(net2, TinyNet(3, flat_pool=flat_pool), "centre")
    assert net3.tall.weight.shape[2:] == (3, 3, 1) and net3.wide.weight.shape[2:] == (1, 1, 3)
    with torch.no_grad():
        assert _close(net3(_volume(IMAGE, depth)), net2(IMAGE))


@pytest.mark.parametrize("flat_pool", [1, 2])
def test_centre_1d_equals_2d_on_one_row_images(flat_pool: int) -> None:
    net2 = _randomise(TinyNet(2, flat_pool=flat_pool))
    net1 = _inflated(net2, TinyNet(1, flat_pool=flat_pool), "centre")
    with torch.no_grad():
        assert _close(net1(SIGNAL), net2(SIGNAL.unsqueeze(2)))


@pytest.mark.parametrize("flat_pool", [1, 2])
def test_i3d_is_exact_with_circular_padding(flat_pool: int) -> None:
    net2 = _randomise(TinyNet(2, flat_pool=flat_pool, padding_mode="circular"))
    net3 = _inflated(net2, TinyNet(3, flat_pool=flat_pool, padding_mode="circular"), "i3d")
    net1 = _inflated(net2, TinyNet(1, flat_pool=flat_pool, padding_mode="circular"), "i3d")
    rows = SIGNAL.unsqueeze(2).expand(-1, -1, 6, -1)  # every row carries the signal
    with torch.no_grad():
        assert _close(net3(_volume(IMAGE, 4)), net2(IMAGE))
        assert _close(net1(SIGNAL), net2(rows))


def test_resnet18_centre_inflation_is_exact() -> None:
    net2 = create_model("resnet18").eval()
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    net3 = _inflated(net2, create_model("resnet18", spatial_dims=3), "centre")
    net1 = _inflated(net2, create_model("resnet18", spatial_dims=1), "centre")
    signal = image[:, :, 0]
    with torch.no_grad():
        assert _close(net3(_volume(image, 3)), net2(image))
        assert _close(net1(signal), net2(signal.unsqueeze(2)))


def test_resnet18_i3d_with_zero_padding_is_not_exact() -> None:
    # The documented limit: the depth borders see zero padding, and 18 layers spread it.
    net2 = create_model("resnet18").eval()
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    net3 = _inflated(net2, create_model("resnet18", spatial_dims=3), "i3d")
    with torch.no_grad():
        ref, out = net2(image), net3(_volume(image, 3))
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert not _close(out, ref, rtol=1e-2)


def test_flattened_linear_that_cannot_be_inflated_names_the_option() -> None:
    net2 = create_model("alexnet_tv", pool_size=2)
    with torch.device("meta"):
        net3 = create_model("alexnet_tv", spatial_dims=3, pool_size=1)
    with pytest.raises(ValueError, match=r"classifier\.1\.weight.*1024.*256.*pool_size=2"):
        load_weights(net3, net2.state_dict())


def test_3d_weights_into_2d_model_is_refused() -> None:
    state = TinyNet(3).state_dict()
    with pytest.raises(ValueError, match=r"stem\.weight.*3D convolutions.*2D"):
        load_weights(TinyNet(2), state)
