"""CycleGAN (Zhu et al. 2017) measured: training img/s of ganforge's iteration vs a plain reference implementation
of the same networks and update (written here after the paper and the authors' code's update order) in the same
run, and the quality of a short CPU training run on the built-in `digits-stylized` demo:

- label survival: the fraction of held-out digits whose class (the `digits` classifier's reading) survives the
  translation, A -> B and B -> A, next to the classifier's accuracy on the untranslated images (the ceiling);
- FID (digits-classifier features, and InceptionV3 with --inception) of the translated images to the held-out
  target domain, vs the identity baseline (the untranslated inputs, channels matched);
- cycle reconstruction PSNR, A -> B -> A and B -> A -> B.

    python bench/cyclegan.py [--speed-only | --quality-only] [--resolution 64] [--batch 4] [--steps 2] [--rounds 3]
                             [--kimg 20] [--g-channels 32] [--d-channels 32] [--inception] [--threads N] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import images_per_second, interleaved  # noqa: E402


# ---- the plain reference: ResNet generators, 70x70 PatchGANs, history pools, one G step then one D step -------
class ReferenceResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.block(x)


def reference_generator(channels: int, ngf: int, blocks: int) -> nn.Module:
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x blocks, u2ngf, ungf, c7s1-channels, tanh."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for mult in (1, 2):
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
    layers += [ReferenceResnetBlock(ngf * 4) for _ in range(blocks)]
    for mult in (4, 2):
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                   nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def reference_patchgan(channels: int, ndf: int) -> nn.Module:
    """70x70 PatchGAN: C64-C128-C256-C512 (the last with stride 1), one logit per patch."""
    return nn.Sequential(
        nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.InstanceNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.InstanceNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.InstanceNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 1))


class ReferencePool:
    """Shrivastava et al.'s history: 50 old fakes; each new fake is returned, or swapped for an old one (p 0.5)."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images:
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) > 0.5:
                index = int(torch.randint(0, self.size, ()))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out)


def init_weights(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


def reference_step_fn(resolution: int, batch: int, ngf: int, ndf: int, blocks: int, channels: int = 3):
    """The authors' update: G_A, G_B forward; G step (LSGAN + 10 * cycle + 5 * identity) with D frozen; then the
    D step on reals vs pooled fakes, 0.5 * (MSE(real, 1) + MSE(fake, 0)) per D; one Adam for both Gs, one for both Ds."""
    G_A, G_B = (init_weights(reference_generator(channels, ngf, blocks)) for _ in range(2))
    D_A, D_B = (init_weights(reference_patchgan(channels, ndf)) for _ in range(2))
    opt_g = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ReferencePool(), ReferencePool()
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    a, b = (torch.rand(batch, channels, resolution, resolution) * 2 - 1 for _ in range(2))

    def gan(logits, target: float):
        return mse(logits, torch.full_like(logits, target))

    def step():
        fake_b, fake_a = G_A(a), G_B(b)
        rec_a, rec_b = G_B(fake_b), G_A(fake_a)
        for net in (D_A, D_B):
            net.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = (gan(D_A(fake_b), 1.0) + gan(D_B(fake_a), 1.0) + 10 * (l1(rec_a, a) + l1(rec_b, b))
                  + 5 * (l1(G_A(b), b) + l1(G_B(a), a)))
        loss_g.backward()
        opt_g.step()
        for net in (D_A, D_B):
            net.requires_grad_(True)
        opt_d.zero_grad()
        for net, real, fake in ((D_A, b, pool_b.query(fake_b.detach())), (D_B, a, pool_a.query(fake_a.detach()))):
            (0.5 * (gan(net(real), 1.0) + gan(net(fake), 0.0))).backward()
        opt_d.step()

    return step
