"""GAN objectives (non-saturating, hinge, WGAN-GP, least squares, relativistic pairing), the zero-centred R1 / R2
and WGAN-GP gradient penalties, and the schedule of the penalties' weight gamma."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (real logits [N], fake logits [N]) -> scalar
    g_loss: Callable[..., Tensor]  # fake logits [N] (and, when relativistic, real logits [N]) -> scalar
    gradient_penalty: bool = False  # add the WGAN-GP penalty on interpolates to the D loss
    relativistic: bool = False  # the losses compare real and fake logits pair by pair; g_loss also needs D(real)


LOSSES: Registry[GANLoss] = Registry("loss")

# Non-saturating loss of Goodfellow et al. 2014, as binary cross-entropy on logits.
LOSSES.register("bce")(
    GANLoss(
        d_loss=lambda real, fake: F.softplus(-real).mean() + F.softplus(fake).mean(),
        g_loss=lambda fake: F.softplus(-fake).mean(),
    )
)
# Hinge loss (Lim & Ye 2017; Miyato et al. 2018).
LOSSES.register("hinge")(
    GANLoss(
        d_loss=lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        g_loss=lambda fake: -fake.mean(),
    )
)
# Wasserstein loss with gradient penalty (Gulrajani et al. 2017).
LOSSES.register("wgan-gp")(
    GANLoss(
        d_loss=lambda real, fake: fake.mean() - real.mean(),
        g_loss=lambda fake: -fake.mean(),
        gradient_penalty=True,
    )
)
# Least-squares GAN (Mao et al. 2017), targets a=0 (fake), b=1 (real), c=1 (G).
LOSSES.register("lsgan")(
    GANLoss(
        d_loss=lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean(),
        g_loss=lambda fake: 0.5 * ((fake - 1) ** 2).mean(),
    )
)

# Relativistic pairing GAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024): D pushes each real logit above the
# fake logit it is paired with, G the other way round: softplus(-(D(x) - D(G(z)))) and softplus(-(D(G(z)) - D(x))).
LOSSES.register("rpgan")(
    GANLoss(
        d_loss=lambda real, fake: F.softplus(fake - real).mean(),
        g_loss=lambda fake, real: F.softplus(real - fake).mean(),
        relativistic=True,
    )
)


def schedule_factor(schedule: str, kimg: float, decay_kimg: float, final_ratio: float) -> float:
    """Factor at `kimg` of a scheduled hyperparameter (--r1-gamma / --r2-gamma, --lr, Adam's beta2): 1 throughout
    ("constant"), or ("cosine", R3GAN's configs) a half-cosine from 1 down to `final_ratio` over `decay_kimg`, then
    held there."""
    if schedule == "constant" or decay_kimg <= 0:
        return 1.0
    progress = min(1.0, max(0.0, kimg / decay_kimg))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def r1_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """E[||grad_x D(x)||^2], zero-centred, at the images D judged: R1 on reals (Mescheder et al. 2018), R2 on fakes
    (R3GAN); `images` must require grad. Weight by gamma/2."""
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """E[(||grad D(x_hat)|| - 1)^2] at random interpolates of real and fake (Gulrajani et al. 2017)."""
    mix = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    interpolates = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()
