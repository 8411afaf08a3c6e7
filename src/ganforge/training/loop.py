"""The one training loop: it schedules, the objective (objectives.py) computes. Alternating D and G updates
(Goodfellow et al. 2014) with EMA, growth, stats, snapshots, in-training metrics, DDP and exact resume.

Every random draw in a step comes from a generator seeded by (seed, step, rank), and the data order from
(seed, epoch), so a resumed run continues exactly where an uninterrupted one would be. Training runs inside a
forked RNG, so a host program's own random state is neither used nor disturbed.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import data as data_lib
from .. import dist, models
from ..artifacts import checkpoint as ckpt
from ..config import Config
from ..data.sampler import batches
from ..errors import TrainingDiverged
from ..imaging import make_grid, save_png
from .ema import ema_beta, update_ema
from .growth import Growth, GrowthSchedule
from .objectives import GRID_BATCH, OBJECTIVES, Objective
from .stats import RunReporter

ProgressFn = Callable[[dict[str, Any]], None]  # called with each stats row: kimg, losses, grid, metrics, ...
StopFn = Callable[[], bool]  # polled every iteration: True stops the run cleanly with a final snapshot
# What --minutes counts (--minutes-clock): elapsed seconds, or this process's CPU seconds (all its threads)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}


@dataclass
class TrainResult:
    run_dir: Path  # the numbered run directory
    checkpoint: Path | None  # the last checkpoint written (None for a dry run)
    grid: Path | None  # the final sample grid
    kimg: float  # thousands of real images shown to D
    stats: dict[str, Any] = field(default_factory=dict)  # the last stats row
    modules: dict[str, nn.Module] = field(default_factory=dict)  # the networks ("G", "D", ...) and EMAs ("G_ema")


def step_seed(seed: int, step: int, rank: int) -> int:
    """A well-mixed 63-bit seed for one (run seed, step, rank)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def lazy_adam(parameters, lr: float, betas: tuple[float, float], interval: int) -> torch.optim.Adam:
    """Adam whose lr and betas compensate regularisation applied every `interval` steps (StyleGAN2's lazy
    regularisation: ratio = interval / (interval + 1))."""
    ratio = lazy_ratio(interval)
    return torch.optim.Adam(parameters, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio))


def lazy_ratio(interval: int) -> float:
    """interval / (interval + 1) for lazy regularisation every `interval` steps, else 1."""
    return interval / (interval + 1) if interval > 1 else 1.0


def newest_grid(run_dir: Path) -> Path | None:
    """The newest sample grid of a run (final.png if written)."""
    samples = Path(run_dir) / "samples"
    if (samples / "final.png").exists():
        return samples / "final.png"
    grids = sorted(samples.glob("fakes-*.png"))
    return grids[-1] if grids else None


class Trainer:
    """Holds the objective, optimisers, EMA copies and progress of one run; `run` is the loop."""

    def __init__(
        self,
        cfg: Config,
        dataset: data_lib.ImageDataset,
        device: torch.device,
        rank: dist.DistInfo,
        run_dir: Path,
        state: dict[str, Any] | None,
    ):
        self.cfg, self.dataset, self.device, self.rank, self.run_dir = cfg, dataset, device, rank, run_dir
        self.info = dataset.info
        dist.configure_backends(device, tf32=cfg.train.tf32, fixed_shapes=not cfg.model.progressive)
        spec = models.MODELS.get(cfg.model.name)
        channels_last = cfg.train.channels_last
        if channels_last is None:
            channels_last = device.type == "cuda" or spec.cpu_channels_last
        self.objective: Objective = OBJECTIVES.get(spec.objective_name)(
            cfg,
            self.info,
            num_classes=self.info.num_classes if cfg.data.cond else 0,
            device=device,
            memory_format=torch.channels_last if channels_last else torch.contiguous_format,
        )
        self.networks = self.objective.networks
        self.ema = {
            name: copy.deepcopy(self.networks[name]).eval().requires_grad_(False) for name in self.objective.ema
        }
        self.optimizers = {}
        for phase in self.objective.phases:
            lr = (cfg.optim.lr_d or cfg.optim.lr) if phase.discriminator else cfg.optim.lr
            parameters = [p for name in phase.networks for p in self.networks[name].parameters()]
            self.optimizers[phase.name] = lazy_adam(parameters, lr, betas=cfg.optim.betas, interval=phase.interval)
        self.growth = (
            GrowthSchedule(cfg.model.start_resolution, self.info.resolution, phase_kimg=cfg.train.phase_kimg)
            if cfg.model.progressive
            else None
        )
        self.stage = Growth(self.info.resolution, 1.0)  # set from the schedule at every iteration when growing
        self.step, self.images_seen = 0, 0
        self.best: dict[str, Any] = {}  # {"key": result key (--best-by), "value": its best so far}; best.pt holds it
        self.evaluator = None  # built at the first evaluation
        if state is not None:
            self._load_state(state)
        self.objective.bind(rank, self._distributed, self._compiled)

    # ---- views the objective trains through ------------------------------------------------------------------
    def _distributed(self, module: nn.Module) -> nn.Module:
        """DDP around a network when launched by torchrun; the network itself otherwise."""
        if not self.rank.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        # growing: the layers above the stage (G) and the other stages' inputs (D) get no gradient
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=self.growth is not None)

    def _compiled(self, module: nn.Module) -> nn.Module:
        """torch.compile when --compile is on (backend: $GANFORGE_COMPILE_BACKEND, default inductor)."""
        if not self.cfg.train.compile:
            return module
        return torch.compile(module, backend=os.environ.get("GANFORGE_COMPILE_BACKEND", "inductor"))

    def _modules(self) -> dict[str, nn.Module]:
        """Every network and EMA copy by checkpoint key ("G", "D", "G_ema", ...)."""
        return {**self.networks, **{f"{name}_ema": module for name, module in self.ema.items()}}

    def _sampling_networks(self) -> dict[str, nn.Module]:
        """Each network, or its EMA copy where it has one (what grids and metrics use)."""
        return {name: self.ema.get(name, module) for name, module in self.networks.items()}

    # ---- state -----------------------------------------------------------------------------------------------
    def _load_state(self, state: dict[str, Any]) -> None:
        for name, module in self.networks.items():
            module.load_state_dict(state[name])
        for name, module in self.ema.items():
            module.load_state_dict(state[f"{name}_ema"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[f"opt_{name}"])
        self.objective.load_state_dict(state)
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.best = dict(
            state.get("best")
            or (
                {"key": "fid", "value": state["best_fid"]}  # before --best-by
                if math.isfinite(state.get("best_fid", math.inf))
                else {}
            )
        )

    def _state(self, stats: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "dataset": self.info.to_dict(),
            "num_classes": self.objective.num_classes,
            "step": self.step,
            "images_seen": self.images_seen,
            "stats": stats,
            "best": self.best,
            **{name: module.state_dict() for name, module in self.networks.items()},
            **{f"{name}_ema": module.state_dict() for name, module in self.ema.items()},
            **{f"opt_{name}": optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            **self.objective.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
        }

    # ---- one iteration ---------------------------------------------------------------------------------------
    def _grow(self) -> None:
        """Progressive growing: set every network to the schedule's stage for the images shown so far."""
        before = (self.stage.resolution, self.stage.alpha < 1)
        self.stage = self.growth.at(self.images_seen / 1000)
        for module in [*self.networks.values(), *self.ema.values()]:
            if hasattr(module, "set_growth"):
                module.set_growth(self.stage.resolution, self.stage.alpha)
        if self.cfg.train.compile and (self.stage.resolution, self.stage.alpha < 1) != before:
            torch._dynamo.reset()  # a new stage is a new graph; drop the old ones rather than hit the recompile limit

    def _train_phases(self, discriminator: bool, compute: Callable[[], dict[str, torch.Tensor]]):
        """Zero the gradients of the (discriminator or generator) phases, let the objective compute and backward,
        then step their optimisers; returns the objective's stats."""
        optimizers = [self.optimizers[p.name] for p in self.objective.phases if p.discriminator == discriminator]
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        stats = compute()
        for optimizer in optimizers:
            self._optimizer_step(optimizer)
        return stats

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """In fp16, non-finite gradients (overflow in a reduced-precision layer) are zeroed first, as NVIDIA's
        StyleGAN2-ADA does instead of loss scaling; a diverging loss is still caught by the NaN check."""
        if self.objective.autocast_dtype == torch.float16:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.grad.nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)
        optimizer.step()

    def iteration(self, stream) -> dict[str, torch.Tensor]:
        """d_steps D updates, then one G update reusing the last D step's fakes; returns the detached losses.
        Every batch is fetched first: a stream that ends (StopIteration) leaves the state as it was."""
        fetched = [next(stream) for _ in range(self.cfg.optim.d_steps)]
        torch.manual_seed(step_seed(self.cfg.train.seed, self.step, self.rank.rank))
        if self.growth is not None:
            self._grow()
        kimg = self.images_seen / 1000  # the schedules' position: resumed runs continue from the checkpoint's kimg
        scale, beta2 = self.objective.lr_scale(kimg), self.objective.adam_beta2(kimg)
        for phase in self.objective.phases:
            for group in self.optimizers[phase.name].param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * scale
                if beta2 is not None:  # lazy regularisation compensates it as it does --betas
                    group["betas"] = (group["betas"][0], beta2 ** lazy_ratio(phase.interval))
        d_steps = self.cfg.optim.d_steps
        for index in range(d_steps):
            batch = self.objective.prepare(fetched[index], self.stage)
            # train D
            d_step = self.step * d_steps + index
            d_stats = self._train_phases(True, lambda: self.objective.d_step(batch, d_step, index == d_steps - 1))  # noqa: B023 (called at once)
            self.images_seen += self.cfg.train.batch
        # train G
        g_stats = self._train_phases(False, lambda: self.objective.g_step(batch, self.step))
        beta = ema_beta(self.cfg.train.batch, self.images_seen, self.cfg.train.ema_kimg, self.cfg.train.ema_rampup)
        for name, ema in self.ema.items():
            update_ema(ema, self.networks[name], beta)
        self.step += 1
        return d_stats | g_stats

    # ---- snapshots -------------------------------------------------------------------------------------------
    def grid_images(self) -> torch.Tensor:
        """uint8 [grid, C, H, W] for the snapshot grid (the objective decides what it shows)."""
        return self.objective.grid_images(
            self._sampling_networks(),
            self.dataset,
            count=self.cfg.train.grid_size,
            seed=self.cfg.train.seed,
            kimg=self.images_seen / 1000,
        )

    def _evaluate(self, reporter: RunReporter) -> dict[str, Any]:
        """Score G_ema with the configured metrics; appends to metrics.jsonl and TensorBoard."""
        from ..metrics import Evaluator, default_extractor, parse_metrics
        from ..metrics.evaluate import generator_batches, generator_classes, generator_labels
        from ..metrics.measures import best_key

        cfg = self.cfg.train
        generator = self.objective.generator(self._sampling_networks()["G"], self.images_seen / 1000)
        if self.evaluator is None:
            extractor = (
                cfg.metrics_extractor
                if cfg.metrics_extractor != "auto"
                else default_extractor(self.cfg.data.source, cfg.metrics, training=True)
            )
            names = parse_metrics(cfg.metrics)
            self.evaluator = Evaluator(
                self.dataset,
                names,
                extractor=extractor,
                num_real=cfg.metrics_num,
                device=self.device,
                classes=generator_classes(generator),
            )
            key = best_key(cfg.best_by, names, self.evaluator.plan.not_computed)
            if self.best.get("key") != key:  # a fresh run, or resumed with another --best-by: best.pt starts over
                self.best = {"key": key, "value": None} if key else {}
        with torch.no_grad():
            results = self.evaluator(
                generator_batches(generator, cfg.metrics_num, batch_size=GRID_BATCH),
                labels=generator_labels(generator, cfg.metrics_num),
            )
        scalars = {k: v for k, v in results.items() if isinstance(v, float)}
        scalars |= {f"label_acc/{name}": value for name, value in results.get("label_acc_per_class", {}).items()}
        if "modes" in results:
            scalars |= {"modes_covered": float(results["modes"]["covered"]), "modes_kl": results["modes"]["kl"]}
        reporter.metrics(self.images_seen, scalars)
        return scalars

    def _record_best(self, metrics: dict[str, Any]) -> bool:
        """Whether `metrics` beat the best value so far of the --best-by result (then it becomes the best)."""
        key = self.best.get("key")
        if key not in metrics:
            return False
        from ..metrics.measures import improves

        if not improves(key, metrics[key], self.best["value"]):
            return False
        self.best["value"] = metrics[key]
        return True

    def _snapshot(self, reporter: RunReporter, stats: dict[str, Any], final: bool, evaluate: bool) -> tuple[Path, Path]:
        grid = make_grid(self.grid_images(), self.objective.grid_columns())
        name = "final.png" if final else f"fakes-{self.images_seen / 1000:010.3f}kimg.png"  # e.g. fakes-000012.544kimg
        grid_path = save_png(grid, self.run_dir / "samples" / name)
        reporter.image("samples", grid, self.images_seen)
        metrics = self._evaluate(reporter) if evaluate else {}
        improved = self._record_best(metrics)
        path = ckpt.save(
            self._state({**stats, "metrics": metrics} if metrics else stats),
            self.run_dir,
            step=self.step,
            keep=self.cfg.train.keep_checkpoints,
        )
        if improved:
            ckpt.copy_as_best(path)
        shown = "".join(f", {k} {v:.4g}" for k, v in metrics.items())
        reporter.message(
            f"kimg {self.images_seen / 1000:.1f}: samples {grid_path}, checkpoint {path}{shown}"
            + (f" (best {self.best['key']} so far: best.pt)" if improved else "")
        )
        return path, grid_path

    def _log_values(self, sums: dict[str, torch.Tensor], count: int, last_checkpoint: Path | None) -> dict[str, float]:
        """The stats row since the last one, read from the device in ONE host copy: mean losses, the objective's
        extra numbers and (appended) whether any loss was NaN/inf on any rank, which stops the run."""
        extra = self.objective.scalars()
        on_device = {key: value for key, value in extra.items() if isinstance(value, torch.Tensor)}
        losses = torch.stack([value.float() for value in sums.values()])
        bad = (~torch.isfinite(losses).all()).to(torch.float32)
        if self.rank.distributed:
            bad = dist.all_reduce_max(bad)
        host = torch.cat(
            [losses, *(v.reshape(1).float().to(losses.device) for v in on_device.values()), bad.reshape(1)]
        ).tolist()
        if host[-1]:
            where = (
                f"the last good checkpoint {last_checkpoint} is intact"
                if last_checkpoint
                else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"a loss became NaN/inf near kimg {self.images_seen / 1000:.2f} (step {self.step}); {where}. "
                f"Try a lower --lr, --loss hinge, or --r1-gamma, then resume with --resume {last_checkpoint or 'PATH'}"
            )
        scalars = {key: value / count for key, value in zip(sums, host)}
        scalars |= dict(zip(on_device, host[len(sums) : -1]))
        scalars |= {key: value for key, value in extra.items() if key not in on_device}
        if self.growth is not None:
            now = self.growth.at(self.images_seen / 1000)  # the stage reached, not the one the last step began in
            scalars |= {"growth_resolution": float(now.resolution), "growth_alpha": now.alpha}
        return scalars

    # ---- the loop --------------------------------------------------------------------------------------------
    def run(
        self,
        progress: bool = True,
        tensorboard: bool = True,
        progress_fn: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> TrainResult:
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self._run(progress, tensorboard, progress_fn, should_stop)

    def _run(
        self, progress: bool, tensorboard: bool, progress_fn: ProgressFn | None, should_stop: StopFn | None
    ) -> TrainResult:
        cfg = self.cfg.train
        main = self.rank.is_main
        total_images = math.ceil(cfg.total_kimg * 1000)
        images_per_iter = cfg.batch * self.cfg.optim.d_steps
        snapshot_images = max(1, round(cfg.snapshot_every_kimg * 1000))
        metrics_images = round(cfg.metrics_every_kimg * 1000)
        log_every = max(1, min(50, round(1000 / images_per_iter)))
        reporter = RunReporter(
            self.run_dir,
            total_images,
            start_images=self.images_seen,
            enabled=main,
            show_bar=progress,
            tensorboard=tensorboard,
        )
        if main and self.growth is not None:
            late = self.growth.full_kimg > cfg.total_kimg
            reporter.message(
                self.growth.describe()
                + (
                    f" (beyond --kimg {cfg.total_kimg:g}: lower --phase-kimg to reach "
                    f"it, or resume with a larger --kimg)"
                    if late
                    else ""
                )
            )
        if main and self.images_seen == 0:
            reals = self.objective.reals_grid(self.dataset, cfg.grid_size)
            if reals is not None:
                save_png(make_grid(reals), self.run_dir / "samples" / "reals.png")
        last_checkpoint = (ckpt.list_checkpoints(self.run_dir) or [None])[-1]
        if self.images_seen >= total_images:
            reporter.message(
                f"nothing to train: the run is at {self.images_seen / 1000:g} kimg already; "
                f"give a larger --kimg than {cfg.total_kimg:g} to continue"
            )
            reporter.close()
            return TrainResult(
                self.run_dir,
                last_checkpoint,
                grid=newest_grid(self.run_dir),
                kimg=self.images_seen / 1000,
                modules=self._modules(),
            )
        stream = batches(
            self.dataset,
            cfg.batch,
            seed=cfg.seed,
            start_batch=self.step * self.cfg.optim.d_steps,
            rank=self.rank.rank,
            world=self.rank.world,
            workers=self.cfg.data.workers,
        )
        if self.rank.distributed and not getattr(self.dataset, "endless", True):
            stream = dist.until_any_ends(stream, self.device)  # every rank stops at the first rank's last batch
        grid_path, stats = None, {}
        sums: dict[str, torch.Tensor] = {}
        count = 0
        clock = CLOCKS[cfg.minutes_clock]
        deadline = clock() + cfg.minutes * 60 if cfg.minutes > 0 else None
        stop = False
        for module in self.networks.values():
            module.train()
        try:
            while self.images_seen < total_images and not stop:
                before = self.images_seen
                try:
                    for key, value in self.iteration(stream).items():
                        sums[key] = sums[key] + value if key in sums else value.clone()
                    count += 1
                except StopIteration:  # finite data ended (on all ranks at once): stop with a final snapshot
                    stop = True
                reporter.advance(self.images_seen - before)
                # ranks agree on stopping: every iteration in one process, at log boundaries under torchrun
                polled = deadline is not None or should_stop is not None
                if not stop and polled and (not self.rank.distributed or count >= log_every):
                    wanted = (deadline is not None and clock() >= deadline) or bool(should_stop and should_stop())
                    stop = dist.any_rank(torch.tensor(wanted, device=self.device)) if self.rank.distributed else wanted
                done = self.images_seen >= total_images or stop
                evaluate = metrics_images > 0 and (
                    done or self.images_seen // metrics_images != before // metrics_images
                )
                snapshot = done or evaluate or self.images_seen // snapshot_images != before // snapshot_images
                logged = count > 0 and (count >= log_every or snapshot)
                if logged:
                    stats = reporter.log(self.images_seen, self._log_values(sums, count, last_checkpoint))
                    sums, count = {}, 0
                if snapshot:
                    self.objective.gather_for_checkpoint()
                if snapshot and main:
                    last_checkpoint, grid_path = self._snapshot(reporter, stats, final=done, evaluate=evaluate)
                if progress_fn is not None and main and logged:
                    progress_fn(
                        {
                            **stats,
                            "grid": str(grid_path or newest_grid(self.run_dir) or ""),
                            "checkpoint": str(last_checkpoint or ""),
                            "total_kimg": cfg.total_kimg,
                            "done": done,
                        }
                    )
        finally:
            reporter.close()
        if main:
            reporter.message(
                f"done: {self.images_seen / 1000:.1f} kimg"
                + (" (stopped early)" if stop else "")
                + f"; final samples {grid_path}"
            )
        return TrainResult(
            self.run_dir,
            last_checkpoint,
            grid=grid_path,
            kimg=self.images_seen / 1000,
            stats=stats,
            modules=self._modules(),
        )
