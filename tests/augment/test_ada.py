"""Adaptive discriminator augmentation: each op family on constructed images, the pipeline's contract (shape, dtype,
gradients, p = 0 identity, seeded determinism), the p controller and its checkpoint state, and a leak check."""

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.augment import AdaptiveAugment, Augment, build_augment, parse_policy
from ganforge.augment.ada import GEOMETRIC, AdaptivePipeline, blit, erase, recolour, warp


def ramp(n: int = 1, channels: int = 1, size: int = 8) -> torch.Tensor:
    """[n, channels, size, size] with every pixel value distinct."""
    return torch.arange(n * channels * size * size, dtype=torch.float32).reshape(n, channels, size, size)


def no_shift(n: int) -> torch.Tensor:
    return torch.zeros(n, 2, dtype=torch.long)


# ---- the pipeline's contract ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "channels,size,dtype",
    [(1, 8, torch.float32), (3, 16, torch.float32), (3, 8, torch.float64), (1, 32, torch.float64)],
)
def test_shape_and_dtype_kept(channels, size, dtype):
    torch.manual_seed(0)
    x = torch.rand(6, channels, size, size, dtype=dtype) * 2 - 1
    out = AdaptivePipeline()(x, 1.0)
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()


def test_p_zero_returns_the_input_without_drawing():
    x = torch.randn(4, 3, 8, 8)
    state = torch.get_rng_state()
    assert AdaptivePipeline()(x, 0.0) is x
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(AdaptiveAugment()(x), x)  # the controller starts at p = 0 (on the device: it draws, unread)


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_a_device_p_augments_exactly_as_the_same_host_p(p):
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    torch.manual_seed(5)
    host = AdaptivePipeline(("xflip", "rotate90", "xint") + GEOMETRIC + ("brightness", "hue", "cutout"))(x, p)
    torch.manual_seed(5)
    device = AdaptivePipeline(("xflip", "rotate90", "xint") + GEOMETRIC + ("brightness", "hue", "cutout"))(
        x, torch.tensor(p, dtype=torch.float64)
    )
    assert torch.equal(device, host)


def test_p_one_changes_every_image():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 16, 16) * 2 - 1
    out = AdaptivePipeline()(x, 1.0)
    assert ((out - x).flatten(1).abs().amax(1) > 1e-3).all()


def test_gradients_flow_to_the_input():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    AdaptivePipeline()(x, 1.0).square().sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_seeded_draws_repeat_and_ignore_the_channel_count():
    x = torch.rand(8, 1, 16, 16)
    torch.manual_seed(3)
    first = AdaptivePipeline()(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(AdaptivePipeline()(x, 0.5), first)
    moves = AdaptivePipeline(("xflip", "rotate90", "xint") + GEOMETRIC + ("cutout",))
    torch.manual_seed(3)
    grey = moves(x, 0.5)
    torch.manual_seed(3)
    rgb = moves(x.expand(-1, 3, -1, -1), 0.5)
    assert torch.allclose(rgb, grey.expand(-1, 3, -1, -1), atol=1e-6)  # a paired loop can replay the draws


# ---- each op family ---------------------------------------------------------------------------------------------
def test_blit_flip_and_quarter_turns_are_exact():
    x = ramp(channels=3)
    assert torch.equal(blit(x, torch.tensor([True]), torch.tensor([0]), no_shift(1)), x.flip(3))
    for turns in range(4):
        out = blit(x, torch.tensor([False]), torch.tensor([turns]), no_shift(1))
        assert torch.equal(out, torch.rot90(x, turns, (2, 3)))
        flipped = blit(x, torch.tensor([True]), torch.tensor([turns]), no_shift(1))
        assert torch.equal(flipped, torch.rot90(x.flip(3), turns, (2, 3)))  # flip first, then turn


def test_blit_shift_moves_whole_pixels_and_reflects():
    x = ramp()
    out = blit(x, torch.tensor([False]), torch.tensor([0]), torch.tensor([[1, -2]]))  # one down, two left
    assert torch.equal(out[..., 1:, :6], x[..., :7, 2:])
    assert torch.equal(out[..., 0, :], out[..., 1, :])  # the row shifted in mirrors the edge row
    assert torch.equal(out[..., :, 6:], out[..., :, 4:6].flip(3))


@pytest.mark.parametrize("op", ["xflip", "rotate90"])
def test_pipeline_flip_and_rotate90_keep_pixels_exact(op):
    torch.manual_seed(0)
    x = ramp().repeat(32, 1, 1, 1)
    out = AdaptivePipeline((op,))(x, 1.0)
    images = [x[0], x[0].flip(2)] if op == "xflip" else [torch.rot90(x[0], k, (1, 2)) for k in range(4)]
    which = [next(k for k, image in enumerate(images) if torch.equal(o, image)) for o in out]
    assert set(which) == set(range(len(images)))  # every image is one of them, and each one occurs


def test_pipeline_integer_translation_moves_whole_pixels():
    torch.manual_seed(0)
    size = 16
    x = ramp(size=size).repeat(32, 1, 1, 1)
    out = AdaptivePipeline(("xint",))(x, 1.0)
    most = size // 8
    for image in out:
        assert set(image.unique().tolist()) <= set(x[0].flatten().tolist())  # moved, never blended
        matches = [
            (dy, dx)
            for dy in range(-most, most + 1)
            for dx in range(-most, most + 1)
            if torch.equal(
                image[:, max(dy, 0) : size + min(dy, 0), max(dx, 0) : size + min(dx, 0)],
                x[0, :, max(-dy, 0) : size + min(-dy, 0), max(-dx, 0) : size + min(-dx, 0)],
            )
        ]
        assert len(matches) == 1


def test_warp_identity_and_half_turn():
    x = torch.rand(4, 3, 16, 16)
    identity = torch.eye(2, 3).expand(4, 2, 3)
    assert torch.allclose(warp(x, identity), x, atol=1e-5)
    assert torch.allclose(warp(x, -identity), x.flip(2, 3), atol=1e-5)


def test_pipeline_geometric_ops_resample():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16)
    for op in GEOMETRIC:
        out = AdaptivePipeline((op,))(x, 1.0)
        assert ((out - x).flatten(1).abs().amax(1) > 1e-3).all(), op
        assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5  # bilinear: convex combinations


def test_recolour_identity():
    x = torch.randn(4, 3, 8, 8)
    assert torch.allclose(recolour(x, torch.eye(4).expand(4, 4, 4)), x, atol=1e-6)
    grey = torch.randn(4, 1, 8, 8)
    assert torch.allclose(recolour(grey, torch.eye(2).expand(4, 2, 2)), grey, atol=1e-6)


def test_colour_ops_do_what_they_say():
    torch.manual_seed(0)
    grey = torch.rand(16, 1, 8, 8) * 2 - 1
    brighter = AdaptivePipeline(("brightness",))(grey, 1.0) - grey
    assert torch.allclose(brighter, brighter[:, :, :1, :1].expand_as(brighter), atol=1e-6)  # one offset per image
    scaled = AdaptivePipeline(("contrast",))(grey, 1.0) / grey
    assert torch.allclose(scaled, scaled[:, :, :1, :1].expand_as(scaled), atol=1e-4)  # one factor per image
    neutral = grey.expand(-1, 3, -1, -1)  # r = g = b: on the luma axis
    for op in ("hue", "saturation"):
        assert torch.allclose(AdaptivePipeline((op,))(neutral, 1.0), neutral, atol=1e-5), op
    flipped = AdaptivePipeline(("lumaflip",))(neutral, 1.0)
    assert all(torch.allclose(f, n, atol=1e-5) or torch.allclose(f, -n, atol=1e-5) for f, n in zip(flipped, neutral))
    colourful = torch.rand(16, 3, 8, 8)
    hue = AdaptivePipeline(("hue",))(colourful, 1.0)
    assert torch.allclose(hue.sum(1), colourful.sum(1), atol=1e-4)  # rotation about the luma axis keeps r + g + b
    assert torch.allclose(hue.norm(dim=1), colourful.norm(dim=1), atol=1e-4)


def test_cutout_zeroes_up_to_a_quarter():
    x = torch.ones(1, 1, 32, 32)
    out = erase(x, torch.tensor([[0.5, 0.5]]), torch.tensor([0.5]))
    assert (out == 0).float().mean() == 0.25 and (out[..., 8:24, 8:24] == 0).all()
    assert torch.equal(erase(x, torch.tensor([[0.5, 0.5]]), torch.tensor([0.0])), x)
    torch.manual_seed(0)
    cut = (AdaptivePipeline(("cutout",))(torch.ones(64, 1, 16, 16), 1.0) == 0).float().mean((1, 2, 3))
    assert (cut > 0).all() and (cut <= 0.25).all() and 0.15 < cut.mean() < 0.25  # clipped at the border


# ---- the controller -----------------------------------------------------------------------------------------------
def test_p_rises_while_d_overfits_and_saturates():
    ada = AdaptiveAugment(speed_kimg=1.0)
    for expected in (0.256, 0.512, 0.768, 1.0, 1.0):
        for _ in range(ada.interval):
            ada.observe(torch.full((64,), 3.0))
        assert ada.adjust(256) == 1.0
        assert ada.p == pytest.approx(expected, abs=1e-12)
    assert torch.equal(ada.accumulators(), torch.zeros(2))  # reset by adjust


def test_p_step_size_at_the_defaults():
    ada = AdaptiveAugment()
    ada.observe(torch.tensor([[1.0, 2.0], [3.0, -1.0]]))  # patch logits: r_t = 0.5 < 0.6
    ada.p = 0.5
    assert ada.adjust(256) == 0.5 and ada.p == pytest.approx(0.5 - 256 / 500_000, abs=1e-15)
    ada.observe(torch.tensor([1.0, 1.0, 1.0, -1.0, 0.0]))  # r_t = 0.4
    ada.observe(torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0]))  # together r_t = 0.7
    assert ada.adjust(256) == pytest.approx(0.7) and ada.p == pytest.approx(0.5, abs=1e-15)
    assert ada.adjust(256).isnan() and ada.p == pytest.approx(0.5, abs=1e-15)  # nothing observed: p stays
    assert AdaptiveAugment().adjust(256) is None  # nothing ever observed


def test_p_falls_to_zero_when_d_underfits():
    ada = AdaptiveAugment(speed_kimg=1.0, p=0.6)
    for _ in range(4):
        ada.observe(-torch.rand(32) - 0.1)
        assert ada.adjust(256) == -1.0
    assert ada.p == 0.0


def test_state_dict_round_trip_restores_p_exactly():
    ada = AdaptiveAugment(target=0.5, speed_kimg=7.0, interval=2)
    for _ in range(3):
        ada.observe(torch.ones(64))
        ada.adjust(192)
    ada.observe(torch.tensor([1.0, -1.0, 1.0]))  # pending until the next adjust
    buffer = io.BytesIO()
    torch.save(ada.state_dict(), buffer)
    buffer.seek(0)
    restored = AdaptiveAugment()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.p == ada.p and restored.state_dict() == ada.state_dict()
    assert restored.adjust(64) == ada.adjust(64) and restored.p == ada.p
    with pytest.raises(ValueError, match="diffaug"):
        restored.load_state_dict(Augment("diffaug").state_dict())


def test_ada_policy_and_factory():
    assert parse_policy(" ADA ") == ("ada",)
    with pytest.raises(ValueError, match="ada"):
        parse_policy("ada,color")
    assert isinstance(build_augment("ada"), AdaptiveAugment)
    assert build_augment("diffaug").policy == "diffaug"
    with pytest.raises(ValueError, match="build_augment"):
        Augment("ada")


# ---- the leak check -------------------------------------------------------------------------------------------------
def corner_marks(count: int) -> torch.Tensor:
    """[count, 1, 8, 8] in [-1, 1]: a 3x3 mark in the top-left quadrant (one of 4 positions) on black."""
    images = torch.full((count, 1, 8, 8), -1.0)
    for image, (top, left) in zip(images, torch.randint(0, 2, (count, 2)).tolist()):
        image[:, top : top + 3, left : left + 3] = 1
    return images


def orientation(images: torch.Tensor) -> torch.Tensor:
    """[N]: the quadrant holding the most mass, 0 = top-left (the data's), then top-right, bottom-left, bottom-right."""
    return (images + 1).reshape(-1, 2, 4, 2, 4).sum((2, 4)).reshape(-1, 4).argmax(1)


def train_against_augmenting_d(augment_fakes: bool, steps: int = 300) -> float:
    """Train a tiny MLP GAN where D sees reals rotated by ADA's rotate90 at p = 0.5 (and fakes too when
    `augment_fakes`); returns the fraction of 1000 samples in the data's orientation."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(16, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Tanh())
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
    opt_G = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.5, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), 2e-3, betas=(0.5, 0.99))
    rotate = AdaptivePipeline(("rotate90",))
    fake_view = (lambda x: rotate(x, 0.5)) if augment_fakes else (lambda x: x)
    for _ in range(steps):
        fake = G(torch.randn(64, 16)).view(64, 1, 8, 8)
        loss_D = F.softplus(-D(rotate(corner_marks(64), 0.5))).mean() + F.softplus(D(fake_view(fake.detach()))).mean()
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = F.softplus(-D(fake_view(fake))).mean()
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
    with torch.no_grad():
        return (orientation(G(torch.randn(1000, 16)).view(-1, 1, 8, 8)) == 0).float().mean().item()


@pytest.mark.slow
def test_rotations_do_not_leak_into_the_generator():
    """ADA's point (Karras et al. 2020, sec. 2.2): augmenting everything D sees with an invertible op at p < ~0.85
    leaves the data's distribution as G's optimum. Control: augmenting only the reals leaks, as G then matches
    the augmented reals (5/8 upright)."""
    assert orientation(corner_marks(16)).eq(0).all()
    upright = train_against_augmenting_d(augment_fakes=True)
    leaking = train_against_augmenting_d(augment_fakes=False)
    assert upright > 0.95  # chance would be 1/4
    assert leaking < 0.9  # the check does see rotated samples when they are there
