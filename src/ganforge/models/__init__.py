"""Model registry: each entry builds a (generator, discriminator) pair from its own config and the dataset's shape."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..config import ModelConfig
from ..data.base import DatasetInfo
from ..errors import ConfigError
from ..families import Task
from ..registry import Registry
from .cyclegan import RESNET_BLOCKS, CycleDiscriminators, CycleGenerators, ResNetGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .nvidia_sg2 import NvidiaDiscriminator, NvidiaGenerator, stored_kwargs
from .pix2pix import PatchDiscriminator, UNetGenerator
from .r3gan import R3GANDiscriminator, R3GANGenerator
from .stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from .stylegan3 import StyleGAN3Generator


@dataclass(frozen=True)
class ModelSpec:
    generator: Callable[[ModelConfig, DatasetInfo, int], nn.Module]  # (cfg, info, num_classes) -> G
    discriminator: Callable[[ModelConfig, DatasetInfo, int, str], nn.Module]  # (cfg, info, num_classes, d_norm) -> D
    min_resolution: int = 8
    max_resolution: int = 1024
    task: Task = Task.NOISE_TO_IMAGE  # what kind of model it is (families.py); its data and objective follow from it
    objective: str = ""  # the training objective's name (train/objectives.py) if not the task's own
    cpu_channels_last: bool = True  # measured faster on CPU in channels_last (bench/); always used on GPU
    trainable: bool = True  # False: the generator builds (imported networks), `discriminator` refuses with the reason

    @property
    def objective_name(self) -> str:
        """Its training objective in training/objectives.OBJECTIVES."""
        return self.objective or self.task.value


MODELS: Registry[ModelSpec] = Registry("model")


def _growth_start(cfg: ModelConfig) -> int:
    """The first resolution of progressive growing, or 0 without it."""
    return cfg.start_resolution if cfg.progressive else 0


MODELS.register("dcgan")(
    ModelSpec(
        generator=lambda cfg, info, num_classes: DCGANGenerator(
            cfg.z_dim, info.resolution, info.channels, num_classes, cfg.g_channels, cfg.max_channels, cfg.g_norm
        ),
        discriminator=lambda cfg, info, num_classes, d_norm: DCGANDiscriminator(
            info.resolution, info.channels, num_classes, cfg.d_channels, cfg.max_channels, d_norm
        ),
        min_resolution=8,
        max_resolution=256,
    )
)

MODELS.register("stylegan2")(
    ModelSpec(
        generator=lambda cfg, info, num_classes: StyleGAN2Generator(
            cfg.z_dim,
            cfg.w_dim,
            info.resolution,
            info.channels,
            num_classes,
            cfg.g_channels,
            cfg.max_channels,
            cfg.mapping_layers,
            cfg.style_mixing,
            start_resolution=_growth_start(cfg),
            mixed_resolutions=cfg.mixed_resolutions,
        ),
        discriminator=lambda cfg, info, num_classes, d_norm: StyleGAN2Discriminator(
            info.resolution,
            info.channels,
            num_classes,
            cfg.d_channels,
            cfg.max_channels,
            _growth_start(cfg),
            cfg.mixed_resolutions,
        ),
        min_resolution=8,
        max_resolution=1024,
    )
)

MODELS.register("r3gan")(
    ModelSpec(  # Huang et al. 2024; no normalisation, so --g-norm/--d-norm do not apply
        generator=lambda cfg, info, num_classes: R3GANGenerator(
            cfg.z_dim,
            info.resolution,
            info.channels,
            num_classes,
            cfg.g_channels,
            cfg.max_channels,
            cfg.blocks_per_stage,
            cfg.group_channels,
        ),
        discriminator=lambda cfg, info, num_classes, d_norm: R3GANDiscriminator(
            info.resolution,
            info.channels,
            num_classes,
            cfg.d_channels,
            cfg.max_channels,
            cfg.blocks_per_stage,
            cfg.group_channels,
        ),
        min_resolution=8,
        max_resolution=1024,
    )
)


def _sg2ada_kwargs(cfg: ModelConfig, info: DatasetInfo, num_classes: int, network: str) -> dict:
    """NVIDIA's constructor kwargs for G or D: those stored with an imported network (checked against the data),
    or, training from scratch, NVIDIA's configuration built from ganforge's flags."""
    stored = stored_kwargs(cfg.arch_kwargs, network)
    if stored is not None:
        resolution = stored.get("img_resolution")
        if (resolution, stored.get("img_channels"), stored.get("c_dim")) != (
            info.resolution,
            info.channels,
            num_classes,
        ):
            raise ConfigError(
                f"--arch-kwargs: the imported {network} is {resolution} px, {stored.get('img_channels')} "
                f"channels, {stored.get('c_dim')} classes; the data is {info.resolution} px, "
                f"{info.channels} channels, {num_classes} classes"
            )
        return stored
    common = {"c_dim": num_classes, "img_resolution": info.resolution, "img_channels": info.channels}
    widths = {
        "channel_base": cfg.g_channels * info.resolution if network == "G" else cfg.d_channels * info.resolution,
        "channel_max": cfg.max_channels,
        "num_fp16_res": cfg.mixed_resolutions,
        "conv_clamp": 256 if cfg.mixed_resolutions else None,
    }
    if network == "G":
        return {
            **common,
            "z_dim": cfg.z_dim,
            "w_dim": cfg.w_dim,
            "mapping_kwargs": {"num_layers": cfg.mapping_layers},
            "synthesis_kwargs": {**widths, "architecture": "skip"},
        }
    return {**common, **widths, "architecture": "resnet"}


MODELS.register("stylegan2-ada")(
    ModelSpec(  # NVIDIA-exact StyleGAN2-ADA (imported pickles; also from scratch)
        generator=lambda cfg, info, num_classes: NvidiaGenerator(
            **_sg2ada_kwargs(cfg, info, num_classes, "G"), style_mixing=cfg.style_mixing
        ),
        discriminator=lambda cfg, info, num_classes, d_norm: NvidiaDiscriminator(
            **_sg2ada_kwargs(cfg, info, num_classes, "D")
        ),
        min_resolution=4,
        max_resolution=1024,
    )
)


def _stylegan3_generator(cfg: ModelConfig, info: DatasetInfo, num_classes: int) -> nn.Module:
    """NVIDIA's StyleGAN3 generator from the constructor kwargs stored with an imported pickle (checked against the
    data's shape), or without them a -T configuration from ganforge's flags (untrained: the family is not trained
    here, see `trainable`)."""
    if stored_kwargs(cfg.arch_kwargs, "G") is None:
        return StyleGAN3Generator(
            z_dim=cfg.z_dim,
            c_dim=num_classes,
            w_dim=cfg.w_dim,
            img_resolution=info.resolution,
            img_channels=info.channels,
            mapping_kwargs={"num_layers": cfg.mapping_layers},
            channel_base=cfg.g_channels * info.resolution,
            channel_max=cfg.max_channels,
        )
    try:
        return StyleGAN3Generator(**_sg2ada_kwargs(cfg, info, num_classes, "G"))
    except TypeError as error:  # a stored argument the architecture does not have
        raise ConfigError(f"--arch-kwargs: not a StyleGAN3 generator's arguments ({error})") from None


def _no_stylegan3_training(cfg: ModelConfig, info: DatasetInfo, num_classes: int, d_norm: str) -> nn.Module:
    raise ConfigError(
        "--model stylegan3: training (or fine-tuning with --init) StyleGAN3 is not supported; "
        "imported StyleGAN3 pickles sample, project, edit, export and serve. Fine-tune a StyleGAN2-ADA "
        "pickle instead"
    )


MODELS.register("stylegan3")(
    ModelSpec(  # NVIDIA's alias-free StyleGAN3 -T / -R, imported pickles only
        generator=_stylegan3_generator,
        discriminator=_no_stylegan3_training,
        min_resolution=16,
        max_resolution=1024,
        trainable=False,
    )
)


def _pix2pix_generator(cfg: ModelConfig, info: DatasetInfo) -> nn.Module:
    """The U-Net (pix2pix's own), or a ResNet with `--g-arch resnet_Nblocks` (the authors' code offers both)."""
    if cfg.g_arch == "unet":
        return UNetGenerator(
            info.resolution, info.input_channels, info.channels, cfg.g_channels, cfg.max_channels, cfg.g_norm
        )
    return ResNetGenerator(
        info.resolution,
        info.input_channels,
        info.channels,
        cfg.g_channels,
        blocks=RESNET_BLOCKS[cfg.g_arch],
        norm=cfg.g_norm,
    )


MODELS.register("pix2pix")(
    ModelSpec(
        generator=lambda cfg, info, num_classes: _pix2pix_generator(cfg, info),
        discriminator=lambda cfg, info, num_classes, d_norm: PatchDiscriminator(
            info.resolution, info.input_channels, info.channels, cfg.d_channels, cfg.max_channels, cfg.d_layers, d_norm
        ),
        min_resolution=16,
        max_resolution=2048,
        task=Task.PAIRED,
        cpu_channels_last=False,  # bench/pix2pix.py: CPU conv backward re-lays out its 4x4 weights, 10% slower
    )
)

MODELS.register("cyclegan")(
    ModelSpec(  # Zhu et al. 2017: instance norm in G and D as in the paper (not --g/d-norm)
        generator=lambda cfg, info, num_classes: CycleGenerators(info.resolution, info.channels, cfg.g_channels),
        discriminator=lambda cfg, info, num_classes, d_norm: CycleDiscriminators(
            info.resolution, info.channels, cfg.d_channels, cfg.max_channels, cfg.d_layers
        ),
        min_resolution=16,
        max_resolution=1024,
        task=Task.UNPAIRED,  # two image sets, no pairs (training/unpaired.py)
        cpu_channels_last=False,
    )
)


def resolve_d_norm(d_norm: str, loss_name: str) -> str:
    """'auto' -> batch norm (Radford), or layer norm for WGAN-GP whose penalty needs per-sample gradients."""
    if d_norm != "auto":
        return d_norm
    return "layer" if loss_name == "wgan-gp" else "batch"


def _check_resolution(cfg: ModelConfig, info: DatasetInfo) -> ModelSpec:
    spec = MODELS.get(cfg.name)
    if Task.UNPAIRED in (spec.task, info.task):
        if spec.task != info.task:
            raise ConfigError(
                f"--model {cfg.name}: unpaired data (two independent image sets) goes with --model "
                f"cyclegan, and cyclegan needs it (--data-a/--data-b, trainA/ + trainB/)"
            )
    elif spec.task != info.task:
        raise ConfigError(
            f"--model {cfg.name} "
            + (
                "translates images and needs paired data"
                if spec.task.translates
                else "generates from noise and cannot use paired data"
            )
        )
    if not spec.min_resolution <= info.resolution <= spec.max_resolution:
        raise ConfigError(
            f"--resolution {info.resolution}: model {cfg.name!r} supports {spec.min_resolution}..{spec.max_resolution}"
        )
    return spec


def is_style_based(module: nn.Module) -> bool:
    """Style-based generators (StyleGAN2) expose z -> `map` -> ws [N, num_ws, w_dim] -> `synthesis` -> images."""
    return callable(getattr(module, "map", None)) and callable(getattr(module, "synthesis", None))


def build_generator(cfg: ModelConfig, info: DatasetInfo, num_classes: int = 0) -> nn.Module:
    return _check_resolution(cfg, info).generator(cfg, info, num_classes)


def build(
    cfg: ModelConfig, info: DatasetInfo, num_classes: int = 0, loss_name: str = "bce"
) -> tuple[nn.Module, nn.Module]:
    """(G, D) for the dataset's resolution and channels; num_classes > 0 makes both class-conditional.

    `cfg.pack` > 1 (PacGAN, Lin et al. 2018): D judges `pack` images at once, stacked along channels."""
    spec = _check_resolution(cfg, info)
    d_norm = resolve_d_norm(cfg.d_norm, loss_name)
    d_info = dataclasses.replace(info, channels=info.channels * cfg.pack)
    return spec.generator(cfg, info, num_classes), spec.discriminator(cfg, d_info, num_classes, d_norm)
