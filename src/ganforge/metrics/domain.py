"""Target-domain share of an unpaired translation (CycleGAN): a small convolutional classifier trained to tell the
two real domains apart, and the share of translated images it places in the target domain.

FID on features of a network that reads shapes (the digits classifier, or Inception on grey digits) can call a
failed direction good: digit -> poster outputs that are speckled grey digits keep the digit, so their features sit
near the posters'. This classifier reads the images at full resolution in colour, and its global average and
standard deviation pooling summarise colour and texture, so outputs that keep the source domain's look are counted
as the source domain. Its held-out accuracy on the two real test sets says how far its verdict can be trusted, and
the same share for the untranslated inputs (the identity baseline) shows where a translation starts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..imaging import to_float

WIDTH = 16  # channels of the first convolution (then 2x, 4x)
STEPS, BATCH, LR = 300, 64, 2e-3  # Adam on balanced batches: a few seconds on a CPU at 32 px


class DomainClassifier(nn.Module):
    """uint8 [N, C, H, W] -> logits [N, 2] (domain A, domain B): three stride-2 convolutions, then the mean and the
    standard deviation of each feature over the image (colour and texture statistics), then a linear layer."""

    def __init__(self, channels: int, width: int = WIDTH):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8 * width, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(to_float(images))  # [N, 4W, H/8, W/8]
        pooled = torch.cat([features.mean(dim=(2, 3)), features.std(dim=(2, 3), unbiased=False)], dim=1)
        return self.head(pooled)  # [N, 2]


@dataclass
class DomainJudge:
    """A trained domain classifier and its accuracy on held-out real images of both domains (None if not tested)."""

    classifier: DomainClassifier
    held_out_accuracy: float | None = None

    @torch.no_grad()
    def share(self, images: torch.Tensor, domain: int, batch_size: int = 256) -> float:
        """Share of uint8 images [N, C, H, W] classified as `domain` (0 = A, 1 = B)."""
        self.classifier.eval()
        votes = torch.cat([self.classifier(images[start:start + batch_size]).argmax(1)
                           for start in range(0, len(images), batch_size)])
        return float((votes == domain).float().mean())


def train_domain_judge(train_a: torch.Tensor, train_b: torch.Tensor, test_a: torch.Tensor | None = None,
                       test_b: torch.Tensor | None = None, steps: int = STEPS, seed: int = 0) -> DomainJudge:
    """Train a DomainClassifier on real uint8 images of domain A and B ([N, C, H, W], same C and size), each batch
    half A and half B, with random horizontal flips; score it on `test_a`/`test_b` when given. Deterministic for
    `seed`, and the global random state is left as it was."""
    if train_a.shape[1:] != train_b.shape[1:]:
        raise ValueError(f"domains of different image shapes: {tuple(train_a.shape[1:])} vs {tuple(train_b.shape[1:])}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = DomainClassifier(train_a.shape[1])
        optimizer = torch.optim.Adam(classifier.parameters(), lr=LR)
        half = BATCH // 2
        labels = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
        for _ in range(steps):
            images = torch.cat([train_a[torch.randint(len(train_a), (half,))],
                                train_b[torch.randint(len(train_b), (half,))]])
            flip = torch.rand(len(images)) < 0.5
            images[flip] = images[flip].flip(-1)
            loss = F.cross_entropy(classifier(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    judge = DomainJudge(classifier.eval().requires_grad_(False))
    if test_a is not None and test_b is not None:
        judge.held_out_accuracy = (judge.share(test_a, 0) * len(test_a) + judge.share(test_b, 1) * len(test_b)) \
            / (len(test_a) + len(test_b))
    return judge
