"""DCGAN (Radford, Metz & Chintala 2016): transposed-conv generator with batch norm, strided-conv leaky-ReLU
discriminator; optional class conditioning (the one-hot label beside z and conditional batch norm in G, projection
discriminator, Miyato & Koyama 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Norm2d, apply_spectral_norm, dcgan_init


def dcgan_widths(resolution: int, base: int, cap: int) -> dict[int, int]:
    """Channels of the feature map at each side length 4..resolution/2 (DCGAN-64: 512, 256, 128, 64)."""
    widths, side = {}, 4
    while side < resolution:
        widths[side] = min(cap, base * resolution // (2 * side))
        side *= 2
    return widths


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        z_dim: int,  # length of z ~ N(0, I)
        resolution: int,  # output side, a power of two >= 8
        channels: int,  # output channels (1 or 3)
        num_classes: int = 0,  # > 0: class-conditional through conditional batch norm
        base_channels: int = 64,  # ngf
        max_channels: int = 512,  # width cap
        norm: str = "batch",
    ):  # batch | instance | none
        super().__init__()
        self.z_dim, self.resolution, self.channels, self.num_classes = z_dim, resolution, channels, num_classes
        widths = dcgan_widths(resolution, base_channels, max_channels)
        sides = sorted(widths)
        # conditional: the one-hot label joins z at the input (Mirza & Osindero 2014) beside the per-class batch norm
        self.stem = nn.ConvTranspose2d(z_dim + num_classes, widths[4], 4, 1, 0, bias=norm == "none")  # -> [N, C, 4, 4]
        self.norms = nn.ModuleList([Norm2d(norm, widths[s], num_classes) for s in sides])
        self.ups = nn.ModuleList(
            [nn.ConvTranspose2d(widths[a], widths[b], 4, 2, 1, bias=norm == "none") for a, b in zip(sides, sides[1:])]
        )
        self.to_image = nn.ConvTranspose2d(widths[sides[-1]], channels, 4, 2, 1)
        self.act = nn.ReLU(inplace=True)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, z_dim], labels [N] or None -> images [N, C, R, R] in [-1, 1]."""
        assert z.ndim == 2 and z.shape[1] == self.z_dim, z.shape
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)  # [N, z_dim + classes]
        x = self.act(self.norms[0](self.stem(z[:, :, None, None]), labels))
        for up, norm in zip(self.ups, self.norms[1:]):
            x = self.act(norm(up(x), labels))
        return torch.tanh(self.to_image(x))


class DCGANDiscriminator(nn.Module):
    gives_class_scores = True  # forward(..., class_scores=True) also returns every class's projection score

    def __init__(
        self,
        resolution: int,  # input side, a power of two >= 8
        channels: int,  # input channels
        num_classes: int = 0,  # > 0: projection discriminator on class labels
        base_channels: int = 64,  # ndf
        max_channels: int = 512,  # width cap
        norm: str = "batch",
    ):  # batch | instance | layer | spectral | none
        super().__init__()
        self.resolution, self.channels, self.num_classes = resolution, channels, num_classes
        widths = dcgan_widths(resolution, base_channels, max_channels)
        sides = sorted(widths, reverse=True)  # R/2, R/4, ..., 4
        self.from_image = nn.Conv2d(channels, widths[sides[0]], 4, 2, 1)  # no norm on the first layer (Radford)
        use_bias = norm in ("none", "spectral")
        self.downs = nn.ModuleList(
            [nn.Conv2d(widths[a], widths[b], 4, 2, 1, bias=use_bias) for a, b in zip(sides, sides[1:])]
        )
        self.norms = nn.ModuleList([Norm2d(norm, widths[b]) for b in sides[1:]])
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.head = nn.Conv2d(widths[4], 1, 4, 1, 0)  # [N, C, 4, 4] -> [N, 1, 1, 1]
        self.embed = nn.Embedding(num_classes, widths[4]) if num_classes else None
        dcgan_init(self)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, class_scores: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """images [N, C, R, R], labels [N] or None -> logits [N]; with `class_scores` also the projection term of
        every class, [N, classes] (the logit is the unconditional output + the score of the image's label)."""
        assert images.shape[1:] == (self.channels, self.resolution, self.resolution), images.shape
        x = self.act(self.from_image(images))
        for down, norm in zip(self.downs, self.norms):
            x = self.act(norm(down(x)))
        logits = self.head(x).flatten()
        if self.embed is None:
            return logits
        scores = x.sum((2, 3)) @ self.embed.weight.t()  # projection of the pooled features on each class, [N, K]
        logits = logits + scores.gather(1, labels[:, None]).flatten()
        return (logits, scores) if class_scores else logits
