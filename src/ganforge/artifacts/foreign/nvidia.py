"""NVlabs network pickles (stylegan2-ada-pytorch, stylegan3): `network-snapshot-*.pkl`, a dict with G, D, G_ema,
augment_pipe and training_set_kwargs, each network a `torch_utils.persistence` record (see unpickle.py).

The architecture comes from the records' stored constructor arguments: they become the model config's
`arch_kwargs` ({"G": G_ema's kwargs, "D": D's kwargs}) verbatim, and a registered ganforge model family whose
modules carry NVIDIA's parameter names exactly rebuilds the network from them, so the state dicts load unchanged.
`FAMILIES` says which family takes which generator; a new NVIDIA architecture is one line there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import CheckpointError
from . import ForeignModel, Reader
from .unpickle import ModuleRecord, PersistentRecord, load

NETWORK_KEYS = ("G", "D", "G_ema", "augment_pipe")  # what a network snapshot may hold beside training_set_kwargs
_LEGACY_TORCH_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")  # a torch.save legacy file pickles this number first


def _is_stylegan2(g: PersistentRecord) -> bool:
    """stylegan2-ada-pytorch's synthesis network: blocks b4, b8, ... (StyleGAN3's starts with an `input` layer)."""
    synthesis = g.children.get("synthesis")
    return isinstance(synthesis, PersistentRecord) and "b4" in synthesis.children


def _is_stylegan3(g: PersistentRecord) -> bool:
    """stylegan3's alias-free synthesis network: a Fourier-feature `input` layer, then layers L0_..., L1_..."""
    synthesis = g.children.get("synthesis")
    return isinstance(synthesis, PersistentRecord) and "input" in synthesis.children


# (ganforge model family, does a G_ema record belong to it?), tried in order
FAMILIES: list[tuple[str, Callable[[PersistentRecord], bool]]] = [
    ("stylegan2-ada", _is_stylegan2),
    ("stylegan3", _is_stylegan3),
]


def _sniff(path: Path, head: bytes) -> bool:
    """A pickle (protocol 2+) that is not a legacy torch.save file."""
    return head[:1] == b"\x80" and _LEGACY_TORCH_MAGIC not in head[:16]


def _plain(value: Any) -> Any:
    """Constructor arguments as JSON-able data: numpy scalars -> Python numbers, tuples -> lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"constructor argument of unexpected type {type(value).__name__}")


def _snapshot(path: Path) -> dict[str, Any]:
    """The unpickled snapshot dict, checked to be an NVIDIA network snapshot; its large tensors stay in the file until
    a network's `tensors()` are looked up (so `describe` reads no weights, and `read` only those asked for)."""
    data = load(path, lazy=True)
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path}: a pickle of a {type(data).__name__}, not an NVIDIA network snapshot (a dict with G, D, G_ema)"
        )
    networks = {k: v for k, v in data.items() if k in NETWORK_KEYS and v is not None}
    if "G_ema" not in networks and "G" not in networks:
        raise CheckpointError(
            f"{path}: a pickle of another kind (keys {sorted(map(str, data))[:8]}), not an NVIDIA "
            f"network snapshot (a dict with G, D, G_ema)"
        )
    for name, value in networks.items():
        if isinstance(value, ModuleRecord):  # e.g. an R3GAN snapshot whose networks do not come first (see r3gan.py)
            raise CheckpointError(
                f"{path}: {name} is a {value.class_name} pickled as a plain module, not an NVIDIA persistent network"
            )
        if not isinstance(value, PersistentRecord):
            raise CheckpointError(f"{path}: {name} is a {type(value).__name__}, not an NVIDIA persistent network")
    return data


def _generator(data: dict[str, Any]) -> tuple[str, PersistentRecord]:
    """("G_ema", its record), or G's where a snapshot has no EMA copy."""
    name = "G_ema" if data.get("G_ema") is not None else "G"
    return name, data[name]


def _family(path: Path, g: PersistentRecord, arch: str | None) -> str:
    families = dict(FAMILIES)
    if arch is not None:
        if arch not in families:
            raise CheckpointError(f"--arch {arch!r}: NVIDIA pickles import as one of {', '.join(families)}")
        if not families[arch](g):
            found = next((name for name, matches in FAMILIES if matches(g)), "an unknown architecture")
            raise CheckpointError(f"--arch {arch}: {path} holds a {found} generator, not a {arch} one")
        return arch
    for family, matches in FAMILIES:
        if matches(g):
            return family
    raise CheckpointError(
        f"{path}: an NVIDIA {g.class_name} of an architecture ganforge does not know "
        f"(sub-networks {sorted(g.children)}); known: {', '.join(families)}"
    )


def _kwargs(path: Path, name: str, record: PersistentRecord) -> dict[str, Any]:
    if record.init_args:
        raise CheckpointError(
            f"{path}: {name} was built with positional arguments; ganforge reads keyword arguments only"
        )
    try:
        return _plain(record.init_kwargs)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {name}: {error}") from None


def _dataset(path: Path, data: dict[str, Any], g_kwargs: dict[str, Any]) -> dict[str, Any]:
    training_set = data.get("training_set_kwargs") or {}
    source = training_set.get("path") if isinstance(training_set, dict) else None
    name = Path(str(source)).name if source else path.stem
    return {
        "name": name,
        "resolution": int(g_kwargs["img_resolution"]),
        "channels": int(g_kwargs["img_channels"]),
        "class_names": [str(i) for i in range(g_kwargs["c_dim"])],  # NVIDIA stores no class names
        "input_channels": 0,
        "unpaired": False,
    }


def _kimg(path: Path) -> float:
    """network-snapshot-001234.pkl -> 1234 kimg; 0 when the name does not say."""
    match = re.search(r"snapshot-(\d+)", path.name)
    return float(match.group(1)) if match else 0.0


def _augment_p(data: dict[str, Any]) -> float | None:
    pipe = data.get("augment_pipe")
    p = pipe.state.get("_buffers", {}).get("p") if isinstance(pipe, PersistentRecord) else None
    return float(p) if isinstance(p, torch.Tensor) and p.numel() == 1 else None


def _read(path: Path, arch: str | None) -> ForeignModel:
    data = _snapshot(path)
    g_name, g = _generator(data)
    family = _family(path, g, arch)
    g_kwargs = _kwargs(path, g_name, g)
    for needed in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if not isinstance(g_kwargs.get(needed), int):
            raise CheckpointError(f"{path}: {g_name}'s constructor argument {needed!r} is missing or not a number")
    d = data.get("D")
    arch_kwargs = {"G": g_kwargs, **({"D": _kwargs(path, "D", d)} if d is not None else {})}
    model = {
        "name": family,
        "z_dim": g_kwargs["z_dim"],
        "w_dim": g_kwargs["w_dim"],
        "mapping_layers": _mapping_layers(g, g_kwargs),
        "arch_kwargs": json.dumps(arch_kwargs, sort_keys=True),
    }
    raw_g = data.get("G") if g_name == "G_ema" else None
    return ForeignModel(
        format=READER.name,
        architecture=_architecture(family, g_kwargs),
        model=model,
        dataset=_dataset(path, data, g_kwargs),
        num_classes=int(g_kwargs["c_dim"]),
        generator=g.tensors(),
        discriminator=d.tensors() if d is not None else None,
        generator_raw=raw_g.tensors() if raw_g else None,
        augment_p=_augment_p(data),
        kimg=_kimg(path),
        contents=_contents(data),
    )


def _mapping_layers(g: PersistentRecord, g_kwargs: dict[str, Any]) -> int:
    """The mapping network's depth (informational): as stored, else counted from its layers fc0, fc1, ... (the
    family's default: 8 in StyleGAN2-ADA, 2 in StyleGAN3)."""
    stored = (g_kwargs.get("mapping_kwargs") or {}).get("num_layers")
    if isinstance(stored, int):
        return stored
    mapping = g.children.get("mapping")
    children = mapping.children if isinstance(mapping, PersistentRecord) else {}
    return sum(1 for name in children if re.fullmatch(r"fc\d+", name))


def _architecture(family: str, g_kwargs: dict[str, Any]) -> str:
    if family == "stylegan3":  # train.py's --cfg stylegan3-r sets radial filters (and 1x1 convolutions)
        return "stylegan3-r" if g_kwargs.get("use_radial_filters") else "stylegan3-t"
    synthesis = g_kwargs.get("synthesis_kwargs") or {}
    parts = [family, synthesis.get("architecture", "")]
    return " ".join(p for p in parts if p)


def _contents(data: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in data.items():
        if isinstance(value, PersistentRecord):
            out[str(key)] = f"{value.class_name}, {value.parameter_count():,} parameters"
        elif value is not None:
            out[str(key)] = type(value).__name__
    return out


def _describe(path: Path) -> dict[str, Any]:
    data = _snapshot(path)
    g_name, g = _generator(data)
    g_kwargs = _kwargs(path, g_name, g)
    family = next((name for name, matches in FAMILIES if matches(g)), None)
    known = ", ".join(name for name, _ in FAMILIES)
    details = {
        "architecture": _architecture(family, g_kwargs) if family else f"unknown ({g.class_name}; known: {known})",
        "resolution": g_kwargs.get("img_resolution"),
        "channels": g_kwargs.get("img_channels"),
        "classes": g_kwargs.get("c_dim") or "unconditional",
        "z_dim": g_kwargs.get("z_dim"),
        "w_dim": g_kwargs.get("w_dim"),
        "parameters": g.parameter_count(),
        "contents": _contents(data),
        "kimg": _kimg(path),
    }
    augment_p = _augment_p(data)
    if augment_p is not None:
        details["augment_p"] = round(augment_p, 6)
    training_set = data.get("training_set_kwargs")
    if isinstance(training_set, dict) and training_set.get("path"):
        details["training_set"] = str(training_set["path"])
    return details


READER = Reader(name="nvidia-pickle", sniff=_sniff, describe=_describe, read=_read)
