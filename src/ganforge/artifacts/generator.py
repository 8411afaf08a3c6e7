"""`LoadedGenerator`: a trained generator read from a checkpoint or an export, ready to sample, mix, walk, translate
and project. It runs with autograd on (projection needs gradients); callers that only sample use `torch.no_grad`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import limits, models
from ..config import ModelConfig, from_dict
from ..data.base import DatasetInfo
from ..errors import CheckpointError, ConfigError
from ..imaging import to_uint8
from . import checkpoint as ckpt
from . import foreign
from .exported import check_meta, is_export, read_export
from .foreign.unpickle import StateDict

ClassChoice = int | str | Sequence[int | str] | None  # see LoadedGenerator.labels_for


class SeededSampler:
    """Seeds -> latents, classes -> labels, and `generate` on top of a subclass's `synthesize`: shared by the PyTorch
    generator below and the onnxruntime one (artifacts/onnx.py), so that both draw the same images from a seed.

    `truncation` (psi, Karras et al. 2019) trades variety for typicality: style-based generators pull w toward
    their average w_avg; noise-only generators (DCGAN) scale z toward its mean 0 (z * psi), the z-space analogue.
    psi = 1 is plain sampling, psi = 0 gives the same image for every seed.
    """

    model: ModelConfig  # architecture settings
    dataset: DatasetInfo  # resolution, channels, class names of the training data
    num_classes: int  # > 0 for class-conditional generators
    source: str  # the file or folder it came from

    @property
    def z_dim(self) -> int:
        return self.model.z_dim

    def latents(self, seeds: Sequence[int]) -> torch.Tensor:
        """z [N, z_dim] ~ N(0, I), one per seed: image k of seed s is the same whatever the batch."""
        if self.dataset.paired:
            raise ConfigError(
                f"{self.source} is an image-to-image model: it translates images "
                f"(`ganforge translate`) rather than sampling from noise"
            )
        seeds = [int(s) for s in seeds]
        if not seeds or any(limits.out_of_range(s, limits.TORCH_SEED) for s in seeds):
            raise ConfigError(
                f"seeds must be integers in {limits.TORCH_SEED.low}..{limits.TORCH_SEED.high}, got "
                f"{_listing([str(s) for s in seeds], 5) or 'none'}"
            )
        return torch.stack([torch.randn(self.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])

    def labels_for(self, count: int, classes: ClassChoice = None) -> torch.Tensor | None:
        """[count] class indices: one class (a name or an index) for all, one per image (a list of exactly `count`),
        or None for cycling through all classes; None for unconditional models. Errors name --class and --num."""
        if not self.num_classes:
            if classes is not None:
                raise ConfigError("--class: this generator is not class-conditional")
            return None
        if classes is None:
            return torch.arange(count) % self.num_classes
        if isinstance(classes, (int, str)):
            return torch.full((count,), self.class_index(classes), dtype=torch.long)
        classes = list(classes)
        if len(classes) != count:
            raise ConfigError(
                f"--class: {len(classes)} values for --num {count}; give one class for all images "
                f"or exactly {count}, one per image"
            )
        return torch.tensor([self.class_index(c) for c in classes], dtype=torch.long)

    def class_index(self, choice: int | str) -> int:
        """A class name (as in the training data: sub-folder, labels.json or built-in names) or index -> its index."""
        names = self.class_names
        if isinstance(choice, str) and choice in names:
            return names.index(choice)
        if isinstance(choice, str) and not choice.lstrip("-").isdigit():
            raise ConfigError(f"--class: {choice!r} is not a class of this model; classes: {_listing(names)}")
        index = int(choice)
        if not 0 <= index < self.num_classes:
            raise ConfigError(
                f"--class: {index} is not a class index of this model (0..{self.num_classes - 1}: {_listing(names)})"
            )
        return index

    @property
    def class_names(self) -> list[str]:
        """The names of the generator's classes (their indices as text where the data had no names)."""
        names = list(self.dataset.class_names)[: self.num_classes]
        return names if len(names) == self.num_classes else [str(i) for i in range(self.num_classes)]

    def synthesize(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 64, truncation: float = 1.0
    ) -> torch.Tensor:
        """z [N, z_dim] -> float images [N, C, H, W] in [-1, 1] on the CPU."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self, n: int, seed: int = 0, classes: ClassChoice = None, batch_size: int = 64, truncation: float = 1.0
    ) -> np.ndarray:
        """n images from seeds seed..seed+n-1 as uint8 [N, H, W, C]."""
        z = self.latents(range(seed, seed + n))
        images = to_uint8(self.synthesize(z, self.labels_for(n, classes), batch_size, truncation))
        return images.permute(0, 2, 3, 1).numpy()


@dataclass
class LoadedGenerator(SeededSampler):
    """A trained PyTorch generator ready to sample: `generate(n, seed=...)` returns uint8 images [N, H, W, C]."""

    module: nn.Module  # the (EMA) generator, in eval mode
    model: ModelConfig  # its architecture settings
    dataset: DatasetInfo  # resolution, channels, class names of the training data
    num_classes: int  # > 0 for class-conditional generators
    kimg: float  # training progress when saved
    stats: dict[str, Any]  # last training statistics, and metrics if any
    source: str  # the file or folder it came from

    @property
    def has_styles(self) -> bool:
        """Style-based (StyleGAN2): z -> `map` -> ws [N, num_ws, w_dim] -> `synthesis` -> images."""
        return models.is_style_based(self.module)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> LoadedGenerator:
        self.module.to(device)
        return self

    def synthesize(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 64, truncation: float = 1.0
    ) -> torch.Tensor:
        """z [N, z_dim] -> float images [N, C, H, W] in [-1, 1], in batches on the module's device."""
        check_truncation(truncation)
        out = []
        for start in range(0, len(z), batch_size):
            part = labels[start : start + batch_size].to(self.device) if labels is not None else None
            z_part = z[start : start + batch_size].to(self.device)
            if self.has_styles:  # constant noise: an image depends on its seed only
                images = self.module(z_part, part, psi=truncation, noise_mode="const")
            else:
                images = self.module(z_part * truncation, part)
            out.append(self.full_size(images.float()).cpu())
        return torch.cat(out) if out else self._empty()

    def styles(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0, batch_size: int = 64
    ) -> torch.Tensor:
        """Style-based generators: z [N, z_dim] -> ws [N, num_ws, w_dim] (truncated toward w_avg), on the CPU."""
        self._require_styles()
        check_truncation(truncation)
        out = []
        for start in range(0, len(z), batch_size):
            part = labels[start : start + batch_size].to(self.device) if labels is not None else None
            ws = self.module.map(z[start : start + batch_size].to(self.device), part, psi=truncation)
            out.append(ws.float().cpu())
        return torch.cat(out)

    def synthesize_styles(self, ws: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Style-based generators: ws [N, num_ws, w_dim] -> float images [N, C, H, W] in [-1, 1] (constant noise)."""
        self._require_styles()
        out = [
            self.full_size(
                self.module.synthesis(ws[start : start + batch_size].to(self.device), noise_mode="const").float()
            ).cpu()
            for start in range(0, len(ws), batch_size)
        ]
        return torch.cat(out) if out else self._empty()

    def full_size(self, images: torch.Tensor) -> torch.Tensor:
        """A generator saved mid-way through progressive growing draws at its stage's resolution; its images are
        scaled up (nearest neighbour, so the stage's real detail shows) to the dataset's resolution."""
        size = self.dataset.resolution
        if images.shape[-1] < size:
            images = torch.nn.functional.interpolate(images, size=(size, size), mode="nearest")
        return images

    def _require_styles(self) -> None:
        if not self.has_styles:
            raise ConfigError(
                f"{self.source} is a {self.model.name} generator without styles (map + synthesis): "
                f"it maps z straight to images"
            )

    def _empty(self) -> torch.Tensor:
        return torch.empty(0, self.dataset.channels, self.dataset.resolution, self.dataset.resolution)


def check_truncation(psi: float) -> None:
    """ConfigError naming --truncation when psi is outside limits.TRUNCATION."""
    low, high = limits.TRUNCATION
    if not low <= psi <= high:
        raise ConfigError(
            f"--truncation {psi}: must be in {low:g}..{high:g} (1 samples plainly, lower is more "
            f"typical, 0 the average image, above 1 exaggerated)"
        )


def _listing(names: Sequence[str], shown: int = 20) -> str:
    """'a, b, c' or 'a, b, ... (N in all)'."""
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _build(
    model_cfg: dict,
    dataset: dict,
    num_classes: int,
    weights: Mapping[str, torch.Tensor],
    source: str,
    kimg: float,
    stats: dict,
) -> LoadedGenerator:
    model = from_dict({"model": model_cfg}).model
    info = DatasetInfo.from_dict(dataset)
    with torch.device("meta"):  # shapes only, no memory: sizes the weights do not have are refused before allocating
        expected = models.build_generator(model, info, num_classes).state_dict()
    shapes = weights.shapes() if isinstance(weights, StateDict) else {k: tuple(v.shape) for k, v in weights.items()}
    for name, shape in shapes.items():  # a lazy state dict gives its shapes without reading its tensors
        if name in expected and shape != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: weights do not fit the {model.name} generator it describes: {name} is "
                f"{list(shape)} in the file, {list(expected[name].shape)} in the model"
            )
    module = models.build_generator(model, info, num_classes)
    try:
        if isinstance(weights, dict):
            module.load_state_dict(weights, assign=True)  # the weights become the parameters: no second copy
        else:
            _assign_weights(module, weights)
    except RuntimeError as error:
        raise CheckpointError(
            f"{source}: weights do not fit the {model.name} generator it describes: {str(error).splitlines()[0]}"
        ) from None
    return LoadedGenerator(module.eval().requires_grad_(False), model, info, num_classes, kimg, stats, source)


def _assign_weights(module: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Load a state dict that reads each tensor from its file on lookup (artifacts/foreign) into `module`, one tensor
    at a time, each becoming the parameter or buffer it replaces (as load_state_dict(assign=True)), so that only one
    of them is in memory beside the module; strict like load_state_dict (a RuntimeError names missing or unexpected
    keys and mismatched shapes)."""
    own = module.state_dict(keep_vars=True)
    missing, unexpected = sorted(own.keys() - weights.keys()), sorted(weights.keys() - own.keys())
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    for name in list(own):
        target, value = own.pop(name), weights[name]  # popped: `own` must not keep the replaced tensor alive
        if value.shape != target.shape:
            raise RuntimeError(
                f"{name} has shape {tuple(value.shape)} in the file, {tuple(target.shape)} in the network"
            )
        owner_name, _, attribute = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        if attribute in owner._parameters:
            owner._parameters[attribute] = nn.Parameter(value, requires_grad=target.requires_grad)
        else:
            owner._buffers[attribute] = value
        del value, target  # the replaced tensor is freed before the next one is read


def from_foreign(model: foreign.ForeignModel, path: Path) -> LoadedGenerator:
    """The generator of another project's file, read by its foreign reader. Consumes `model`: its discriminator and
    non-EMA generator are dropped first, so that they are not held in memory beside the built generator."""
    model.discriminator = model.generator_raw = None
    weights, model.generator = model.generator, {}
    return _build(model.model, model.dataset, model.num_classes, weights, str(path), model.kimg, {})


def load(path: str | Path, device: str | torch.device = "cpu") -> LoadedGenerator:
    """An exported folder (config.json + generator.safetensors), a training checkpoint, or another project's model
    file (an NVIDIA network pickle ...; see artifacts/foreign), as a ready generator."""
    path = Path(path).expanduser()
    if is_export(path):
        meta, weights = read_export(path)
        try:
            return _build(
                meta["model"],
                meta["dataset"],
                int(meta["num_classes"]),
                weights,
                str(path),
                float(meta.get("kimg", 0.0)),
                meta.get("stats", {}),
            ).to(device)
        except ConfigError as error:
            raise CheckpointError(f"{path / 'config.json'}: {error}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{path / 'config.json'}: missing or malformed field ({error})") from None
    if foreign.is_foreign(path):
        return from_foreign(foreign.read(path), path).to(device)
    state = ckpt.load(path)
    check_meta(
        {"model": state["config"]["model"], "dataset": state["dataset"], "num_classes": state["num_classes"]},
        state["path"],
    )
    return _build(
        state["config"]["model"],
        state["dataset"],
        int(state["num_classes"]),
        ckpt.generator_weights(state),
        state["path"],
        state["images_seen"] / 1000,
        state.get("stats", {}),
    ).to(device)


def describe(path: str | Path) -> dict[str, Any]:
    """What `ganforge info` prints: model, resolution, kimg, dataset, statistics and metrics; for another project's
    file, its format, architecture and contents (read without building a network)."""
    if foreign.is_foreign(path):
        return foreign.describe(path)
    generator = load(path)
    details = {
        "source": generator.source,
        "model": generator.model.name,
        "resolution": generator.dataset.resolution,
        "channels": generator.dataset.channels,
        "kimg": round(generator.kimg, 3),
        "dataset": generator.dataset.name,
        "classes": list(generator.dataset.class_names) if generator.num_classes else "unconditional",
        "z_dim": generator.z_dim,
        "parameters": sum(p.numel() for p in generator.module.parameters()),
        "stats": {k: v for k, v in generator.stats.items() if k != "metrics"},
    }
    if getattr(generator.module, "start_resolution", 0):
        module = generator.module
        details["growth"] = (
            f"progressive from {module.start_resolution} px; now {module.stage} px, alpha {float(module.alpha):.3f}"
        )
    if generator.stats.get("metrics"):
        details["metrics"] = generator.stats["metrics"]
    return details
