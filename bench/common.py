"""Shared benchmark helpers: timing rounds, FLOP counting and the fp32 matmul roofline of this machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize() -> None:
    """Wait for queued GPU work, so that wall-clock timings cover it (no-op without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def images_per_second(
    step: Callable[[], None],
    images_per_step: int,
    steps: int,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Images per second of `steps` calls after `warmup` ones; `clock` time.process_time gives them per CPU-second
    (one thread), which a shared machine's load does not dilute."""
    for _ in range(warmup):
        step()
    synchronize()
    start = clock()
    for _ in range(steps):
        step()
    synchronize()
    return images_per_step * steps / (clock() - start)


def interleaved(candidates: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of `rounds` measurements of each candidate, alternating so drifts hit all alike."""
    results: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, measure in candidates.items():
            results[name].append(measure())
    return {name: statistics.median(values) for name, values in results.items()}


def flops_of(step: Callable[[], None]) -> int:
    """Floating-point operations of one call (forward and backward), as counted by torch's FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def matmul_gflops(
    size: int = 2048,
    repeats: int = 10,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Measured matmul throughput (the practical compute roofline of this device and dtype); `clock`
    time.process_time gives it per CPU-second, which a shared machine's load does not dilute."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    synchronize()
    start = clock()
    for _ in range(repeats):
        torch.mm(a, b)
    synchronize()
    return 2 * size**3 * repeats / (clock() - start) / 1e9
