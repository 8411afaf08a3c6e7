"""StyleGAN2 training and sampling throughput, per speed setting, against plain fp32 eager training in the same run.

    python bench/stylegan2_throughput.py                       # CPU: stylegan2-32, batch 32, eager vs compiled
    python bench/stylegan2_throughput.py --preset stylegan2-256 --batch 32 --steps 32 \\
        --variants fp32,bf16,bf16+compile,fp16+compile         # GPU: the StyleGAN2-ADA comparison setting
    python bench/stylegan2_throughput.py --preset stylegan2-64,r3gan-64 --variants fp32   # presets side by side

Each variant is precision[+compile] (fp32 | bf16 | fp16; channels_last is on for GPUs). Training img/s covers full
iterations: D step with lazy R1 every 16th, G step with path length every 4th (when the preset has it), EMA. Prints
s/kimg, the speed-up over the fp32 eager reference, FLOPs per image (of a step without the lazy regularisers), and the
fraction of the device's peak (the datasheet's dense figure for known GPUs; the measured matmul rate otherwise).
Published reference: NVIDIA's stylegan2-ada-pytorch at 256x256, batch 32 on one V100: 21.6-24.2 s/kimg.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, images_per_second, interleaved, matmul_gflops  # noqa: E402

from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo, TensorImageDataset  # noqa: E402
from ganforge.data.sampler import batches  # noqa: E402
from ganforge.dist import DistInfo, select_device  # noqa: E402
from ganforge.training.loop import Trainer  # noqa: E402

# Datasheet dense peaks in TFLOP/s: (bf16/fp16 tensor cores, fp32), for GPU names containing the key.
GPU_PEAKS = {
    "H200": (989.0, 67.0),
    "H100 PCIe": (756.0, 51.0),
    "H100": (989.0, 67.0),
    "A100": (312.0, 19.5),
    "V100": (125.0, 15.7),
    "L40S": (362.0, 91.6),
    "RTX 4090": (165.2, 82.6),
    "A10": (125.0, 31.2),
    "T4": (65.0, 8.1),
}


@functools.cache
def peak_gflops(device: torch.device, precision: str) -> tuple[float, str]:
    """The device's peak for this precision: datasheet figure for known GPUs, else a measured matmul rate."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, (tensor_peak, fp32_peak) in GPU_PEAKS.items():
            if key in name:
                return (fp32_peak if precision == "fp32" else tensor_peak) * 1000, f"{name} datasheet"
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return matmul_gflops(device=device.type, dtype=dtype), f"measured {precision} matmul"


def measure(preset: str, args: argparse.Namespace, device: torch.device, steps: int, variants: str) -> dict:
    """One preset's trainers (one per variant), FLOPs per trained and sampled image, and its img/s measurements to
    interleave with the other presets'."""
    base = resolve({"data.source": "shapes", "train.batch": args.batch, "train.device": str(device)}, preset=preset)
    resolution = base.data.resolution
    info = DatasetInfo("bench", resolution, 3)
    images = torch.randint(0, 256, (max(256, 4 * args.batch), 3, resolution, resolution), dtype=torch.uint8)
    dataset = TensorImageDataset(images, torch.zeros(len(images), dtype=torch.long), info)

    trainers, stream = {}, batches(dataset, args.batch, 0, 0)
    for variant in variants.split(","):
        precision, _, compiled = variant.partition("+")
        cfg = base.replace(**{"train.precision": precision, "train.compile": compiled == "compile"})
        trainers[variant] = Trainer(cfg, dataset, device, DistInfo(), Path("/nonexistent"), None)
    reference = next(iter(trainers.values()))
    reference.iteration(stream)  # step 0 runs lazy R1 (double backward), which the FLOP counter cannot trace
    try:
        train_flops = flops_of(lambda: reference.iteration(stream)) / args.batch
    except RuntimeError:  # R1 / R2 at every step (R3GAN's presets): no step without a double backward to count
        train_flops = None
    z = torch.randn(args.batch, base.model.z_dim, device=device)

    def sampler(trainer):
        @torch.inference_mode()
        def sample_step():
            with trainer.objective.autocast():
                trainer.ema["G"](z)

        return sample_step

    sample_flops = flops_of(sampler(reference)) / args.batch
    candidates = {}
    for variant, trainer in trainers.items():
        for _ in range(16 if trainer.cfg.train.compile else 0):  # compile every lazy-regularisation pattern first
            trainer.iteration(stream)
        candidates[f"{preset} train {variant}"] = lambda t=trainer: images_per_second(
            lambda: t.iteration(stream), args.batch, steps
        )
        if not trainer.cfg.train.compile:  # sampling uses the eager G_ema
            candidates[f"{preset} sample {variant}"] = lambda t=trainer: images_per_second(
                sampler(t), args.batch, steps * 4
            )
    return {
        "resolution": resolution,
        "variants": list(trainers),
        "flops": {"train": train_flops, "sample": sample_flops},
        "candidates": candidates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset",
        default="stylegan2-32",
        help="a preset, or a comma list measured in the same run (interleaved), e.g. stylegan2-64,r3gan-64",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=None, help="timed iterations per round (default 4 CPU, 32 GPU)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--variants",
        default=None,
        help="comma list of precision[+compile], the first is the "
        "reference (default: fp32,bf16,bf16+compile on GPUs; fp32,fp32+compile on CPUs, where bf16 is "
        "slow without native support)",
    )
    args = parser.parse_args()
    device = select_device(args.device)
    steps = args.steps or (32 if device.type == "cuda" else 4)
    variants = args.variants or ("fp32,bf16,bf16+compile" if device.type == "cuda" else "fp32,fp32+compile")
    presets = {preset: measure(preset, args, device, steps, variants) for preset in args.preset.split(",")}
    rates = interleaved({k: v for run in presets.values() for k, v in run["candidates"].items()}, args.rounds)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    for preset, run in presets.items():
        flops, resolution = run["flops"], run["resolution"]
        trained = f"{flops['train'] / 1e9:.2f}" if flops["train"] else "(not countable)"
        print(
            f"{preset} ({resolution}x{resolution}, batch {args.batch}) on {where}, torch {torch.__version__}; "
            f"{trained} GFLOP per trained image, {flops['sample'] / 1e9:.3f} per sampled image"
        )
        for kind in ("train", "sample"):
            plain = rates[f"{preset} {kind} {run['variants'][0]}"]
            for variant in (v for v in run["variants"] if f"{preset} {kind} {v}" in rates):
                rate = rates[f"{preset} {kind} {variant}"]
                peak, source = peak_gflops(device, variant.partition("+")[0])
                per_kimg = f"{1000 / rate:8.2f} s/kimg" if kind == "train" else " " * 13
                achieved = flops[kind] * rate / 1e9 if flops[kind] else None
                usage = (
                    f"{achieved:8.1f} GFLOP/s = {achieved / peak:6.1%} of peak ({source} {peak:.0f} GFLOP/s)"
                    if achieved
                    else ""
                )
                print(f"{kind:>6} {variant:<14} {rate:9.1f} img/s {per_kimg}  {rate / plain:5.2f}x reference  {usage}")
    print("published: stylegan2-ada-pytorch, 256x256, batch 32, one V100: 21.6-24.2 s/kimg")


if __name__ == "__main__":
    main()
