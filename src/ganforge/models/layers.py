"""Shared building blocks: (conditional) normalisation layers and weight initialisation."""
from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift come from a class embedding (de Vries et al. 2017; Miyato & Koyama 2018)."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.scale = nn.Embedding(num_classes, num_features)  # gamma per class, initialised to 1
        self.shift = nn.Embedding(num_classes, num_features)  # beta per class, initialised to 0
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class Norm2d(nn.Module):
    """One normalisation choice behind a (x, labels) interface: batch | instance | layer | none, optionally class-conditional."""

    def __init__(self, kind: str, num_features: int, num_classes: int = 0):
        super().__init__()
        self.conditional = kind == "batch" and num_classes > 0
        if self.conditional:
            self.norm: nn.Module = ConditionalBatchNorm2d(num_features, num_classes)
        elif kind == "batch":
            self.norm = nn.BatchNorm2d(num_features)
        elif kind == "instance":
            self.norm = nn.InstanceNorm2d(num_features, affine=True)
        elif kind == "layer":
            self.norm = nn.GroupNorm(1, num_features)
        elif kind in ("none", "spectral"):
            self.norm = nn.Identity()
        else:
            raise ValueError(f"unknown norm {kind!r}")

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(x, labels) if self.conditional else self.norm(x)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02); norm scales ~ N(1, 0.02), shifts 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear weight."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, nn.Linear, nn.Embedding)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module
