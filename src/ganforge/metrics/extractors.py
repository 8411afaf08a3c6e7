"""Feature extractors for image metrics: a registry of networks mapping uint8 images to features (and logits).

Built in: `inception` (the standard FID InceptionV3, see inception.py), `dinov2`, `dinov2-vitb14` and
`dinov2-vitl14` (DINOv2 ViTs, see dinov2.py) and `digits` (a small classifier trained on the built-in digits, see
digits_classifier.py). Users add their own with `register_extractor`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..registry import Registry


class FeatureExtractor(nn.Module):
    """Base: `forward(uint8 [N, C, H, W])` -> (features [N, dim] float32, logits [N, K] float32 or None).

    Subclasses set `dim` (feature length), `description` (which weights are in use, for reports), `has_logits`,
    `input_channels` (channel counts they read), `memorization_threshold` (the cosine distance under which a
    generated image counts as a copy, calibrated for these features; None: not calibrated, so memorisation and
    MiFID are refused), optionally `family` (e.g. "dinov2", for metrics defined on one network's features),
    `manifold_k` (the k of precision/recall and density/coverage that the features' reference protocol uses; None:
    each metric's paper default) and `weights_sha256` (recorded with results), and implement `extract`, which
    receives the uint8 images on the extractor's device.
    Metrics check these declarations before any image is generated or read.
    """

    dim: int = 0
    description: str = ""
    has_logits: bool = False
    input_channels: tuple[int, ...] = (1, 3)
    memorization_threshold: float | None = None
    family: str = ""
    manifold_k: int | None = None
    weights_sha256: str | None = None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        channels = "|".join(map(str, self.input_channels))
        assert images.ndim == 4 and images.dtype == torch.uint8 and images.shape[1] in self.input_channels, (
            f"expected uint8 [N, {channels}, H, W], got {images.dtype} {tuple(images.shape)}"
        )
        features, logits = self.extract(images)
        assert features.shape == (images.shape[0], self.dim), features.shape
        return features.float(), None if logits is None else logits.float()

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


class ModuleExtractor(FeatureExtractor):
    """Wraps any user nn.Module that maps float images in [-1, 1] [N, C, H, W] to features [N, dim]."""

    def __init__(
        self,
        module: nn.Module,
        dim: int,
        description: str = "user extractor",
        memorization_threshold: float | None = None,
    ):
        super().__init__()
        self.module, self.dim, self.description = module.eval(), dim, description
        self.memorization_threshold = memorization_threshold

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.module(images.float() / 127.5 - 1.0).flatten(1), None


# name -> factory(device) -> FeatureExtractor
EXTRACTORS: Registry[Callable[[torch.device], FeatureExtractor]] = Registry("feature extractor")


def register_extractor(
    name: str, module: nn.Module, dim: int, description: str = "", memorization_threshold: float | None = None
) -> None:
    """Make a user network available to every metric under `name` (e.g. --extractor NAME from Python).

    memorization_threshold: cosine distance under which a generated image counts as a copy of a real one, calibrated
    for this network's features (e.g. a low quantile of held-out real-to-train nearest distances); without it
    memorisation and MiFID are not computed with this extractor."""
    EXTRACTORS.register(name)(
        lambda device: ModuleExtractor(module, dim, description or name, memorization_threshold).to(device)
    )


def build_extractor(name: str, device: torch.device | str = "cpu") -> FeatureExtractor:
    return EXTRACTORS.get(name)(torch.device(device)).eval().requires_grad_(False)
