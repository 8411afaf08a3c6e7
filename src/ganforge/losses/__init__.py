"""GAN objectives (non-saturating, hinge, WGAN-GP, least squares) and the R1 / gradient penalties."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (real logits [N], fake logits [N]) -> scalar
    g_loss: Callable[[Tensor], Tensor]  # fake logits [N] -> scalar
    gradient_penalty: bool = False  # add the WGAN-GP penalty on interpolates to the D loss


LOSSES: Registry[GANLoss] = Registry("loss")

# Non-saturating loss of Goodfellow et al. 2014, as binary cross-entropy on logits.
LOSSES.register("bce")(GANLoss(
    d_loss=lambda real, fake: F.softplus(-real).mean() + F.softplus(fake).mean(),
    g_loss=lambda fake: F.softplus(-fake).mean(),
))
# Hinge loss (Lim & Ye 2017; Miyato et al. 2018).
LOSSES.register("hinge")(GANLoss(
    d_loss=lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
    g_loss=lambda fake: -fake.mean(),
))
# Wasserstein loss with gradient penalty (Gulrajani et al. 2017).
LOSSES.register("wgan-gp")(GANLoss(
    d_loss=lambda real, fake: fake.mean() - real.mean(),
    g_loss=lambda fake: -fake.mean(),
    gradient_penalty=True,
))
# Least-squares GAN (Mao et al. 2017), targets a=0 (fake), b=1 (real), c=1 (G).
LOSSES.register("lsgan")(GANLoss(
    d_loss=lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean(),
    g_loss=lambda fake: 0.5 * ((fake - 1) ** 2).mean(),
))


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """E[||grad_x D(x)||^2] on reals (Mescheder et al. 2018); `real_images` must require grad. Weight by gamma/2."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """E[(||grad D(x_hat)|| - 1)^2] at random interpolates of real and fake (Gulrajani et al. 2017)."""
    mix = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    interpolates = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()
