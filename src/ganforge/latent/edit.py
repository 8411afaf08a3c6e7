"""Edits along a latent direction: a strip of images at a range of strengths, optionally only in some StyleGAN2
layers (a ws range, as GANSpace, Haerkoenen et al. 2020, restricts its edits to get e.g. pose without colour).

Strength is measured in standard deviations of the model's sampled latents along the direction (for z: 1), so
"-3:3:7" spans the same share of the latent distribution for every direction, method and model; strength 0 is the
unedited image. StyleGAN2 latents of any space are edited in ws (z is mapped first); DCGAN's in z.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .. import limits
from ..artifacts.generator import LoadedGenerator
from ..errors import ConfigError
from ..imaging import to_uint8
from .directions import Directions, load_directions
from .project import DEFAULT_STEPS, Projection, load_latent, project
from .spaces import as_generator, check_space, default_space, direction_std, latent_shape, render, to_ws

MAX_STRENGTHS = 100


def parse_strengths(text: str) -> list[float]:
    """'-3:3:7' -> 7 evenly spaced values from -3 to 3; also a comma list '-2,0,2' or one value '3'."""
    text = str(text).strip()
    hint = "give START:STOP:COUNT like -3:3:7, a comma list like -2,0,2, or one number"
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            count = int(count)
            if not 1 <= count <= MAX_STRENGTHS:
                raise ConfigError(f"--strength {text}: COUNT must be 1..{MAX_STRENGTHS}")
            start, stop = _strength(start, text), _strength(stop, text)
            values = torch.linspace(start, stop, count, dtype=torch.float64).tolist() if count > 1 else [start]
        else:
            values = [_strength(part, text) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--strength {text}: {hint}") from None
    if not values or len(values) > MAX_STRENGTHS:
        raise ConfigError(f"--strength {text}: {hint} (at most {MAX_STRENGTHS} values)")
    return values


def _strength(part: str, text: str) -> float:
    """One strength of --strength `text`, within limits.EDIT_STRENGTH (ValueError when it is not a number)."""
    value = float(part)
    limits.check(value, limits.EDIT_STRENGTH, f"--strength {text}: each strength (in standard deviations)")
    return value


def parse_layers(text: str | None, generator: LoadedGenerator) -> list[int] | None:
    """'0-5' (inclusive) or '3' -> ws indices, each in 0..num_ws-1; None (all) when not given."""
    if text is None:
        return None
    if not generator.has_styles:
        raise ConfigError(f"--layers {text}: {generator.model.name} has no per-layer latents (only StyleGAN2 does)")
    num_ws = generator.module.num_ws
    first, _, last = str(text).strip().partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise ConfigError(f"--layers {text}: give a ws range like 0-5 (or one index), within 0..{num_ws - 1}")
    first, last = int(first), int(last or first)
    if not first <= last < num_ws:
        raise ConfigError(f"--layers {text}: out of range; this generator has ws 0..{num_ws - 1}")
    return list(range(first, last + 1))


def _check_layers(layers: Sequence[int] | None, generator: LoadedGenerator) -> list[int] | None:
    if layers is None:
        return None
    if not generator.has_styles:
        raise ConfigError(f"--layers: {generator.model.name} has no per-layer latents (only StyleGAN2 does)")
    layers = list(layers)
    num_ws = generator.module.num_ws
    if not layers or any(not 0 <= index < num_ws for index in layers):
        raise ConfigError(f"--layers {layers}: out of range; this generator has ws 0..{num_ws - 1}")
    return layers


def edited_latents(
    generator: LoadedGenerator,
    latent: torch.Tensor,
    space: str,
    direction: torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
) -> tuple[torch.Tensor, str]:
    """(latents [S, ...], their space): ws [S, num_ws, w_dim] ("w+") for StyleGAN2, z [S, z_dim] for DCGAN, the
    direction added at each strength (in standard deviations) to the chosen ws only."""
    space = check_space(generator, space, flag="latent space")
    layers = _check_layers(layers, generator)
    vector_space = default_space(generator)  # w for StyleGAN2, z for DCGAN
    dim = latent_shape(generator, vector_space)[-1]
    direction = torch.as_tensor(direction).detach().float().reshape(-1).cpu()
    if len(direction) != dim:
        raise ConfigError(
            f"--direction: a vector of {len(direction)} values, but this model's {vector_space} has {dim}"
        )
    direction = direction / direction.norm().clamp_min(1e-12)
    latent = latent.detach().float().cpu().reshape(latent_shape(generator, space))
    steps = torch.tensor([float(s) for s in strengths]) * direction_std(generator, direction, vector_space)  # [S]
    offsets = steps[:, None] * direction  # [S, D]
    if not generator.has_styles:
        return latent + offsets, "z"
    with torch.no_grad():
        ws = to_ws(generator, latent, space).repeat(len(steps), 1, 1)  # [S, num_ws, w_dim]
    chosen = torch.zeros(ws.shape[1], dtype=torch.bool)
    chosen[layers if layers is not None else slice(None)] = True
    return ws + offsets[:, None, :] * chosen[None, :, None], "w+"


def edit_strip(
    generator: LoadedGenerator,
    latent: torch.Tensor,
    space: str,
    direction: torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
) -> torch.Tensor:
    """uint8 images [S, C, H, W] of `latent` ([1, ...] in `space`) moved along `direction` ([D], a w direction for
    StyleGAN2, z for DCGAN) by each strength, in the ws `layers` only (StyleGAN2; default all)."""
    latents, edited_space = edited_latents(generator, latent, space, direction, strengths, layers)
    with torch.no_grad():
        return to_uint8(render(generator, latents, edited_space))


def resolve_direction(
    spec: str | torch.Tensor | tuple[Directions, str | int], generator: LoadedGenerator
) -> tuple[torch.Tensor, str]:
    """'dirs.npz:NAME_OR_INDEX' (index 0 when left out), (Directions, name) or a bare vector -> (vector, name)."""
    if isinstance(spec, torch.Tensor):
        return spec, "direction"
    if isinstance(spec, tuple):
        return spec[0].pick(spec[1])
    path, _, key = str(spec).rpartition(":") if ":" in str(spec) else (str(spec), "", "0")
    return load_directions(path, generator).pick(key or 0)


def resolve_latent(
    generator: LoadedGenerator,
    seed: int | None = None,
    latent: str | Path | Projection | None = None,
    image=None,
    steps: int = DEFAULT_STEPS,
) -> tuple[torch.Tensor, str]:
    """(latent [1, ...], space) from exactly one of a seed, a latent file or Projection, or a photo to project."""
    if sum(source is not None for source in (seed, latent, image)) != 1:
        raise ConfigError("give exactly one of --seed, --latent or --image")
    if seed is not None:
        return generator.latents([seed]), "z"
    if isinstance(latent, Projection):
        return latent.latent, latent.space
    if latent is not None:
        return load_latent(latent, generator)
    projection = project(generator, image, steps=steps)
    return projection.latent, projection.space


def edit(
    generator: LoadedGenerator | str | Path,
    direction,
    strengths: str | Sequence[float],
    seed: int | None = None,
    latent: str | Path | Projection | None = None,
    image=None,
    layers: str | Sequence[int] | None = None,
    steps: int = DEFAULT_STEPS,
) -> torch.Tensor:
    """The public edit: a strip uint8 [S, C, H, W] of one seed, latent file, Projection or photo (projected with
    `steps`), along a direction ('dirs.npz:NAME', (Directions, name) or a vector) at `strengths` ('-3:3:7' or a
    list), in the ws `layers` ('0-5' or a list; StyleGAN2 only)."""
    generator = as_generator(generator)
    strengths = parse_strengths(strengths) if isinstance(strengths, str) else list(strengths)
    layers = parse_layers(layers, generator) if isinstance(layers, str) else layers
    vector, _ = resolve_direction(direction, generator)
    start, space = resolve_latent(generator, seed, latent, image, steps)
    return edit_strip(generator, start, space, vector, strengths, layers)
