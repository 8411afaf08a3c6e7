"""Paired metrics (PSNR, SSIM, L1) against closed forms and against scikit-image reference numbers."""

import math

import numpy as np
import pytest
import torch

from ganforge.metrics.pixel import PSNR_CAP, l1, psnr, ssim


def _noise(shape: tuple, seed: int, spread: int) -> np.ndarray:
    """Integers in [-spread, spread] from SplitMix64 of the pixel index: identical on every platform and numpy."""
    z = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape) + np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z % np.uint64(2 * spread + 1)).astype(np.int64) - spread


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named (output, target) uint8 pairs [N, H, W, C] built from integer formulas only."""
    yy, xx = np.mgrid[0:48, 0:40].astype(np.int64)
    checker = (xx // 8 + yy // 8) % 2
    gray = (checker * 100 + 2 * xx + yy)[None, :, :, None]  # [1, 48, 40, 1]
    yy, xx = np.mgrid[0:32, 0:36].astype(np.int64)
    first = np.stack(
        [(xx * xx + 3 * xx * yy) % 256, (7 * xx + 5 * yy) % 256, ((xx // 6 + yy // 6) % 2) * 200 + xx], axis=-1
    )  # [32, 36, 3]
    colour = np.stack([first, 255 - first[:, ::-1]])  # [2, 32, 36, 3]
    shifted = np.roll(colour, 1, axis=2)
    random_target = _noise((1, 24, 30, 3), 3, 127) + 128
    pairs = {
        "gray": (gray + _noise(gray.shape, 1, 30), gray),
        "colour": (shifted + _noise(colour.shape, 2, 20), colour),
        "random": (_noise(random_target.shape, 4, 127) + 128, random_target),
    }
    return {name: (np.clip(o, 0, 255).astype(np.uint8), t.astype(np.uint8)) for name, (o, t) in pairs.items()}


# scikit-image 0.26.0 (numpy 2.4.6, scipy 1.17.1) on the pairs above, per image, averaged over the images:
#   structural_similarity(o, t, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
#                         data_range=255)
#   peak_signal_noise_ratio(t, o, data_range=255)
SKIMAGE_SSIM = {"gray": 0.8959407774170132, "colour": 0.32805136092708675, "random": -0.025711677761950612}
SKIMAGE_PSNR = {"gray": 23.371905975646712, "colour": 9.591769676878734, "random": 7.850784799089162}


def _torch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2)  # [N, H, W, C] -> [N, C, H, W]


@pytest.mark.parametrize("name", sorted(SKIMAGE_SSIM))
def test_ssim_and_psnr_match_scikit_image(name):
    output, target = (_torch(a) for a in _pairs()[name])
    assert ssim(output, target) == pytest.approx(SKIMAGE_SSIM[name], abs=1e-9)
    assert psnr(output, target) == pytest.approx(SKIMAGE_PSNR[name], abs=1e-9)


def test_known_offsets():
    target = torch.randint(0, 236, (3, 3, 20, 24), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    output = target + 10
    assert psnr(output, target) == pytest.approx(20 * math.log10(255 / 10))
    assert l1(output, target) == pytest.approx(10 / 127.5)
    assert l1(target, output) == pytest.approx(10 / 127.5)
    assert l1(output.float() / 255, target.float() / 255, data_range=1.0) == pytest.approx(10 / 127.5)
    # PSNR is averaged per image: offsets 5 and 20 give the mean of two PSNRs, not the PSNR of the pooled MSE.
    output = torch.cat([target[:1] + 5, target[1:2] + 20])
    expected = (20 * math.log10(255 / 5) + 20 * math.log10(255 / 20)) / 2
    assert psnr(output, target[:2]) == pytest.approx(expected)


def test_identical_images():
    images = _torch(_pairs()["colour"][1])
    assert psnr(images, images) == PSNR_CAP
    assert ssim(images, images) == pytest.approx(1.0, abs=1e-12)
    assert l1(images, images) == 0.0
    assert ssim(images, 255 - images) < 0.5


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(1, 3, 16, 17, dtype=torch.uint8))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 10, 16, dtype=torch.uint8), torch.zeros(1, 3, 10, 16, dtype=torch.uint8))
