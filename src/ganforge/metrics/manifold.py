"""k-NN manifold metrics: improved precision/recall (Kynkäänniemi et al. 2019), density/coverage (Naeem et al. 2020)."""

from __future__ import annotations

import torch

from ..errors import ConfigError

CHUNK = 2048  # rows of the distance matrix computed at once (bounds memory)


def _pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _check_counts(real: torch.Tensor, fake: torch.Tensor, k: int) -> None:
    """ConfigError unless both sets have more than k points, so that every point has k other neighbours."""
    if min(len(real), len(fake)) <= k:
        raise ConfigError(
            f"needs more than k={k} images in each set for its nearest-neighbour balls, got "
            f"{len(real)} real and {len(fake)} generated"
        )


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point [N]."""
    radii = []
    for start in range(0, len(features), CHUNK):
        distances = _pairwise(features[start : start + CHUNK], features)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many balls B(centre_i, radius_i) contain it [M]."""
    counts = []
    for start in range(0, len(points), CHUNK):
        counts.append((_pairwise(points[start : start + CHUNK], centres) <= radii[None]).sum(1))
    return torch.cat(counts)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold; recall: share of reals inside the fake manifold."""
    _check_counts(real, fake, k)
    real, fake = real.double(), fake.double()
    precision = (_inside_counts(fake, real, knn_radii(real, k)) > 0).double().mean()
    recall = (_inside_counts(real, fake, knn_radii(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density: mean count of real k-NN balls holding each fake, over k; coverage: share of real balls holding a fake."""
    _check_counts(real, fake, k)
    real, fake = real.double(), fake.double()
    radii = knn_radii(real, k)
    density = _inside_counts(fake, real, radii).double().mean() / k
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), CHUNK):
        covered |= (_pairwise(fake[start : start + CHUNK], real) <= radii[None]).any(0)
    return float(density), float(covered.double().mean())
