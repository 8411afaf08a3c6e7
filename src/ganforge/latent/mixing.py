"""Style mixing (Karras et al. 2019, Fig. 3): images whose coarse styles (the first `crossover` ws: pose, shape)
come from one seed and whose fine styles (the rest: colours, texture) from another, laid out as a grid.

Row 0 holds the column seeds' own images, column 0 the row seeds' own images, the corner is blank, and cell
(r, c) mixes row seed r (coarse) with column seed c (fine). Only style-based generators (map + synthesis) can mix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..artifacts.generator import LoadedGenerator
from ..errors import ConfigError
from ..imaging import to_uint8
from .interpolate import single_class

COARSE_RESOLUTION = 16  # by default the row seed styles the layers up to 16x16


def default_crossover(num_ws: int) -> int:
    """The ws of the layers up to 16x16 (2 * log2(16) - 2 = 6), but at most half of them for small generators."""
    return max(1, min(2 * int(math.log2(COARSE_RESOLUTION)) - 2, num_ws // 2))


def mix_styles(row_ws: torch.Tensor, col_ws: torch.Tensor, crossover: int) -> torch.Tensor:
    """row_ws [R, num_ws, w_dim], col_ws [C, num_ws, w_dim] -> [R, C, num_ws, w_dim]: cell (r, c) has the first
    `crossover` ws of row r and the rest of column c."""
    mixed = col_ws[None].repeat(len(row_ws), 1, 1, 1)
    mixed[:, :, :crossover] = row_ws[:, None, :crossover]
    return mixed


def style_mixing_grid(
    generator: LoadedGenerator,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    crossover: int | None = None,
    truncation: float = 1.0,
    class_index: int | str | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """uint8 tiles [(R + 1) * (C + 1), C, H, W] in row-major order: grid them with `len(col_seeds) + 1` columns."""
    if not generator.has_styles:
        raise ConfigError(
            f"style mixing needs a style-based generator (StyleGAN2: map + synthesis), and "
            f"{generator.source} is a {generator.model.name} generator that maps z straight to images; "
            f"walk its latent space with `ganforge interpolate` instead"
        )
    for flag, seeds in (("--rows", row_seeds), ("--cols", col_seeds)):
        if not seeds:
            raise ConfigError(f"{flag}: give at least one seed")
    num_ws = generator.module.num_ws
    crossover = default_crossover(num_ws) if crossover is None else crossover
    if not 1 <= crossover < num_ws:
        raise ConfigError(f"--crossover {crossover}: must be in 1..{num_ws - 1} (this generator has {num_ws} ws)")
    seeds = [*row_seeds, *col_seeds]
    ws = generator.styles(
        generator.latents(seeds), single_class(generator, len(seeds), class_index), truncation, batch_size
    )  # [R + C, num_ws, w_dim]
    rows = len(row_seeds)
    own = to_uint8(generator.synthesize_styles(ws, batch_size))  # [R + C, C, H, W]
    mixed = to_uint8(
        generator.synthesize_styles(mix_styles(ws[:rows], ws[rows:], crossover).flatten(0, 1), batch_size)
    )  # [R * C, C, H, W]
    grid = torch.full((rows + 1, len(col_seeds) + 1, *own.shape[1:]), 255, dtype=torch.uint8)  # blank corner
    grid[0, 1:] = own[rows:]
    grid[1:, 0] = own[:rows]
    grid[1:, 1:] = mixed.unflatten(0, (rows, len(col_seeds)))
    return grid.flatten(0, 1)
