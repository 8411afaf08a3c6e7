"""Memorisation checks: nearest real neighbour of every generated image, and MiFID as the Kaggle Generative Dog
Images competition defined it (FID divided by the thresholded mean minimum cosine distance).

The threshold belongs to the features: the competition's 0.1 was set for Inception pool3 features; each extractor
declares its own (`FeatureExtractor.memorization_threshold`; the digits classifier's is calibrated from held-out
real digits, see scripts/train_digits_classifier.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..imaging import make_grid, save_png

COSINE_EPS = 0.1  # the competition's memorisation threshold on the mean minimum cosine distance (Inception)
CHUNK = 2048


@dataclass(frozen=True)
class Neighbours:
    index: torch.Tensor  # [M] index of the nearest real feature for each generated one
    cosine_distance: torch.Tensor  # [M] 1 - |cos| to that neighbour (the competition's distance)


def nearest_real(fake: torch.Tensor, real: torch.Tensor) -> Neighbours:
    """Nearest real feature by cosine distance 1 - |cos(f, r)| for every generated feature (all-zero rows skipped
    by giving them distance 1, as the competition dropped them)."""
    fake_unit = torch.nn.functional.normalize(fake.double(), dim=1)
    real_unit = torch.nn.functional.normalize(real.double(), dim=1)
    indices, distances = [], []
    for start in range(0, len(fake_unit), CHUNK):
        distance = 1.0 - (fake_unit[start : start + CHUNK] @ real_unit.T).abs()
        best = distance.min(dim=1)
        indices.append(best.indices)
        distances.append(best.values)
    distance = torch.cat(distances)
    distance[fake.abs().sum(1) == 0] = 1.0
    return Neighbours(torch.cat(indices), distance)


def memorization_distance(neighbours: Neighbours) -> float:
    """Mean over generated images of the minimum cosine distance to any real image."""
    return float(neighbours.cosine_distance.mean())


def mifid(fid: float, distance: float, eps: float = COSINE_EPS) -> float:
    """FID / d_thr with d_thr = d if d < eps else 1: memorised sets (small d) are penalised."""
    thresholded = distance if distance < eps else 1.0
    return fid / (thresholded + 1e-15)


def memorization_report(
    neighbours: Neighbours,
    threshold: float = COSINE_EPS,
    png: Path | None = None,
    fake_image: Callable[[int], torch.Tensor] | None = None,
    real_image: Callable[[int], torch.Tensor] | None = None,
    pairs: int = 16,
) -> dict:
    """Distance quantiles, the share under `threshold`, the closest pairs, and optionally a PNG of them.

    fake_image(i) / real_image(j): uint8 [C, H, W] of generated image i / the real image behind real feature j.
    """
    distance = neighbours.cosine_distance
    quantiles = torch.quantile(distance, torch.tensor([0.0, 0.01, 0.05, 0.5], dtype=distance.dtype))
    closest = torch.argsort(distance)[:pairs].tolist()
    report = {
        "mean_min_cosine_distance": float(distance.mean()),
        "min": float(quantiles[0]),
        "p01": float(quantiles[1]),
        "p05": float(quantiles[2]),
        "median": float(quantiles[3]),
        "threshold": threshold,
        "share_below_threshold": float((distance < threshold).double().mean()),
        "closest": [
            {"generated": i, "real": int(neighbours.index[i]), "distance": round(float(distance[i]), 6)}
            for i in closest
        ],
    }
    if png is not None and fake_image is not None and real_image is not None:
        tiles = [tile for i in closest for tile in (fake_image(i), real_image(int(neighbours.index[i])))]
        channels = max(t.shape[0] for t in tiles)
        tiles = torch.stack([t.expand(channels, -1, -1) for t in tiles])  # grayscale beside colour
        save_png(make_grid(tiles, columns=2 * min(4, len(closest))), png)
        report["closest_pairs_png"] = str(png)
    return report
