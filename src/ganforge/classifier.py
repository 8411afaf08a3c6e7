"""The small CNN classifier that the augmentation experiment (experiments/augment.py) trains for every arm and
`synth`'s confident filter uses, classic augmentation (random affine jitter, as in Simard et al. 2003's
elastic/affine digit augmentation) and the real/synthetic batch mixing.

Every arm gets the same network and the same fixed number of optimiser steps, so arms differ only in their data;
nothing is selected on held-out images (there is no early stopping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .imaging import to_float

MAX_ROTATION_DEG = 12.0  # classic augmentation: rotation range (+-)
MAX_SHIFT = 0.125  # ... translation range, as a fraction of the image side (+-)
SCALE_RANGE = (0.9, 1.1)  # ... isotropic zoom range


class SmallCNN(nn.Module):
    """Three conv blocks (side -> side/8), global average pooling, a linear head: ~100k parameters at width 32."""

    def __init__(
        self,
        channels: int,  # input channels (1 or 3)
        num_classes: int,  # output logits
        width: int = 32,
    ):  # channels of the first block, doubled per block
        super().__init__()
        layers, inputs = [], channels
        for block in range(3):
            out = width * 2**block
            layers += [
                nn.Conv2d(inputs, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            inputs = out
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float [N, C, H, W] in [-1, 1] -> logits [N, num_classes]."""
        return self.head(self.dropout(self.body(x).mean(dim=(2, 3))))


def classic_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation, zoom and shift per image (border filled with the image's corner value): float [N, C, H, W]."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEG)
    scale = SCALE_RANGE[0] + torch.rand(n, generator=generator) * (SCALE_RANGE[1] - SCALE_RANGE[0])
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT * 2  # grid units span 2 per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)  # [N, H, W, 2]
    background = x[:, :, :1, :1]  # [N, C, 1, 1]: the top-left pixel stands for the background
    return F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + background


@dataclass(frozen=True)
class TrainSpec:
    """How one classifier is trained: the same for every arm of the experiment."""

    steps: int = 400  # optimiser steps (fixed: no early stopping, nothing is selected on test images)
    batch: int = 64  # images per step
    lr: float = 2e-3  # Adam learning rate, cosine-decayed to 0
    width: int = 32  # SmallCNN width
    synthetic_fraction: float = 0.5  # share of each batch drawn from the synthetic images when both kinds are given


def _draw(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, size, (count,), generator=generator)


def train_classifier(
    real: tuple[torch.Tensor, torch.Tensor] | None,
    synthetic: tuple[torch.Tensor, torch.Tensor] | None,
    num_classes: int,
    *,
    augment: bool,
    seed: int,
    spec: TrainSpec = TrainSpec(),
) -> SmallCNN:
    """Train a SmallCNN on uint8 images [N, C, H, W] with labels [N]: real, synthetic, or both mixed per batch
    (`spec.synthetic_fraction` synthetic); `augment` applies classic augmentation to every training image."""
    sources = [s for s in (real, synthetic) if s is not None and len(s[0])]
    assert sources, "no training images"
    channels = sources[0][0].shape[1]
    torch.manual_seed(seed)
    model = SmallCNN(channels, num_classes, spec.width)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, spec.steps)
    generator = torch.Generator().manual_seed(seed)
    synthetic_count = round(spec.batch * spec.synthetic_fraction) if len(sources) == 2 else 0
    model.train()
    for _ in range(spec.steps):
        counts = [spec.batch - synthetic_count, synthetic_count] if len(sources) == 2 else [spec.batch]
        batch_images, batch_labels = [], []
        for (images, labels), count in zip(sources, counts):
            index = _draw(count, len(images), generator)
            batch_images.append(images[index])
            batch_labels.append(labels[index])
        x = to_float(torch.cat(batch_images))  # [B, C, H, W]
        if augment:
            x = classic_augment(x, generator)
        loss = F.cross_entropy(model(x), torch.cat(batch_labels))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@torch.no_grad()
def predict(model: SmallCNN, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """uint8 [N, C, H, W] -> class probabilities [N, num_classes]."""
    return torch.cat(
        [F.softmax(model(to_float(images[start : start + batch])), dim=1) for start in range(0, len(images), batch)]
    )


def accuracy(model: SmallCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of uint8 images [N, C, H, W] whose most probable class is their label."""
    return float((predict(model, images).argmax(dim=1) == labels).float().mean())
