"""The portable generator format: a folder with config.json (architecture, dataset shape, progress) and
generator.safetensors (the EMA generator's weights). No pickles: loading runs no code. config.json records a SHA-256
of the weights file and of its own content, checked on load (exports written before these were added load as before)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file as save_safetensors_file

from ..atomic import atomic_path, write_text
from ..config import FORMAT_VERSION, ModelConfig
from ..errors import CheckpointError

EXPORT_FORMAT = "ganforge-generator"
WEIGHTS_FILE, CONFIG_FILE = "generator.safetensors", "config.json"
WEIGHTS_HASH, CONFIG_HASH = "weights_sha256", "config_sha256"  # config.json fields: integrity of both files


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
    """Write folder/generator.safetensors and folder/config.json (format marker and version added), atomically. The
    weights are streamed to disk from the tensors (no copy of the file is built in memory) and hashed from the file."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_safetensors_file(weights, tmp, metadata={"format": EXPORT_FORMAT})
        with open(tmp, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    meta = {"format": EXPORT_FORMAT, "format_version": FORMAT_VERSION, **meta, WEIGHTS_HASH: digest}
    meta[CONFIG_HASH] = _config_hash(meta)
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
    if CONFIG_HASH in meta and meta[CONFIG_HASH] != _config_hash(meta):
        raise CheckpointError(f"{folder / CONFIG_FILE} is corrupt: its content does not match its {CONFIG_HASH} "
                              f"(the file changed after it was written); export the model again")
    try:
        payload = (folder / WEIGHTS_FILE).read_bytes()
        if WEIGHTS_HASH in meta and meta[WEIGHTS_HASH] != hashlib.sha256(payload).hexdigest():
            raise CheckpointError(f"{folder / WEIGHTS_FILE} is corrupt: it does not match the {WEIGHTS_HASH} in "
                                  f"{CONFIG_FILE} (the file changed after it was written); export the model again")
        weights = load_safetensors(payload)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{folder / WEIGHTS_FILE} is not a readable safetensors file: {error}") from None
    check_meta(meta, folder / CONFIG_FILE)
    return meta, weights


def _config_hash(meta: dict[str, Any]) -> str:
    """SHA-256 of config.json's content other than the hash itself, in one canonical JSON spelling."""
    rest = {key: value for key, value in meta.items() if key != CONFIG_HASH}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# field -> (expected kind, required) of config.json and of its "dataset" section
_NUMBER = (int, float)
META_FIELDS = {"model": (dict, True), "dataset": (dict, True), "num_classes": (int, True), "kimg": (_NUMBER, False),
               "stats": (dict, False), "source": (str, False), WEIGHTS_HASH: (str, False),
               CONFIG_HASH: (str, False)}
DATASET_FIELDS = {"name": (str, True), "resolution": (int, True), "channels": (int, True),
                  "class_names": (list, False), "input_channels": (int, False), "input_lines": (dict, False)}


def check_meta(meta: dict[str, Any], path: Path) -> None:
    """CheckpointError naming the field of an export's config.json that is missing, of the wrong type or out of
    range (a hand-edited or tampered file), before any of it is used."""
    _check_fields(meta, META_FIELDS, path, "")
    dataset = meta["dataset"]
    _check_fields(dataset, DATASET_FIELDS, path, "dataset.")
    model_kinds = {f.name: _NUMBER if f.type in ("float", float) else type(f.default)
                   for f in dataclasses.fields(ModelConfig)}
    _check_fields(meta["model"], {name: (kind, False) for name, kind in model_kinds.items()}, path, "model.")
    resolution = dataset["resolution"]
    problems = {
        "dataset.resolution": (resolution < 4 or resolution & (resolution - 1), "a power of two >= 4"),
        "dataset.channels": (dataset["channels"] not in (1, 3), "1 or 3"),
        "dataset.input_channels": (dataset.get("input_channels", 0) not in (0, 1, 3), "0, 1 or 3"),
        "dataset.class_names": (not all(isinstance(n, str) for n in dataset.get("class_names", [])), "a list of names"),
        "num_classes": (meta["num_classes"] < 0, ">= 0"),
    }
    for field_name, (bad, expected) in problems.items():
        if bad:
            raise CheckpointError(f"{path}: field {field_name!r} must be {expected}")


def _check_fields(values: dict, fields: dict[str, tuple], path: Path, prefix: str) -> None:
    for name, (kind, required) in fields.items():
        if name not in values:
            if required:
                raise CheckpointError(f"{path}: field {prefix + name!r} is missing")
            continue
        value = values[name]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            expected = "a number" if kind is _NUMBER else f"of type {kind.__name__}"
            raise CheckpointError(f"{path}: field {prefix + name!r} must be {expected}, not {json.dumps(value)[:80]}")
