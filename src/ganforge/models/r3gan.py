"""R3GAN (Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is dead; long live the GAN!", NeurIPS 2024): a modernised
backbone for the relativistic pairing loss with R1 + R2 (--loss rpgan --r1-gamma G --r2-gamma G).

Both networks are stacks of stages, one per resolution 4..R, made of residual blocks: a 1x1 conv expanding the
width by EXPANSION, a grouped 3x3 conv (groups of --group-channels expanded channels), a 1x1 conv back, each of the
first two followed by a bias and leaky ReLU (0.2). No normalisation anywhere: the weights get variance-scaled
"fix-up" initialisation (He init scaled by L^(-1/4), L = the number of blocks, and the last conv of each block 0), so
every block starts as the identity. Resolution changes are 1x1 convs and [1, 3, 3, 1] low-pass resampling; G starts
from a learned 4x4 basis modulated by a linear map of z, D ends in a depthwise 4x4 conv and a linear layer.
Conditional models embed the one-hot class into z (G) and project D's features on a class embedding.

Module and parameter names follow the authors' networks in snake case (MainLayers -> main_layers, LinearLayer1 ->
linear_layer1, Bias -> bias, ...), so their state dicts map key for key. There is no mapping network and no W space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EXPANSION = 2  # width expansion inside each residual block (the paper's configurations)
LINEAR_LAYERS = 3  # convs per residual block; sets the fix-up scaling exponent
LEAK = 0.2
ACTIVATION_GAIN = math.sqrt(2 / (1 + LEAK**2))  # He gain of leaky ReLU(0.2)
RESAMPLING_FILTER = (1.0, 2.0, 1.0)  # the paper's filter; convolved with [1, 1] into a 4-tap interpolation kernel


def msr_init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """He/MSR initialisation: weight ~ N(0, (gain / sqrt(fan_in))^2), bias 0; gain 0 zeroes the layer."""
    fan_in = layer.weight.shape[1] * layer.weight[0][0].numel()
    with torch.no_grad():
        layer.weight.normal_(0, gain / math.sqrt(fan_in))
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def r3gan_widths(resolution: int, base: int, cap: int) -> list[int]:
    """Width of each stage from 4 px up to `resolution`: min(cap, base * resolution / side). The paper's FFHQ-256
    (base 96, cap 768) gives 768, 768, 768, 768, 384, 192, 96; its CIFAR-10 (base 768) 768 at every stage."""
    sides = [4 * 2**i for i in range(int(math.log2(resolution)) - 1)]
    return [min(cap, base * resolution // side) for side in sides]


class Convolution(nn.Module):
    """A bias-free conv with 'same' padding and MSR initialisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, groups: int = 1, gain: float = 1.0):
        super().__init__()
        self.layer = msr_init(
            nn.Conv2d(in_channels, out_channels, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False), gain
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class BiasedActivation(nn.Module):
    """x + bias, then leaky ReLU (0.2); the bias starts at 0."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.view(1, -1, 1, 1) if x.ndim == 4 else self.bias.view(1, -1)
        return F.leaky_relu(x + bias.to(x.dtype), LEAK)


class ResidualBlock(nn.Module):
    """x + conv1x1(act(grouped conv3x3(act(conv1x1(x))))): the inverted bottleneck, its last conv initialised to 0."""

    def __init__(self, channels: int, cardinality: int, total_blocks: int):
        super().__init__()
        expanded = channels * EXPANSION
        gain = ACTIVATION_GAIN * total_blocks ** (-1 / (2 * LINEAR_LAYERS - 2))  # fix-up: the variance of x stays put
        self.linear_layer1 = Convolution(channels, expanded, 1, gain=gain)
        self.linear_layer2 = Convolution(expanded, expanded, 3, groups=cardinality, gain=gain)
        self.linear_layer3 = Convolution(expanded, channels, 1, gain=0)
        self.non_linearity1 = BiasedActivation(expanded)
        self.non_linearity2 = BiasedActivation(expanded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear_layer2(self.non_linearity1(self.linear_layer1(x)))
        return x + self.linear_layer3(self.non_linearity2(y))


def _interpolation_kernel() -> torch.Tensor:
    """The separable 4x4 kernel [1, 3, 3, 1]^T [1, 3, 3, 1] / 64: the resampling filter convolved with [1, 1]."""
    taps = torch.tensor(RESAMPLING_FILTER)
    taps = F.conv1d(F.pad(taps, (1, 1))[None, None], torch.ones(1, 1, 2))[0, 0]
    kernel = torch.outer(taps, taps)
    return kernel / kernel.sum()


class Resampler(nn.Module):
    """2x up (a depthwise transposed conv with 4 x the kernel) or 2x down (a depthwise stride-2 conv), the
    interpolative FIR resampling of the paper's code."""

    def __init__(self, channels: int, up: bool):
        super().__init__()
        self.up, self.channels = up, channels
        self.register_buffer("kernel", _interpolation_kernel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.kernel.to(x.dtype).expand(self.channels, 1, *self.kernel.shape)
        if self.up:
            return F.conv_transpose2d(x, 4 * weight, stride=2, padding=1, groups=self.channels)
        return F.conv2d(x, weight, stride=2, padding=1, groups=self.channels)


class UpsampleLayer(nn.Module):
    """A 1x1 conv to the next width (if it changes), then 2x upsampling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear_layer = Convolution(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.resampler = Resampler(out_channels, up=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resampler(self.linear_layer(x) if self.linear_layer is not None else x)


class DownsampleLayer(nn.Module):
    """2x downsampling, then a 1x1 conv to the next width (if it changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.resampler = Resampler(in_channels, up=False)
        self.linear_layer = Convolution(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resampler(x)
        return self.linear_layer(x) if self.linear_layer is not None else x


class GenerativeBasis(nn.Module):
    """z -> a learned [C, 4, 4] basis scaled channel by channel by a linear map of z."""

    def __init__(self, in_features: int, channels: int):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear_layer = msr_init(nn.Linear(in_features, channels, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basis[None] * self.linear_layer(x)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """[N, C, 4, 4] -> a depthwise 4x4 conv to [N, C] -> linear to [N, out_features]."""

    def __init__(self, channels: int, out_features: int):
        super().__init__()
        self.basis = msr_init(nn.Conv2d(channels, channels, 4, groups=channels, bias=False))
        self.linear_layer = msr_init(nn.Linear(channels, out_features, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(self.basis(x).flatten(1))


class Stage(nn.Module):
    """One resolution: G's transition (basis or upsampling) then blocks; D's blocks then transition (downsampling
    or the final basis)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def _cardinality(width: int, group_channels: int) -> int:
    """Groups of the 3x3 conv: the expanded width in groups of `group_channels` (at least one group)."""
    return max(1, width * EXPANSION // group_channels)


class R3GANGenerator(nn.Module):
    def __init__(
        self,
        z_dim: int,  # length of z ~ N(0, I) (the paper: 64)
        resolution: int,  # output side, a power of two >= 8
        channels: int,  # output channels
        num_classes: int = 0,  # > 0: the one-hot class, embedded to z_dim, joins z
        base_channels: int = 96,  # width at full resolution (see r3gan_widths)
        max_channels: int = 768,  # width cap
        blocks_per_stage: int = 2,
        group_channels: int = 16,
    ):  # expanded channels per group of the 3x3 conv
        super().__init__()
        self.z_dim, self.resolution, self.channels, self.num_classes = z_dim, resolution, channels, num_classes
        widths = r3gan_widths(resolution, base_channels, max_channels)
        total = blocks_per_stage * len(widths)

        def blocks(width: int) -> list[nn.Module]:
            return [ResidualBlock(width, _cardinality(width, group_channels), total) for _ in range(blocks_per_stage)]

        embedding = z_dim if num_classes else 0
        stages = [Stage([GenerativeBasis(z_dim + embedding, widths[0]), *blocks(widths[0])])]
        stages += [Stage([UpsampleLayer(a, b), *blocks(b)]) for a, b in zip(widths, widths[1:])]
        self.main_layers = nn.ModuleList(stages)
        self.aggregation_layer = Convolution(widths[-1], channels, 1)
        self.embedding_layer = msr_init(nn.Linear(num_classes, embedding, bias=False)) if num_classes else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, z_dim], labels [N] or None -> images [N, C, R, R] (about [-1, 1]; not clamped)."""
        assert z.ndim == 2 and z.shape[1] == self.z_dim, z.shape
        x = z
        if self.embedding_layer is not None:
            x = torch.cat([z, self.embedding_layer(F.one_hot(labels, self.num_classes).to(z.dtype))], dim=1)
        for stage in self.main_layers:
            x = stage(x)
        return self.aggregation_layer(x)


class R3GANDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int,  # input side
        channels: int,  # input channels (x pack for PacGAN)
        num_classes: int = 0,  # > 0: projection of the features on a class embedding
        base_channels: int = 96,
        max_channels: int = 768,
        blocks_per_stage: int = 2,
        group_channels: int = 16,
    ):
        super().__init__()
        self.num_classes = num_classes
        widths = r3gan_widths(resolution, base_channels, max_channels)[::-1]  # full resolution first
        total = blocks_per_stage * len(widths)

        def blocks(width: int) -> list[nn.Module]:
            return [ResidualBlock(width, _cardinality(width, group_channels), total) for _ in range(blocks_per_stage)]

        embedding = widths[-1] if num_classes else 1  # the paper: the 4x4 width
        self.extraction_layer = Convolution(channels, widths[0], 1)
        stages = [Stage([*blocks(a), DownsampleLayer(a, b)]) for a, b in zip(widths, widths[1:])]
        stages.append(Stage([*blocks(widths[-1]), DiscriminativeBasis(widths[-1], embedding)]))
        self.main_layers = nn.ModuleList(stages)
        self.embedding_layer = (
            msr_init(nn.Linear(num_classes, embedding, bias=False), 1 / math.sqrt(embedding)) if num_classes else None
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images [N, C, R, R], labels [N] or None -> logits [N]."""
        x = self.extraction_layer(x)
        for stage in self.main_layers:
            x = stage(x)
        if self.embedding_layer is not None:
            x = (x * self.embedding_layer(F.one_hot(labels, self.num_classes).to(x.dtype))).sum(1, keepdim=True)
        return x.view(x.shape[0])
