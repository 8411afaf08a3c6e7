"""Inference speed per backend on this CPU: latency p50 (batch 1) and throughput (batch 8) of pix2pix 256x256,
StyleGAN2-32, StyleGAN2-64 and DCGAN-64, with GFLOP/s as a fraction of the fp32 matmul roofline measured in the run.

    python bench/inference.py [--threads 2] [--runs 15] [--rounds 3] [--models pix2pix-256,dcgan-64] [--compile]
    python bench/inference.py --threads 1 --clock cpu      # variant ratios on a busy machine (CPU-seconds)

Variants, each timed on the graph that `ganforge export --format onnx` traces (the generator as
`LoadedGenerator.synthesize` / `translate` run it, in eval mode), interleaved per model so that load changes hit all:
- torch eager: contiguous tensors, torch.no_grad (how a plain PyTorch script runs it);
- torch channels_last: inference_mode, weights and input in channels_last (what `translate` did before);
- torch rewritten (+chlast): artifacts/fast.py's equivalent form: batch norm folded into the convs, 4x4 stride-2
  transposed convs as four 2x2 sub-pixel convs; inference_mode (and channels_last);
- torch compile (--compile; minutes of compiling on 2 cores): torch.compile of the channels_last model with inductor
  freezing (weights as constants: conv + batch norm folded, prepacked);
- onnxruntime / onnxruntime rewritten: the plain graph and the rewritten one, all graph optimisations (conv +
  batch-norm fusion, NCHWc layouts), `--threads` intra-op threads;
- onnxruntime int8 (not StyleGAN2): `export --quantize int8`'s graph, calibrated on the built-in photo-edges inputs
  (pix2pix) or on latents; its PSNR against the fp32 graph on held-out inputs is printed.
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
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, matmul_gflops  # noqa: E402

from ganforge import models  # noqa: E402
from ganforge.artifacts.fast import optimize_for_inference  # noqa: E402
from ganforge.artifacts.generator import LoadedGenerator  # noqa: E402
from ganforge.artifacts.onnx import export_graph, from_generator, open_session, to_onnx  # noqa: E402
from ganforge.artifacts.quantize import quantize_int8  # noqa: E402
from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo  # noqa: E402

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


def to_channels_last(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in inputs.items()}


def variants(
    generator: LoadedGenerator, batch: int, threads: int, compile_models: bool, sessions: dict
) -> dict[str, Call]:
    """name -> a call that runs one batch of `batch` samples; `sessions` keeps the onnxruntime sessions per model."""
    graph, inputs = export_graph(generator, batch)
    cl_inputs = to_channels_last(inputs)
    channels_last = copy.deepcopy(graph).to(memory_format=torch.channels_last)
    rewritten = copy.deepcopy(graph)
    optimize_for_inference(rewritten.module)
    rewritten_cl = copy.deepcopy(rewritten).to(memory_format=torch.channels_last)

    def run(module: nn.Module, feeds: dict[str, torch.Tensor], mode=torch.inference_mode) -> Call:
        def call():
            with mode():
                return module(**feeds)

        return call

    calls = {
        "torch eager": run(graph, inputs, torch.no_grad),
        "torch channels_last": run(channels_last, cl_inputs),
        "torch rewritten": run(rewritten, inputs),
        "torch rewritten+chlast": run(rewritten_cl, cl_inputs),
    }
    if compile_models:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # weights become constants: conv + BN folded, prepacked
        calls["torch compile"] = run(torch.compile(copy.deepcopy(channels_last)), cl_inputs, torch.no_grad)
    feeds = {k: v.numpy() for k, v in inputs.items()}
    for name, rewrite in (("onnxruntime", False), ("onnxruntime rewritten", True)):
        if name not in sessions:
            sessions[name] = open_session(to_onnx(generator, rewrite=rewrite), threads)
    if not generator.has_styles and "onnxruntime int8" not in sessions:  # calibrated on photo-edges / latents
        data, fidelity = quantize_int8(generator, "photo-edges" if generator.dataset.paired else None)
        sessions["onnxruntime int8"] = open_session(data, threads)
        print(f"{generator.source}: {fidelity.describe()}")
    for name, session in sessions.items():
        calls[name] = lambda session=session: session.run(["images"], feeds)
    return calls


def max_difference(calls: dict[str, Call]) -> dict[str, float]:
    """Each variant's largest absolute output difference from torch eager's."""

    def output(call: Call) -> torch.Tensor:
        result = call()
        return torch.as_tensor(result[0] if isinstance(result, list) else result).float()

    reference = output(calls["torch eager"])
    return {name: (output(call) - reference).abs().max().item() for name, call in calls.items()}


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # set from --clock


def timed(call: Call) -> float:
    start = clock()
    call()
    return clock() - start


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
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall: latency as users see it (needs an idle machine); cpu: CPU-seconds of this process, "
        "for comparing variants on a loaded machine (with --threads 1, where no thread spins)",
    )
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    names = [name for name in args.models.split(",") if name]
    unknown = set(names) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(f"before: {load_line()}")
    roofline = matmul_gflops(clock=clock)
    print(
        f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}, "
        f"fp32 matmul roofline {roofline:.1f} GFLOP/s, {args.clock} clock"
        + (" (times are CPU-seconds: per thread-second, not latency)" if args.clock == "cpu" else "")
    )
    best_pix2pix = None
    for name in names:
        generator = build(name)
        graph, inputs = export_graph(generator, 1)
        with torch.no_grad():
            flops = flops_of(lambda: graph(**inputs))  # per image
        sessions: dict = {}
        single = variants(generator, 1, args.threads, args.compile, sessions)
        differences = max_difference(single)  # int8: quantization error, see the PSNR line above
        latency = measure(single, args.runs)
        throughput = measure(variants(generator, args.batch, args.threads, args.compile, sessions), args.rounds)
        params = sum(p.numel() for p in generator.module.parameters())
        print(f"\n{name}: {params / 1e6:.1f} M parameters, {flops / 1e9:.3f} GFLOP per image")
        print(
            f"{'variant':>26} | {'p50 batch 1':>11} {'GFLOP/s':>8} {'roofline':>8} | {f'batch {args.batch}':>9} "
            f"{'GFLOP/s':>8} {'roofline':>8} | speed-up vs eager (b1, b{args.batch}) | max |diff|"
        )
        for variant, seconds in latency.items():
            rate = args.batch / throughput[variant]
            b1, b8 = flops / seconds / 1e9, flops * rate / 1e9
            print(
                f"{variant:>26} | {seconds * 1e3:8.1f} ms {b1:8.1f} {b1 / roofline:8.1%} | {rate:5.1f} img/s "
                f"{b8:8.1f} {b8 / roofline:8.1%} | {latency['torch eager'] / seconds:5.2f}x "
                f"{throughput['torch eager'] / throughput[variant]:5.2f}x | {differences[variant]:.1e}"
            )
        if name == "pix2pix-256":
            best_pix2pix = latency
            conversion = timed(lambda: from_generator(generator, args.threads))
            saving = latency["torch channels_last"] - latency["onnxruntime"]  # per 256x256 image
            print(
                f"converting the checkpoint's generator for onnxruntime in memory (what `translate --backend "
                f"onnxruntime` does): {conversion:.1f} s; against translate's torch path (channels_last) it pays "
                f"for itself after "
                + (f"{conversion / saving:.0f} images of 256x256" if saving > 0 else "never (torch is faster)")
            )
    if best_pix2pix:
        print()
        for label, candidates in (
            ("fp32 (exact)", {k: v for k, v in best_pix2pix.items() if "int8" not in k}),
            ("any precision", best_pix2pix),
        ):
            variant, seconds = min(candidates.items(), key=lambda item: item[1])
            print(
                f"pix2pix 256x256, batch 1, {label}: fastest {variant} at {seconds * 1e3:.1f} ms "
                f"(goal <= 100 ms on 2 cores: {'met' if seconds <= 0.1 else 'not met'} in this run)"
            )
    print(f"after: {load_line()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
