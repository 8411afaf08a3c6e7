"""Shared building blocks: (conditional) normalisation layers and weight initialisation."""

from __future__ import annotations

import torch
from torch import nn

CLASS_GAIN = 50.0  # 1 / the N(0, 0.02) conv init of Radford et al.: see ConditionalBatchNorm2d


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift come from a class embedding (de Vries et al. 2017; Miyato & Koyama 2018):
    gamma = 1 + CLASS_GAIN * a[y], beta = CLASS_GAIN * b[y], with a and b initialised to 0.

    The per-class parameters are stored divided by CLASS_GAIN. Adam moves every parameter by about lr per step, so
    gamma stored at its full size (1) changed 50x slower, relative to its size, than the N(0, 0.02) conv weights:
    after a CPU run (~450 steps at lr 2e-4) the classes' gammas differed by ~0.02 and a conditional DCGAN drew the
    same digit whatever its label (issue 27). Stored small, they learn at the conv weights' relative rate."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.class_scale = nn.Embedding(num_classes, num_features)  # (gamma - 1) / CLASS_GAIN per class
        self.class_shift = nn.Embedding(num_classes, num_features)  # beta / CLASS_GAIN per class
        nn.init.zeros_(self.class_scale.weight)
        nn.init.zeros_(self.class_shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gamma = 1 + CLASS_GAIN * self.class_scale(labels)[:, :, None, None]  # [N, C, 1, 1]
        return self.norm(x) * gamma + CLASS_GAIN * self.class_shift(labels)[:, :, None, None]


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
