"""The one training loop: alternating D and G updates (Goodfellow et al. 2014) with EMA, stats and snapshots.

Every random draw in a step comes from a generator seeded by (seed, step, rank), and the data order from
(seed, epoch), so a resumed run continues exactly where an uninterrupted one would be.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import data as data_lib
from .. import models
from ..atomic import write_text
from ..augment import AdaptiveAugment, build_augment
from ..data.sampler import batches
from ..config import Config, flag, from_dict, resolve
from ..errors import ConfigError, TrainingDiverged
from ..imaging import make_grid, save_png, to_float, to_uint8
from ..losses import LOSSES, gradient_penalty, r1_penalty
from ..artifacts import checkpoint as ckpt
from .. import dist
from .ema import ema_beta, update_ema
from .growth import Growth, GrowthSchedule, reals_at
from ..artifacts.rundir import create_run_dir, resolve_resume
from .stats import RunReporter

# Settings that may change when a run is resumed; anything else would make the continuation a different run.
RESUMABLE_KEYS = {"train.total_kimg", "train.minutes", "train.snapshot_every_kimg", "train.keep_checkpoints", "train.device",
                  "data.workers", "train.out", "train.metrics_every_kimg", "train.metrics", "train.metrics_num",
                  "train.metrics_extractor", "train.precision", "train.compile", "model.mixed_resolutions"}
GRID_BATCH = 64
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    run_dir: Path  # the numbered run directory
    checkpoint: Path | None  # the last checkpoint written (None for a dry run)
    grid: Path | None  # the final sample grid
    kimg: float  # thousands of real images shown to D
    stats: dict[str, Any] = field(default_factory=dict)  # the last stats row
    modules: dict[str, nn.Module] = field(default_factory=dict)  # "G", "D", "G_ema" after training


def step_seed(seed: int, step: int, rank: int) -> int:
    """A well-mixed 63-bit seed for one (run seed, step, rank)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def config_for_resume(saved: dict[str, Any], overrides: dict[str, Any]) -> Config:
    """The saved run's config with the user's explicit flags applied; flags that would change the run are errors."""
    saved_cfg = from_dict(saved)
    flat = {f"{s}.{k}": v for s, values in saved.items() for k, v in values.items()}
    for key, value in overrides.items():
        if key not in RESUMABLE_KEYS and flat.get(key) != value:
            raise ConfigError(f"{flag(key)} cannot change when resuming (the run used {flat.get(key)!r}); "
                              f"start a new run instead, or resume without it")
    return saved_cfg.replace(**{k: v for k, v in overrides.items() if k in RESUMABLE_KEYS})


def train(cfg: Config | None = None, *, overrides: dict[str, Any] | None = None, config_file: str | Path | None = None,
          preset: str | None = None, resume: str | Path | None = None, dry_run: bool = False,
          progress: bool = True) -> TrainResult:
    """Train a GAN as configured (`preset` <- `config_file` <- `overrides`); `resume` ('auto', a run dir or a
    checkpoint) continues a run exactly."""
    overrides = dict(overrides or {})
    state = None
    if resume is not None:
        if cfg is not None or config_file is not None or preset is not None:
            raise ConfigError("--resume continues a saved run with its own config; pass flags, not --config/--preset")
        out = overrides.get("train.out", Config().train.out)
        state = ckpt.load(resolve_resume(str(resume), out))
        cfg = config_for_resume(state["config"], overrides)
    elif cfg is None:
        cfg = resolve(overrides, config_file, preset)
    elif overrides:
        cfg = cfg.replace(**overrides)

    device = dist.select_device(cfg.train.device, dist.local_rank())
    rank_info = dist.init(device)
    if cfg.train.batch % rank_info.world:
        raise ConfigError(f"--batch {cfg.train.batch} must be divisible by the number of processes ({rank_info.world})")
    paired = models.MODELS.get(cfg.model.name).paired
    if paired and cfg.train.metrics_every_kimg > 0:
        raise ConfigError("--metrics-every-kimg: in-training metrics are for noise-to-image models; score an "
                          "image-to-image model with `ganforge eval --real HOLDOUT_PAIRS --fake RUN`")
    dataset = data_lib.build(cfg.data, cache=False, paired=paired)
    info = dataset.info
    cfg = cfg.replace(**{"data.resolution": info.resolution, "data.channels": info.channels})
    if state is not None and _shape(data_lib.DatasetInfo.from_dict(state["dataset"])) != _shape(info):
        raise ConfigError(f"--data {cfg.data.source}: the data no longer matches the checkpoint "
                          f"({state['dataset']} vs {info.to_dict()})")

    if state is not None:
        run_dir = Path(state["path"]).parent
    elif rank_info.is_main:
        name = cfg.train.name or f"{_data_label(cfg.data.source)}-{cfg.model.name}-{info.resolution}"
        run_dir = create_run_dir(cfg.train.out, name)
        write_text(run_dir / "config.json", cfg.to_json() + "\n")
    else:
        run_dir = None
    run_dir = Path(dist.broadcast_object(str(run_dir) if run_dir else None))
    if dry_run:
        return TrainResult(run_dir, None, None, 0.0)
    dataset = data_lib.cache_if_small(dataset, cfg.data.workers)
    return Trainer(cfg, dataset, device, rank_info, run_dir, state).run(progress)


def flip_and_jitter(images: torch.Tensor, mirror: bool, jitter: bool) -> torch.Tensor:
    """Random horizontal flips and pix2pix's 286/256 zoom-and-crop, per image ([N, C, H, W]; channels alike)."""
    count, _, height, width = images.shape
    if mirror:
        flip = torch.rand(count, 1, 1, 1, device=images.device) < 0.5
        images = torch.where(flip, images.flip(3), images)
    if jitter:
        big_h, big_w = round(height * 286 / 256), round(width * 286 / 256)
        enlarged = torch.nn.functional.interpolate(images, size=(big_h, big_w), mode="bilinear", align_corners=False)
        tops = torch.randint(0, big_h - height + 1, (count,)).tolist()
        lefts = torch.randint(0, big_w - width + 1, (count,)).tolist()
        images = torch.stack([enlarged[i, :, t:t + height, l:l + width] for i, (t, l) in enumerate(zip(tops, lefts))])
    return images


def _lazy_adam(module: nn.Module, lr: float, betas: tuple[float, float], interval: int) -> torch.optim.Adam:
    """Adam whose lr and betas compensate regularisation applied every `interval` steps (StyleGAN2's lazy
    regularisation: ratio = interval / (interval + 1))."""
    ratio = interval / (interval + 1) if interval > 1 else 1.0
    return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio))


def _data_label(source: str) -> str:
    """A short run-name part for --data: the built-in name, or the folder/zip name without its extension."""
    name, _, path = source.partition(":")
    target = Path(path or source)
    return target.stem if target.suffix.lower() == ".zip" else (target.name or name)


def _shape(info: data_lib.DatasetInfo) -> tuple:
    """What a checkpoint's modules depend on: resolution, channels, classes."""
    return info.resolution, info.channels, info.class_names


class Trainer:
    """Holds the modules and state of one run; `run` is the loop."""

    def __init__(self, cfg: Config, dataset: data_lib.ImageDataset, device: torch.device, rank: dist.DistInfo,
                 run_dir: Path, state: dict[str, Any] | None):
        self.cfg, self.dataset, self.device, self.rank, self.run_dir = cfg, dataset, device, rank, run_dir
        self.info = dataset.info
        self.paired = self.info.paired
        self.num_classes = self.info.num_classes if cfg.data.cond else 0
        torch.manual_seed(cfg.train.seed)  # initial weights depend on the seed only
        G, D = models.build(cfg.model, self.info, self.num_classes, cfg.loss.name)
        channels_last = cfg.train.channels_last
        if channels_last is None:
            channels_last = device.type == "cuda" or models.MODELS.get(cfg.model.name).cpu_channels_last
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.G = G.to(device, memory_format=memory_format)
        self.D = D.to(device, memory_format=memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.growth = (GrowthSchedule(cfg.model.start_resolution, self.info.resolution, cfg.train.phase_kimg)
                       if cfg.model.progressive else None)
        self.stage = Growth(self.info.resolution, 1.0)  # set from the schedule at every iteration when growing
        self.autocast_dtype = AUTOCAST_DTYPES.get(cfg.train.precision)
        self.style_based = hasattr(self.G, "synthesis")
        if cfg.loss.pl_weight > 0 and not self.style_based:
            raise ConfigError(f"--pl-weight: model {cfg.model.name!r} has no style latents to regularise")
        g_interval = cfg.loss.pl_interval if cfg.loss.pl_weight > 0 else 1
        self.opt_G = _lazy_adam(self.G, cfg.optim.lr, cfg.optim.betas, g_interval)
        self.opt_D = _lazy_adam(self.D, cfg.optim.lr_d or cfg.optim.lr, cfg.optim.betas,
                                cfg.loss.r1_interval if cfg.loss.r1_gamma > 0 else 1)
        self.pl_mean = torch.zeros((), device=device)  # running mean of path lengths (StyleGAN2)
        self.augment = build_augment(cfg.augment.policy, cfg.augment.ada_target, cfg.augment.ada_kimg)
        self.adaptive = isinstance(self.augment, AdaptiveAugment)  # ADA: p follows D's overfitting
        self.loss = LOSSES.get(cfg.loss.name)
        self.step, self.images_seen = 0, 0
        self.best_fid = float("inf")  # best FID seen by in-training evaluation (best.pt holds that state)
        self.evaluator = None  # built at the first evaluation
        if state is not None:
            self._load_state(state)
        self.G_train: nn.Module = self.G
        self.D_train: nn.Module = self.D
        if rank.distributed:
            ids = [device.index] if device.type == "cuda" else None
            # growing: the layers above the stage (G) and the other stages' inputs (D) get no gradient
            unused = self.growth is not None
            self.G_train = DistributedDataParallel(self.G, device_ids=ids, find_unused_parameters=unused)
            self.D_train = DistributedDataParallel(self.D, device_ids=ids, find_unused_parameters=unused)
        # forward passes without a double backward may be compiled; R1 and path length use the eager modules
        self.G_fast, self.D_fast, self.D_frozen = self._compiled(self.G_train, self.D_train, self.D)

    def _compiled(self, *modules: nn.Module) -> list[nn.Module]:
        """The modules through torch.compile when --compile is on (backend: $GANFORGE_COMPILE_BACKEND, default
        inductor); else as they are."""
        if not self.cfg.train.compile:
            return list(modules)
        backend = os.environ.get("GANFORGE_COMPILE_BACKEND", "inductor")
        return [torch.compile(module, backend=backend) for module in modules]

    def _autocast(self):
        """Mixed precision (--precision bf16/fp16) around forward passes; StyleGAN2 keeps its low resolutions fp32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _grow(self) -> None:
        """Progressive growing: set G, G_ema and D to the schedule's stage for the images shown so far."""
        self.stage = self.growth.at(self.images_seen / 1000)
        graph = (self.G.stage, self.G.fading)
        for module in (self.G, self.G_ema, self.D):
            module.set_growth(self.stage.resolution, self.stage.alpha)
        if self.cfg.train.compile and (self.G.stage, self.G.fading) != graph:
            torch._dynamo.reset()  # a new stage is a new graph; drop the old ones rather than hit the recompile limit

    def _load_state(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.augment.load_state_dict(state["augment"])
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.best_fid = float(state.get("best_fid", float("inf")))
        self.pl_mean.copy_(state["pl_mean"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def _state(self, stats: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(), "dataset": self.info.to_dict(), "num_classes": self.num_classes,
            "step": self.step, "images_seen": self.images_seen, "stats": stats, "best_fid": self.best_fid,
            "pl_mean": self.pl_mean.detach().cpu(),
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "augment": self.augment.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
        }

    # ---- one iteration -------------------------------------------------------------------------------------
    def _real_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real images [B, C, H, W] in [-1, 1], condition): class labels [B], input images A, or None."""
        images, cond = batch
        real = to_float(images.to(self.device, non_blocking=True))
        if self.paired:
            cond = to_float(cond.to(self.device, non_blocking=True))
            joint = flip_and_jitter(torch.cat([real, cond], 1), self.cfg.data.mirror, self.cfg.data.jitter)
            real, cond = joint[:, :real.shape[1]], joint[:, real.shape[1]:]
            cond = cond.contiguous(memory_format=self.memory_format)
        else:
            real = flip_and_jitter(real, self.cfg.data.mirror, jitter=False)
            cond = cond.to(self.device, non_blocking=True) if self.num_classes else None
            if self.growth is not None:
                real = reals_at(real, self.stage)
        return real.contiguous(memory_format=self.memory_format), cond

    def _for_d(self, images: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What D sees: augmented images (packed `pack` at a time along channels for PacGAN), and for paired data
        the input image augmented by the same draw."""
        if not (self.paired and self.augment.ops):
            images = self.augment(images)
            pack = self.cfg.model.pack
            if pack > 1:  # [B, C, H, W] -> [B / pack, pack * C, H, W]
                images = images.reshape(-1, pack * images.shape[1], *images.shape[2:])
            return images, cond
        seed = int(torch.randint(0, 2**62, ()))
        devices = [self.device] if self.device.type == "cuda" else []
        outputs = []
        for tensor in (images, cond):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                outputs.append(self.augment(tensor))
        return outputs[0], outputs[1]

    def _d_step(self, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None, d_step: int) -> torch.Tensor:
        """One discriminator update (R1 every r1_interval-th step, scaled up by the interval: lazy regularisation);
        returns [loss, penalty] (detached)."""
        cfg = self.cfg.loss
        use_r1 = cfg.r1_gamma > 0 and d_step % cfg.r1_interval == 0
        real_in, real_cond = self._for_d(real, cond)  # augmentation runs in fp32 for reals and fakes alike
        real_in = real_in.detach().requires_grad_(use_r1)
        fake_in, fake_cond = self._for_d(fake.detach().float(), cond)
        with self._autocast():
            real_logits = (self.D_train if use_r1 else self.D_fast)(real_in, real_cond)
            if self.adaptive:
                self.augment.observe(real_logits)
            fake_logits = self.D_fast(fake_in, fake_cond)
            loss = self.loss.d_loss(real_logits, fake_logits)
            penalty = torch.zeros((), device=self.device)
            if use_r1:
                penalty = penalty + cfg.r1_gamma / 2 * cfg.r1_interval * r1_penalty(real_logits, real_in)
            if self.loss.gradient_penalty:
                penalty = penalty + cfg.gp_weight * gradient_penalty(lambda x: self.D_train(x, real_cond), real_in, fake_in)
        self.opt_D.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        self._optimizer_step(self.opt_D)
        return torch.stack([loss.detach(), penalty.detach()])

    def _g_step(self, fake: torch.Tensor, real: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """One generator update through the (frozen, unsynchronised) discriminator; + lambda * L1 for paired data."""
        self.D.requires_grad_(False)
        fake_in, fake_cond = self._for_d(fake.float(), cond)
        with self._autocast():
            loss = self.loss.g_loss(self.D_frozen(fake_in, fake_cond))
            if self.paired and self.cfg.loss.l1_weight > 0:
                loss = loss + self.cfg.loss.l1_weight * (fake.float() - real).abs().mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.loss.pl_weight > 0 and self.step % self.cfg.loss.pl_interval == 0:
            self._path_length_step(cond)
        self._optimizer_step(self.opt_G)
        self.D.requires_grad_(True)
        return loss.detach()

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """In fp16, non-finite gradients (overflow in a reduced-precision layer) are zeroed first, as NVIDIA's
        StyleGAN2-ADA does instead of loss scaling; a diverging loss is still caught by the NaN check."""
        if self.autocast_dtype == torch.float16:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.grad.nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)
        optimizer.step()

    def _path_length_step(self, labels: torch.Tensor | None) -> None:
        """Path-length regularisation (StyleGAN2): E[(|J_w^T y| - a)^2] on half a batch, y ~ N(0, I) / sqrt(HW),
        `a` a running mean of the lengths; scaled by the interval; gradients accumulate into the G step's."""
        count = max(1, self.cfg.train.batch // self.rank.world // 2)
        z = torch.randn(count, self.cfg.model.z_dim, device=self.device)
        offset = torch.zeros(count, self.G.num_ws, self.G.w_dim, device=self.device, requires_grad=True)
        with self._autocast():
            images = self.G_train(z, labels[:count] if labels is not None else None, ws_offset=offset)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), offset, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()  # [count]
        self.pl_mean.copy_(self.pl_mean.lerp(lengths.mean().detach(), 0.01))
        penalty = (lengths - self.pl_mean).square().mean() * self.cfg.loss.pl_weight * self.cfg.loss.pl_interval
        (penalty + images[:, 0, 0, 0].sum() * 0).backward()  # the zero term keeps every output in the graph

    def _generate(self, module: nn.Module, batch_size: int, cond: torch.Tensor | None) -> torch.Tensor:
        """G(A) for paired data, else G(z ~ N(0, I), labels)."""
        with self._autocast():
            if self.paired:
                return module(cond)
            return module(torch.randn(batch_size, self.cfg.model.z_dim, device=self.device), cond)

    def _iteration(self, stream) -> torch.Tensor:
        """d_steps D updates, then one G update reusing the last D step's fakes; returns [loss_D, penalty, loss_G]."""
        torch.manual_seed(step_seed(self.cfg.train.seed, self.step, self.rank.rank))
        if self.growth is not None:
            self._grow()
        d_steps = self.cfg.optim.d_steps
        for index in range(d_steps):
            real, cond = self._real_batch(next(stream))
            with torch.set_grad_enabled(index == d_steps - 1):  # the last fakes feed the G step
                fake = self._generate(self.G_fast, real.shape[0], cond)
            d_step = self.step * d_steps + index
            d_stats = self._d_step(real, fake, cond, d_step)
            self.images_seen += self.cfg.train.batch
            if self.adaptive and (d_step + 1) % self.augment.interval == 0:
                self.augment.adjust(self.cfg.train.batch * self.augment.interval)
        g_loss = self._g_step(fake, real, cond)
        beta = ema_beta(self.cfg.train.batch, self.images_seen, self.cfg.train.ema_kimg, self.cfg.train.ema_rampup)
        update_ema(self.G_ema, self.G, beta)
        self.step += 1
        return torch.cat([d_stats, g_loss[None]])

    # ---- snapshots -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def grid_images(self) -> torch.Tensor:
        """uint8 [grid, C, H, W] from G_ema at the run's fixed latents (class k in column k when conditional);
        for paired data, (A, G(A), B) triplets of the first training pairs."""
        count = self.cfg.train.grid_size
        if self.paired:
            targets, inputs = self.dataset.batch(torch.arange(min(max(1, count // 3), len(self.dataset))))
            outputs = to_uint8(self.G_ema(to_float(inputs.to(self.device)))).cpu()
            channels = targets.shape[1]
            return torch.stack([t for triplet in zip(inputs.expand(-1, channels, -1, -1), outputs, targets)
                                for t in triplet])
        z = torch.randn(count, self.cfg.model.z_dim, generator=torch.Generator().manual_seed(self.cfg.train.seed))
        labels = torch.arange(count) % self.num_classes if self.num_classes else None
        return to_uint8(self._ema_generator().synthesize(z, labels, GRID_BATCH))

    def _ema_generator(self):
        """G_ema behind the LoadedGenerator interface that sampling and evaluation use."""
        from ..artifacts.generator import LoadedGenerator

        return LoadedGenerator(self.G_ema, self.cfg.model, self.info, self.num_classes, self.images_seen / 1000,
                               {}, "training")

    def _grid_columns(self) -> int | None:
        if self.paired:
            return 6  # two (A, G(A), B) triplets per row
        return self.num_classes if 1 < self.num_classes <= 16 else None

    def _evaluate(self, reporter: RunReporter) -> dict[str, Any]:
        """Score G_ema with the configured metrics; appends to metrics.jsonl and TensorBoard."""
        from ..metrics import Evaluator, default_extractor, parse_metrics
        from ..metrics.evaluate import generator_batches

        cfg = self.cfg.train
        if self.evaluator is None:
            extractor = cfg.metrics_extractor if cfg.metrics_extractor != "auto" else default_extractor(self.cfg.data.source)
            self.evaluator = Evaluator(self.dataset, parse_metrics(cfg.metrics), extractor, cfg.metrics_num, self.device)
        results = self.evaluator(generator_batches(self._ema_generator(), cfg.metrics_num, GRID_BATCH))
        scalars = {k: v for k, v in results.items() if isinstance(v, float)}
        if "modes" in results:
            scalars |= {"modes_covered": float(results["modes"]["covered"]), "modes_kl": results["modes"]["kl"]}
        reporter.metrics(self.images_seen, scalars)
        return scalars

    def _snapshot(self, reporter: RunReporter, stats: dict[str, Any], final: bool, evaluate: bool) -> tuple[Path, Path]:
        grid = make_grid(self.grid_images(), self._grid_columns())
        name = "final.png" if final else f"fakes-{self.images_seen / 1000:010.3f}kimg.png"  # e.g. fakes-000012.544kimg
        grid_path = save_png(grid, self.run_dir / "samples" / name)
        reporter.image("samples", grid, self.images_seen)
        metrics = self._evaluate(reporter) if evaluate else {}
        improved = "fid" in metrics and metrics["fid"] < self.best_fid
        if improved:
            self.best_fid = metrics["fid"]
        path = ckpt.save(self._state({**stats, "metrics": metrics} if metrics else stats), self.run_dir, self.step,
                         self.cfg.train.keep_checkpoints)
        if improved:
            ckpt.copy_as_best(path)
        shown = "".join(f", {k} {v:.4g}" for k, v in metrics.items())
        reporter.message(f"kimg {self.images_seen / 1000:.1f}: samples {grid_path}, checkpoint {path}{shown}"
                         + (" (best so far: best.pt)" if improved else ""))
        return path, grid_path

    def _check_finite(self, sums: torch.Tensor, last_checkpoint: Path | None) -> None:
        if dist.any_rank(~torch.isfinite(sums).all()):
            where = f"the last good checkpoint {last_checkpoint} is intact" if last_checkpoint else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"a loss became NaN/inf near kimg {self.images_seen / 1000:.2f} (step {self.step}); {where}. "
                f"Try a lower --lr, --loss hinge, or --r1-gamma, then resume with --resume {last_checkpoint or 'PATH'}")

    # ---- the loop --------------------------------------------------------------------------------------------
    def run(self, progress: bool) -> TrainResult:
        cfg = self.cfg.train
        main = self.rank.is_main
        total_images = math.ceil(cfg.total_kimg * 1000)
        images_per_iter = cfg.batch * self.cfg.optim.d_steps
        snapshot_images = max(1, round(cfg.snapshot_every_kimg * 1000))
        metrics_images = round(cfg.metrics_every_kimg * 1000)
        log_every = max(1, min(50, round(1000 / images_per_iter)))
        reporter = RunReporter(self.run_dir, total_images, self.images_seen, enabled=main, show_bar=progress)
        if main and self.growth is not None:
            late = self.growth.full_kimg >= cfg.total_kimg
            reporter.message(self.growth.describe() + (f" (beyond --kimg {cfg.total_kimg:g}: lower --phase-kimg to reach "
                                                         f"it, or resume with a larger --kimg)" if late else ""))
        if main and self.images_seen == 0 and not self.paired:
            reals = self.dataset.batch(torch.arange(min(cfg.grid_size, len(self.dataset))))[0]
            save_png(make_grid(reals), self.run_dir / "samples" / "reals.png")
        stream = batches(self.dataset, cfg.batch, cfg.seed, self.step * self.cfg.optim.d_steps,
                                          self.rank.rank, self.rank.world, self.cfg.data.workers)
        last_checkpoint = ckpt.list_checkpoints(self.run_dir)[-1] if ckpt.list_checkpoints(self.run_dir) else None
        grid_path, stats = None, {}
        sums, count = torch.zeros(3, device=self.device), 0
        deadline = time.monotonic() + cfg.minutes * 60 if cfg.minutes > 0 else None
        out_of_time = False
        self.G.train()
        self.D.train()
        try:
            while self.images_seen < total_images and not out_of_time:
                before = self.images_seen
                sums += self._iteration(stream)
                count += 1
                reporter.advance(self.images_seen - before)
                if deadline is not None and count >= log_every:  # ranks agree on stopping at log boundaries
                    out_of_time = dist.any_rank(torch.tensor(time.monotonic() >= deadline))
                done = self.images_seen >= total_images or out_of_time
                evaluate = metrics_images > 0 and (done or self.images_seen // metrics_images != before // metrics_images)
                snapshot = done or evaluate or self.images_seen // snapshot_images != before // snapshot_images
                if count >= log_every or snapshot:
                    self._check_finite(sums, last_checkpoint)
                    mean = (sums / count).tolist()
                    scalars = {"loss_D": mean[0], "loss_penalty": mean[1], "loss_G": mean[2]}
                    if self.adaptive:
                        scalars["augment_p"] = float(self.augment.p)
                    if self.growth is not None:
                        scalars |= {"growth_resolution": float(self.stage.resolution), "growth_alpha": self.stage.alpha}
                    stats = reporter.log(self.images_seen, scalars)
                    sums.zero_()
                    count = 0
                if snapshot and main:
                    last_checkpoint, grid_path = self._snapshot(reporter, stats, final=done, evaluate=evaluate)
        finally:
            reporter.close()
        if main:
            reporter.message(f"done: {self.images_seen / 1000:.1f} kimg; final samples {grid_path}")
        return TrainResult(self.run_dir, last_checkpoint, grid_path, self.images_seen / 1000, stats,
                           {"G": self.G, "D": self.D, "G_ema": self.G_ema})
