"""The R3GAN authors' network snapshots (brownvc/R3GAN, `network-snapshot-*.pkl` and the released models): a pickled
dict with G, D, G_ema (torch modules pickled as plain objects, not NVIDIA persistence records), training_set_kwargs,
cur_nimg and the G_opt_state / D_opt_state optimiser states.

Their `training.networks.Generator` / `Discriminator` wrap `R3GAN.Networks.Generator` / `Discriminator` as `Model`
and store no constructor arguments, so the configuration is read from the weights' shapes: the width of each stage,
blocks per stage, the grouped conv's channels per group, the class embedding. Their parameter names are ganforge's
"r3gan" family's in CamelCase (`Model.MainLayers.1.Layers.2.LinearLayer1.Layer.weight` ->
`main_layers.1.layers.2.linear_layer1.layer.weight`), so the state dicts map name for name.

Their training runs the higher-resolution stages in bfloat16 (each stage's stored `DataType`; the released models:
G's last 3-4 stages, D's first ones); ganforge computes every stage in float32, so imported images equal theirs
computed in float32 and differ from their bfloat16 ones by bfloat16's rounding (~1e-2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ...models.r3gan import EXPANSION, r3gan_widths
from . import ForeignModel, Reader
from .nvidia import _contents
from .unpickle import ModuleRecord, StateDict, load

FAMILY = "r3gan"
WRAPPERS = {
    "G": "training.networks.Generator",
    "G_ema": "training.networks.Generator",
    "D": "training.networks.Discriminator",
}  # what each network of a snapshot must be


def _sniff(path: Path, head: bytes) -> bool:
    """A pickle whose first network is one of their modules pickled as a plain object (an NVIDIA snapshot starts
    with a `torch_utils.persistence` record instead)."""
    return head[:1] == b"\x80" and (b"training.networks" in head or b"R3GAN." in head) and b"persistence" not in head


def ganforge_name(name: str) -> str:
    """Their parameter name -> ganforge's: drop the wrapper's `Model.`, CamelCase -> snake_case."""
    name = name.removeprefix("Model.")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _snapshot(path: Path) -> dict[str, Any]:
    """The unpickled snapshot, checked to hold R3GAN networks; tensors stay in the file until looked up."""
    data = load(path, lazy=True)
    if not isinstance(data, dict) or not isinstance(data.get("G_ema", data.get("G")), ModuleRecord):
        raise CheckpointError(f"{path}: not an R3GAN network snapshot (a dict with G, D, G_ema networks)")
    for key, wrapper in WRAPPERS.items():
        network = data.get(key)
        if network is None:
            continue
        model = network.children.get("Model") if isinstance(network, ModuleRecord) else None
        inner = wrapper.replace("training.networks.", "R3GAN.Networks.")
        if (
            not isinstance(network, ModuleRecord)
            or network.class_name != wrapper
            or not isinstance(model, ModuleRecord)
            or model.class_name != inner
        ):
            found = network.class_name if isinstance(network, ModuleRecord) else type(network).__name__
            raise CheckpointError(f"{path}: {key} is a {found}, not R3GAN's {wrapper} (holding an {inner})")
    return data


def _generator(data: dict[str, Any]) -> tuple[str, ModuleRecord]:
    name = "G_ema" if data.get("G_ema") is not None else "G"
    return name, data[name]


def _stage_count(shapes: dict[str, tuple[int, ...]]) -> int:
    return len({m.group(1) for name in shapes if (m := re.match(r"main_layers\.(\d+)\.", name))})


def _blocks(shapes: dict[str, tuple[int, ...]], stage: int) -> list[tuple[int, int, int, int]]:
    """(width, expanded width, channels per group, kernel) of each residual block of a stage, in order."""
    pattern = re.compile(rf"main_layers\.{stage}\.layers\.(\d+)\.linear_layer1\.layer\.weight")
    found = sorted(int(m.group(1)) for name in shapes if (m := pattern.fullmatch(name)))
    blocks = []
    for index in found:
        expand = shapes[f"main_layers.{stage}.layers.{index}.linear_layer1.layer.weight"]
        grouped = shapes[f"main_layers.{stage}.layers.{index}.linear_layer2.layer.weight"]
        blocks.append((expand[1], expand[0], grouped[1], grouped[-1]))
    return blocks


def _widths(path: Path, network: str, shapes: dict[str, tuple[int, ...]]) -> tuple[list[int], int, int]:
    """Stage widths (in the network's order), blocks per stage, channels per group; refused where ganforge's r3gan
    builder cannot make the network (uneven blocks, another expansion or kernel)."""
    stages = [_blocks(shapes, s) for s in range(_stage_count(shapes))]
    counts = {len(blocks) for blocks in stages}
    groups = {group for blocks in stages for _, _, group, _ in blocks}
    if not stages or len(counts) != 1 or 0 in counts:
        raise CheckpointError(
            f"{path}: {network} has {sorted(len(b) for b in stages)} residual blocks per stage; "
            f"ganforge's r3gan builds the same number (at least 1) in every stage"
        )
    if len(groups) != 1 or any(e != EXPANSION * w or k != 3 for blocks in stages for w, e, _, k in blocks):
        raise CheckpointError(
            f"{path}: {network}'s blocks are not the paper's (expansion {EXPANSION}, 3x3 grouped "
            f"conv with the same channels per group everywhere); ganforge's r3gan builds only those"
        )
    return [blocks[0][0] for blocks in stages], counts.pop(), groups.pop()


def _config(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(ganforge model config, dataset info, number of classes) of a snapshot, from G's attributes and the shapes
    of G's (and D's) weights; no tensor is read."""
    g_name, g = _generator(data)
    z_dim, c_dim, resolution = (g.state.get(k) for k in ("z_dim", "c_dim", "img_resolution"))
    if not all(isinstance(v, int) for v in (z_dim, c_dim, resolution)):
        raise CheckpointError(f"{path}: {g_name} lacks its z_dim / c_dim / img_resolution attributes")
    shapes = g.tensors().renamed(ganforge_name).shapes()
    widths, blocks, group = _widths(path, g_name, shapes)
    cap = max(widths)
    if r3gan_widths(resolution, widths[-1], cap) != widths:
        raise CheckpointError(
            f"{path}: {g_name}'s stage widths {widths} at {resolution} px are not of ganforge's "
            f"form min(cap, base * {resolution} / side)"
        )
    if c_dim and shapes.get("embedding_layer.weight") != (z_dim, c_dim):
        raise CheckpointError(
            f"{path}: {g_name}'s class embedding is {list(shapes.get('embedding_layer.weight', ()))}"
            f"; ganforge's r3gan embeds the class to the length of z ({z_dim})"
        )
    model = {
        "name": FAMILY,
        "z_dim": z_dim,
        "g_channels": widths[-1],
        "d_channels": widths[-1],
        "max_channels": cap,
        "blocks_per_stage": blocks,
        "group_channels": group,
    }
    d = data.get("D")
    if d is not None:
        d_widths, d_blocks, d_group = _widths(path, "D", d.tensors().renamed(ganforge_name).shapes())
        if (d_blocks, d_group) != (blocks, group) or r3gan_widths(resolution, d_widths[0], cap)[::-1] != d_widths:
            raise CheckpointError(
                f"{path}: D's stages (widths {d_widths}, {d_blocks} blocks, groups of {d_group}) "
                f"do not mirror G's as ganforge's r3gan builds them"
            )
        model["d_channels"] = d_widths[0]
    channels = shapes.get("aggregation_layer.layer.weight", (0,))[0]
    training_set = data.get("training_set_kwargs")
    source = training_set.get("path") if isinstance(training_set, dict) else None
    dataset = {
        "name": Path(str(source)).name if source else path.stem,
        "resolution": resolution,
        "channels": channels,
        "class_names": [str(i) for i in range(c_dim)],  # they store no class names
        "input_channels": 0,
        "unpaired": False,
    }
    return model, dataset, c_dim


def _low_precision_stages(record: ModuleRecord) -> list[int]:
    """Indices of the stages their code runs in bfloat16/float16 (each stage's stored `DataType`)."""
    stages = record.children["Model"].children.get("MainLayers")
    children = stages.children if isinstance(stages, ModuleRecord) else {}
    return [
        int(i)
        for i, stage in children.items()
        if isinstance(stage, ModuleRecord) and stage.state.get("DataType") in (torch.bfloat16, torch.float16)
    ]


def _kimg(data: dict[str, Any]) -> float:
    nimg = data.get("cur_nimg")
    return nimg / 1000 if isinstance(nimg, int) else 0.0


def _read(path: Path, arch: str | None) -> ForeignModel:
    if arch not in (None, FAMILY):
        raise CheckpointError(f"--arch {arch!r}: R3GAN snapshots import as {FAMILY}")
    data = _snapshot(path)
    model, dataset, num_classes = _config(path, data)
    g_name, g = _generator(data)
    d, raw = data.get("D"), data.get("G") if g_name == "G_ema" else None

    def weights(record: ModuleRecord | None) -> StateDict | None:
        return record.tensors().renamed(ganforge_name) if record is not None else None

    return ForeignModel(
        format=READER.name,
        architecture=_architecture(model, dataset),
        model=model,
        dataset=dataset,
        num_classes=num_classes,
        generator=weights(g),
        discriminator=weights(d),
        generator_raw=weights(raw),
        kimg=_kimg(data),
        contents=_contents(data),
    )


def _architecture(model: dict[str, Any], dataset: dict[str, Any]) -> str:
    widths = r3gan_widths(dataset["resolution"], model["g_channels"], model["max_channels"])
    blocks = model["blocks_per_stage"]
    return f"r3gan widths {'-'.join(map(str, widths))}, {blocks} block{'s' if blocks > 1 else ''} per stage"


def _describe(path: Path) -> dict[str, Any]:
    data = _snapshot(path)
    model, dataset, num_classes = _config(path, data)
    g_name, g = _generator(data)
    details = {
        "architecture": _architecture(model, dataset),
        "resolution": dataset["resolution"],
        "channels": dataset["channels"],
        "classes": num_classes or "unconditional",
        "z_dim": model["z_dim"],
        "parameters": g.parameter_count(),
        "contents": _contents(data),
        "kimg": _kimg(data),
        "bfloat16_stages": {
            name: _low_precision_stages(data[name]) for name in ("G", "G_ema", "D") if data.get(name) is not None
        },
        "training_set": dataset["name"],
    }
    return details


READER = Reader(name="r3gan-pickle", sniff=_sniff, describe=_describe, read=_read)
