"""Shared benchmark helpers: timing rounds, FLOP counting and the fp32 matmul roofline of this machine."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def images_per_second(step: Callable[[], None], images_per_step: int, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return images_per_step * steps / (time.perf_counter() - start)


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


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matmul throughput (the practical compute roofline of this CPU)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
