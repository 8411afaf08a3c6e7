import pytest
import torch

from ganforge.augment import Augment, cutout, parse_policy, translation


def test_policy_parsing():
    assert parse_policy("none") == ()
    assert parse_policy("diffaug") == ("color", "translation", "cutout")
    assert parse_policy("cutout, color") == ("cutout", "color")
    with pytest.raises(ValueError, match="blur"):
        parse_policy("color,blur")


def test_augment_keeps_shape_and_gradients():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    out = Augment("diffaug")(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_whole_pixels_and_fills_zeros():
    torch.manual_seed(0)
    x = torch.arange(1, 65, dtype=torch.float32).reshape(1, 1, 8, 8).repeat(16, 1, 1, 1)
    out = translation(x)
    for image in out:
        kept = image[image != 0]
        assert set(kept.tolist()) <= set(range(1, 65))  # values moved, never blended
        assert len(kept) >= 7 * 7 - 1  # at most one row and one column shifted out at ratio 1/8


def test_cutout_zeroes_a_quarter():
    torch.manual_seed(0)
    out = cutout(torch.ones(64, 1, 16, 16))
    zero_fraction = (out == 0).float().mean().item()
    assert 0.15 < zero_fraction <= 0.25  # an 8x8 square, clipped at borders


def test_no_policy_is_identity():
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(Augment("none")(x), x)
