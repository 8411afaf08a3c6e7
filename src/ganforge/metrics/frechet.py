"""Fréchet Inception Distance (Heusel et al. 2017) and Kernel Inception Distance (Bińkowski et al. 2018) on features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class GaussianStats:
    mean: np.ndarray  # [D] float64
    cov: np.ndarray  # [D, D] float64
    count: int  # number of feature vectors

    @staticmethod
    def of(features: torch.Tensor | np.ndarray) -> GaussianStats:
        """Mean and unbiased covariance of features [N, D], accumulated in float64."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need features [N >= 2, D], got shape {x.shape}")
        return GaussianStats(x.mean(0), np.cov(x, rowvar=False), len(x))


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is the sum of square roots of the eigenvalues of sqrt(S_a) S_b sqrt(S_a), a symmetric
    PSD matrix, so it is computed with symmetric eigendecompositions (stable where sqrtm of a product is not).
    """
    diff = a.mean - b.mean
    values, vectors = np.linalg.eigh(a.cov)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = np.linalg.eigvalsh(root_a @ b.cov @ root_a)
    trace_sqrt = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(max(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt, 0.0))


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3, averaged over random subsets.

    Returns (mean, std) over subsets; subsets are drawn without replacement within each subset.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 real and 2 generated images")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3)
        off_diagonal = size * (size - 1)
        mmd = (
            (k_xx.sum() - np.trace(k_xx)) / off_diagonal
            + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
            - 2 * k_xy.mean()
        )
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))
