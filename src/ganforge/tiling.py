"""Any-size inference for fixed-size image-to-image models (pix2pix, Isola et al. 2017): padding, tiling, blending.

A pix2pix U-Net trained at S x S accepts only S x S inputs (its bottleneck is 1 x 1). `translate_array` runs such a
model on an image of any H x W and returns exactly H x W:

- Each axis shorter than the tile is padded up to the tile, centred, by reflection (replication for a 1-pixel axis,
  which cannot be reflected); the padding is cropped off the result. An image no larger than the tile is one tile.
- An axis longer than the tile is covered by tiles every `tile - overlap` pixels, the last one flush with the border
  (so it may overlap its neighbour by more than `overlap`). Tiles go through the model in batches.
- Tiles are blended with a separable weight window: 1 in the tile, falling along a raised-cosine ramp
  (0.5 - 0.5 cos(pi (k + 0.5) / overlap), k = 0 .. overlap - 1) towards each edge that has a neighbouring tile; an
  edge on the image border keeps full weight. The weighted sum is divided by the weight sum. Where two ramps meet
  they add to exactly 1, and every tile's weight is nearly 0 where it ends inside the image, so a model that answers
  differently in neighbouring tiles (per-tile normalisation statistics, border effects) gives a smooth transition
  over the overlap instead of a seam.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from .imaging import to_float, to_uint8

ModelFn = Callable[[torch.Tensor], torch.Tensor]  # float [N, C_in, tile, tile] -> float [N, C_out, tile, tile]
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma weights, as in PIL's convert("L")
PROGRESS_MIN_TILES = 64  # with `progress`, inputs of at least this many tiles show a progress bar


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, channels, H, W]: 1 channel is repeated, 3 channels become ITU-R 601 luma."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1:
        return images.expand(-1, channels, -1, -1)
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def _pad_to(array: np.ndarray, tile: int) -> tuple[np.ndarray, int, int]:
    """uint8 [H, W, C] -> ([max(H, tile), max(W, tile), C], top, left): short axes padded, centred."""
    offsets = []
    for axis in (0, 1):
        size = array.shape[axis]
        before = max(tile - size, 0) // 2
        offsets.append(before)
        if size < tile:
            widths = [(0, 0)] * 3
            widths[axis] = (before, tile - size - before)
            array = np.pad(array, widths, mode="reflect" if size > 1 else "edge")
    return array, offsets[0], offsets[1]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile origins along an axis of `length >= tile`: every `stride` pixels, the last one flush with the end."""
    return list(range(0, length - tile, stride)) + [length - tile]


def _window(tile: int, overlap: int, before: bool, after: bool) -> torch.Tensor:
    """[tile] weights: 1, with a raised-cosine ramp over `overlap` pixels at each end that has a neighbour."""
    weights = torch.ones(tile)
    if overlap:
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(overlap) + 0.5) / overlap)
        if before:
            weights[:overlap] = ramp
        if after:
            weights[tile - overlap :] = ramp.flip(0)
    return weights


def translate_array(
    model_fn: ModelFn,
    image: np.ndarray,
    tile: int,
    overlap: int | None = None,
    batch_size: int = 8,
    out_channels: int | None = None,
    in_channels: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """uint8 [H, W, C] -> uint8 [H, W, out_channels] through a model that takes only `tile` x `tile` inputs.

    `model_fn` maps float [N, in_channels, tile, tile] in [-1, 1] to float [N, C_out, tile, tile] in [-1, 1];
    tiles are sent to `device`. `in_channels` (default: the image's) and `out_channels` (default: the model's) are
    reached by `match_channels`. `overlap` defaults to tile // 4 and is at most tile // 2. `progress`: a progress
    bar over the tiles on stderr for inputs of PROGRESS_MIN_TILES tiles or more.
    """
    if image.ndim != 3 or image.dtype != np.uint8 or min(image.shape) < 1:
        raise ValueError(f"expected a uint8 [H, W, C] image, got {image.dtype} of shape {image.shape}")
    overlap = tile // 4 if overlap is None else overlap
    if tile < 1 or not 0 <= overlap <= tile // 2 or batch_size < 1:
        raise ValueError(
            f"need tile >= 1, 0 <= overlap <= tile // 2 and batch_size >= 1; got tile={tile}, "
            f"overlap={overlap}, batch_size={batch_size}"
        )
    height, width = image.shape[:2]
    padded, top, left = _pad_to(image, tile)
    source = to_float(torch.from_numpy(np.array(padded)).permute(2, 0, 1)[None])  # [1, C, H', W'], a writable copy
    source = match_channels(source, in_channels or source.shape[1])[0]  # [in_channels, H', W']
    rows, cols = _starts(source.shape[1], tile, tile - overlap), _starts(source.shape[2], tile, tile - overlap)
    windows_y = [_window(tile, overlap, i > 0, i < len(rows) - 1) for i in range(len(rows))]
    windows_x = [_window(tile, overlap, j > 0, j < len(cols) - 1) for j in range(len(cols))]
    cells = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    total = torch.zeros(source.shape[1:])  # [H', W'] weight sum
    blended = None  # [C_out, H', W'] weighted sum, allocated once C_out is known
    bar = tqdm(
        total=len(cells),
        unit="tile",
        file=sys.stderr,
        leave=False,
        disable=not progress or len(cells) < PROGRESS_MIN_TILES,
    )
    with torch.no_grad(), bar:
        for first in range(0, len(cells), batch_size):
            batch = cells[first : first + batch_size]
            tiles = torch.stack([source[:, rows[i] : rows[i] + tile, cols[j] : cols[j] + tile] for i, j in batch])
            output = model_fn(tiles.to(device)).detach().float().cpu()  # [n, C_out, tile, tile]
            if output.ndim != 4 or output.shape[0] != len(batch) or output.shape[2:] != (tile, tile):
                raise ValueError(
                    f"model_fn returned shape {tuple(output.shape)} for input {tuple(tiles.shape)}; "
                    f"expected [{len(batch)}, C_out, {tile}, {tile}]"
                )
            if blended is None:
                blended = torch.zeros(output.shape[1], *source.shape[1:])
            for (i, j), prediction in zip(batch, output):
                weight = windows_y[i][:, None] * windows_x[j][None, :]  # [tile, tile]
                y, x = rows[i], cols[j]
                blended[:, y : y + tile, x : x + tile] += prediction * weight
                total[y : y + tile, x : x + tile] += weight
            bar.update(len(batch))
    result = (blended / total)[None, :, top : top + height, left : left + width]  # [1, C_out, H, W]
    result = match_channels(result, out_channels or result.shape[1])
    return to_uint8(result)[0].permute(1, 2, 0).numpy()
