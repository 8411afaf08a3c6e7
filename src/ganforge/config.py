"""Frozen, validated run configuration: one dataclass per concern, JSON round-trip, CLI-flag names in errors."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")  # --precision choices
FORMAT_VERSION = 1  # bump when the saved layout of config/checkpoints changes incompatibly


@dataclass(frozen=True)
class DataConfig:
    source: str = "digits"  # built-in name, image folder, zip, or NAME:PATH (e.g. celeba:/data/celeba.zip)
    resolution: int | None = None  # output side in pixels; None: the dataset's native/default size
    channels: int | None = None  # 1 or 3; None: detected from the data
    cond: bool = False  # train class-conditionally on the dataset's labels
    mirror: bool = False  # random horizontal flips of real images (of both images of a pair alike)
    jitter: bool = False  # paired data: enlarge by 286/256 and crop back at a random place, A and B alike (pix2pix)
    workers: int = 0  # data-loader worker processes (0: load in the main process)
    subset: int = 0  # > 0: train on this many images only (a seeded choice), e.g. to study small-data training
    # unpaired translation (CycleGAN): the two domains' image folders/zips; both or neither (then --data names a
    # folder with trainA/ and trainB/, or a built-in unpaired set such as digits-stylized)
    source_a: str = ""  # domain A (--data-a)
    source_b: str = ""  # domain B (--data-b)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "dcgan"  # registered model name
    z_dim: int = 100  # length of the noise vector z ~ N(0, I)
    g_channels: int = 64  # generator width (DCGAN's ngf)
    d_channels: int = 64  # discriminator width (DCGAN's ndf)
    max_channels: int = 512  # cap on any layer's width
    g_norm: str = "batch"  # batch | instance | none
    d_norm: str = "auto"  # batch | instance | layer | spectral | none; auto: batch, or layer for wgan-gp
    d_layers: int = 3  # PatchGAN depth for image-to-image models (3: 70x70 patches)
    pack: int = 1  # PacGAN: D judges this many samples at once, stacked along channels (fights mode collapse)
    w_dim: int = 512  # StyleGAN2: length of the intermediate latent w
    mapping_layers: int = 8  # StyleGAN2: depth of the mapping network
    style_mixing: float = 0.0  # StyleGAN2: probability of style-mixing regularisation (paper: 0.9)
    progressive: bool = False  # StyleGAN2: progressive growing (ProGAN): start small, fade in each doubled resolution
    start_resolution: int = 8  # progressive growing: the first training resolution
    mixed_resolutions: int = 4  # StyleGAN2: this many highest resolutions run in --precision bf16/fp16 (the rest fp32)


@dataclass(frozen=True)
class LossConfig:
    name: str = "bce"  # bce (non-saturating) | hinge | wgan-gp | lsgan
    r1_gamma: float = 0.0  # weight of the R1 penalty on real images (0: off)
    gp_weight: float = 10.0  # WGAN-GP gradient-penalty weight
    l1_weight: float = 100.0  # image-to-image models: weight of the L1 distance to the target (pix2pix lambda)
    r1_interval: int = 1  # lazy regularisation: R1 every N D steps, weighted by N (StyleGAN2: 16)
    pl_weight: float = 0.0  # StyleGAN2 path-length regularisation weight (paper: 2)
    pl_interval: int = 4  # path-length regularisation every N G steps, weighted by N


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4  # Adam learning rate of G (and of D unless lr_d is set)
    lr_d: float | None = None  # Adam learning rate of D; None: same as lr
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas (Radford et al.)
    d_steps: int = 1  # D updates per G update (5 is usual for wgan-gp)


@dataclass(frozen=True)
class AugmentConfig:
    policy: str = "none"  # none | diffaug | ada | comma list of color, translation, cutout
    ada_target: float = 0.6  # ADA: target of the overfitting heuristic r_t = E[sign(D(real))]
    ada_kimg: float = 500.0  # ADA: p can move from 0 to 1 within this many kimg


@dataclass(frozen=True)
class TrainConfig:
    total_kimg: float = 100.0  # train until this many thousand real images have been shown to D
    minutes: float = 0.0  # also stop (with a final snapshot) after this much wall-clock time (0: no limit)
    batch: int = 64  # global batch size (split across ranks)
    seed: int = 0  # seeds data order, noise, augmentation, and initial weights
    ema_kimg: float = 10.0  # half-life of the generator EMA, in kimg (0: no EMA)
    ema_rampup: float = 0.05  # EMA half-life is at most this fraction of the images seen so far
    snapshot_every_kimg: float = 10.0  # sample grid + checkpoint interval
    keep_checkpoints: int = 3  # how many of the newest checkpoints to keep
    grid_size: int = 64  # images in each sample grid
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    phase_kimg: float = 600.0  # progressive growing: kimg of each fade-in and of each stable phase (ProGAN: 600)
    precision: str = "fp32"  # fp32 | bf16 | fp16: mixed precision (autocast) of the forward passes
    compile: bool = False  # torch.compile the plain forward passes (regularisers' double backward stays eager)
    channels_last: bool | None = None  # conv memory format; None: on GPU, and on CPU where the model is faster so
    metrics_every_kimg: float = 0.0  # evaluate G_ema this often into metrics.jsonl; keep best.pt by FID (0: off)
    metrics: str = "fid"  # comma list of metrics to compute during training (see `ganforge eval`)
    metrics_num: int = 5000  # generated (and at most real) images per evaluation
    metrics_extractor: str = "auto"  # feature extractor; auto: digits for digit data, else inception
    out: str = "runs"  # parent folder of numbered run directories
    name: str = ""  # run-dir suffix; empty: derived from data and model


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

    def replace(self, **dotted: Any) -> "Config":
        """A copy with dotted keys (``train.total_kimg=200``) overridden, validated."""
        return from_dict(_merge(self.to_dict(), _nest(dotted)))


# The CLI flag that sets each field, so errors speak the user's language.
FLAGS = {
    "data.source": "--data", "data.resolution": "--resolution", "data.channels": "--channels",
    "data.cond": "--cond", "data.mirror": "--mirror", "data.jitter": "--jitter", "data.workers": "--workers", "data.subset": "--subset",
    "data.source_a": "--data-a", "data.source_b": "--data-b",
    "model.name": "--model", "model.z_dim": "--z-dim", "model.g_channels": "--g-channels",
    "model.d_channels": "--d-channels", "model.g_norm": "--g-norm", "model.d_norm": "--d-norm",
    "model.d_layers": "--d-layers", "model.pack": "--pack", "loss.l1_weight": "--l1-weight", "model.w_dim": "--w-dim",
    "model.mapping_layers": "--mapping-layers", "model.style_mixing": "--style-mixing",
    "model.progressive": "--progressive", "model.start_resolution": "--start-resolution",
    "model.mixed_resolutions": "--mixed-resolutions", "train.phase_kimg": "--phase-kimg",
    "train.precision": "--precision", "train.compile": "--compile",
    "loss.r1_interval": "--r1-interval", "loss.pl_weight": "--pl-weight", "loss.pl_interval": "--pl-interval",
    "loss.name": "--loss", "loss.r1_gamma": "--r1-gamma", "loss.gp_weight": "--gp-weight",
    "optim.lr": "--lr", "optim.lr_d": "--lr-d", "optim.d_steps": "--d-steps", "augment.policy": "--augment", "augment.ada_target": "--ada-target",
    "augment.ada_kimg": "--ada-kimg",
    "train.total_kimg": "--kimg", "train.minutes": "--minutes", "train.batch": "--batch", "train.seed": "--seed",
    "train.ema_kimg": "--ema-kimg", "train.snapshot_every_kimg": "--snapshot-kimg",
    "train.keep_checkpoints": "--keep", "train.grid_size": "--grid", "train.device": "--device",
    "train.out": "--out", "train.name": "--name", "train.metrics_every_kimg": "--metrics-every-kimg",
    "train.metrics": "--metrics", "train.metrics_num": "--metrics-num", "train.metrics_extractor": "--metrics-extractor",
}

_SECTION_CLASSES = {
    "data": DataConfig, "model": ModelConfig, "loss": LossConfig,
    "optim": OptimConfig, "augment": AugmentConfig, "train": TrainConfig,
}


def _stylegan2(resolution: int, batch: int, gamma: float, base: int, w_dim: int, mapping: int, pl: float,
               mixing: float, lr: float) -> dict[str, Any]:
    return {"model.name": "stylegan2", "data.resolution": resolution, "train.batch": batch, "loss.r1_gamma": gamma,
            "loss.r1_interval": 16, "loss.pl_weight": pl, "model.g_channels": base, "model.d_channels": base,
            "model.z_dim": w_dim, "model.w_dim": w_dim, "model.mapping_layers": mapping, "model.style_mixing": mixing,
            "optim.lr": lr, "optim.betas": (0.0, 0.99), "train.ema_kimg": 10.0, "train.ema_rampup": 0.05}


# Small dicts of overrides (--preset), applied before --config and flags. StyleGAN2 values follow the StyleGAN2 and
# ADA papers' configurations: Adam(0, 0.99), lazy R1 every 16 steps with gamma growing with resolution, path-length
# regularisation and style mixing 0.9 from 64 px up (the CIFAR-sized config drops both), EMA half-life 10 kimg.
PRESETS: dict[str, dict[str, Any]] = {
    "stylegan2-32": _stylegan2(32, 32, 0.01, 32, 128, 2, 0.0, 0.0, 0.0025),  # small enough for a CPU
    "stylegan2-64": _stylegan2(64, 32, 0.05, 64, 512, 2, 2.0, 0.9, 0.0025),
    "stylegan2-256": _stylegan2(256, 32, 1.0, 64, 512, 8, 2.0, 0.9, 0.0025),
    "stylegan2-1024": _stylegan2(1024, 32, 10.0, 32, 512, 8, 2.0, 0.9, 0.002),
}


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
    for section, values in override.items():
        if section not in _SECTION_CLASSES:
            raise ConfigError(f"unknown config section {section!r}; sections: {', '.join(_SECTION_CLASSES)}")
        merged.setdefault(section, {}).update(values)
    return merged


def from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from nested plain data (e.g. a config.json); unknown keys are errors."""
    sections = {}
    for section, cls in _SECTION_CLASSES.items():
        values = dict(raw.get(section, {}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown config key(s) {sorted(unknown)} in section {section!r}")
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        sections[section] = cls(**values)
    extra = set(raw) - set(_SECTION_CLASSES)
    if extra:
        raise ConfigError(f"unknown config section(s) {sorted(extra)}")
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
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config file {path} is not valid JSON: {error}") from None


def resolve(overrides: dict[str, Any] | None = None, config_file: str | Path | None = None,
            preset: str | None = None) -> Config:
    """Defaults <- preset <- config file <- dotted overrides (CLI flags), validated into one frozen Config."""
    raw = Config().to_dict()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
        raw = _merge(raw, _nest(PRESETS[preset]))
    if config_file is not None:
        raw = _merge(raw, load_file(config_file))
    if overrides:
        raw = _merge(raw, _nest(overrides))
    return from_dict(raw)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{flag(key)}: {message}")


def validate(c: Config) -> None:
    """Raise ConfigError naming the flag of the first invalid value."""
    d, m, lo, o, t = c.data, c.model, c.loss, c.optim, c.train
    _check(d.resolution is None or (d.resolution >= 4 and d.resolution & (d.resolution - 1) == 0),
           "data.resolution", f"must be a power of two >= 4, got {d.resolution}")
    _check(d.channels in (None, 1, 3), "data.channels", f"must be 1 or 3, got {d.channels}")
    _check(d.workers >= 0, "data.workers", f"must be >= 0, got {d.workers}")
    _check(d.subset >= 0, "data.subset", f"must be >= 0, got {d.subset}")
    _check(m.z_dim >= 1, "model.z_dim", f"must be >= 1, got {m.z_dim}")
    _check(m.g_channels >= 1 and m.d_channels >= 1, "model.g_channels", "widths must be >= 1")
    _check(m.g_norm in ("batch", "instance", "none"), "model.g_norm", f"unknown norm {m.g_norm!r}")
    _check(m.d_norm in ("auto", "batch", "instance", "layer", "spectral", "none"), "model.d_norm",
           f"unknown norm {m.d_norm!r}")
    _check(lo.r1_gamma >= 0, "loss.r1_gamma", f"must be >= 0, got {lo.r1_gamma}")
    _check(0 < c.augment.ada_target < 1, "augment.ada_target", f"must be in (0, 1), got {c.augment.ada_target}")
    _check(c.augment.ada_kimg > 0, "augment.ada_kimg", f"must be > 0, got {c.augment.ada_kimg}")
    _check(m.w_dim >= 1, "model.w_dim", f"must be >= 1, got {m.w_dim}")
    _check(m.mapping_layers >= 1, "model.mapping_layers", f"must be >= 1, got {m.mapping_layers}")
    _check(0 <= m.style_mixing <= 1, "model.style_mixing", f"must be in 0..1, got {m.style_mixing}")
    _check(lo.r1_interval >= 1, "loss.r1_interval", f"must be >= 1, got {lo.r1_interval}")
    _check(lo.pl_interval >= 1, "loss.pl_interval", f"must be >= 1, got {lo.pl_interval}")
    _check(lo.pl_weight >= 0, "loss.pl_weight", f"must be >= 0, got {lo.pl_weight}")
    _check(lo.pl_weight == 0 or m.name == "stylegan2", "loss.pl_weight", "path-length regularisation needs --model stylegan2")
    _check(not m.progressive or m.name == "stylegan2", "model.progressive",
           f"progressive growing needs --model stylegan2 (got {m.name!r})")
    _check(m.start_resolution >= 8 and m.start_resolution & (m.start_resolution - 1) == 0, "model.start_resolution",
           f"must be a power of two >= 8, got {m.start_resolution}")
    _check(not m.progressive or d.resolution is None or m.start_resolution < d.resolution, "model.start_resolution",
           f"must be below --resolution {d.resolution} to grow from it")
    _check(m.mixed_resolutions >= 0, "model.mixed_resolutions", f"must be >= 0, got {m.mixed_resolutions}")
    _check(t.phase_kimg > 0, "train.phase_kimg", f"must be > 0, got {t.phase_kimg}")
    _check(t.precision in PRECISIONS, "train.precision", f"choose one of {', '.join(PRECISIONS)}, got {t.precision!r}")
    _check(m.pack >= 1, "model.pack", f"must be >= 1, got {m.pack}")
    _check(m.pack == 1 or (not d.cond and m.name != "pix2pix"), "model.pack",
           "packing needs unconditional noise-to-image training (no --cond, not pix2pix)")
    _check(t.batch % m.pack == 0, "model.pack", f"--batch {t.batch} must be a multiple of --pack {m.pack}")
    _check(m.d_layers >= 1, "model.d_layers", f"must be >= 1, got {m.d_layers}")
    _check(lo.l1_weight >= 0, "loss.l1_weight", f"must be >= 0, got {lo.l1_weight}")
    _check(lo.gp_weight >= 0, "loss.gp_weight", f"must be >= 0, got {lo.gp_weight}")
    _check(not (lo.name == "wgan-gp" and m.d_norm == "batch"), "model.d_norm",
           "batch norm in D breaks the WGAN-GP penalty (per-sample gradients); use layer, instance or none")
    _check(o.lr > 0, "optim.lr", f"must be > 0, got {o.lr}")
    _check(o.lr_d is None or o.lr_d > 0, "optim.lr_d", f"must be > 0, got {o.lr_d}")
    _check(o.d_steps >= 1, "optim.d_steps", f"must be >= 1, got {o.d_steps}")
    _check(t.total_kimg > 0, "train.total_kimg", f"must be > 0, got {t.total_kimg}")
    _check(t.minutes >= 0, "train.minutes", f"must be >= 0, got {t.minutes}")
    _check(t.batch >= 2, "train.batch", f"must be >= 2, got {t.batch}")
    _check(t.ema_kimg >= 0, "train.ema_kimg", f"must be >= 0, got {t.ema_kimg}")
    _check(t.snapshot_every_kimg > 0, "train.snapshot_every_kimg", f"must be > 0, got {t.snapshot_every_kimg}")
    _check(t.keep_checkpoints >= 1, "train.keep_checkpoints", f"must be >= 1, got {t.keep_checkpoints}")
    _check(1 <= t.grid_size <= 1024, "train.grid_size", f"must be in 1..1024, got {t.grid_size}")
    from .augment import parse_policy
    from .losses import LOSSES
    from .metrics import EXTRACTORS, parse_metrics
    from .models import MODELS

    _check(m.name in MODELS, "model.name", f"unknown model {m.name!r}; choose one of: {', '.join(MODELS.names())}")
    _check(lo.name in LOSSES, "loss.name", f"unknown loss {lo.name!r}; choose one of: {', '.join(LOSSES.names())}")
    try:
        parse_policy(c.augment.policy)
    except ValueError as error:
        raise ConfigError(f"--augment: {error}") from None
    _check(t.metrics_every_kimg >= 0, "train.metrics_every_kimg", f"must be >= 0, got {t.metrics_every_kimg}")
    _check(t.metrics_num >= 2, "train.metrics_num", f"must be >= 2, got {t.metrics_num}")
    _check(t.metrics_extractor == "auto" or t.metrics_extractor in EXTRACTORS, "train.metrics_extractor",
           f"unknown extractor {t.metrics_extractor!r}; choose auto or one of: {', '.join(EXTRACTORS.names())}")
    parse_metrics(t.metrics)
    _check(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda") or t.device == "mps",
           "train.device", f"unknown device {t.device!r}; use auto, cpu, cuda, cuda:N or mps")
