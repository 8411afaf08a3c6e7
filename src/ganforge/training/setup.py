"""Setting a run up: resolve and check the config against the registries, pick the device and join the process
group, check sizes before any data is built, build the data, make (or reopen) the run directory and lock it, and
hand everything to the loop. `train` is the public entry point (CLI, studio jobs, notebooks)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import dist, models
from ..artifacts import checkpoint as ckpt
from ..artifacts.rundir import create_run_dir, load_newest, resume_target, run_dir_lock
from ..atomic import write_text
from ..config import PRESETS, Config, flag, from_dict, load_file, resolve
from ..data.base import DatasetInfo
from ..errors import ConfigError
from ..families import Task
from .init import check_classes, init_overrides, init_source, read_init, start_from
from .loop import ProgressFn, StopFn, Trainer, TrainResult
from .objectives import OBJECTIVES

# Settings that may change when a run is resumed; anything else would make the continuation a different run.
RESUMABLE_KEYS = {
    "train.total_kimg",
    "train.minutes",
    "train.minutes_clock",
    "train.snapshot_every_kimg",
    "train.keep_checkpoints",
    "train.device",
    "data.workers",
    "train.out",
    "train.metrics_every_kimg",
    "train.metrics",
    "train.metrics_num",
    "train.metrics_extractor",
    "train.best_by",
    "train.precision",
    "train.compile",
    "train.tf32",
    "model.mixed_resolutions",
}


def _as_json(value: Any) -> Any:
    """`value` as it reads back from JSON, so that a tuple and the list saved for it compare equal."""
    return json.loads(json.dumps(value))


def config_for_resume(saved: dict[str, Any], overrides: dict[str, Any]) -> Config:
    """The saved run's config with the user's explicit flags applied; flags that would change the run are errors."""
    saved_cfg = from_dict(saved)
    flat = {f"{s}.{k}": v for s, values in saved.items() for k, v in values.items()}
    for key, value in overrides.items():
        if key not in RESUMABLE_KEYS and _as_json(flat.get(key)) != _as_json(value):
            raise ConfigError(
                f"{flag(key)} cannot change when resuming (the run used {flat.get(key)!r}); "
                f"start a new run instead, or resume without it"
            )
    return saved_cfg.replace(**{k: v for k, v in overrides.items() if k in RESUMABLE_KEYS})


def check_registered(cfg: Config) -> None:
    """Names in the config that registries own (model, loss, augmentation, metrics, extractor), checked here rather
    than in config.py, which stays plain data."""
    from ..augment import parse_policy
    from ..losses import LOSSES
    from ..metrics import EXTRACTORS, parse_metrics

    if cfg.model.name not in models.MODELS:
        raise ConfigError(
            f"--model: unknown model {cfg.model.name!r}; choose one of: {', '.join(models.MODELS.names())}"
        )
    if cfg.loss.name not in LOSSES:
        raise ConfigError(f"--loss: unknown loss {cfg.loss.name!r}; choose one of: {', '.join(LOSSES.names())}")
    try:
        parse_policy(cfg.augment.policy)
    except ValueError as error:
        raise ConfigError(f"--augment: {error}") from None
    parse_metrics(cfg.train.metrics)
    extractor = cfg.train.metrics_extractor
    if extractor != "auto" and extractor not in EXTRACTORS:
        raise ConfigError(
            f"--metrics-extractor: unknown extractor {extractor!r}; choose auto or one of: "
            f"{', '.join(EXTRACTORS.names())}"
        )


def check_model_resolution(cfg: Config) -> None:
    """Refuse a --resolution the model cannot build."""
    spec = models.MODELS.get(cfg.model.name)
    resolution = cfg.data.resolution
    if resolution is not None and not spec.min_resolution <= resolution <= spec.max_resolution:
        raise ConfigError(
            f"--resolution {resolution}: model {cfg.model.name!r} supports {spec.min_resolution}..{spec.max_resolution}"
        )


def _check_sizes(cfg: Config) -> None:
    """Refuse resolutions the model cannot build, and built-in sets that would not fit in memory, before any data
    is made at that size."""
    from ..data import memory_estimate

    check_model_resolution(cfg)
    resolution = cfg.data.resolution
    needed = memory_estimate(cfg.data)
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed is not None and needed > available // 2:
        raise ConfigError(
            f"--resolution {resolution}: the built-in {cfg.data.source!r} would take "
            f"{needed / 2**30:.1f} GiB of memory at that size (this machine has {available / 2**30:.0f} "
            f"GiB); choose a smaller --resolution"
        )


def _data_label(source: str) -> str:
    """A short run-name part for --data: the built-in name, or the folder/zip name without its extension."""
    name, _, path = source.partition(":")
    target = Path(path or source)
    return target.stem if target.suffix.lower() == ".zip" else (target.name or name)


def _shape(info: DatasetInfo) -> tuple:
    """What a checkpoint's modules depend on: resolution, channels, classes."""
    return info.resolution, info.channels, info.class_names


def _requested(overrides: dict[str, Any], config_file: str | Path | None, preset: str | None) -> dict[str, Any]:
    """Every setting the command names, as dotted keys: the preset's, then the config file's, then the flags."""
    requested = {}
    if preset is not None:
        resolve(preset=preset)  # refuses an unknown preset, naming the known ones
        requested |= PRESETS[preset].overrides()
    if config_file is not None:
        resolve(config_file=config_file)  # refuses a config file of the wrong shape or with unknown keys
        requested |= {
            f"{section}.{key}": value
            for section, values in load_file(config_file).items()
            for key, value in values.items()
        }
    return requested | overrides


def _resolve_config(
    cfg: Config | None,
    overrides: dict[str, Any],
    config_file: str | Path | None,
    preset: str | None,
    resume: str | Path | None,
    held: contextlib.ExitStack,
) -> tuple[Config, dict[str, Any] | None]:
    """The run's config, and the checkpoint state when resuming ('auto' with nothing to resume starts fresh, so one
    command can both start a run and continue it when requeued). The run folder is locked (rank 0) before its
    checkpoint is read; the lock stays in `held`."""
    if resume is not None:
        if cfg is not None:
            raise ConfigError("--resume continues a saved run with its own config; pass settings as overrides")
        out = overrides.get("train.out", Config().train.out)
        target = resume_target(str(resume), out)
        if target is not None:
            run_dir, path = target
            if dist.is_rank_zero():
                held.enter_context(run_dir_lock(run_dir))
            state = ckpt.load(path) if path is not None else load_newest(run_dir)
            requested = _requested(overrides, config_file, preset)
            return config_for_resume(state["config"], requested), state
        warnings.warn(f"--resume auto: no run with a checkpoint under {out}; starting a new run")
    if cfg is None:
        return resolve(overrides, config_file, preset), None
    return (cfg.replace(**overrides) if overrides else cfg), None


def train(
    cfg: Config | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    preset: str | None = None,
    resume: str | Path | None = None,
    dry_run: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    progress_fn: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Train a GAN as configured (`preset` <- `config_file` <- `overrides`); `resume` ('auto', a run dir or a
    checkpoint) continues a run exactly. `progress_fn(row)` receives every stats row (kimg, losses, grid path,
    metrics); `should_stop()` is polled every iteration and ends the run cleanly with a final snapshot."""
    overrides = dict(overrides or {})
    source, pretrained = init_source(overrides, cfg, config_file), None
    if source and (resume is None or str(resume) == "auto"):  # fine-tuning: the pretrained network's architecture
        pretrained = read_init(source)
        overrides = init_overrides(overrides, pretrained, source)
    with contextlib.ExitStack() as held:  # the run folder's lock, taken before a resumed checkpoint is read
        cfg, state = _resolve_config(cfg, overrides, config_file, preset, resume, held)
        return _train(
            cfg,
            state,
            overrides=overrides,
            preset=preset,
            dry_run=dry_run,
            progress=progress,
            tensorboard=tensorboard,
            progress_fn=progress_fn,
            should_stop=should_stop,
            locked=state is not None,
            pretrained=None if state is not None else pretrained,
        )


def _train(
    cfg: Config,
    state: dict[str, Any] | None,
    *,
    overrides: dict[str, Any],
    preset: str | None,
    dry_run: bool,
    progress: bool,
    tensorboard: bool,
    progress_fn: ProgressFn | None,
    should_stop: StopFn | None,
    locked: bool,
    pretrained: Any,
) -> TrainResult:
    """Everything after the config: device, data, run folder (locked unless `locked` says the caller holds it), loop;
    `pretrained` (from --init; None when resumed, the checkpoint has the weights) seeds the networks."""
    check_registered(cfg)
    _check_sizes(cfg)
    device = dist.select_device(cfg.train.device, dist.local_rank())
    rank_info = dist.init(device)
    if cfg.train.batch % rank_info.world:
        raise ConfigError(f"--batch {cfg.train.batch} must be divisible by the number of processes ({rank_info.world})")
    objective = OBJECTIVES.get(models.MODELS.get(cfg.model.name).objective_name)
    if cfg.train.metrics_every_kimg > 0 and not objective.supports_metrics:
        raise ConfigError(
            "--metrics-every-kimg: in-training metrics are for noise-to-image models; score an "
            "image-to-image model with `ganforge eval --real HOLDOUT_PAIRS --fake RUN`"
        )
    if (
        device.type == "cpu"
        and cfg.model.name == "stylegan2"
        and preset is None
        and state is None
        and cfg.model.g_channels == Config().model.g_channels
        and "model.g_channels" not in overrides
    ):
        warnings.warn(
            "--model stylegan2 at its full default widths trains at a few images per second on a CPU; "
            "--preset stylegan2-32 is sized for CPUs"
        )
    if (pretrained is not None or cfg.train.freeze_d) and models.MODELS.get(cfg.model.name).task is Task.UNPAIRED:
        raise ConfigError("--init/--freeze-d: fine-tuning is for single-G/single-D models, not CycleGAN")
    dataset = objective.build_dataset(cfg.data)
    info = dataset.info
    if pretrained is not None:
        check_classes(cfg, info, pretrained, cfg.train.init)
    cfg = cfg.replace(**{"data.resolution": info.resolution, "data.channels": info.channels})
    if cfg.train.metrics_every_kimg > 0:  # every metric's needs checked before any training
        from ..metrics.evaluate import check_metrics, default_extractor
        from ..metrics.measures import best_key, parse_metrics

        extractor = cfg.train.metrics_extractor
        extractor = (
            default_extractor(cfg.data.source, cfg.train.metrics, training=True) if extractor == "auto" else extractor
        )
        classes = info.class_names if cfg.data.cond else ()
        not_computed = check_metrics(cfg.train.metrics, extractor, info.channels, classes=classes)
        for metric, reason in not_computed.items():
            warnings.warn(f"--metrics {metric}: will not be computed during training ({reason})")
        best_key(cfg.train.best_by, parse_metrics(cfg.train.metrics), not_computed)
    elif cfg.train.best_by != "auto":
        raise ConfigError(
            f"--best-by {cfg.train.best_by}: best.pt follows in-training metrics; set --metrics-every-kimg too"
        )
    if state is not None and _shape(DatasetInfo.from_dict(state["dataset"])) != _shape(info):
        raise ConfigError(
            f"--data {cfg.data.source}: the data no longer matches the checkpoint "
            f"({state['dataset']} vs {info.to_dict()})"
        )

    created = False
    if state is not None:
        run_dir = Path(state["path"]).parent
    elif rank_info.is_main:
        label = (
            f"{_data_label(cfg.data.source_a)}2{_data_label(cfg.data.source_b)}"
            if cfg.data.source_a
            else _data_label(cfg.data.source)
        )  # unpaired folders: e.g. photos2cartoons
        name = cfg.train.name or f"{label}-{cfg.model.name}-{info.resolution}"
        run_dir, created = create_run_dir(cfg.train.out, name), True
        write_text(run_dir / "config.json", cfg.to_json() + "\n")
    else:
        run_dir = None
    run_dir = Path(dist.broadcast_object(str(run_dir) if run_dir else None))
    if dry_run:
        return TrainResult(run_dir, None, grid=None, kimg=0.0)
    from .. import data as data_lib

    with run_dir_lock(run_dir) if rank_info.is_main and not locked else contextlib.nullcontext():
        if rank_info.is_main:
            ckpt.remove_partial_writes(run_dir)
        try:
            dataset = data_lib.cache_if_small(dataset, cfg.data.workers)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                trainer = Trainer(cfg, dataset, device=device, rank=rank_info, run_dir=run_dir, state=state)
            if pretrained is not None:
                start_from(trainer.networks, trainer.ema, trainer.objective.augment, pretrained, cfg.train.init)
        except BaseException:
            if created:  # a start that failed before training leaves no empty numbered folder behind
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return trainer.run(progress, tensorboard=tensorboard, progress_fn=progress_fn, should_stop=should_stop)
