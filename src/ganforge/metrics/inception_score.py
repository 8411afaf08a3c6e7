"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over splits of the generated set."""

from __future__ import annotations

import numpy as np
import torch


def inception_score(logits: torch.Tensor | np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the score over `splits` consecutive splits of classifier logits [N, K]."""
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    log_p = torch.log_softmax(logits, dim=1)
    splits = max(1, min(splits, len(logits)))
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_marginal = torch.logsumexp(part, dim=0) - np.log(len(part))  # log p(y) over the split
        kl = (part.exp() * (part - log_marginal)).sum(1).mean()
        scores.append(float(torch.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))
