"""Projection (GAN inversion): find the latent whose image matches a photo, by optimisation as in NVlabs' StyleGAN2
projector (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Sec. 5; their
stylegan2-ada-pytorch `projector.py`), for z (DCGAN, or StyleGAN2 through its mapping), w and w+ (one w per layer,
Abdal et al. 2019, "Image2StyleGAN").

The latent starts at the mean latent (w: the mean of mapped samples; z: 0), or with `init_samples` K > 0 at the
best (lowest loss) of K sampled latents, a search that avoids some poor local minima of small models; it is then
optimised with Adam, the learning
rate ramped up over the first 5% of steps and down (cosine) over the last 25%; during the first 75% of steps Gaussian
noise of a shrinking scale (5% of the latents' spread, falling quadratically to 0) is added to it, to explore. The
StyleGAN2 per-pixel noise inputs are NOT optimised: they stay the model's constant noise, so a projection is the
latent alone and edits of it need nothing else (NVlabs optimise the noise maps too, with a regulariser).

Losses (`loss`):
  lpips       LPIPS (Zhang et al. 2018, AlexNet v0.1; metrics/lpips.py) on the images scaled up to >= 64 px, RGB;
              needs its weights (see metrics/lpips.py; downloaded with a checksum when asked for by name).
  pixel-ssim  the offline fallback, built from nothing but the images: mean squared error on a 3-level image
              pyramid (full, 1/2 and 1/4 size, down to 8 px) plus 1 - SSIM (Wang et al. 2004) at full size.
  auto        lpips when its weights are already on this machine (no download), else pixel-ssim.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..artifacts.generator import LoadedGenerator
from ..data.images import ImageDecodeError, open_image, resize_center_crop, to_array
from ..download import cache_dir
from ..errors import ConfigError, DataError
from ..imaging import labelled_row, save_gif, save_png, to_float, to_uint8
from ..metrics import lpips as lpips_module
from ..metrics.pixel import SSIM_RADIUS, psnr, ssim, ssim_per_image
from .spaces import (
    as_generator,
    check_space,
    identity,
    latent_shape,
    mean_latent,
    read_npz,
    render,
    sampled_vectors,
    vector_space,
    write_npz,
)

DEFAULT_STEPS = 500
INITIAL_LR = 0.1  # NVlabs' projector
LR_RAMPUP, LR_RAMPDOWN = 0.05, 0.25  # fractions of the steps
NOISE_FACTOR, NOISE_RAMP = 0.05, 0.75  # exploration noise: 5% of the spread, gone after 75% of the steps
LOSSES = ("auto", "lpips", "pixel-ssim")
LPIPS_SIDE = 64  # images are scaled up to at least this for LPIPS (AlexNet needs >= 31 px)
PYRAMID_LEVELS, PYRAMID_MIN_SIDE = 3, 8
PROGRESS_CALLS = 50  # the callback is called about this many times per projection

Callback = Callable[[int, int, torch.Tensor], None]  # (step, total, uint8 images) -> None
ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor


@dataclass
class Projection:
    """One projected photo: the latent found and how well its image matches."""

    latent: torch.Tensor  # cpu float32: [1, z_dim] for "z", [1, w_dim] for "w", [1, num_ws, w_dim] for "w+"
    space: str  # "z" | "w" | "w+"
    image: torch.Tensor  # uint8 [C, H, W] the latent's image at the model's size
    target: torch.Tensor  # uint8 [C, H, W] the photo fitted to the model's size and channels
    scores: dict  # {"psnr": dB, "ssim": ..., "lpips": ... (only where its weights exist)}
    loss: str  # the loss optimised: "lpips" or "pixel-ssim"
    model: dict = field(default_factory=dict)  # identity of the model (spaces.identity), written to latent files


def fit_image(image: ImageInput, generator: LoadedGenerator, name: str = "") -> torch.Tensor:
    """A path, PIL image, uint8 numpy [H, W] / [H, W, C] or uint8 tensor [C, H, W] -> uint8 [C, R, R] with the
    model's channels and resolution (shorter side scaled, centre cut)."""
    channels, resolution = generator.dataset.channels, generator.dataset.resolution
    if isinstance(image, (str, Path)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: no such image file")
        try:
            image = open_image(path, str(path))
        except ImageDecodeError as error:
            raise DataError(error.detail) from None
    elif isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.ndim != 3:
            raise DataError(
                f"{name or 'image'}: expected a uint8 tensor [C, H, W], got {image.dtype} {tuple(image.shape)}"
            )
        image = image.permute(1, 2, 0).cpu().numpy()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise DataError(
                f"{name or 'image'}: expected uint8 [H, W] or [H, W, 1|3|4], got {image.dtype} {image.shape}"
            )
        image = Image.fromarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    if not isinstance(image, Image.Image):
        raise DataError(
            f"{name or 'image'}: expected an image file, PIL image or uint8 array, got {type(image).__name__}"
        )
    array = resize_center_crop(to_array(image, channels), resolution)  # [R, R, C]
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def lr_schedule(t: float) -> float:
    """Learning-rate factor at fraction t of the steps: linear ramp-up, flat, cosine ramp-down (NVlabs)."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    return (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / LR_RAMPUP)


def offline_lpips(device: torch.device) -> lpips_module.LPIPS | None:
    """LPIPS if both weight files are already on this machine (never downloads), else None."""
    trunk = os.environ.get(lpips_module.TRUNK_ENV) or cache_dir("lpips") / lpips_module.ALEXNET_FILE
    if not Path(trunk).is_file():
        return None
    try:
        return lpips_module.load_lpips(trunk=trunk, device=device)
    except DataError:
        return None


def pixel_ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """float images x, y [N, C, H, W] in [-1, 1] -> [N]: MSE summed over an image pyramid, plus 1 - SSIM."""
    loss = x.new_zeros(len(x))
    for level in range(PYRAMID_LEVELS):
        if level and x.shape[-1] // 2 < PYRAMID_MIN_SIDE:
            break
        if level:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        elif min(x.shape[-2:]) >= 2 * SSIM_RADIUS + 1:
            loss = loss + 1 - ssim_per_image(x, y, data_range=2.0)
        loss = loss + (x - y).square().mean((1, 2, 3))
    return loss


def lpips_loss(net: lpips_module.LPIPS) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """float images [N, C, H, W] in [-1, 1] -> LPIPS [N] (grey repeated to RGB, small images scaled up)."""
        x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        if x.shape[-1] < LPIPS_SIDE:
            x, y = (
                F.interpolate(v, size=(LPIPS_SIDE, LPIPS_SIDE), mode="bilinear", align_corners=False) for v in (x, y)
            )
        return net(x.to(net.shift.device), y.to(net.shift.device)).cpu()

    return loss


def choose_loss(name: str, device: torch.device) -> tuple[str, Callable, lpips_module.LPIPS | None]:
    """(the loss used, loss(x, y) -> [N], an LPIPS network for scores or None)."""
    if name not in LOSSES:
        raise ConfigError(f"--loss {name}: choose one of {', '.join(LOSSES)}")
    net = lpips_module.load_lpips(device=device) if name == "lpips" else offline_lpips(device)
    if name == "pixel-ssim" or net is None:
        return "pixel-ssim", pixel_ssim_loss, net
    return "lpips", lpips_loss(net), net


def image_scores(images: torch.Tensor, targets: torch.Tensor, net: lpips_module.LPIPS | None) -> list[dict]:
    """uint8 [N, C, H, W] reconstructions vs targets -> per image {"psnr", "ssim" (sides >= 11), "lpips" (with a
    net; small images scaled up as for the loss)}."""
    scores = []
    for image, target in zip(images, targets):
        pair = image[None], target[None]
        entry = {"psnr": psnr(*pair)}
        if min(image.shape[1:]) >= 2 * SSIM_RADIUS + 1:
            entry["ssim"] = ssim(*pair)
        if net is not None:
            with torch.no_grad():
                entry["lpips"] = float(lpips_loss(net)(to_float(pair[0]), to_float(pair[1]))[0])
        scores.append(entry)
    return scores


def starting_latents(
    generator: LoadedGenerator, wanted: torch.Tensor, space: str, loss: Callable, init_samples: int
) -> tuple[torch.Tensor, float]:
    """(start [N, ...] for float targets [N, C, H, W], the latents' spread): the mean latent, or the lowest-loss of
    the first `init_samples` sampled latents for each target."""
    mean, spread = mean_latent(generator, space)  # [1, ...]
    if init_samples <= 0:
        return mean.repeat(len(wanted), *[1] * (mean.ndim - 1)), spread
    pool = sampled_vectors(generator, vector_space(space))[:init_samples]  # [P, D]
    with torch.no_grad():
        images = torch.cat(
            [render(generator, part, vector_space(space)).clamp(-1, 1) for part in pool.split(256)]
        )  # [P, C, H, W], as an image file would hold them
        best = torch.stack([loss(images, target[None].expand_as(images)).argmin() for target in wanted])  # [N]
    start = pool[best]  # [N, D]
    return (start[:, None].repeat(1, mean.shape[1], 1) if space == "w+" else start), spread


def optimise(
    generator: LoadedGenerator,
    targets: torch.Tensor,
    space: str,
    steps: int,
    loss: Callable,
    seed: int = 0,
    callback: Callback | None = None,
    init_samples: int = 0,
) -> torch.Tensor:
    """uint8 targets [N, C, H, W] -> their latents [N, ...] in `space`, optimised independently: Adam is per
    element, the loss a sum of per-image losses, and each image draws its exploration noise from its own generator
    seeded with `seed`, so a batch gives what one projection at a time would."""
    wanted = to_float(targets)  # [N, C, H, W] in [-1, 1]
    start, spread = starting_latents(generator, wanted, space, loss, init_samples)
    latent = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=INITIAL_LR, betas=(0.9, 0.999))
    noises = [torch.Generator().manual_seed(seed) for _ in range(len(latent))]  # one stream per image
    every = max(1, steps // PROGRESS_CALLS)
    for step in range(steps):
        t = step / steps
        for group in optimizer.param_groups:
            group["lr"] = INITIAL_LR * lr_schedule(t)
        scale = spread * NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        draws = torch.stack([torch.randn(latent.shape[1:], generator=noise) for noise in noises])  # [N, ...]
        images = render(generator, latent + draws * scale, space)
        optimizer.zero_grad(set_to_none=True)
        loss(images, wanted).sum().backward()
        optimizer.step()
        if callback is not None and ((step + 1) % every == 0 or step + 1 == steps):
            callback(step + 1, steps, to_uint8(images))
    return latent.detach()


def project_many(
    generator: LoadedGenerator | str | Path,
    images: Sequence[ImageInput],
    space: str | None = None,
    steps: int = DEFAULT_STEPS,
    loss: str = "auto",
    seed: int = 0,
    callback: Callback | None = None,
    init_samples: int = 0,
) -> list[Projection]:
    """Project several photos at once (one batch; each as if alone). callback(step, total, uint8 [N, C, H, W])."""
    generator = as_generator(generator)
    space = check_space(generator, space)
    if steps < 1:
        raise ConfigError(f"--steps {steps}: give at least 1 step")
    if not len(images):
        raise ConfigError("give at least one image to project")
    targets = torch.stack([fit_image(image, generator) for image in images])  # [N, C, R, R]
    used, objective, net = choose_loss(loss, generator.device)
    if init_samples < 0:
        raise ConfigError(f"--init-samples {init_samples}: give 0 (start at the mean latent) or more")
    latents = optimise(generator, targets, space, steps, objective, seed, callback, init_samples)
    with torch.no_grad():
        reconstructions = to_uint8(render(generator, latents, space))
    model = identity(generator)
    return [
        Projection(latent[None].contiguous(), space, image, target, scores, used, model)
        for latent, image, target, scores in zip(
            latents, reconstructions, targets, image_scores(reconstructions, targets, net)
        )
    ]


def project(
    generator: LoadedGenerator | str | Path,
    image: ImageInput,
    space: str | None = None,
    steps: int = DEFAULT_STEPS,
    loss: str = "auto",
    seed: int = 0,
    callback: Callback | None = None,
    init_samples: int = 0,
) -> Projection:
    """Project one photo (a path, PIL image or uint8 array of any size and mode) into `space` (default w for
    StyleGAN2, z for DCGAN). callback(step, total, uint8 [C, H, W]) sees the current image every few steps;
    init_samples K > 0 starts from the best of K sampled latents instead of the mean."""
    each = None if callback is None else (lambda step, total, images: callback(step, total, images[0]))
    return project_many(generator, [image], space, steps, loss, seed, each, init_samples)[0]


def side_by_side(target: torch.Tensor, image: torch.Tensor) -> np.ndarray:
    """uint8 [C, H, W] target and reconstruction -> one uint8 [H', W', C] picture: target | reconstruction, each
    labelled, small models' images enlarged (nearest neighbour) to a viewable size."""
    return labelled_row(torch.stack([target, image]), ["target", "projection"])


def save_projection(
    projection: Projection, out: str | Path, frames: Sequence[torch.Tensor] = (), fps: float = 20
) -> list[Path]:
    """Write out/proj.png (target | reconstruction), out/latent.npz, and with `frames` (uint8 [C, H, W] images
    during the optimisation) out/proj.gif."""
    out = Path(out)
    written = [
        save_png(side_by_side(projection.target, projection.image), out / "proj.png"),
        save_latent(out / "latent.npz", projection),
    ]
    if frames:
        pictures = [side_by_side(projection.target, frame) for frame in [*frames, projection.image]]
        written.append(save_gif(pictures, out / "proj.gif", fps))
    return written


def save_latent(
    path: str | Path,
    projection_or_latent: Projection | torch.Tensor,
    space: str | None = None,
    generator: LoadedGenerator | None = None,
) -> Path:
    """A latent and its space in an .npz file with the model's identity (so another model refuses it): give a
    Projection, or a latent tensor with its `space` and `generator`."""
    if isinstance(projection_or_latent, Projection):
        projection = projection_or_latent
        meta = {
            "kind": "latent",
            "space": projection.space,
            "model": projection.model,
            "scores": projection.scores,
            "loss": projection.loss,
        }
        latent = projection.latent
    else:
        if space is None or generator is None:
            raise ValueError("save_latent: a bare latent needs its space and generator")
        space = check_space(generator, space)
        latent = projection_or_latent.detach().cpu().float().reshape(latent_shape(generator, space))
        meta = {"kind": "latent", "space": space, "model": identity(generator)}
    return write_npz(path, {"latent": latent.detach().cpu().float().numpy()}, meta)


def load_latent(path: str | Path, generator: LoadedGenerator, flag: str = "--latent") -> tuple[torch.Tensor, str]:
    """(latent [1, ...], space) from a file `save_latent` wrote for this very model; errors name `flag`."""
    arrays, meta = read_npz(path, "latent", flag, generator)
    space = check_space(generator, meta.get("space"), flag=f"{flag} {path}: space")
    latent = torch.from_numpy(arrays.get("latent", np.zeros(0))).float()
    if tuple(latent.shape) != latent_shape(generator, space):
        raise DataError(
            f"{flag} {path}: latent of shape {tuple(latent.shape)}, but this model's {space} latents are "
            f"{latent_shape(generator, space)}"
        )
    if not torch.isfinite(latent).all():
        raise DataError(f"{flag} {path}: the latent holds NaN or infinite values")
    return latent, space
