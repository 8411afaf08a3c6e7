"""pix2pix (Isola et al. 2017): U-Net generator with skip connections and dropout as the noise source, and a
PatchGAN discriminator that judges overlapping patches of the concatenated (input, output) pair."""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import Norm2d, apply_spectral_norm, dcgan_init


def unet_widths(depth: int, base: int, cap: int) -> list[int]:
    """Encoder widths C64-C128-C256-C512-C512-... (base=64, cap=512) for `depth` downsamplings."""
    return [min(cap, base * 2**i) for i in range(depth)]


class UNetGenerator(nn.Module):
    def __init__(
        self,
        resolution: int,  # input/output side (power of two); the encoder halves it down to 1x1
        in_channels: int,  # channels of the input image A
        out_channels: int,  # channels of the translated image B
        base_channels: int = 64,  # width of the first encoder layer
        max_channels: int = 512,  # width cap
        norm: str = "batch",  # batch | instance | none
        dropout: float = 0.5,
    ):  # in the three innermost decoder layers (the only noise source)
        super().__init__()
        self.resolution, self.in_channels, self.channels = resolution, in_channels, out_channels
        self.num_classes, self.z_dim = 0, 0
        depth = int(math.log2(resolution))
        widths = unet_widths(depth, base_channels, max_channels)
        self.downs = nn.ModuleList()
        self.down_norms = nn.ModuleList()
        previous = in_channels
        for index, width in enumerate(widths):
            self.downs.append(nn.Conv2d(previous, width, 4, 2, 1, bias=norm == "none" or index in (0, depth - 1)))
            outermost_or_innermost = index == 0 or index == depth - 1  # no norm there (1x1 maps; raw input)
            self.down_norms.append(Norm2d("none" if outermost_or_innermost else norm, width))
            previous = width
        self.ups = nn.ModuleList()
        self.up_norms = nn.ModuleList()
        self.dropouts = nn.ModuleList()
        for index in reversed(range(1, depth)):  # decoder towards the skip of encoder layer index-1
            in_width = widths[index] * (1 if index == depth - 1 else 2)
            self.ups.append(nn.ConvTranspose2d(in_width, widths[index - 1], 4, 2, 1, bias=norm == "none"))
            self.up_norms.append(Norm2d(norm, widths[index - 1]))
            self.dropouts.append(nn.Dropout(dropout if depth - 1 - index < 3 else 0.0))
        self.to_image = nn.ConvTranspose2d(widths[0] * 2, out_channels, 4, 2, 1)
        self.leaky, self.relu = nn.LeakyReLU(0.2), nn.ReLU()
        dcgan_init(self)

    def forward(self, inputs: torch.Tensor, labels: None = None) -> torch.Tensor:
        """A [N, C_A, R, R] in [-1, 1] -> B [N, C_B, R, R] in [-1, 1]."""
        assert inputs.shape[1:] == (self.in_channels, self.resolution, self.resolution), inputs.shape
        skips = []
        x = inputs
        for index, (down, norm) in enumerate(zip(self.downs, self.down_norms)):
            x = norm(down(x if index == 0 else self.leaky(x)))
            skips.append(x)
        for up, norm, dropout, skip in zip(self.ups, self.up_norms, self.dropouts, reversed(skips[:-1])):
            x = torch.cat([dropout(norm(up(self.relu(x)))), skip], dim=1)
        return torch.tanh(self.to_image(self.relu(x)))


class PatchDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int,  # image side
        in_channels: int,  # channels of A (the condition); 0: unconditional, judging B alone (CycleGAN)
        out_channels: int,  # channels of B
        base_channels: int = 64,  # width of the first layer
        max_channels: int = 512,  # width cap
        layers: int = 3,  # strided layers: 3 gives the 70x70 receptive field (fewer on tiny images)
        norm: str = "batch",
    ):  # batch | instance | layer | spectral | none
        super().__init__()
        self.resolution, self.in_channels, self.channels = resolution, in_channels, out_channels
        layers = max(1, min(layers, int(math.log2(resolution / 3))))  # keep at least a 1x1 patch map
        use_bias = norm in ("none", "spectral")
        blocks: list[nn.Module] = [nn.Conv2d(in_channels + out_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = base_channels
        for index in range(1, layers + 1):
            stride = 2 if index < layers else 1
            out_width = min(max_channels, base_channels * 2**index)
            blocks += [
                nn.Conv2d(width, out_width, 4, stride, 1, bias=use_bias),
                Norm2d(norm, out_width),
                nn.LeakyReLU(0.2),
            ]
            width = out_width
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))  # one logit per patch
        self.net = nn.Sequential(*blocks)
        dcgan_init(self)
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, images: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """B [N, C_B, R, R] judged given A [N, C_A, R, R] (None when in_channels is 0) -> patch logits [N, P]."""
        if self.in_channels == 0:
            assert inputs is None, "an unconditional PatchGAN takes no input image"
            return self.net(images).flatten(1)
        assert images.shape[2:] == inputs.shape[2:], (images.shape, inputs.shape)
        return self.net(torch.cat([inputs, images], dim=1)).flatten(1)


def receptive_field(layers: int) -> int:
    """Receptive field of one patch logit: 70 for layers=3 (4x4 kernels, strides 2,..,2,1,1)."""
    field = 1
    strides = [2] * layers + [1, 1]
    for stride in reversed(strides):
        field = field * stride + (4 - stride)
    return field
