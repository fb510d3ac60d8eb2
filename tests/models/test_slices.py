"""The 2.5D slice model (``slices25d``): slice selection, shapes, channels-last, the shared
encoder, and the registry entry that declares it for volumes only."""

from __future__ import annotations

import pytest
import torch

from healthcnn.models import create_model, model_info
from healthcnn.models.slices import SliceModel25D, slice_indices, volume_slices


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _coordinate_volume(n: int = 2, size: int = 6) -> torch.Tensor:
    """Voxel value 100*d + 10*h + w (w < 10), so each slice says where it came from."""
    d, h, w = torch.meshgrid(*(torch.arange(size),) * 3, indexing="ij")
    vol = (100 * d + 10 * h + w).float()
    return vol.expand(n, 1, size, size, size).clone()


def test_slice_indices_are_evenly_spaced_and_checked() -> None:
    assert slice_indices(32, 4) == [4, 12, 20, 28]
    assert slice_indices(5, 5) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="exceeds"):
        slice_indices(4, 5)
    with pytest.raises(ValueError, match="num_slices"):
        slice_indices(4, 0)


def test_orthogonal_slices_are_the_central_planes() -> None:
    x = _coordinate_volume()
    s = volume_slices(x, "orthogonal")
    assert s.shape == (2, 3, 1, 6, 6)
    c = 3
    assert torch.equal(s[0, 0, 0], x[0, 0, c])  # axial: fixed depth
    assert torch.equal(s[0, 1, 0], x[0, 0, :, c])  # coronal: fixed height
    assert torch.equal(s[0, 2, 0], x[0, 0, :, :, c])  # sagittal: fixed width
    assert s[0, 0, 0, 0, 0] == 100 * c and s[0, 1, 0, 0, 0] == 10 * c and s[0, 2, 0, 0, 0] == c


def test_axial_slices_and_errors() -> None:
    x = _coordinate_volume(size=8)
    s = volume_slices(x, "axial", 2)
    assert s.shape == (2, 2, 1, 8, 8)
    assert s[1, 0, 0, 0, 0] == 200 and s[1, 1, 0, 0, 0] == 600  # depths 2 and 6
    with pytest.raises(ValueError, match="cubic"):
        volume_slices(torch.zeros(1, 1, 4, 6, 6), "orthogonal")
    with pytest.raises(ValueError, match="view"):
        volume_slices(x, "diagonal")


@pytest.mark.parametrize("view,num_slices", [("orthogonal", 3), ("axial", 4)])
def test_25d_model_shapes_and_channels_last(view: str, num_slices: int) -> None:
    torch.manual_seed(0)
    model = SliceModel25D(1, 1, view=view, num_slices=num_slices, encoder_kwargs={"stem": "small"})
    x = torch.randn(2, 1, 8, 8, 8)
    assert model(x).shape == (2, 1)
    assert model.forward_features(x).shape == (2, model.num_features) == (2, 512)
    model.eval()
    ref = model(x)
    # what the bf16 policy does to a spatial_dims=3 model and its input must work
    model.to(memory_format=torch.channels_last_3d)
    out = model(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_25d_features_average_the_shared_encoder_over_slices() -> None:
    torch.manual_seed(0)
    model = SliceModel25D(1, 1, view="orthogonal", encoder_kwargs={"stem": "small"}).eval()
    x = torch.randn(1, 1, 6, 6, 6)
    per_slice = [
        model.encoder.forward_features(p[None, None]).mean(dim=(2, 3))
        for p in (x[0, 0, 3], x[0, 0, :, 3], x[0, 0, :, :, 3])
    ]
    torch.testing.assert_close(model.forward_features(x), torch.stack(per_slice).mean(dim=0))


def test_registered_for_volumes_only() -> None:
    torch.manual_seed(0)
    built = create_model("slices25d", spatial_dims=3, in_channels=1, num_classes=1, view="axial")
    torch.manual_seed(0)
    direct = SliceModel25D(1, 1, view="axial")
    for (ka, va), (kb, vb) in zip(
        built.state_dict().items(), direct.state_dict().items(), strict=True
    ):
        assert ka == kb
        torch.testing.assert_close(va, vb)
    for dims in (1, 2):
        with pytest.raises(ValueError, match=r"slices25d is defined for spatial_dims \(3,\)"):
            create_model("slices25d", spatial_dims=dims)
    assert model_info("slices25d").params == sum(
        p.numel()
        for p in create_model(
            "slices25d", in_channels=3, num_classes=1000, spatial_dims=3
        ).parameters()
    )


def test_reset_classifier_swaps_the_encoder_head() -> None:
    model = SliceModel25D(1, 1, encoder_kwargs={"stem": "small"})
    model.reset_classifier(4)
    assert model.num_classes == model.encoder.num_classes == 4
    assert model(torch.randn(2, 1, 8, 8, 8)).shape == (2, 4)
    with pytest.raises(ValueError, match="in_channels=1"):
        model(torch.randn(2, 3, 8, 8, 8))
