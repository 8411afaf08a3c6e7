"""Differentiable augmentation applied to every image D sees, real and fake alike: DiffAugment (Zhao et al. 2020)
here, and adaptive discriminator augmentation (ADA, Karras et al. 2020) in .ada; `build_augment` picks by policy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .ada import AdaptiveAugment, AdaptivePipeline

Tensor = torch.Tensor
DIFFAUG = ("color", "translation", "cutout")
ADA = ("ada",)


def parse_policy(policy: str) -> tuple[str, ...]:
    """'none' -> (); 'diffaug' -> color, translation, cutout; 'ada' -> ('ada',) (adaptive, alone); or a comma list of
    the DiffAugment names."""
    policy = policy.strip().lower()
    if policy in ("", "none"):
        return ()
    if policy == "diffaug":
        return DIFFAUG
    if policy == "ada":
        return ADA
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in DIFFAUG]
    if unknown:
        raise ValueError(
            f"unknown augmentation {unknown[0]!r}; use none, diffaug, ada, or a comma list of {', '.join(DIFFAUG)}"
        )
    return names


def color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    saturation = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2  # drawn for any C: same draws per N
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * saturation + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by a random whole number of pixels, up to `ratio` of its size, filling with zeros."""
    n, _, h, w = x.shape
    pad_y, pad_x = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    shift_y = torch.randint(-pad_y, pad_y + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-pad_x, pad_x + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + shift_y + pad_y).expand(n, h, w)
    cols = (torch.arange(w, device=x.device)[None, None, :] + shift_x + pad_x).expand(n, h, w)
    padded = F.pad(x, [pad_x, pad_x, pad_y, pad_y])
    batch = torch.arange(n, device=x.device)[:, None, None].expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # [N, C, H, W]


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one random square of `ratio` of the image size per image."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre_y = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    centre_x = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    top, left = centre_y - size_y // 2, centre_x - size_x // 2
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside)[:, None].to(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


class Augment:
    """Applies the policy's ops in order; stateless for DiffAugment, with a state dict for checkpoints."""

    def __init__(self, policy: str = "none"):
        names = parse_policy(policy)
        if names == ADA:
            raise ValueError("the 'ada' policy is adaptive: make it with build_augment")
        self.policy = policy
        self.ops = [OPS[name] for name in names]

    def __call__(self, images: Tensor) -> Tensor:
        for op in self.ops:
            images = op(images)
        return images

    def state_dict(self) -> dict:
        return {"policy": self.policy}

    def load_state_dict(self, state: dict) -> None:
        if state.get("policy") != self.policy:
            raise ValueError(f"augment policy {state.get('policy')!r} in the checkpoint, {self.policy!r} configured")


def build_augment(policy: str, ada_target: float = 0.6, ada_kimg: float = 500.0) -> Augment | AdaptiveAugment:
    """The augmenter for --augment: `Augment(policy)`, or for 'ada' an `AdaptiveAugment` controller at p = 0, which
    the loop must also feed: `observe(real_logits)` every D step and `adjust(images)` every `interval` D steps
    (see AdaptiveAugment). Both have __call__, `ops` and state_dict/load_state_dict."""
    if parse_policy(policy) == ADA:
        return AdaptiveAugment(target=ada_target, speed_kimg=ada_kimg)
    return Augment(policy)
