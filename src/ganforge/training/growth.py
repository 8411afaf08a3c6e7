"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs"; also StyleGAN1): training starts at a low
resolution and doubles it on a schedule in kimg. Each new resolution is faded in linearly over one phase (its layers
weighted by alpha from 0 to 1, as are the real images' new details), then trained alone for one phase.

The stage is a pure function of the images shown so far, so a resumed run is at the same stage, alpha included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.stylegan2 import upsample2x


@dataclass(frozen=True)
class Growth:
    resolution: int  # the current training resolution
    alpha: float  # weight of the newest resolution's layers: rising 0 -> 1 while fading in, 1 when stable


@dataclass(frozen=True)
class GrowthSchedule:
    start: int  # first training resolution
    final: int  # the dataset's resolution, reached after 2 * log2(final / start) phases
    phase_kimg: float  # kimg of each fade-in and of each stable phase

    @property
    def doublings(self) -> int:
        return int(math.log2(self.final // self.start))

    @property
    def full_kimg(self) -> float:
        """kimg at which the final resolution is fully faded in."""
        return 2 * self.doublings * self.phase_kimg

    def at(self, kimg: float) -> Growth:
        """The stage after `kimg` thousand images: phase 0 trains `start`; odd phases fade in the next resolution,
        even phases stabilise it."""
        phase = int(kimg // self.phase_kimg)
        if phase >= 2 * self.doublings:
            return Growth(self.final, 1.0)
        resolution = self.start * 2 ** ((phase + 1) // 2)
        alpha = kimg / self.phase_kimg - phase if phase % 2 else 1.0
        return Growth(resolution, alpha)

    def describe(self) -> str:
        sides = " -> ".join(str(self.start * 2**i) for i in range(self.doublings + 1))
        return (
            f"progressive growing {sides} px, {self.phase_kimg:g} kimg per fade-in and per stable phase; "
            f"full resolution from {self.full_kimg:g} kimg"
        )


def reals_at(images: torch.Tensor, growth: Growth) -> torch.Tensor:
    """Real images [N, C, R, R] as the current stage sees them: area-downscaled to its resolution and, while a
    resolution fades in, blended by alpha with the half-resolution image upscaled as the generator does, so that
    reals and fakes gain their new detail alike."""
    size = images.shape[-1]
    if growth.resolution < size:
        images = F.avg_pool2d(images, size // growth.resolution)
    if growth.alpha < 1:
        images = upsample2x(F.avg_pool2d(images, 2)).lerp(images, growth.alpha)
    return images
