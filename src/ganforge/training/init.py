"""Fine-tuning from a pretrained model (`--init`), and FreezeD (`--freeze-d`, Mo et al. 2020, "Freeze the
Discriminator: a Simple Baseline for Fine-Tuning GANs").

`--init SRC` starts a new run's G, G_ema and D (and ADA's p, where the file stores it) from SRC, with fresh
optimisers: the ADA paper's transfer setting. SRC is another project's model file (an NVIDIA network pickle ...,
read by artifacts/foreign), a ganforge export (G only: D starts fresh) or a ganforge checkpoint. The pretrained
network's architecture is kept: its settings replace the config's, and a flag that says otherwise is refused with
the reason. The run is then an ordinary run (resumable, exportable, evaluable).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from torch import nn

from ..artifacts import checkpoint as ckpt
from ..artifacts import foreign
from ..artifacts.exported import is_export, read_export
from ..config import Config, flag, load_file
from ..data.base import DatasetInfo
from ..errors import CheckpointError, ConfigError

# ModelConfig fields that shape the networks: a pretrained model's values are kept
ARCHITECTURE = (
    "name",
    "z_dim",
    "w_dim",
    "mapping_layers",
    "arch_kwargs",
    "g_channels",
    "d_channels",
    "max_channels",
    "g_norm",
    "d_layers",
    "progressive",
    "start_resolution",
    "blocks_per_stage",
    "group_channels",
)


def init_source(overrides: dict[str, Any], cfg: Config | None, config_file: str | Path | None) -> str:
    """The --init of a new run, from the flags, the given config, or the config file ("" for none)."""
    if overrides.get("train.init"):
        return overrides["train.init"]
    if cfg is not None:
        return cfg.train.init
    return load_file(config_file).get("train", {}).get("init", "") if config_file is not None else ""


def read_init(source: str) -> foreign.ForeignModel:
    """The networks of `--init SOURCE`: a foreign model file, a ganforge export or a ganforge checkpoint."""
    path = Path(source).expanduser()
    if is_export(path):
        meta, weights = read_export(path)
        return foreign.ForeignModel(
            format="ganforge export",
            architecture=meta["model"]["name"],
            model=meta["model"],
            dataset=meta["dataset"],
            num_classes=int(meta["num_classes"]),
            generator=weights,
        )
    if foreign.is_foreign(path):
        return foreign.read(path)
    state = ckpt.load(path)
    return foreign.ForeignModel(
        format="ganforge checkpoint",
        architecture=state["config"]["model"]["name"],
        model=state["config"]["model"],
        dataset=state["dataset"],
        num_classes=int(state["num_classes"]),
        generator=ckpt.generator_weights(state),
        discriminator=state.get("D"),
        generator_raw=state.get("G"),
    )


def init_overrides(overrides: dict[str, Any], init: foreign.ForeignModel, source: str) -> dict[str, Any]:
    """`overrides` (the user's flags) plus the pretrained network's architecture, resolution and channels; a
    ConfigError naming the flag for any flag that contradicts them."""
    kept = {f"model.{name}": value for name, value in init.model.items() if name in ARCHITECTURE}
    kept.update({"data.resolution": int(init.dataset["resolution"]), "data.channels": int(init.dataset["channels"])})
    for key, value in overrides.items():
        architectural = key in kept or key.partition(".")[2] in ARCHITECTURE and key.startswith("model.")
        if architectural and kept.get(key) != value:
            theirs = f"has {kept[key]!r}" if key in kept else "decides it"
            raise ConfigError(
                f"{flag(key)} {value!r} contradicts --init {source}: the pretrained {init.architecture} "
                f"network {theirs}, and fine-tuning keeps its architecture; leave {flag(key)} out"
            )
    if overrides.get("model.pack", 1) != 1:
        raise ConfigError(f"--pack: the pretrained discriminator of --init {source} judges one image at a time")
    return {**overrides, **kept}


def check_classes(cfg: Config, info: DatasetInfo, init: foreign.ForeignModel, source: str) -> None:
    """The data's classes (with --cond) must be the pretrained network's."""
    classes = info.num_classes if cfg.data.cond else 0
    if classes == init.num_classes:
        return
    if init.num_classes and not cfg.data.cond:
        raise ConfigError(
            f"--init {source} is class-conditional ({init.num_classes} classes): train it with --cond "
            f"on data with {init.num_classes} classes"
        )
    raise ConfigError(
        f"--cond: the data has {classes} classes, the pretrained network of --init {source} "
        f"has {init.num_classes or 'none'}"
    )


def start_from(
    networks: dict[str, nn.Module], ema: dict[str, nn.Module], augment: Any, init: foreign.ForeignModel, source: str
) -> None:
    """Load the pretrained weights into a fresh run's G, G_ema and D (and ADA's p)."""
    loads = [("G", networks["G"], init.generator_raw or init.generator), ("G_ema", ema["G"], init.generator)]
    if init.discriminator is not None:
        loads.append(("D", networks["D"], init.discriminator))
    else:
        warnings.warn(f"--init {source} ({init.format}) has no discriminator: D starts from random weights")
    for name, module, weights in loads:
        try:
            module.load_state_dict(weights)
        except RuntimeError as error:
            raise CheckpointError(
                f"--init {source}: its {name} does not fit the {init.architecture} network it "
                f"describes: {str(error).splitlines()[0]}"
            ) from None
    if init.augment_p is not None:
        if getattr(augment, "policy", None) == "ada":
            augment.p = init.augment_p
        else:
            warnings.warn(
                f"--init {source} stores ADA's augmentation probability {init.augment_p:.3f}; it is "
                f"used with --augment ada only"
            )


def freeze_d_blocks(D: nn.Module, count: int, model: str) -> list[nn.Parameter]:
    """FreezeD: turn off gradients of D's first `count` blocks from the image side; the parameters that stay
    trainable are returned (the objective re-enables only those after each G step)."""
    if count:
        blocks = getattr(D, "blocks", None)
        if not callable(blocks):
            raise ConfigError(f"--freeze-d: the {model} discriminator has no blocks to freeze (stylegan2-ada's has)")
        if count >= len(blocks()):
            raise ConfigError(
                f"--freeze-d {count}: the {model} discriminator has {len(blocks())} blocks, and at "
                f"least the last must train; give 0..{len(blocks()) - 1}"
            )
        for block in blocks()[:count]:
            block.requires_grad_(False)
    return [p for p in D.parameters() if p.requires_grad]
