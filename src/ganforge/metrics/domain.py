"""Target-domain share of an unpaired translation (CycleGAN): two small classifiers trained to tell the two real
domains apart, one from colour alone and one from grey-level shape and texture alone, and the share of translated
images that both place in the target domain.

FID on features of a network that reads shapes (the digits classifier, or Inception on grey digits) can call a
failed direction good: digit -> poster outputs that are speckled grey digits keep the digit, so their features sit
near the posters'. One classifier of the real domains is not enough either: it learns whichever cue separates them
most easily (trained on digits vs posters, it takes any speckle for a poster background). So each view is judged
separately: the colour view reads a histogram of the image's colours (blind to where they are), the texture view
reads the grey image through three stride-2 convolutions pooled to per-feature mean and standard deviation (blind
to colour). A translated image counts as reaching the target domain when every view that tells the real held-out
images apart (accuracy >= MIN_VIEW_ACCURACY) places it there; the same share for the untranslated inputs (the
identity baseline) shows where a translation starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..imaging import to_float

WIDTH = 16  # channels of the texture view's first convolution (then 2x, 4x)
BINS = 4  # colour histogram bins per channel (4^3 = 64 colours)
STEPS, BATCH, LR = 300, 64, 2e-3  # Adam on balanced batches: seconds on a CPU at 32 px
TINT, NOISE = 0.15, 24.0  # training perturbations (see `perturb`)
MIN_VIEW_ACCURACY = 0.9  # a view that cannot tell the real held-out domains apart this well has no vote
VIEWS = ("colour", "texture")


def colour_histogram(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> [N, BINS^3]: the share of pixels in each colour bin (grey images as R = G = B)."""
    rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    bins = (rgb.long() * BINS) // 256  # [N, 3, H, W] in 0..BINS-1
    index = (bins[:, 0] * BINS + bins[:, 1]) * BINS + bins[:, 2]  # [N, H, W]
    counts = torch.zeros(len(images), BINS**3).scatter_add_(1, index.flatten(1), torch.ones(index.flatten(1).shape))
    return counts / index[0].numel()


class DomainClassifier(nn.Module):
    """uint8 [N, C, H, W] -> logits [N, 2] (domain A, domain B) from one view: `colour` (a linear classifier of the
    colour histogram) or `texture` (the grey image through three stride-2 convolutions, then the mean and standard
    deviation of each feature over the image, then a linear layer)."""

    def __init__(self, view: str, width: int = WIDTH):
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"view {view!r}: choose one of {', '.join(VIEWS)}")
        self.view = view
        self.features = (
            nn.Sequential(
                nn.Conv2d(1, width, 3, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 3, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(2 * width, 4 * width, 3, 2, 1),
                nn.LeakyReLU(0.2),
            )
            if view == "texture"
            else None
        )
        self.head = nn.Linear(8 * width if view == "texture" else BINS**3, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return self.head(colour_histogram(images) * BINS)  # scaled so that a uniform histogram has entries ~0.06
        features = self.features(to_float(images).mean(1, keepdim=True))  # [N, 4W, H/8, W/8]
        pooled = torch.cat([features.mean(dim=(2, 3)), features.std(dim=(2, 3), unbiased=False)], dim=1)
        return self.head(pooled)  # [N, 2]


@dataclass
class DomainJudge:
    """One trained classifier per view, with its accuracy on held-out real images of both domains (None: untested,
    every view votes)."""

    classifiers: dict[str, DomainClassifier]
    held_out_accuracy: dict[str, float | None]

    @property
    def voting(self) -> list[str]:
        """The views that tell the real held-out domains apart (all of them when untested)."""
        chosen = [v for v, acc in self.held_out_accuracy.items() if acc is None or acc >= MIN_VIEW_ACCURACY]
        return chosen or list(self.classifiers)

    @torch.no_grad()
    def votes(self, images: torch.Tensor, view: str, domain: int, batch_size: int = 256) -> torch.Tensor:
        """Boolean [N]: the `view` classifier places each uint8 image [N, C, H, W] in `domain` (0 = A, 1 = B)."""
        classifier = self.classifiers[view].eval()
        return torch.cat(
            [
                classifier(images[start : start + batch_size]).argmax(1) == domain
                for start in range(0, len(images), batch_size)
            ]
        )

    def share(self, images: torch.Tensor, domain: int) -> float:
        """Share of uint8 images [N, C, H, W] that every voting view places in `domain` (0 = A, 1 = B)."""
        agreed = torch.stack([self.votes(images, view, domain) for view in self.voting]).all(0)
        return float(agreed.float().mean())

    def view_shares(self, images: torch.Tensor, domain: int) -> dict[str, float]:
        """{view: share of images it places in `domain`}, to see which look a translation misses."""
        return {view: float(self.votes(images, view, domain).float().mean()) for view in self.classifiers}


def perturb(images: torch.Tensor) -> torch.Tensor:
    """Training views of uint8 images [N, C, H, W], alike for both domains: random horizontal flips, a random gain
    per channel (a tint of up to TINT) and Gaussian noise of random strength up to NOISE levels, so that neither
    view can separate the domains by a faint tint or by speckle alone."""
    count, channels = images.shape[:2]
    flipped = torch.where((torch.rand(count) < 0.5).view(-1, 1, 1, 1), images.flip(-1), images).float()
    gain = 1 + TINT * (2 * torch.rand(count, channels, 1, 1) - 1)
    noise = torch.randn(flipped.shape) * NOISE * torch.rand(count, 1, 1, 1)
    return (flipped * gain + noise).round().clamp(0, 255).to(torch.uint8)


def _train_view(view: str, train_a: torch.Tensor, train_b: torch.Tensor, steps: int) -> DomainClassifier:
    """One view's classifier on balanced batches (half A, half B) of perturbed images."""
    classifier = DomainClassifier(view)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=LR)
    half = BATCH // 2
    labels = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    for _ in range(steps):
        images = torch.cat(
            [train_a[torch.randint(len(train_a), (half,))], train_b[torch.randint(len(train_b), (half,))]]
        )
        loss = F.cross_entropy(classifier(perturb(images)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return classifier.eval().requires_grad_(False)


def train_domain_judge(
    train_a: torch.Tensor,
    train_b: torch.Tensor,
    test_a: torch.Tensor | None = None,
    test_b: torch.Tensor | None = None,
    steps: int = STEPS,
    seed: int = 0,
) -> DomainJudge:
    """Train the colour and texture views on real uint8 images of domain A and B ([N, C, H, W], same C and size);
    score each on `test_a`/`test_b` when given. Deterministic for `seed`; the global random state is left as it was."""
    if train_a.shape[1:] != train_b.shape[1:]:
        raise ValueError(f"domains of different image shapes: {tuple(train_a.shape[1:])} vs {tuple(train_b.shape[1:])}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = DomainJudge({view: _train_view(view, train_a, train_b, steps) for view in VIEWS}, dict.fromkeys(VIEWS))
    if test_a is not None and test_b is not None:
        for view in VIEWS:
            right = judge.votes(test_a, view, 0).sum() + judge.votes(test_b, view, 1).sum()
            judge.held_out_accuracy[view] = float(right) / (len(test_a) + len(test_b))
    return judge
