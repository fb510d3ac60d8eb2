"""summarize(): the lecture's AlexNet row by row, exact MACs against PyTorch's own flop counter,
shared and unsupported modules, 1D/3D/multi-input models, and a model left untouched."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from healthcnn.analysis import summarize
from healthcnn.analysis.rules import adaptive_window_total
from healthcnn.layers import LocallyConnected, SumPool2d


def single_tower_alexnet() -> nn.Module:
    """The lecture's AlexNet: one tower 96-256-384-384-256, FC 9216-4096-4096-1000, 227 px."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(9216, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, 1000),
    )


# (type, output shape, params, MACs, pooling calculations), written out from the lecture's
# formulas: output (W - F + 2P)/S + 1, params F*F*C*K + K, MACs = output elements x F*F*C.
ALEXNET_ROWS = [
    ("Conv2d", (96, 55, 55), 11 * 11 * 3 * 96 + 96, 55 * 55 * 96 * 11 * 11 * 3, 0),
    ("ReLU", (96, 55, 55), 0, 0, 0),
    ("MaxPool2d", (96, 27, 27), 0, 0, 27 * 27 * 96 * 9),
    ("Conv2d", (256, 27, 27), 5 * 5 * 96 * 256 + 256, 27 * 27 * 256 * 5 * 5 * 96, 0),
    ("ReLU", (256, 27, 27), 0, 0, 0),
    ("MaxPool2d", (256, 13, 13), 0, 0, 13 * 13 * 256 * 9),
    ("Conv2d", (384, 13, 13), 3 * 3 * 256 * 384 + 384, 13 * 13 * 384 * 3 * 3 * 256, 0),
    ("ReLU", (384, 13, 13), 0, 0, 0),
    ("Conv2d", (384, 13, 13), 3 * 3 * 384 * 384 + 384, 13 * 13 * 384 * 3 * 3 * 384, 0),
    ("ReLU", (384, 13, 13), 0, 0, 0),
    ("Conv2d", (256, 13, 13), 3 * 3 * 384 * 256 + 256, 13 * 13 * 256 * 3 * 3 * 384, 0),
    ("ReLU", (256, 13, 13), 0, 0, 0),
    ("MaxPool2d", (256, 6, 6), 0, 0, 6 * 6 * 256 * 9),
    ("Flatten", (9216,), 0, 0, 0),
    ("Linear", (4096,), 6 * 6 * 256 * 4096 + 4096, 9216 * 4096, 0),
    ("ReLU", (4096,), 0, 0, 0),
    ("Linear", (4096,), 4096 * 4096 + 4096, 4096 * 4096, 0),
    ("ReLU", (4096,), 0, 0, 0),
    ("Linear", (1000,), 4096 * 1000 + 1000, 4096 * 1000, 0),
]


def test_single_tower_alexnet_matches_the_lecture_row_by_row():
    report = summarize(single_tower_alexnet(), (3, 227, 227))
    got = [
        (r.type, r.output_shape[1:], r.params, r.macs, r.pool_calculations) for r in report.layers
    ]
    assert got == ALEXNET_ROWS
    assert report.layers[0].input_shape == (1, 3, 227, 227)
    assert report.layers[0].kernel_size == (11, 11) and report.layers[0].stride == (4, 4)
    assert report.totals.params == 62_378_344  # the lecture's total
    assert report.totals.macs == 1_135_256_096
    assert report.totals.flops == 2 * 1_135_256_096
    assert report.totals.params_outside_layers == 0
    assert report.unsupported == () and report.uncounted_macs == 0 and report.complete


def test_batch_size_scales_macs_but_not_params():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    one = summarize(model, (2, 6, 6))
    four = summarize(model, (2, 6, 6), batch_size=4)
    assert four.totals.macs == 4 * one.totals.macs == 4 * (16 * 3 * 9 * 2 + 48 * 5)
    assert four.totals.params == one.totals.params
    assert four.input_shapes == ((4, 2, 6, 6),)


# ---- exact MACs against torch.utils.flop_counter -------------------------------------------


def _counter_macs(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


@st.composite
def conv_configs(draw):
    d = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(d))
    s = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(d))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(d))
    transposed = draw(st.booleans())
    size = tuple(draw(st.integers(dl * (kk - 1) + 1, 9)) for kk, dl in zip(k, dil, strict=True))
    batch = draw(st.integers(1, 2))
    return d, cin, cout, k, s, dil, pad, groups, transposed, size, batch


@settings(max_examples=30, deadline=None)
@given(conv_configs())
def test_conv_macs_equal_flop_counter(cfg):
    d, cin, cout, k, s, dil, pad, groups, transposed, size, batch = cfg
    if transposed:
        cls = getattr(nn, f"ConvTranspose{d}d")
        layer = cls(cin, cout, k, stride=s, padding=0, dilation=dil, groups=groups)
    else:
        cls = getattr(nn, f"Conv{d}d")
        layer = cls(cin, cout, k, stride=s, padding=pad, dilation=dil, groups=groups)
    x = torch.randn(batch, cin, *size)
    report = summarize(layer, example_input=x)
    (row,) = report.layers
    assert row.macs == _counter_macs(layer, x)
    assert row.groups == groups and row.dilation == dil
    assert report.uncounted_macs == 0


@settings(max_examples=15, deadline=None)
@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    fin=st.integers(1, 6),
    fout=st.integers(1, 6),
    bias=st.booleans(),
)
def test_linear_macs_with_leading_dims(lead, fin, fout, bias):
    layer = nn.Linear(fin, fout, bias=bias)
    x = torch.randn(2, *lead, fin)
    (row,) = summarize(layer, example_input=x).layers
    assert row.macs == 2 * math.prod(lead) * fin * fout == _counter_macs(layer, x)


def test_locally_connected_macs_equal_flop_counter():
    layer = LocallyConnected(2, 3, 4, input_size=(6, 5), kernel_size=3, stride=(1, 2))
    x = torch.randn(2, 3, 6, 5)
    (row,) = summarize(layer, example_input=x).layers
    # output 4x2 positions x 4 channels x batch 2, each 3*3*3 MACs
    assert row.macs == 2 * 4 * 4 * 2 * 27 == _counter_macs(layer, x)
    assert row.params == 4 * 2 * (4 * 27 + 4)


def test_bilinear_rule():
    layer = nn.Bilinear(3, 4, 5)
    report = summarize(layer, [(3,), (4,)], batch_size=2)
    assert report.layers[0].macs == 2 * 5 * 3 * 4
    assert report.input_shapes == ((2, 3), (2, 4))


# ---- pooling ---------------------------------------------------------------------------------


def test_pooling_calculations_1d_2d_3d_and_sum_pool():
    model = nn.Sequential(nn.MaxPool1d(3, 2))
    assert summarize(model, (4, 11)).totals.pool_calculations == 5 * 4 * 3
    assert summarize(nn.AvgPool2d((2, 3)), (2, 4, 6)).totals.pool_calculations == 2 * 2 * 2 * 6
    assert summarize(nn.MaxPool3d(2), (1, 4, 4, 4)).totals.pool_calculations == 8 * 8
    assert summarize(nn.LPPool2d(2, 2), (1, 4, 4)).totals.pool_calculations == 4 * 4
    # the lecture's 2x2 sum pooling of a 4x4 map
    report = summarize(SumPool2d(2), (1, 4, 4))
    assert report.totals.pool_calculations == 4 * 4 and report.totals.macs == 0


def test_adaptive_pooling_uses_exact_windows():
    # length 10 -> 3 outputs: windows [0,4), [3,7), [6,10): 12 per channel
    assert summarize(nn.AdaptiveAvgPool1d(3), (2, 10)).totals.pool_calculations == 2 * 12
    # 5 -> 3 per axis: windows of 2, 3, 2 -> 7 per axis, 49 per channel
    assert summarize(nn.AdaptiveMaxPool2d(3), (3, 5, 5)).totals.pool_calculations == 3 * 49
    # global pooling = input elements
    report = summarize(nn.AdaptiveAvgPool3d(1), (2, 3, 4, 5))
    assert report.totals.pool_calculations == 2 * 3 * 4 * 5


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 30), out=st.integers(1, 30))
def test_adaptive_window_total_matches_pytorch_windows(size, out):
    # One-hot inputs: output i of the average is 1/len_i exactly where input j is in window i.
    eye = torch.eye(size, dtype=torch.float64).unsqueeze(1)
    means = F.adaptive_avg_pool1d(eye, out)[:, 0, :]
    lengths = [round(1 / means[:, i].max().item()) for i in range(out)]
    assert adaptive_window_total(size, out) == sum(lengths)


# ---- sharing, unsupported modules, parameters outside rows ----------------------------------


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def test_shared_module_params_once_macs_twice():
    report = summarize(Twice(), (4,))
    assert [r.name for r in report.layers] == ["fc", "fc"]
    assert [r.call_index for r in report.layers] == [0, 1]
    assert [r.shared_params for r in report.layers] == [0, 20]
    assert report.totals.params == 20
    assert report.totals.macs == 2 * 16


def test_tied_weights_between_modules_count_once():
    a, b = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    b.weight = a.weight
    report = summarize(nn.Sequential(a, b), (3,))
    assert [r.shared_params for r in report.layers] == [0, 9]
    assert report.totals.params == 9


class Mystery(nn.Module):
    """A user-defined leaf module: no rule, so its MACs are unknown."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return x * self.scale.view(1, 3, 1, 1)


def test_unsupported_module_is_listed_never_zero():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), Mystery())
    report = summarize(model, (3, 4, 4))
    row = report.layers[1]
    assert row.type == "Mystery" and row.macs is None and row.rule == "unsupported"
    assert row.params == 3
    assert report.unsupported == ("Mystery",)
    assert report.totals.macs == 16 * 3 * 3  # the convolution only
    assert not report.complete
    folded = summarize(model, (3, 4, 4), depth=0)
    assert folded.layers[0].macs is None


def test_recurrent_and_attention_modules_are_unsupported():
    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
            self.lstm = nn.LSTM(4, 3, batch_first=True)

        def forward(self, x):
            x, _ = self.attn(x, x, x)
            return self.lstm(x)[0]

    report = summarize(Seq(), (5, 4))
    assert report.unsupported == ("LSTM", "MultiheadAttention")
    assert all(r.macs is None for r in report.layers)
    # out_proj never runs as a module: its weights belong to the attention row
    assert report.layers[0].params == 4 * 12 + 12 + 4 * 4 + 4
    assert report.totals.params == sum(p.numel() for p in Seq().parameters())


class WithFunctional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.kernel = nn.Parameter(torch.randn(5, 4, 1, 1))
        self.token = nn.Parameter(torch.zeros(1))
        self.never = nn.Linear(2, 2)

    def forward(self, x):
        return F.conv2d(self.conv(x), self.kernel) + self.token


def test_functional_work_and_parameters_outside_rows_are_visible():
    report = summarize(WithFunctional(), (2, 6, 6))
    assert report.totals.macs == 36 * 4 * 9 * 2
    assert report.uncounted_macs == 36 * 5 * 4  # the F.conv2d the hooks cannot see
    names = dict(report.outside_layers)
    assert names == {"kernel": 20, "token": 1, "never.weight": 4, "never.bias": 2}
    assert report.totals.params_outside_layers == 27
    assert report.totals.params == 4 * 2 * 9 + 4 + 27
    assert any("no row" in w for w in report.warnings)
    assert summarize(WithFunctional(), (2, 6, 6), cross_check=False).uncounted_macs is None


# ---- depth ----------------------------------------------------------------------------------


def test_depth_folds_rows_and_keeps_totals():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 3)),
    )
    full = summarize(model, (1, 8, 8))
    folded = summarize(model, (1, 8, 8), depth=1)
    assert [r.depth for r in full.layers] == [2] * 6
    assert [(r.name, r.rule) for r in folded.layers] == [("0", "aggregate"), ("1", "aggregate")]
    assert sum(r.macs for r in folded.layers) == full.totals.macs == 36 * 2 * 9 + 18 * 3
    assert folded.layers[0].params == 2 * 9 + 2 + 4
    assert folded.layers[1].pool_calculations == 2 * 9 * 4
    assert folded.totals == full.totals
    whole = summarize(model, (1, 8, 8), depth=0)
    assert len(whole.layers) == 1 and whole.layers[0].params == full.totals.params


# ---- dimensions and inputs -------------------------------------------------------------------


def test_1d_signal_model():
    model = nn.Sequential(
        nn.Conv1d(12, 8, 7, stride=2, padding=3),
        nn.BatchNorm1d(8),
        nn.MaxPool1d(3, 2, padding=1),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )
    report = summarize(model, (12, 500))
    conv, _, pool, gap, _, fc = report.layers
    assert conv.output_shape == (1, 8, 250) and conv.macs == 250 * 8 * 7 * 12
    assert pool.output_shape == (1, 8, 125) and pool.pool_calculations == 125 * 8 * 3
    assert gap.pool_calculations == 8 * 125
    assert fc.macs == 40


def test_3d_volume_model():
    model = nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1, groups=1),
        nn.Conv3d(4, 4, 3, padding=2, dilation=2, groups=2),
        nn.MaxPool3d(2),
        nn.AdaptiveAvgPool3d(1),
    )
    report = summarize(model, (1, 8, 8, 8))
    c1, c2, pool, gap = report.layers
    assert c1.macs == 512 * 4 * 27
    assert c2.macs == 512 * 4 * 27 * 2 and c2.dilation == (2, 2, 2) and c2.groups == 2
    assert pool.output_shape == (1, 4, 4, 4, 4) and pool.pool_calculations == 256 * 8
    assert gap.pool_calculations == 256


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Conv2d(3, 2, 3)
        self.meta = nn.Linear(5, 2)

    def forward(self, x, meta):
        return self.image(x).mean((2, 3)) + self.meta(meta)


def test_multiple_inputs_by_shape_and_by_example():
    report = summarize(TwoInputs(), [(3, 5, 5), (5,)], batch_size=2)
    assert report.input_shapes == ((2, 3, 5, 5), (2, 5))
    assert report.totals.macs == 2 * 9 * 2 * 27 + 2 * 2 * 5
    by_kwargs = summarize(
        TwoInputs(), example_input={"x": torch.randn(2, 3, 5, 5), "meta": torch.randn(2, 5)}
    )
    assert by_kwargs.totals.macs == report.totals.macs
    by_tuple = summarize(TwoInputs(), example_input=(torch.randn(1, 3, 5, 5), torch.randn(1, 5)))
    assert by_tuple.input_shapes == ((1, 3, 5, 5), (1, 5))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"input_size": (3, 4), "example_input": torch.zeros(1, 3, 4)},
        {"input_size": (3, 0)},
        {"input_size": "3x4"},
        {"input_size": (3, 4), "depth": -1},
        {"input_size": (3, 4), "batch_size": 0},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        summarize(nn.Conv1d(3, 3, 1), **kwargs)


def test_not_a_module_raises_type_error():
    with pytest.raises(TypeError, match=r"nn\.Module"):
        summarize(lambda x: x, (3,))


# ---- the model is left exactly as it was -----------------------------------------------------


class Stateful(nn.Module):
    """Batch norm, dropout, a buffer the forward pass bumps, and an optional failure."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4, track_running_stats=True)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 2)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        x = self.drop(self.bn(self.conv(x)))
        # failing: 4*4*4 flattened features where the head wants 4
        x = x.flatten(1) if self.fail else x.mean((2, 3))
        return self.head(x)


def _snapshot(model: nn.Module):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: m.training for n, m in model.named_modules()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    return state, flags, grads


def _assert_unchanged(model: nn.Module, before) -> None:
    state, flags, grads = before
    after_state, after_flags, after_grads = _snapshot(model)
    assert state.keys() == after_state.keys()
    for key, value in state.items():
        assert torch.equal(value, after_state[key]), key
    assert flags == after_flags and grads == after_grads
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


@pytest.mark.parametrize("fail", [False, True])
def test_model_left_unchanged(fail):
    model = Stateful(fail)
    model.train()
    model.drop.eval()  # mixed flags must come back as they were
    model.head.weight.requires_grad_(False)
    with torch.no_grad():
        model.bn.running_mean.fill_(0.25)
        model.bn.num_batches_tracked.fill_(7)
    before = _snapshot(model)
    if fail:
        with pytest.raises(ValueError, match=r"layer 'head' \(Linear\)"):
            summarize(model, (3, 6, 6))
    else:
        summarize(model, (3, 6, 6))
    _assert_unchanged(model, before)
    assert model.bn.num_batches_tracked.item() == 7


def test_weights_written_in_forward_are_reported():
    class Writer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            self.fc.weight.add_(1.0)
            return self.fc(x)

    with pytest.raises(RuntimeError, match="in place"):
        summarize(Writer(), (2,))


def test_lazy_modules_are_refused_without_being_materialised():
    model = nn.Sequential(nn.LazyLinear(3))
    with pytest.raises(ValueError, match="lazy"):
        summarize(model, (4,))
    assert isinstance(model[0], nn.LazyLinear)
