"""Batch transforms: exact flips/rotations on known arrays, shapes, determinism, values."""

from __future__ import annotations

import itertools

import pytest
import torch

from healthcnn.data.transforms import (
    CenterCrop,
    ColorJitter,
    Dihedral,
    IntensityScale,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomFlip,
    RandomRot90,
    Resize,
    build_augment,
    dihedral_views,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int, *spatial: int, c: int = 1) -> torch.Tensor:
    """n copies of one image whose every voxel is distinct (so any flip/rotation is visible)."""
    one = torch.arange(c * torch.tensor(spatial).prod().item(), dtype=torch.float32)
    return one.view(1, c, *spatial).repeat(n, *([1] * (len(spatial) + 1)))


def test_flip_always_and_never() -> None:
    x = _batch(4, 3, 5)
    assert torch.equal(RandomFlip(axes=[1], p=1.0)(x, generator=_gen()), x.flip(3))
    assert torch.equal(RandomFlip(axes=[0], p=1.0)(x, generator=_gen()), x.flip(2))
    assert torch.equal(RandomFlip(p=0.0)(x, generator=_gen()), x)
    with pytest.raises(ValueError, match="spatial axis 2 out of range"):
        RandomFlip(axes=[2])(x)


def test_flip_per_sample_is_one_of_the_flips() -> None:
    x = _batch(64, 4, 4)
    out = RandomFlip(p=0.5)(x, generator=_gen())
    options = [x[0], x[0].flip(1), x[0].flip(2), x[0].flip(1).flip(2)]
    hits = [next(i for i, o in enumerate(options) if torch.equal(s, o)) for s in out]
    assert set(hits) == {0, 1, 2, 3}  # with 64 samples every combination occurs


def test_rot90_2d_exact() -> None:
    x = _batch(64, 4, 4)
    out = RandomRot90()(x, generator=_gen())
    options = [torch.rot90(x[0], k, dims=(1, 2)) for k in range(4)]
    hits = [next(i for i, o in enumerate(options) if torch.equal(s, o)) for s in out]
    assert set(hits) == {0, 1, 2, 3}


def test_rot90_non_square_keeps_shape() -> None:
    x = _batch(32, 3, 5)
    out = RandomRot90()(x, generator=_gen())
    assert out.shape == x.shape
    for s in out:
        assert torch.equal(s, x[0]) or torch.equal(s, torch.rot90(x[0], 2, dims=(1, 2)))


def test_dihedral_views_square_and_non_square() -> None:
    square = _batch(1, 4, 4)
    outs = [v(square) for v in dihedral_views()]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8  # the 8 symmetries
    assert torch.equal(Dihedral(1, False)(square), torch.rot90(square, 1, dims=(2, 3)))
    # non-square (2D, and the last two axes of a volume): no view transposes the image; each of
    # the 4 shape-keeping views comes twice, so the mean of the 8 is the mean of the 4
    for x in (_batch(1, 3, 5), _batch(1, 2, 3, 5)):
        axes = (-2, -1)
        keep = [
            x,
            torch.flip(x, dims=(-1,)),
            torch.rot90(x, 2, dims=axes),
            torch.flip(torch.rot90(x, 2, dims=axes), dims=(-1,)),
        ]
        outs = [v(x) for v in dihedral_views()]
        assert all(o.shape == x.shape for o in outs)
        counts = [sum(torch.equal(o, k) for o in outs) for k in keep]
        assert counts == [2, 2, 2, 2]
        assert torch.allclose(torch.stack(outs).mean(0), torch.stack(keep).mean(0))
        # given the shape, the 4 views once each
        once = [v(x) for v in dihedral_views(x.shape)]
        assert [sum(torch.equal(o, k) for o in once) for k in keep] == [1, 1, 1, 1]
    assert len(dihedral_views((4, 4))) == 8 and len(dihedral_views((2, 4, 4))) == 8


def test_rot90_3d_any_plane() -> None:
    x = _batch(96, 3, 3, 3)
    out = RandomRot90()(x, generator=_gen())
    options = {
        (p, k): torch.rot90(x[0], k, dims=(1 + p[0], 1 + p[1]))
        for p in itertools.combinations(range(3), 2)
        for k in range(4)
    }
    planes_used = set()
    for s in out:
        match = [key for key, o in options.items() if torch.equal(s, o)]
        assert match, "every output must be a 90-degree rotation of the input"
        if match[0][1] != 0:
            planes_used.add(match[0][0])
    assert planes_used == {(0, 1), (0, 2), (1, 2)}
    only = RandomRot90(axes=[(1, 2)])(x, generator=_gen())
    for s in only:
        assert any(torch.equal(s, torch.rot90(x[0], k, dims=(2, 3))) for k in range(4))


def test_determinism_for_a_seed() -> None:
    x = torch.rand(6, 3, 16, 16, generator=_gen(9))
    t = build_augment("strong", spatial_dims=2, channels=3)
    a, b, c = t(x, generator=_gen(1)), t(x, generator=_gen(1)), t(x, generator=_gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape


def test_normalize_values() -> None:
    x = torch.tensor([[[[0.5]], [[0.25]], [[1.0]]]])  # (1, 3, 1, 1)
    out = Normalize(mean=[0.5, 0.0, 0.5], std=[0.5, 0.25, 0.25])(x)
    assert out.flatten().tolist() == [0.0, 1.0, 2.0]
    assert torch.allclose(Normalize(0.5, 0.5)(torch.ones(2, 1, 3, 3, 3)), torch.ones(2, 1, 3, 3, 3))
    with pytest.raises(ValueError, match="2 values but the input has 3 channels"):
        Normalize([0.1, 0.2], [1.0, 1.0])(x)


def test_affine_identity_and_shapes() -> None:
    x2, x3 = torch.rand(3, 2, 9, 7), torch.rand(2, 1, 6, 6, 6)
    identity = RandomAffine(degrees=0, translate=0, scale=(1, 1))
    assert torch.allclose(identity(x2, generator=_gen()), x2, atol=1e-5)
    assert torch.allclose(identity(x3, generator=_gen()), x3, atol=1e-5)
    moved = RandomAffine(degrees=30, translate=0.1, scale=(0.8, 1.2))
    assert moved(x2, generator=_gen()).shape == x2.shape
    assert moved(x3, generator=_gen()).shape == x3.shape
    assert not torch.allclose(moved(x3, generator=_gen()), x3)
    with pytest.raises(ValueError, match="2D or 3D"):
        moved(torch.rand(2, 1, 10))


def _disc(h: int, w: int, r: float, *lead: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(
        torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij"
    )
    return (yy**2 + xx**2 <= r**2).float().expand(*lead, h, w).clone()


def _axis_ratio(img: torch.Tensor) -> float:
    """Ratio of the principal second moments of a 2D intensity blob (1 for a disc)."""
    yy, xx = torch.meshgrid(
        torch.arange(img.shape[0], dtype=torch.float64),
        torch.arange(img.shape[1], dtype=torch.float64),
        indexing="ij",
    )
    m = img.double() / img.sum()
    cy, cx = (m * yy).sum(), (m * xx).sum()
    cov = torch.tensor(
        [
            [(m * (yy - cy) ** 2).sum(), (m * (yy - cy) * (xx - cx)).sum()],
            [(m * (yy - cy) * (xx - cx)).sum(), (m * (xx - cx) ** 2).sum()],
        ]
    )
    ev = torch.linalg.eigvalsh(cov)
    return float(ev[1] / ev[0])


def test_affine_rotation_is_rigid_on_non_square_images() -> None:
    # a disc on a 2:1 image: a rigid rotation leaves it a disc, a rotation in the per-axis
    # normalised coordinates (the naive affine_grid use) turns it into an ellipse
    x = _disc(48, 96, 12, 8, 1)
    rotate = RandomAffine(degrees=40, translate=0, scale=(1, 1))
    out = rotate(x, generator=_gen(3))
    ratios = [_axis_ratio(o[0]) for o in out]
    assert max(ratios) < 1.05, ratios
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.03)  # area kept
    # the same draws on a square image give the same rotation: the blob there is a disc too,
    # and a square input is unchanged by the correction (every ratio of extents is exactly 1)
    sq = _disc(64, 64, 12, 8, 1)
    assert max(_axis_ratio(o[0]) for o in rotate(sq, generator=_gen(3))) < 1.05
    # 3D: a ball in a 16 x 24 x 40 volume stays a ball in its central planes
    zz, yy, xx = torch.meshgrid(
        *(torch.arange(n) - (n - 1) / 2 for n in (16, 24, 40)), indexing="ij"
    )
    ball = (zz**2 + yy**2 + xx**2 <= 6**2).float().expand(4, 1, 16, 24, 40).clone()
    vol = RandomAffine(degrees=40, translate=0, scale=(1, 1))(ball, generator=_gen(5))
    for v in vol:
        assert _axis_ratio(v[0, 8]) < 1.1 and _axis_ratio(v[0, :, 12]) < 1.1


def test_resize_and_crops() -> None:
    x = _batch(2, 6, 8)
    assert Resize(4)(x).shape == (2, 1, 4, 4)
    assert Resize((3, 5, 7))(torch.rand(1, 1, 6, 6, 6)).shape == (1, 1, 3, 5, 7)
    centre = CenterCrop((2, 4))(x)
    assert torch.equal(centre, x[:, :, 2:4, 2:6])
    crops = RandomCrop(3)(x, generator=_gen())
    assert crops.shape == (2, 1, 3, 3)
    for s in crops:  # each crop is a window of the original
        assert any(
            torch.equal(s, x[0, :, i : i + 3, j : j + 3]) for i in range(4) for j in range(6)
        )
    assert RandomCrop(8, padding=1)(x, generator=_gen()).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="larger than the input"):
        CenterCrop(9)(x)


def test_colour_jitter_rgb_only_and_intensity() -> None:
    x = torch.rand(4, 3, 5, 5, generator=_gen())
    out = ColorJitter(0.3, 0.3, 0.3)(x, generator=_gen())
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    grey = torch.full((2, 3, 4, 4), 0.5)  # a grey image has no saturation to change
    assert torch.allclose(ColorJitter(0, 0, 0.5)(grey, generator=_gen()), grey)
    with pytest.raises(ValueError, match="RGB input"):
        ColorJitter()(torch.rand(2, 1, 4, 4))
    scaled = IntensityScale((2.0, 2.0))(torch.full((1, 1, 2, 2), 0.25))
    assert torch.allclose(scaled, torch.full((1, 1, 2, 2), 0.5))


def test_presets() -> None:
    assert torch.equal(build_augment("none", 2, 3)(torch.ones(1, 3, 4, 4)), torch.ones(1, 3, 4, 4))
    basic = build_augment("basic", 3, 1)
    assert [type(t).__name__ for t in basic.transforms] == ["RandomFlip", "RandomRot90"]
    strong_grey = build_augment("strong", 2, 1)
    assert isinstance(strong_grey.transforms[-1], IntensityScale)
    assert isinstance(build_augment("strong", 2, 3).transforms[-1], ColorJitter)
    out = build_augment("strong", 3, 1)(torch.rand(2, 1, 8, 8, 8), generator=_gen())
    assert out.shape == (2, 1, 8, 8, 8)
    with pytest.raises(ValueError, match="spatial_dims 2 or 3"):
        build_augment("basic", 1, 1)
    with pytest.raises(ValueError, match="Did you mean 'strong'"):
        build_augment("strongg", 2, 3)
