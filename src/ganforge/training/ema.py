"""Exponential moving average of generator weights, with the half-life in kimg (Karras et al. 2018/2020)."""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, images_seen: int, ema_kimg: float, rampup: float) -> float:
    """Decay per step so that weights halve their influence every `ema_kimg` thousand images (ramped up early)."""
    half_life = ema_kimg * 1000.0
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    if half_life <= 0:
        return 0.0
    return 0.5 ** (batch / half_life)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers (e.g. batch-norm statistics) are copied."""
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param, 1.0 - beta)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)
