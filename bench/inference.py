"""Inference speed per backend on this CPU: latency p50 (batch 1) and throughput (batch 8) of pix2pix 256x256,
StyleGAN2-32, StyleGAN2-64 and DCGAN-64, with GFLOP/s as a fraction of the fp32 matmul roofline measured in the run.

    python bench/inference.py [--threads 2] [--runs 15] [--rounds 3] [--models pix2pix-256,dcgan-64] [--compile]

Variants, each timed on the graph that `ganforge export --format onnx` writes (the generator behind
`LoadedGenerator.synthesize` / `translate`), interleaved per model so that load changes hit all alike:
- torch eager: contiguous tensors, torch.no_grad (how a plain PyTorch script runs it);
- torch channels_last: inference_mode, weights and input in channels_last;
- torch tuned: channels_last + inference_mode + batch norm folded into the preceding conv's weights (eval mode);
- torch compile (--compile, minutes of compiling): torch.compile of the tuned model with inductor freezing
  (constant-folded, prepacked weights);
- onnxruntime: all graph optimisations (conv + batch-norm fusion, NCHWc layouts), `--threads` intra-op threads.
Random weights with the models' initialisation; speed does not depend on the values. The machine's load average is
printed before and after: absolute numbers on a shared machine are noisy, compare ratios within one run.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, matmul_gflops  # noqa: E402

from ganforge import models  # noqa: E402
from ganforge.artifacts.generator import LoadedGenerator  # noqa: E402
from ganforge.artifacts.onnx import export_graph, open_session, to_onnx  # noqa: E402
from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo  # noqa: E402
from ganforge.models.dcgan import DCGANGenerator  # noqa: E402
from ganforge.models.pix2pix import UNetGenerator  # noqa: E402

# name -> (preset, overrides, input channels (> 0: image-to-image))
MODELS = {
    "pix2pix-256": (None, {"model.name": "pix2pix", "data.resolution": 256}, 3),
    "stylegan2-32": ("stylegan2-32", {}, 0),
    "stylegan2-64": ("stylegan2-64", {}, 0),
    "dcgan-64": (None, {"model.name": "dcgan", "data.resolution": 64}, 0),
}
Call = Callable[[], object]


def build(name: str) -> LoadedGenerator:
    preset, overrides, input_channels = MODELS[name]
    cfg = resolve(overrides, preset=preset)
    info = DatasetInfo("bench", cfg.data.resolution, 3, (), input_channels)
    torch.manual_seed(0)
    module = models.build_generator(cfg.model, info, 0).eval().requires_grad_(False)
    return LoadedGenerator(module, cfg.model, info, 0, 0.0, {}, name)


# ---- batch norm folding (eval mode: y = (x - mean) / sqrt(var + eps) * gamma + beta is a per-channel affine map) ---
def conv_norm_pairs(module: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """(conv, Norm2d) pairs where the norm directly follows the conv, for the generators that have batch norm."""
    if isinstance(module, UNetGenerator):
        return list(zip(module.downs, module.down_norms)) + list(zip(module.ups, module.up_norms))
    if isinstance(module, DCGANGenerator):
        return list(zip([module.stem, *module.ups], module.norms))
    return []


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> int:
    """Fold each eval-mode BatchNorm2d into the conv before it (conditional batch norm keeps its class scale and
    shift); returns how many were folded."""
    folded = 0
    for conv, norm in conv_norm_pairs(module):
        holder = norm.norm if norm.conditional else norm  # the module whose `.norm` is the BatchNorm2d
        bn = holder.norm
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        scale = torch.rsqrt(bn.running_var + bn.eps) * (bn.weight if bn.affine else 1.0)  # [C_out]
        shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale  # [C_out]
        transposed = isinstance(conv, nn.ConvTranspose2d)  # weight [C_in, C_out, k, k] vs [C_out, C_in, k, k]
        conv.weight.mul_(scale[None, :, None, None] if transposed else scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
        holder.norm = nn.Identity()
        folded += 1
    return folded


def to_channels_last(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in inputs.items()}


def variants(generator: LoadedGenerator, batch: int, threads: int, compile_models: bool,
             sessions: dict) -> dict[str, Call]:
    """name -> a call that runs one batch of `batch` samples."""
    graph, inputs = export_graph(generator, batch)
    calls: dict[str, Call] = {}

    def eager():
        with torch.no_grad():
            return graph(**inputs)

    calls["torch eager"] = eager
    channels_last = copy.deepcopy(graph).to(memory_format=torch.channels_last)
    cl_inputs = to_channels_last(inputs)

    def run_channels_last():
        with torch.inference_mode():
            return channels_last(**cl_inputs)

    calls["torch channels_last"] = run_channels_last
    tuned = copy.deepcopy(channels_last)
    if fold_batchnorm(tuned.module):
        def run_tuned():
            with torch.inference_mode():
                return tuned(**cl_inputs)

        calls["torch tuned (+BN folded)"] = run_tuned
    else:
        tuned = channels_last
    if compile_models:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(tuned)

        def run_compiled():
            with torch.no_grad():
                return compiled(**cl_inputs)

        calls["torch compile"] = run_compiled
    if "session" not in sessions:
        sessions["session"] = open_session(to_onnx(generator), threads)
    session = sessions["session"]
    feeds = {k: v.numpy() for k, v in inputs.items()}
    calls["onnxruntime"] = lambda: session.run(["images"], feeds)
    return calls


def timed(call: Call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(calls: dict[str, Call], rounds: int) -> dict[str, float]:
    """Median seconds per call of each candidate over `rounds` interleaved rounds, after two warm-up calls."""
    for call in calls.values():
        call()
        call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            seconds[name].append(timed(call))
    return {name: statistics.median(values) for name, values in seconds.items()}


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--runs", type=int, default=15, help="batch-1 latency samples per variant (median = p50)")
    parser.add_argument("--rounds", type=int, default=3, help="batch-8 timed calls per variant (median)")
    parser.add_argument("--batch", type=int, default=8, help="throughput batch")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (minutes per model and batch)")
    args = parser.parse_args()
    names = [name for name in args.models.split(",") if name]
    unknown = set(names) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(f"before: {load_line()}")
    roofline = matmul_gflops()
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}, "
          f"fp32 matmul roofline {roofline:.1f} GFLOP/s")
    best_pix2pix = None
    for name in names:
        generator = build(name)
        graph, inputs = export_graph(generator, 1)
        with torch.no_grad():
            flops = flops_of(lambda: graph(**inputs))  # per image
        sessions: dict = {}
        latency = measure(variants(generator, 1, args.threads, args.compile, sessions), args.runs)
        throughput = measure(variants(generator, args.batch, args.threads, args.compile, sessions), args.rounds)
        params = sum(p.numel() for p in generator.module.parameters())
        print(f"\n{name}: {params / 1e6:.1f} M parameters, {flops / 1e9:.3f} GFLOP per image")
        print(f"{'variant':>26} | {'p50 batch 1':>11} {'GFLOP/s':>8} {'roofline':>8} | {f'batch {args.batch}':>9} "
              f"{'GFLOP/s':>8} {'roofline':>8} | speed-up vs eager (b1, b{args.batch})")
        for variant, seconds in latency.items():
            rate = args.batch / throughput[variant]
            b1, b8 = flops / seconds / 1e9, flops * rate / 1e9
            print(f"{variant:>26} | {seconds * 1e3:8.1f} ms {b1:8.1f} {b1 / roofline:8.1%} | {rate:5.1f} img/s "
                  f"{b8:8.1f} {b8 / roofline:8.1%} | {latency['torch eager'] / seconds:5.2f}x "
                  f"{throughput['torch eager'] / throughput[variant]:5.2f}x")
        if name == "pix2pix-256":
            best_pix2pix = min(latency.items(), key=lambda item: item[1])
    if best_pix2pix:
        variant, seconds = best_pix2pix
        print(f"\npix2pix 256x256, batch 1: fastest {variant} at {seconds * 1e3:.1f} ms "
              f"(goal <= 100 ms on 2 cores: {'met' if seconds <= 0.1 else 'not met'} in this run)")
    print(f"after: {load_line()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
