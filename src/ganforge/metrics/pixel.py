"""Paired metrics of translated outputs against their targets (pix2pix, Isola et al. 2017, on held-out pairs):
PSNR, SSIM (Wang et al. 2004) and L1.

Inputs are uint8 torch tensors [N, C, H, W] of outputs and of their targets, in the same order (`data_range` gives
the scale of other inputs). Every metric is computed per image in float64 and averaged over the images, so results
of several batches combine by a count-weighted mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PSNR_CAP = 100.0  # dB, the PSNR of identical images (whose MSE is 0); any higher PSNR is capped too
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5  # an 11 x 11 Gaussian window, as scikit-image's int(3.5 * sigma + 0.5)
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_float(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if output.shape != target.shape or output.ndim != 4:
        raise ValueError(
            f"need outputs and targets of one shape [N, C, H, W], got {tuple(output.shape)} and {tuple(target.shape)}"
        )
    return output.to(torch.float64), target.to(torch.float64)


def psnr(output: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> float:
    """Mean over images of 10 log10(data_range^2 / MSE), the MSE taken over C, H, W; capped at PSNR_CAP dB."""
    x, y = _as_float(output, target)
    mse = (x - y).square().mean(dim=(1, 2, 3))  # [N]
    values = 10 * torch.log10(data_range**2 / mse)  # +inf where mse == 0
    return float(values.clamp(max=PSNR_CAP).mean())


def _gaussian_filter(images: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 1, H - 10, W - 10]: the separable 11 x 11 Gaussian, only where it lies inside the image."""
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    kernel = (kernel / kernel.sum()).to(images)
    return F.conv2d(F.conv2d(images, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))


def ssim_per_image(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Differentiable SSIM of float images x, y [N, C, H, W] (any dtype, both sides >= 11) -> [N]: the SSIM map
    averaged over channels and the positions where the window lies wholly inside the image (see `ssim`)."""
    count, channels, height, width = x.shape
    if min(height, width) < 2 * SSIM_RADIUS + 1:
        raise ValueError(
            f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} x {2 * SSIM_RADIUS + 1}, got {height} x {width}"
        )
    moments = torch.stack([x, y, x * x, y * y, x * y]).reshape(-1, 1, height, width)  # [5 N C, 1, H, W]
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = _gaussian_filter(moments).view(
        5, count, channels, height - 2 * SSIM_RADIUS, width - 2 * SSIM_RADIUS
    )  # each [N, C, H', W']
    var_x, var_y, cov_xy = mean_xx - mean_x**2, mean_yy - mean_y**2, mean_xy - mean_x * mean_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = (
        (2 * mean_x * mean_y + c1) * (2 * cov_xy + c2) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    )  # [N, C, H', W']
    return ssim_map.mean(dim=(1, 2, 3))


def ssim(output: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004): Gaussian window 11 x 11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population
    (co)variances. Colour images are scored per channel and the channels averaged, as scikit-image's
    `structural_similarity(..., channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`;
    the SSIM map is averaged over the positions where the window lies wholly inside the image (where scikit-image
    crops its map), so images need both sides >= 11. Computed in float64.
    """
    return float(ssim_per_image(*_as_float(output, target), data_range).mean())


def l1(output: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> float:
    """Mean absolute error in [-1, 1] units (a pixel difference times 2 / data_range), the scale of pix2pix's L1
    loss; averaged over C, H, W and then over images."""
    x, y = _as_float(output, target)
    return float((x - y).abs().mean(dim=(1, 2, 3)).mean() * (2.0 / data_range))


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as `pairs --task colorize` makes its grey inputs


def input_as_output(inputs: torch.Tensor, channels: int) -> torch.Tensor:
    """The baseline a model must beat: its uint8 inputs [N, C_in, H, W] used as the output, with `channels`
    channels (grey repeated to colour, colour to luma). For `pairs --task superres` the inputs are the bicubic
    upscale of the small image, so this is the bicubic baseline; for denoise/rain/repair, the damaged photo."""
    if inputs.shape[1] == channels:
        return inputs
    if inputs.shape[1] == 1:
        return inputs.expand(-1, channels, -1, -1).contiguous()
    weights = torch.tensor(LUMA, dtype=torch.float64).view(1, 3, 1, 1)
    return (inputs.to(torch.float64) * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
