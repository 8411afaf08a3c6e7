"""FLOPs of one training iteration, counted from the real modules by torch.utils.flop_counter: the D and G steps'
forward and backward passes, and the lazy regularisers (R1, path length) weighted by how often they run, so that
model FLOPs utilisation (MFU = FLOPs per second / the device's peak) is honest. Also the "on paper" time a GPU of a
given peak would need per thousand images at a given MFU.

A trainer for measuring is built on synthetic batches (random uint8 images of the run's shape), so any resolution
can be counted or timed without a dataset on disk."""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from .. import models
from ..config import Config
from ..data.base import DatasetInfo
from ..dist import DistInfo
from ..families import Task
from .loop import Trainer

PAPER_MFU = 0.4  # the utilisation an "on paper" estimate assumes


class FlopCounter(TorchDispatchMode):
    """Sums torch's FLOP formulas (matmuls, convolutions, attention, and their backward ops) over every op run
    inside it. FlopCounterMode's own per-module tracking hooks break autograd.grad on leaf inputs (R1, path
    length), so this counts with the same formulas and no module hooks."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of `fn` (forward, backward, double backward: whatever it runs)."""
    with FlopCounter() as counter:
        fn()
    return counter.total


@dataclass(frozen=True)
class SyntheticData:
    """Only what a Trainer reads of a dataset before `run`: its shape (`info`)."""

    info: DatasetInfo


def synthetic_trainer(cfg: Config, device: torch.device) -> tuple[Trainer, Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """A Trainer for `cfg` (resolution and channels set) on `device`, and an endless stream of one random batch of
    the shapes its family reads: (images, labels), (targets B, inputs A) or (real B, real A), uint8 on the host."""
    task = models.MODELS.get(cfg.model.name).task
    resolution, channels, batch = cfg.data.resolution, cfg.data.channels or 3, cfg.train.batch
    info = DatasetInfo(
        "synthetic",
        resolution,
        channels,
        input_channels=channels if task.translates else 0,
        unpaired=task is Task.UNPAIRED,
    )
    cfg = cfg.replace(**{"data.resolution": resolution, "data.channels": channels, "data.cond": False})
    trainer = Trainer(
        cfg, SyntheticData(info), device=device, rank=DistInfo(), run_dir=Path(tempfile.gettempdir()), state=None
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, channels, resolution, resolution), dtype=torch.uint8, generator=generator)
    if not task.translates:
        second = torch.zeros(batch, dtype=torch.long)
    else:
        second = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=generator)
    if device.type == "cuda":
        images, second = images.pin_memory(), second.pin_memory()
    return trainer, itertools.repeat((images, second))


def regularisers_at(cfg: Config, step: int) -> tuple:
    """Which lazy regularisers iteration `step` runs: R1 in each of its D steps, path length in its G step."""
    loss, d_steps = cfg.loss, cfg.optim.d_steps
    r1 = (
        tuple((step * d_steps + index) % loss.r1_interval == 0 for index in range(d_steps)) if loss.r1_gamma > 0 else ()
    )
    return r1, loss.pl_weight > 0 and step % loss.pl_interval == 0


def iteration_flops(trainer: Trainer, stream: Iterator) -> float:
    """Mean FLOPs of one training iteration over a full period of the lazy regularisers: each distinct pattern of
    regularisers is counted once (a real iteration at a step that has it) and weighted by how many steps of the
    period have it. The trainer's weights move (they are real steps); its step and image counts are restored."""
    cfg = trainer.cfg
    period = math.lcm(cfg.loss.r1_interval, cfg.loss.pl_interval)
    patterns = [regularisers_at(cfg, step) for step in range(period)]
    saved = trainer.step, trainer.images_seen
    total = 0.0
    try:
        for pattern in dict.fromkeys(patterns):
            trainer.step = patterns.index(pattern)
            total += count_flops(lambda: trainer.iteration(stream)) * patterns.count(pattern)
    finally:
        trainer.step, trainer.images_seen = saved
    return total / period


def seconds_per_kimg(flops_per_image: float, peak_flops: float, mfu: float = PAPER_MFU) -> float:
    """Training time per thousand real images on a device of `peak_flops` FLOP/s running at utilisation `mfu`."""
    return 1000 * flops_per_image / (peak_flops * mfu)
