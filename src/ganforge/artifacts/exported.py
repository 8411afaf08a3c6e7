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

from .. import limits
from ..atomic import atomic_path, removed_on_error, write_text
from ..config import FORMAT_VERSION, ModelConfig, power_of_two
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
    return {
        "model": dataclasses.asdict(generator.model),
        "dataset": generator.dataset.to_dict(),
        "num_classes": generator.num_classes,
        "kimg": generator.kimg,
        "stats": generator.stats,
        "source": generator.source,
    }


def write_export(folder: Path, weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write folder/generator.safetensors and folder/config.json (format marker and version added), atomically. The
    weights are streamed to disk from the tensors (no copy of the file is built in memory) and hashed from the file;
    a failed write (a full disk) leaves no half export."""
    weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    with removed_on_error(folder):
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
        text = (folder / CONFIG_FILE).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {CONFIG_FILE} beside {WEIGHTS_FILE}") from None
    meta = limits.load_json(text, str(folder / CONFIG_FILE), CheckpointError)
    if (
        not isinstance(meta, dict)
        or meta.get("format") != EXPORT_FORMAT
        or meta.get("format_version") != FORMAT_VERSION
    ):
        found = (
            (meta.get("format"), meta.get("format_version")) if isinstance(meta, dict) else (type(meta).__name__, None)
        )
        raise CheckpointError(
            f"{folder / CONFIG_FILE}: not a ganforge generator export of format version "
            f"{FORMAT_VERSION} (found {found[0]!r} v{found[1]})"
        )
    if CONFIG_HASH in meta and meta[CONFIG_HASH] != _config_hash(meta):
        raise CheckpointError(
            f"{folder / CONFIG_FILE} is corrupt: its content does not match its {CONFIG_HASH} "
            f"(the file changed after it was written); export the model again"
        )
    try:
        payload = (folder / WEIGHTS_FILE).read_bytes()
        if WEIGHTS_HASH in meta and meta[WEIGHTS_HASH] != hashlib.sha256(payload).hexdigest():
            raise CheckpointError(
                f"{folder / WEIGHTS_FILE} is corrupt: it does not match the {WEIGHTS_HASH} in "
                f"{CONFIG_FILE} (the file changed after it was written); export the model again"
            )
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
META_FIELDS = {
    "model": (dict, True),
    "dataset": (dict, True),
    "num_classes": (int, True),
    "kimg": (_NUMBER, False),
    "stats": (dict, False),
    "source": (str, False),
    WEIGHTS_HASH: (str, False),
    CONFIG_HASH: (str, False),
}
DATASET_FIELDS = {
    "name": (str, True),
    "resolution": (int, True),
    "channels": (int, True),
    "class_names": (list, False),
    "input_channels": (int, False),
    "input_lines": (dict, False),
}


def check_meta(meta: dict[str, Any], path: Path | str) -> None:
    """CheckpointError naming the field of an export's config.json (or of what a checkpoint or an ONNX graph
    records) that is missing, of the wrong type or out of range (a hand-edited or tampered file), before any of it
    is used: sizes are bounded by the table in limits.py, model settings by their checks in config.py."""
    _check_fields(meta, META_FIELDS, path, "")
    dataset = meta["dataset"]
    _check_fields(dataset, DATASET_FIELDS, path, "dataset.")
    model_fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    _check_fields(
        meta["model"],
        {name: (_NUMBER if f.type in ("float", float) else type(f.default), False) for name, f in model_fields.items()},
        path,
        "model.",
    )
    class_names, most = dataset.get("class_names", []), limits.NUM_CLASSES.high
    problems = {
        "dataset.resolution": power_of_two(*limits.RESOLUTION)(dataset["resolution"]),
        "dataset.channels": None if dataset["channels"] in (1, 3) else "must be 1 or 3",
        "dataset.input_channels": None if dataset.get("input_channels", 0) in (0, 1, 3) else "must be 0, 1 or 3",
        "dataset.class_names": None
        if all(isinstance(n, str) for n in class_names) and len(class_names) <= most
        else f"must be a list of names (at most {most})",
        "num_classes": limits.out_of_range(meta["num_classes"], limits.NUM_CLASSES),
        **{
            f"model.{name}": model_fields[name].metadata["check"](value)
            for name, value in meta["model"].items()
            if name in model_fields and model_fields[name].metadata["check"] is not None
        },
    }
    for field_name, problem in problems.items():
        if problem:
            raise CheckpointError(f"{path}: field {field_name!r} {problem}")
    if class_names and meta["num_classes"] > len(class_names):
        raise CheckpointError(
            f"{path}: field 'num_classes' is {meta['num_classes']}, but 'dataset.class_names' "
            f"names {len(class_names)} classes"
        )


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
