"""CycleGAN (Zhu, Park, Isola & Efros 2017): two ResNet generators, A -> B and B -> A (Johnson et al. 2016's
transformation network: c7s1-64, d128, d256, R256 x 6 or 9, u128, u64, c7s1-3 with instance norm and reflection
padding), and two 70x70 PatchGANs, one per domain (pix2pix's PatchDiscriminator without a condition).

Each pair lives in one module so that the rest of ganforge sees one generator and one discriminator: the EMA copy,
checkpoints, exports and `translate` hold both directions; `direction` picks one.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import Norm2d, dcgan_init
from .pix2pix import PatchDiscriminator

DIRECTIONS = ("a2b", "b2a")
BLOCKS_UP_TO_128 = 6  # residual blocks at 128 px and below (the paper's 128x128 setting)
BLOCKS_ABOVE_128 = 9  # at 256 px and above
RESNET_BLOCKS = {"resnet_6blocks": 6, "resnet_9blocks": 9}  # --g-arch names (the authors' --netG) -> blocks


def residual_blocks(resolution: int) -> int:
    return BLOCKS_UP_TO_128 if resolution <= 128 else BLOCKS_ABOVE_128


class ResidualBlock(nn.Module):
    """R_k: two reflection-padded 3x3 convs with norm, ReLU between, added to the input."""

    def __init__(self, width: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3, bias=norm != "batch"),
            Norm2d(norm, width),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3, bias=norm != "batch"),
            Norm2d(norm, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    def __init__(
        self,
        resolution: int,  # image side (a multiple of 4: two stride-2 downsamplings)
        in_channels: int,  # channels of the input domain
        out_channels: int,  # channels of the output domain
        base_channels: int = 64,  # width of c7s1 (the paper's 64); d/u layers use 2x and 4x
        blocks: int | None = None,  # residual blocks; None: 6 up to 128 px, 9 above
        norm: str = "instance",
    ):  # instance (the paper) | batch | none
        super().__init__()
        self.resolution, self.in_channels, self.channels = resolution, in_channels, out_channels
        self.num_classes, self.z_dim = 0, 0
        blocks = residual_blocks(resolution) if blocks is None else blocks
        bias = norm != "batch"
        w1, w2, w4 = base_channels, base_channels * 2, base_channels * 4
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, w1, 7, bias=bias),
            Norm2d(norm, w1),
            nn.ReLU(),
        ]  # c7s1-64
        for width_in, width_out in ((w1, w2), (w2, w4)):  # d128, d256
            layers += [nn.Conv2d(width_in, width_out, 3, 2, 1, bias=bias), Norm2d(norm, width_out), nn.ReLU()]
        layers += [ResidualBlock(w4, norm) for _ in range(blocks)]  # R256 x blocks
        for width_in, width_out in ((w4, w2), (w2, w1)):  # u128, u64
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 3, 2, 1, output_padding=1, bias=bias),
                Norm2d(norm, width_out),
                nn.ReLU(),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w1, out_channels, 7), nn.Tanh()]  # c7s1-3
        self.net = nn.Sequential(*layers)
        dcgan_init(self)  # N(0, 0.02), as the authors' code

    def forward(self, images: torch.Tensor, labels: None = None) -> torch.Tensor:
        """[N, C_in, H, W] in [-1, 1] -> [N, C_out, H, W] in [-1, 1] (H, W multiples of 4); no labels (as pix2pix's
        U-Net, whose place it can take)."""
        return self.net(images)


class CycleGenerators(nn.Module):
    """G: A -> B (`a2b`) and F: B -> A (`b2a`) behind one generator interface."""

    def __init__(
        self,
        resolution: int,  # training image side
        channels: int,  # channels of both domains (converted to match when loading the data)
        base_channels: int = 64,  # width of each generator's first layer
        norm: str = "instance",
    ):  # instance (the paper) | batch | none
        super().__init__()
        self.resolution, self.in_channels, self.channels = resolution, channels, channels
        self.num_classes, self.z_dim = 0, 0
        self.a2b = ResNetGenerator(resolution, channels, channels, base_channels, norm=norm)
        self.b2a = ResNetGenerator(resolution, channels, channels, base_channels, norm=norm)

    def forward(self, images: torch.Tensor, labels: None = None, direction: str = "a2b") -> torch.Tensor:
        """Translate [N, C, H, W] in [-1, 1] from domain A to B (`a2b`) or back (`b2a`)."""
        assert images.shape[1] == self.channels, images.shape
        if direction == "a2b":
            return self.a2b(images)
        if direction == "b2a":
            return self.b2a(images)
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


class CycleDiscriminators(nn.Module):
    """D_B judges domain B, D_A domain A; one call judges a (B, A) batch pair, as pix2pix's D judges (B given A)."""

    def __init__(
        self,
        resolution: int,  # image side
        channels: int,  # channels of both domains
        base_channels: int = 64,  # width of each PatchGAN's first layer
        max_channels: int = 512,  # width cap
        layers: int = 3,  # 3: 70x70 patches
        norm: str = "instance",
    ):  # the paper: instance norm
        super().__init__()
        self.resolution, self.channels = resolution, channels
        self.judge_b = PatchDiscriminator(resolution, 0, channels, base_channels, max_channels, layers, norm)
        self.judge_a = PatchDiscriminator(resolution, 0, channels, base_channels, max_channels, layers, norm)

    def forward(self, images_b: torch.Tensor, images_a: torch.Tensor) -> torch.Tensor:
        """B [N, C, H, W] and A [N, C, H, W] -> patch logits [N, 2P]: D_B's P, then D_A's P (split with chunk)."""
        return torch.cat([self.judge_b(images_b), self.judge_a(images_a)], dim=1)
