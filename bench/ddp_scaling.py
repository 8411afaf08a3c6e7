"""DDP scaling on this CPU (gloo): a small DCGAN's training step at 1, 2 and 4 ranks launched by torchrun, the
same per-rank batch each (weak scaling); global img/s, the speed-up over one rank, and the fraction of the timed
wall-clock during which a gradient all-reduce was in flight (timed by a DDP communication hook wrapped around
PyTorch's own all-reduce hook). A shape check: the real figures come from the GPU suite.

    python bench/ddp_scaling.py [--ranks 1 2 4] [--per-rank-batch 32] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

from ganforge import dist
from ganforge.config import resolve
from ganforge.data.base import DatasetInfo, TensorImageDataset
from ganforge.data.sampler import batches
from ganforge.training.loop import Trainer

RESOLUTION = 32


def merged_seconds(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Length of the union of `intervals`, clipped to [start, end]."""
    total, reach = 0.0, start
    for low, high in sorted(intervals):
        low, high = max(low, reach), min(high, end)
        if high > low:
            total, reach = total + high - low, high
    return total


def timed_hooks(modules: list[DistributedDataParallel]) -> list[tuple[float, float]]:
    """Register on every DDP module PyTorch's all-reduce hook, recording (launch, completion) of each bucket."""
    intervals: list[tuple[float, float]] = []

    def hook(state, bucket):
        launched = time.perf_counter()

        def completed(future):
            intervals.append((launched, time.perf_counter()))
            return future.value()

        return default_hooks.allreduce_hook(state, bucket).then(completed)

    for module in modules:
        module.register_comm_hook(None, hook)
    return intervals


def worker(per_rank_batch: int, steps: int) -> None:
    """One rank: build the trainer, warm up, time `steps` iterations; rank 0 prints a JSON line."""
    torch.set_num_threads(1)
    device = torch.device("cpu")
    rank = dist.init(device)
    global_batch = per_rank_batch * rank.world
    images = torch.randint(0, 256, (1024, 3, RESOLUTION, RESOLUTION), dtype=torch.uint8)
    dataset = TensorImageDataset(images, torch.zeros(1024, dtype=torch.long), DatasetInfo("bench", RESOLUTION, 3))
    cfg = resolve(
        {
            "data.resolution": RESOLUTION,
            "train.batch": global_batch,
            "model.g_channels": 16,
            "model.d_channels": 16,
            "augment.policy": "none",
        }
    )
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, dataset, device, rank, Path(run_dir), None)
        wrapped = [m for m in vars(trainer.objective).values() if isinstance(m, DistributedDataParallel)]
        intervals = timed_hooks(list({id(m): m for m in wrapped}.values()))
        stream = batches(dataset, global_batch, seed=0, start_batch=0, rank=rank.rank, world=rank.world)
        for _ in range(2):
            trainer.iteration(stream)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.iteration(stream)
        dist.barrier()
        end = time.perf_counter()
    if rank.is_main:
        print(
            json.dumps(
                {
                    "ranks": rank.world,
                    "img_s": global_batch * steps / (end - start),
                    "allreduce_fraction": merged_seconds(intervals, start, end) / (end - start),
                }
            ),
            flush=True,
        )
    dist.shutdown()


def load() -> str:
    """The machine's load averages over 1, 5 and 15 minutes (the CPU is shared)."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--per-rank-batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.per_rank_batch, args.steps)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(
        f"DCGAN {RESOLUTION}px, 16 channels, {args.per_rank_batch} images per rank, {args.steps} timed steps, "
        f"gloo on {os.cpu_count()} CPU cores; load average before {load()}"
    )
    print(f"{'ranks':>5} {'img/s':>8} {'speed-up':>8} {'all-reduce':>10}  load (1, 5, 15 min)")
    base = None
    for ranks in args.ranks:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(ranks),
            __file__,
            "--worker",
            "--per-rank-batch",
            str(args.per_rank_batch),
            "--steps",
            str(args.steps),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        row = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
        base = base or row["img_s"]
        speedup, share = row["img_s"] / base, row["allreduce_fraction"]
        print(f"{ranks:>5} {row['img_s']:>8.1f} {speedup:>8.2f} {share:>10.1%}  {load()}")


if __name__ == "__main__":
    main()
