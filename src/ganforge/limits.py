"""Bounds on every count, width and size that comes from a flag or a file, declared once.

Each bound is checked before any work: the CLI's option types (`click.IntRange(*limits.X)`), the library functions
behind them and the readers of exports, checkpoints and ONNX metadata all use this table, so that a value out of
range is refused with one line naming the flag or field and the allowed range, instead of memory growing until
the process is killed. JSON read from files is bounded in size and nesting depth before it is used. Imports nothing
of the package but its errors (config.py uses it).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .errors import ConfigError, GanforgeError


class Bound(NamedTuple):
    low: int | float
    high: int | float


# ---- flags ---------------------------------------------------------------------------------------------------------
SEED = Bound(0, 2**32 - 1)  # --seed and seed lists, as in NVlabs' tools
TRUNCATION = Bound(0.0, 2.0)  # --truncation psi: 0 the average image, 1 plain sampling, above 1 exaggerated
TRAIN_SEED = Bound(0, 2**63 - 1)  # `train --seed` (wider than SEED: saved runs may hold any 63-bit seed)
TORCH_SEED = Bound(0, 2**64 - 1)  # what torch.Generator.manual_seed takes (seeds derived from a --seed plus offsets)
DIRECTION_SAMPLES = Bound(2, 100_000)  # `directions --samples` (ganspace default 10000: its latents are held at once)
SYNTH_PER_CLASS = Bound(1, 100_000)  # `synth --per-class` (the whole set is also held in IN_MEMORY_BYTES)
EVAL_IMAGES = Bound(2, 100_000)  # `eval --num` (features of every image are held: 100000 x 2048 floats = 0.8 GB)
EDIT_STRENGTH = Bound(-100, 100)  # `edit --strength`, in standard deviations along the direction (-3..3 is usual)
SHARD_BYTES = Bound(2**10, 2**40)  # `prepare --shard-size` (WebDataset suggests 100 MB to a few GB per shard)
IN_MEMORY_BYTES = 2 * 2**30  # image bytes one output (a grid, a walk, a synthetic set) may hold at once

# ---- widths and sizes of a model (train flags, and what exports, checkpoints and ONNX metadata claim) -------------
RESOLUTION = Bound(4, 4096)  # image side in pixels (StyleGAN2's largest is 1024)
LATENT_DIM = Bound(1, 4096)  # --z-dim, --w-dim (StyleGAN2: 512, BigGAN: 120)
WIDTH = Bound(1, 4096)  # --g-channels, --d-channels, --max-channels (StyleGAN2's widest layer: 512)
DEPTH = Bound(1, 32)  # --mapping-layers, --d-layers (StyleGAN2's mapping: 8, PatchGAN: 3)
PACK = Bound(1, 64)  # --pack (PacGAN: 2..4)
NUM_CLASSES = Bound(0, 10_000)  # class-conditional models (ImageNet: 1000)

# ---- reference statistics from files (`--real-stats`): the covariance is D x D float64, read whole ------------------
FEATURE_DIM = Bound(1, 8192)  # Inception 2048, DINOv2 ViT-L 1024; 8192 -> a 512 MB covariance

# ---- JSON from files (export config.json, ONNX metadata, labels files) --------------------------------------------
JSON_BYTES = 16 * 2**20
JSON_DEPTH = 32  # objects and lists nested in each other (an export's config.json: 4)


def out_of_range(value: Any, bound: Bound) -> str | None:
    """What is wrong with `value` for `bound` ("must be in LOW..HIGH, got VALUE"), or None when it is inside."""
    if bound.low <= value <= bound.high:  # False for NaN
        return None
    return f"must be in {bound.low}..{bound.high}, got {value}"


def check(value: Any, bound: Bound, name: str, error: type[GanforgeError] = ConfigError) -> None:
    """`error` naming `name` (a flag or a field) and the allowed range when `value` is outside `bound`."""
    problem = out_of_range(value, bound)
    if problem:
        raise error(f"{name}: {problem}")


def check_in_memory(count: int, info: Any, what: str, advice: str) -> None:
    """ConfigError when `count` uint8 images of a generator's size (`info`: its DatasetInfo, with channels and
    resolution) would not fit IN_MEMORY_BYTES at once."""
    size = count * info.channels * info.resolution**2
    if size > IN_MEMORY_BYTES:
        raise ConfigError(
            f"{what}: {count} images of {info.resolution}x{info.resolution} need {size / 2**30:.1f} GiB "
            f"at once (at most {IN_MEMORY_BYTES / 2**30:.0f} GiB); {advice}"
        )


def load_json(text: str | bytes, where: str, error: type[GanforgeError]) -> Any:
    """Parse JSON from a file or metadata entry, at most JSON_BYTES long and JSON_DEPTH deep; anything else (too
    large, too deep, not JSON) is `error` naming `where`."""
    if len(text) > JSON_BYTES:
        raise error(f"{where}: {len(text)} bytes of JSON, more than the {JSON_BYTES // 2**20} MiB ganforge reads")
    try:
        value = json.loads(text)
    except RecursionError:  # nested deeper than the interpreter's recursion limit
        raise error(f"{where}: JSON nested more than {JSON_DEPTH} levels deep") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{where} is not valid JSON: {problem}") from None
    if _depth(value) > JSON_DEPTH:
        raise error(f"{where}: JSON nested more than {JSON_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in parsed JSON (0 for a number or string), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest
