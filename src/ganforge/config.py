"""Frozen run configuration: one dataclass per concern, JSON round-trip, presets, and checks that name the flag.

Each setting is declared once, as a dataclass field made by `setting(default, flag, help, check)`: the CLI options
of `ganforge train`, the flag names in errors, the type checks of config files and the value checks all derive
from that one line. Plain data only: names that registries own (models, losses, metrics) are checked where a run
is set up (train/setup.py), so this module imports nothing of the package but its errors.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .families import FAMILIES, Family
from .limits import DEPTH, EVAL_IMAGES, LATENT_DIM, PACK, RESOLUTION, TRAIN_SEED, WIDTH, Bound, out_of_range

PRECISIONS = ("fp32", "bf16", "fp16")  # --precision choices
FORMAT_VERSION = 1  # bump when the saved layout of config/checkpoints changes incompatibly
# What the model and dataset registries hold (models/__init__.py, data/builtin.py), named here so that `--help` lists
# them without importing torch; tests/cli/test_cli.py checks that these agree with the registries.
MODEL_NAMES = tuple(FAMILIES)
DATASET_NAMES = (
    "digits",
    "stacked-digits",
    "shapes",
    "mnist",
    "lfw",
    "celeba",
    "ffhq",
    "pairs",
    "photo-edges",
    "shapes-edges",
)
Check = Callable[[Any], "str | None"]  # a value -> what is wrong with it, or None


# ---- value checks (each returns a message or None) ----------------------------------------------------------------
def at_least(low: float) -> Check:
    return lambda v: None if v >= low and math.isfinite(v) else f"must be a finite number >= {low}, got {v}"


def above(low: float) -> Check:
    return lambda v: None if v > low and math.isfinite(v) else f"must be a finite number > {low}, got {v}"


def between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be in {low}..{high}, got {v}"


def within(bound: Bound) -> Check:
    """A range from the table of limits (limits.py)."""
    return lambda v: out_of_range(v, bound)


def one_of(*choices: Any) -> Check:
    return lambda v: None if v in choices else f"choose one of {', '.join(map(str, choices))}, got {v!r}"


def power_of_two(low: int, high: int | None = None) -> Check:
    allowed = f">= {low}" if high is None else f"in {low}..{high}"
    return lambda v: (
        None
        if v >= low and (high is None or v <= high) and v & (v - 1) == 0
        else f"must be a power of two {allowed}, got {v}"
    )


def _device(value: str) -> str | None:
    if value in ("auto", "cpu", "mps") or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit()):
        return None
    return f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps"


def _json_object(text: str) -> str | None:
    """Empty, or a JSON object (the check of --arch-kwargs)."""
    if not text:
        return None
    try:
        return None if isinstance(json.loads(text), dict) else "must be a JSON object"
    except json.JSONDecodeError as error:
        return f"is not valid JSON: {error}"


def setting(default: Any, flag: str, help: str, check: Check | None = None) -> Any:
    """A config field with its CLI flag, help text and value check; the field's type annotation is its type."""
    return field(default=default, metadata={"flag": flag, "help": help, "check": check})


# ---- the settings ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataConfig:
    source: str = setting(
        "digits", "--data", "A built-in dataset, NAME:PATH (celeba:, ffhq:, mnist:, pairs:), a folder or a zip."
    )
    resolution: int | None = setting(
        None, "--resolution", "Image side in pixels (power of two); default: the dataset's.", power_of_two(*RESOLUTION)
    )
    channels: int | None = setting(
        None, "--channels", "Force 1 (grayscale) or 3 (RGB) channels; default: detected.", one_of(1, 3)
    )
    cond: bool = setting(False, "--cond", "Class-conditional training on the dataset's labels.")
    mirror: bool = setting(False, "--mirror", "Random horizontal flips of real images (of both images of a pair).")
    jitter: bool = setting(False, "--jitter", "Paired data: random 286/256 zoom-and-crop, A and B alike (pix2pix).")
    workers: int = setting(0, "--workers", "Data-loading worker processes (0: load in the main process).", at_least(0))
    subset: int = setting(
        0, "--subset", "Train on this many images only (a seeded choice), e.g. --subset 500.", at_least(0)
    )
    # unpaired translation (CycleGAN): both or neither; without them --data names a folder with trainA/ + trainB/
    # or the built-in digits-stylized
    source_a: str = setting("", "--data-a", "CycleGAN: folder or zip of domain A images (with --data-b).")
    source_b: str = setting("", "--data-b", "CycleGAN: folder or zip of domain B images (with --data-a).")


@dataclass(frozen=True)
class ModelConfig:
    name: str = setting("dcgan", "--model", "The registered model to train.")
    z_dim: int = setting(100, "--z-dim", "Length of the noise vector z ~ N(0, I).", within(LATENT_DIM))
    g_channels: int = setting(
        64, "--g-channels", "Generator width (DCGAN's ngf; StyleGAN2: at full resolution).", within(WIDTH)
    )
    d_channels: int = setting(64, "--d-channels", "Discriminator width (DCGAN's ndf).", within(WIDTH))
    max_channels: int = setting(512, "--max-channels", "Cap on any layer's width.", within(WIDTH))
    g_norm: str = setting(
        "batch", "--g-norm", "Generator normalisation: batch, instance or none.", one_of("batch", "instance", "none")
    )
    g_arch: str = setting(
        "unet",
        "--g-arch",
        "pix2pix generator: unet (Isola et al., depth from the resolution) or "
        "resnet_6blocks / resnet_9blocks (Johnson et al.'s, as in CycleGAN).",
        one_of("unet", "resnet_6blocks", "resnet_9blocks"),
    )
    d_norm: str = setting(
        "auto",
        "--d-norm",
        "Discriminator normalisation: auto (batch; layer for wgan-gp), batch, instance, layer, spectral or none.",
        one_of("auto", "batch", "instance", "layer", "spectral", "none"),
    )
    d_layers: int = setting(
        3, "--d-layers", "PatchGAN depth for image-to-image models (3: 70x70 patches).", within(DEPTH)
    )
    pack: int = setting(
        1,
        "--pack",
        "PacGAN: D judges this many samples at once, stacked along channels (2 fights mode collapse).",
        within(PACK),
    )
    w_dim: int = setting(512, "--w-dim", "StyleGAN2: length of the intermediate latent w.", within(LATENT_DIM))
    mapping_layers: int = setting(8, "--mapping-layers", "StyleGAN2: mapping-network depth.", within(DEPTH))
    style_mixing: float = setting(
        0.0, "--style-mixing", "StyleGAN2: style-mixing probability (paper: 0.9).", between(0, 1)
    )
    progressive: bool = setting(False, "--progressive", "StyleGAN2: progressive growing with fade-in (ProGAN).")
    start_resolution: int = setting(
        8, "--start-resolution", "Progressive growing: first training resolution.", power_of_two(8)
    )
    mixed_resolutions: int = setting(
        4,
        "--mixed-resolutions",
        "StyleGAN2: how many highest resolutions run in --precision bf16/fp16 (the rest fp32).",
        at_least(0),
    )
    blocks_per_stage: int = setting(
        2, "--blocks-per-stage", "R3GAN: residual blocks per resolution in G and D (paper: 2).", at_least(1)
    )
    group_channels: int = setting(
        16,
        "--group-channels",
        "R3GAN: expanded channels per group of each block's 3x3 grouped conv (paper: 16).",
        at_least(1),
    )
    arch_kwargs: str = setting(
        "",
        "--arch-kwargs",
        "Imported networks (stylegan2-ada, ...): the original "
        'constructors\' keyword arguments as a JSON object {"G": {...}, "D": {...}}, '
        "set by `ganforge import` and `train --init`; empty: built from the flags above.",
        lambda v: _json_object(v),
    )


@dataclass(frozen=True)
class LossConfig:
    name: str = setting(
        "bce", "--loss", "bce (non-saturating), hinge, wgan-gp, lsgan or rpgan (relativistic pairing, R3GAN)."
    )
    r1_gamma: float = setting(0.0, "--r1-gamma", "R1 penalty weight on reals (0: off).", at_least(0))
    r2_gamma: float = setting(
        0.0, "--r2-gamma", "R2 penalty weight on fakes (0: off; R3GAN: equal to --r1-gamma).", at_least(0)
    )
    gamma_schedule: str = setting(
        "constant",
        "--gamma-schedule",
        "Schedule of --r1-gamma and --r2-gamma: constant, "
        "or cosine (R3GAN: decay to --gamma-final-ratio of the start over "
        "--gamma-decay-kimg).",
        one_of("constant", "cosine"),
    )
    gamma_final_ratio: float = setting(
        0.1,
        "--gamma-final-ratio",
        "Cosine gamma schedule: the end value as a fraction of the start (R3GAN: 0.1).",
        between(0, 1),
    )
    gamma_decay_kimg: float = setting(
        0.0, "--gamma-decay-kimg", "Cosine gamma schedule: kimg over which gamma decays (0: over --kimg).", at_least(0)
    )
    gp_weight: float = setting(10.0, "--gp-weight", "WGAN-GP gradient-penalty weight.", at_least(0))
    l1_weight: float = setting(
        100.0, "--l1-weight", "Image-to-image: weight of the L1 distance to the target (pix2pix's lambda).", at_least(0)
    )
    r1_interval: int = setting(
        1, "--r1-interval", "Lazy R1: every N D steps, weighted by N (StyleGAN2: 16).", at_least(1)
    )
    pl_weight: float = setting(
        0.0, "--pl-weight", "StyleGAN2 path-length regularisation weight (paper: 2).", at_least(0)
    )
    pl_interval: int = setting(
        4, "--pl-interval", "Path-length regularisation every N G steps, weighted by N.", at_least(1)
    )
    mismatch: bool = setting(
        True,
        "--mismatch",
        "Class-conditional training: D also learns real images under a "
        "wrong label as fake (matching-aware D, Reed et al. 2016).",
    )
    class_weight: float = setting(
        0.0,
        "--class-weight",
        "Class-conditional DCGAN/StyleGAN2: weight of a "
        "classification loss on the projection D's class scores, on real images for D "
        "and on fakes under their label for G (dual projection, Han et al. 2021); 0: off. "
        "1 learns the label faster but narrows each class's variety.",
        at_least(0),
    )


@dataclass(frozen=True)
class OptimConfig:
    lr: float = setting(2e-4, "--lr", "Adam learning rate of G (and of D unless --lr-d).", above(0))
    lr_d: float | None = setting(None, "--lr-d", "Adam learning rate of D; default: --lr.", above(0))
    betas: tuple[float, float] = setting(
        (0.5, 0.999),
        "--betas",
        "Adam betas, two numbers (Radford et al.: 0.5 0.999; StyleGAN2: 0 0.99).",
        lambda v: None if all(0 <= b < 1 for b in v) else f"must be in [0, 1), got {v}",
    )
    d_steps: int = setting(1, "--d-steps", "D updates per G update (5 is usual for wgan-gp).", at_least(1))
    lr_decay_kimg: float = setting(
        0.0,
        "--lr-decay-kimg",
        "Decay every learning rate linearly to 0 over the last "
        "this many kimg of --kimg (0: constant; CycleGAN: half of --kimg).",
        at_least(0),
    )
    lr_schedule: str = setting(
        "constant",
        "--lr-schedule",
        "Schedule of --lr and --lr-d: constant, or cosine (R3GAN: "
        "down to --lr-final-ratio of the start over --schedule-kimg).",
        one_of("constant", "cosine"),
    )
    lr_final_ratio: float = setting(
        0.25,
        "--lr-final-ratio",
        "Cosine lr schedule: the end value as a fraction of the start (R3GAN: 2e-4 -> 5e-5, 0.25).",
        between(0, 1),
    )
    beta2_schedule: str = setting(
        "constant",
        "--beta2-schedule",
        "Schedule of Adam's beta2: constant (--betas), or "
        "cosine from --beta2-start to the beta2 of --betas over --schedule-kimg (R3GAN: "
        "0.9 -> 0.99).",
        one_of("constant", "cosine"),
    )
    beta2_start: float = setting(
        0.9,
        "--beta2-start",
        "Cosine beta2 schedule: Adam's beta2 at the start (R3GAN: 0.9).",
        lambda v: None if 0 <= v < 1 else f"must be in [0, 1), got {v}",
    )
    schedule_kimg: float = setting(
        0.0,
        "--schedule-kimg",
        "Cosine lr and beta2 schedules: kimg over which they move, then hold (0: over --kimg).",
        at_least(0),
    )


@dataclass(frozen=True)
class AugmentConfig:
    policy: str = setting(
        "none",
        "--augment",
        "none, diffaug, ada (adaptive, Karras et al. 2020), or a comma list of color, translation, cutout.",
    )
    ada_target: float = setting(
        0.6,
        "--ada-target",
        "ADA: target of r_t = E[sign(D(real))].",
        lambda v: None if 0 < v < 1 else f"must be in (0, 1), got {v}",
    )
    ada_kimg: float = setting(500.0, "--ada-kimg", "ADA: kimg for p to move from 0 to 1.", above(0))


@dataclass(frozen=True)
class TrainConfig:
    total_kimg: float = setting(
        100.0, "--kimg", "Train until this many thousand real images were shown to D.", above(0)
    )
    minutes: float = setting(
        0.0,
        "--minutes",
        "Also stop after this many minutes of training, with final samples (0: no limit).",
        at_least(0),
    )
    minutes_clock: str = setting(
        "wall",
        "--minutes-clock",
        "What --minutes counts: wall (elapsed time) or cpu (this process's CPU time, which other jobs sharing "
        "the machine do not eat into, so budgets on a busy machine stay comparable).",
        one_of("wall", "cpu"),
    )
    batch: int = setting(64, "--batch", "Global batch size (split across torchrun processes).", at_least(2))
    seed: int = setting(0, "--seed", "Seed of weights, data order, noise and augmentation.", within(TRAIN_SEED))
    ema_kimg: float = setting(10.0, "--ema-kimg", "Half-life of the generator EMA in kimg (0: no EMA).", at_least(0))
    ema_rampup: float = setting(
        0.05,
        "--ema-rampup",
        "The EMA half-life is at most this fraction of the images seen so far (0: no ramp-up).",
        at_least(0),
    )
    snapshot_every_kimg: float = setting(
        10.0, "--snapshot-kimg", "Sample grid + checkpoint interval in kimg.", above(0)
    )
    keep_checkpoints: int = setting(3, "--keep", "How many of the newest checkpoints to keep.", at_least(1))
    grid_size: int = setting(64, "--grid", "Images per sample grid.", between(1, 1024))
    device: str = setting("auto", "--device", "auto, cpu, cuda, cuda:N or mps.", _device)
    phase_kimg: float = setting(
        600.0,
        "--phase-kimg",
        "Progressive growing: kimg of each fade-in and of each stable phase (ProGAN: 600).",
        above(0),
    )
    precision: str = setting(
        "fp32",
        "--precision",
        "Mixed precision of forward passes (StyleGAN2: highest "
        "resolutions only); fp32, bf16 or fp16. For GPUs: slow on most CPUs.",
        one_of(*PRECISIONS),
    )
    compile: bool = setting(
        False,
        "--compile",
        "torch.compile the forward passes (a GPU speed-up; regularisers' double backward stays eager).",
    )
    tf32: bool = setting(
        True,
        "--tf32",
        "On CUDA GPUs, fp32 matmuls and convolutions use TensorFloat-32 tensor "
        "cores (10-bit mantissa products, fp32 sums); --no-tf32 for full fp32.",
    )
    channels_last: bool | None = setting(
        None, "--channels-last", "Conv memory format; default: on GPUs, and on CPUs for models measured faster so."
    )
    metrics_every_kimg: float = setting(
        0.0,
        "--metrics-every-kimg",
        "Evaluate G_ema this often into metrics.jsonl; keeps best.pt by --best-by (0: off).",
        at_least(0),
    )
    metrics: str = setting("fid", "--metrics", "Comma list of metrics computed during training (see ganforge eval).")
    metrics_num: int = setting(
        5000, "--metrics-num", "Generated (and at most real) images per evaluation.", within(EVAL_IMAGES)
    )
    metrics_extractor: str = setting(
        "auto",
        "--metrics-extractor",
        "Feature extractor: auto (dinov2-vitb14 for "
        "fd_dinov2, digits for digit data, else inception), or a registered name.",
    )
    best_by: str = setting(
        "auto",
        "--best-by",
        "The result best.pt follows (e.g. fid, fd_dinov2, kid, precision; "
        "its better direction is known); auto: fid if computed, else the first computed one.",
    )
    init: str = setting(
        "",
        "--init",
        "Start G, G_ema, D (and ADA's p) from a pretrained model: an NVIDIA network "
        "pickle or another file `ganforge import` reads, or an export (G only); fresh optimisers, its "
        "architecture kept.",
    )
    freeze_d: int = setting(
        0,
        "--freeze-d",
        "FreezeD (Mo et al. 2020): keep D's first N blocks (from the image side) fixed while fine-tuning.",
        at_least(0),
    )
    out: str = setting("runs", "--out", "Parent folder of numbered run directories.")
    name: str = setting("", "--name", "Run-directory suffix; default: derived from data, model and resolution.")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **dotted: Any) -> Config:
        """A copy with dotted keys (``train.total_kimg=200``) overridden, validated."""
        return from_dict(_merge(self.to_dict(), _nest(dotted)))


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # "data" -> DataConfig, ...


def settings() -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted key, field) of every setting, in declaration order."""
    for section, cls in SECTIONS.items():
        for item in dataclasses.fields(cls):
            yield f"{section}.{item.name}", item


FLAGS = {key: item.metadata["flag"] for key, item in settings()}  # "train.total_kimg" -> "--kimg"


# ---- presets: a table with named columns (NVlabs train.py's cfg_specs) ---------------------------------------
class StyleGAN2Preset(NamedTuple):
    resolution: int  # training resolution
    batch: int  # global batch
    r1_gamma: float  # R1 weight, growing with resolution
    width: int  # G and D width at full resolution
    w_dim: int  # length of z and w
    mapping_layers: int  # mapping-network depth
    pl_weight: float  # path-length regularisation (0: off)
    style_mixing: float  # style-mixing probability (0: off)
    lr: float  # Adam learning rate of G and D

    def overrides(self) -> dict[str, Any]:
        """The preset as dotted config overrides; every preset uses Adam(0, 0.99), lazy R1 every 16 D steps and an
        EMA half-life of 10 kimg, as the StyleGAN2 and ADA papers' configurations do."""
        return {
            "model.name": "stylegan2",
            "data.resolution": self.resolution,
            "train.batch": self.batch,
            "loss.r1_gamma": self.r1_gamma,
            "loss.r1_interval": 16,
            "loss.pl_weight": self.pl_weight,
            "model.g_channels": self.width,
            "model.d_channels": self.width,
            "model.z_dim": self.w_dim,
            "model.w_dim": self.w_dim,
            "model.mapping_layers": self.mapping_layers,
            "model.style_mixing": self.style_mixing,
            "optim.lr": self.lr,
            "optim.betas": (0.0, 0.99),
            "train.ema_kimg": 10.0,
            "train.ema_rampup": 0.05,
        }


class R3GANPreset(NamedTuple):
    resolution: int  # training resolution
    batch: int  # global batch
    gamma: float  # R1 and R2 weight at the start; a cosine decay takes it to a tenth
    base_channels: int  # G and D width at full resolution (widths double per halving, up to max_channels)
    max_channels: int  # width cap
    blocks_per_stage: int  # residual blocks per resolution
    kimg: float  # the run's length
    lr: float  # Adam learning rate of G and D at the start (the paper: 2e-4); a cosine takes it to a quarter
    reg_interval: int  # R1 and R2 every N D steps, weighted by N (the paper: 1)
    schedule_kimg: float  # kimg over which gamma, lr and beta2 move, then hold (0: over the run, as the paper)

    def overrides(self) -> dict[str, Any]:
        """The preset as dotted config overrides: the paper's RpGAN + R1 + R2 with gamma on a cosine schedule down to
        a tenth, Adam with beta1 0 and cosine schedules of lr (down to a quarter: 2e-4 -> 5e-5 in the paper's
        configs) and beta2 0.9 -> 0.99; z of length 64, groups of 16 channels, EMA half-life 10 kimg (the paper also
        lengthens the EMA over its runs; ganforge keeps it constant)."""
        return {
            "model.name": "r3gan",
            "data.resolution": self.resolution,
            "train.batch": self.batch,
            "loss.name": "rpgan",
            "loss.r1_gamma": self.gamma,
            "loss.r2_gamma": self.gamma,
            "loss.gamma_schedule": "cosine",
            "loss.gamma_final_ratio": 0.1,
            "loss.gamma_decay_kimg": self.schedule_kimg,
            "loss.r1_interval": self.reg_interval,
            "train.total_kimg": self.kimg,
            "model.g_channels": self.base_channels,
            "model.d_channels": self.base_channels,
            "model.max_channels": self.max_channels,
            "model.blocks_per_stage": self.blocks_per_stage,
            "model.group_channels": 16,
            "model.z_dim": 64,
            "optim.lr": self.lr,
            "optim.betas": (0.0, 0.99),
            "optim.schedule_kimg": self.schedule_kimg,
            "optim.lr_schedule": "cosine",
            "optim.lr_final_ratio": 0.25,
            "optim.beta2_schedule": "cosine",
            "optim.beta2_start": 0.9,
            "train.ema_kimg": 10.0,
            "train.ema_rampup": 0.05,
        }


# what the R3GAN authors' configurations share: 2 blocks per stage, 20 M images, lr 2e-4, penalties every D step,
# every schedule over the whole run
R3GAN_PAPER_RATES: dict[str, Any] = {
    "blocks_per_stage": 2,
    "kimg": 20000.0,
    "lr": 2e-4,
    "reg_interval": 1,
    "schedule_kimg": 0.0,
}

# Applied before --config and flags. Path-length regularisation and style mixing 0.9 from 64 px up; the CIFAR-sized
# config drops both.
PRESETS: dict[str, StyleGAN2Preset | R3GANPreset] = {
    "stylegan2-32": StyleGAN2Preset(
        resolution=32,
        batch=32,
        r1_gamma=0.01,
        width=32,
        w_dim=128,
        mapping_layers=2,
        pl_weight=0.0,
        style_mixing=0.0,
        lr=0.0025,
    ),  # small enough for a CPU
    "stylegan2-64": StyleGAN2Preset(
        resolution=64,
        batch=32,
        r1_gamma=0.05,
        width=64,
        w_dim=512,
        mapping_layers=2,
        pl_weight=2.0,
        style_mixing=0.9,
        lr=0.0025,
    ),
    "stylegan2-256": StyleGAN2Preset(
        resolution=256,
        batch=32,
        r1_gamma=1.0,
        width=64,
        w_dim=512,
        mapping_layers=8,
        pl_weight=2.0,
        style_mixing=0.9,
        lr=0.0025,
    ),
    "stylegan2-1024": StyleGAN2Preset(
        resolution=1024,
        batch=32,
        r1_gamma=10.0,
        width=32,
        w_dim=512,
        mapping_layers=8,
        pl_weight=2.0,
        style_mixing=0.9,
        lr=0.002,
    ),
    # R3GAN (Huang et al. 2024): the authors' CIFAR-10, FFHQ-64 and FFHQ-256 configurations (widths 768 capped, 2
    # blocks per stage, gamma 0.05 / 2 / 150 decaying over 20 M images, lr 2e-4, penalties every step)
    "r3gan-32": R3GANPreset(32, batch=512, gamma=0.05, base_channels=768, max_channels=768, **R3GAN_PAPER_RATES),
    "r3gan-64": R3GANPreset(64, batch=256, gamma=2.0, base_channels=384, max_channels=768, **R3GAN_PAPER_RATES),
    "r3gan-256": R3GANPreset(256, batch=256, gamma=150.0, base_channels=96, max_channels=768, **R3GAN_PAPER_RATES),
    # a CPU-sized 32 px model with the rates measured best in 30 CPU-minutes on stacked digits (docs/train.md):
    # 5x the paper's lr, 10x its CIFAR gamma, lazy penalties, schedules that end where a 30-CPU-minute run is
    "r3gan-32-cpu": R3GANPreset(
        resolution=32,
        batch=32,
        gamma=0.5,
        base_channels=32,
        max_channels=128,
        blocks_per_stage=1,
        kimg=200.0,
        lr=1e-3,
        reg_interval=16,
        schedule_kimg=170.0,
    ),
}


# ---- building and checking --------------------------------------------------------------------------------------
def flag(key: str) -> str:
    """The CLI flag for a dotted config key, or the key itself in config-file terms."""
    return FLAGS.get(key, f"config key {key!r}")


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        section, _, name = key.partition(".")
        if not name:
            raise ConfigError(f"config key {key!r} must look like 'section.field'")
        nested.setdefault(section, {})[name] = value
    return nested


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    if not isinstance(override, dict):
        raise ConfigError(
            f"a config must be a JSON object of sections ({', '.join(SECTIONS)}), not {type(override).__name__}"
        )
    for section, values in override.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r}; sections: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"config section {section!r} must be an object of settings")
        merged.setdefault(section, {}).update(values)
    return merged


_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "tuple[float, float]": "two numbers",
}


def _typed(key: str, annotation: str, value: Any) -> Any:
    """`value` as the field's type (ints are accepted for floats, lists for tuples); a ConfigError names the flag."""
    base, _, optional = annotation.partition(" | ")
    if value is None and optional == "None":
        return None
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base == "str" and isinstance(value, str):
        return value
    if (
        base == "tuple[float, float]"
        and isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return tuple(float(v) for v in value)
    raise ConfigError(f"{flag(key)}: expected {_TYPE_NAMES.get(base, base)}, got {value!r}")


def from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from nested plain data (e.g. a config.json); unknown keys are errors."""
    raw = _merge({}, raw)
    sections = {}
    for section, cls in SECTIONS.items():
        values = dict(raw.get(section, {}))
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(fields)
        if unknown:
            raise ConfigError(f"unknown config key(s) {sorted(unknown)} in section {section!r}")
        sections[section] = cls(
            **{name: _typed(f"{section}.{name}", fields[name].type, value) for name, value in values.items()}
        )
    config = Config(**sections)
    validate(config)
    return config


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file (a saved run's config.json works) into nested plain data."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config file {path} is not valid JSON: {error}") from None
    except OSError as error:
        raise ConfigError(f"--config file {path} cannot be read: {error.strerror}") from None


def resolve(
    overrides: dict[str, Any] | None = None, config_file: str | Path | None = None, preset: str | None = None
) -> Config:
    """Defaults <- preset <- config file <- dotted overrides (CLI flags), validated into one frozen Config."""
    raw = Config().to_dict()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
        raw = _merge(raw, _nest(PRESETS[preset].overrides()))
    if config_file is not None:
        raw = _merge(raw, load_file(config_file))
    if overrides:
        raw = _merge(raw, _nest(overrides))
    return from_dict(raw)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{flag(key)}: {message}")


def _check_family(c: Config) -> None:
    """Refuse a setting the model's family would silently ignore (families.py: `refuses`, `losses`)."""
    family = FAMILIES.get(c.model.name)
    if family is None:
        return
    default = Config()
    problems = [key for key in family.refuses if _get(c, key) != _get(default, key)]
    if family.losses is not None and c.loss.name not in (default.loss.name, *family.losses):
        problems.insert(0, "loss.name")
    if problems:
        raise ConfigError(
            f"{flag(problems[0])}: not available for --model {c.model.name}, which trains with {family.trains_with}"
        )


def _get(c: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(c, section), name)


def validate(c: Config) -> None:
    """Raise ConfigError naming the flag of the first invalid value: each setting's own check, then the rules that
    tie settings together."""
    for key, item in settings():
        section, name = key.split(".")
        value = getattr(getattr(c, section), name)
        check = item.metadata["check"]
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise ConfigError(f"{flag(key)}: {problem}")
    d, m, lo, t = c.data, c.model, c.loss, c.train
    _check_family(c)
    family = FAMILIES.get(m.name, Family())  # a name only a test registers: the settings every family accepts
    style_based = ", ".join(name for name, f in FAMILIES.items() if f.style_based)
    _check(
        lo.pl_weight == 0 or family.style_based,
        "loss.pl_weight",
        f"path-length regularisation needs a style-based --model ({style_based})",
    )
    _check(
        m.style_mixing == 0 or family.style_based,
        "model.style_mixing",
        f"style mixing needs a style-based --model ({style_based}); {m.name!r} has no W space",
    )
    _check(
        not m.progressive or family.progressive,
        "model.progressive",
        f"progressive growing needs --model {' or '.join(n for n, f in FAMILIES.items() if f.progressive)} "
        f"(got {m.name!r})",
    )
    _check(
        not m.progressive or d.resolution is None or m.start_resolution < d.resolution,
        "model.start_resolution",
        f"must be below --resolution {d.resolution} to grow from it",
    )
    _check(
        m.pack == 1 or (not d.cond and family.packs),
        "model.pack",
        "packing needs unconditional noise-to-image training (no --cond, not an image-to-image --model)",
    )
    _check(t.batch % m.pack == 0, "model.pack", f"--batch {t.batch} must be a multiple of --pack {m.pack}")
    _check(
        not (lo.name == "wgan-gp" and m.d_norm == "batch"),
        "model.d_norm",
        "batch norm in D breaks the WGAN-GP penalty (per-sample gradients); use layer, instance or none",
    )
