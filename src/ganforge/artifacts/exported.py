"""The portable generator format: a folder with config.json (architecture, dataset shape, progress) and
generator.safetensors (the EMA generator's weights). No pickles: loading runs no code."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ..atomic import atomic_open, write_text
from ..config import FORMAT_VERSION
from ..errors import CheckpointError

EXPORT_FORMAT = "ganforge-generator"
WEIGHTS_FILE, CONFIG_FILE = "generator.safetensors", "config.json"


def is_export(path: Path) -> bool:
    """True for a folder holding an exported generator."""
    return path.is_dir() and (path / WEIGHTS_FILE).exists()


def describe_export(generator: Any) -> dict[str, Any]:
    """What an export records beside a `LoadedGenerator`'s weights (config.json, and the ONNX graph's metadata):
    architecture, dataset shape and classes, progress, statistics."""
    return {"model": dataclasses.asdict(generator.model), "dataset": generator.dataset.to_dict(),
            "num_classes": generator.num_classes, "kimg": generator.kimg, "stats": generator.stats,
            "source": generator.source}


def write_export(folder: Path, weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write folder/generator.safetensors and folder/config.json (format marker and version added), atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    with atomic_open(folder / WEIGHTS_FILE) as handle:
        handle.write(save_safetensors(weights, metadata={"format": EXPORT_FORMAT}))
    meta = {"format": EXPORT_FORMAT, "format_version": FORMAT_VERSION, **meta}
    write_text(folder / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


def read_export(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json contents, weights) of an exported generator; clear errors for anything else."""
    try:
        meta = json.loads((folder / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {CONFIG_FILE} beside {WEIGHTS_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{folder / CONFIG_FILE} is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT or meta.get("format_version") != FORMAT_VERSION:
        found = (meta.get("format"), meta.get("format_version")) if isinstance(meta, dict) else (type(meta).__name__, None)
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a ganforge generator export of format version "
                              f"{FORMAT_VERSION} (found {found[0]!r} v{found[1]})")
    try:
        weights = load_safetensors((folder / WEIGHTS_FILE).read_bytes())
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{folder / WEIGHTS_FILE} is not a readable safetensors file: {error}") from None
    return meta, weights
