"""Latent walks: linear and spherical interpolation (slerp, Shoemake 1985; for GAN latents White 2016), the
latents of a walk that visits seeds in order and loops back to the first, and its rendered frames.

Noise-only generators (DCGAN) are walked in z with slerp: z ~ N(0, I) lies near a sphere of radius sqrt(z_dim), and
a straight line between two samples passes through improbable, too-short vectors. Style-based generators are walked
in w with lerp, since w is not Gaussian and is the space in which they are smooth (Karras et al. 2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..artifacts.generator import LoadedGenerator
from ..errors import ConfigError
from ..imaging import make_grid, save_gif, save_png, to_uint8

WALK_FORMATS = (".gif", ".png")  # an animation, or a grid of the frames


def _column(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t [N] -> [N, 1, ..., 1], broadcastable against `like` [N, ...]."""
    return t.reshape(-1, *[1] * (like.ndim - 1))


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a + t (b - a) row by row: a, b [N, ...], t [N] -> [N, ...]; exactly a at t = 0 and b at t = 1."""
    return torch.lerp(a, b, _column(t.to(a.dtype), a))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Along the great arc from a to b, row by row: a, b [N, D], t [N] -> [N, D].

    Vectors of equal norm keep it all the way; (nearly) parallel pairs fall back to lerp. Computed in float64, so
    float32 inputs come back exactly at t = 0 and t = 1.
    """
    a64, b64, t64 = a.double(), b.double(), t.double()
    cos = (a64 * b64).sum(1) / (a64.norm(dim=1) * b64.norm(dim=1)).clamp_min(eps)
    omega = cos.clamp(-1, 1).acos()  # [N] angle between a and b
    sin_omega = omega.sin()
    arc = (((1 - t64) * omega).sin() / sin_omega)[:, None] * a64 + ((t64 * omega).sin() / sin_omega)[:, None] * b64
    return torch.where((sin_omega < eps)[:, None], lerp(a64, b64, t64), arc).to(a.dtype)


def walk(keys: torch.Tensor, frames: int, spherical: bool) -> torch.Tensor:
    """keys [K, ...] -> [frames, ...] evenly along the closed loop key 0 -> 1 -> ... -> K-1 -> 0.

    Frame f sits f * K / frames keys along, so frame 0 is key 0, and key k is frame k * frames / K exactly when
    frames is a multiple of K; the frame after the last would be key 0 again, so the loop repeats seamlessly.
    """
    position = torch.arange(frames, dtype=torch.float64) * len(keys) / frames  # [F] in [0, K)
    start = position.floor().long()
    t = position - start  # [F] in [0, 1)
    a, b = keys[start], keys[(start + 1) % len(keys)]
    return slerp(a, b, t) if spherical else lerp(a, b, t)


def single_class(generator: LoadedGenerator, count: int, class_index: int | str | None) -> torch.Tensor | None:
    """Labels [count] of one class (a name or an index; class 0 unless given) for conditional generators; None
    otherwise."""
    if class_index is None and generator.num_classes:
        class_index = 0
    return generator.labels_for(count, class_index)


def interpolation_frames(
    generator: LoadedGenerator,
    seeds: Sequence[int],
    frames: int,
    truncation: float = 1.0,
    class_index: int | str | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """uint8 frames [frames, C, H, W] of a looping walk through the images of `seeds`: in z (slerp) for noise-only
    generators, in w (lerp) for style-based ones; frame 0 is the image `generate` gives for seeds[0]."""
    if len(seeds) < 2:
        raise ConfigError(f"--seeds: give at least two seeds to walk between (got {list(seeds)})")
    if frames < 2:
        raise ConfigError(f"--frames {frames}: a walk needs at least 2 frames")
    z = generator.latents(seeds)  # [K, z_dim]
    starts = range(0, frames, batch_size)
    if generator.has_styles:
        ws = generator.styles(z, single_class(generator, len(seeds), class_index), truncation, batch_size)
        path = walk(ws, frames, spherical=False)  # [F, num_ws, w_dim]
        chunks = (generator.synthesize_styles(path[s : s + batch_size], batch_size) for s in starts)
    else:
        path = walk(z, frames, spherical=True)  # [F, z_dim]
        labels = single_class(generator, frames, class_index)  # [F] or None
        chunks = (
            generator.synthesize(
                path[s : s + batch_size], None if labels is None else labels[s : s + batch_size], batch_size, truncation
            )
            for s in starts
        )
    return torch.cat([to_uint8(chunk) for chunk in chunks])  # [F, C, H, W], one batch of floats at a time


def walk_format(path: str | Path) -> str:
    """'.gif' or '.png' from the output file's name; anything else is an error naming --out."""
    suffix = Path(path).suffix.lower()
    if suffix not in WALK_FORMATS:
        raise ConfigError(f"--out {path}: end the name in .gif (an animation) or .png (a grid of the frames)")
    return suffix


def save_walk(frames: torch.Tensor, path: str | Path, fps: float = 20) -> Path:
    """uint8 frames [F, C, H, W] -> a looping GIF at `fps`, or for a .png name one grid of all frames (atomic)."""
    if walk_format(path) == ".png":
        return save_png(make_grid(frames), path)
    return save_gif(list(frames.permute(0, 2, 3, 1).numpy()), path, fps)
